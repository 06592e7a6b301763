"""The Herenya REST client: the Broker port over one shared httpx connection pool.

Money moves on this code, so its rules are strict:
- every request is signed over the exact bytes sent (the request line as httpx will send
  it, the body encoded once);
- an order is never placed twice: its client order id is fixed before the first try, and
  after an ambiguous failure (timeout, connection lost, 5xx) it is looked up before being
  sent again; a 409 DUPLICATE_CLIENT_ORDER_ID yields the original order;
- the secret, the signatures and the full key never reach a log line, an error or a repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from brokers.errors import (
    AuthenticationFailed,
    BrokerConfigError,
    BrokerError,
    BrokerProtocolError,
    BrokerUnavailable,
    DuplicateClientOrderId,
    OrderNotPlaced,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    RetryableBrokerError,
    error_for_response,
    the_order_asked_for,
)
from brokers.herenya import wire
from brokers.herenya.signing import key_hint, sign
from trading.domain.market import Account, BrokerOrder, BrokerPosition, Instrument, OrderRequest, Quote
from trading.domain.values import BrokerName, OrderType

log = logging.getLogger("brokers.herenya")

BROKER = wire.BROKER
USER_AGENT = "signaldesk"


@dataclass
class ClientStats:
    """Counters for what it took to get answers; read by the fault-injection run and the bench."""

    requests: int = 0
    retries: int = 0  # requests sent again after a retryable failure
    lookups: int = 0  # client-id look-ups after an ambiguous failure of a placement
    duplicates: int = 0  # placements answered 409 with the original order
    clock_syncs: int = 0
    polls: int = 0  # order look-ups while waiting for a non-final order


class _Secret:
    """Holds the API key or secret so that no repr, str or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('**********')"

    __str__ = __repr__


def _secret_text(value: Any, name: str) -> str:
    """Plain text of a secret given as a str or anything with get_secret_value() (SecretStr)."""
    if value is None:
        raise BrokerConfigError("CONFIG", f"{name} is not set", broker=BROKER)
    getter = getattr(value, "get_secret_value", None)
    text = getter() if callable(getter) else value
    if not isinstance(text, str) or not text.strip():
        raise BrokerConfigError("CONFIG", f"{name} is empty", broker=BROKER)
    return text


class HerenyaClient:
    """The Broker port for Herenya. Create once, share, and `await aclose()` at shutdown."""

    name: str = BrokerName.HERENYA.value

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        base_url: str,
        account_id: str,
        timeout: float = 30.0,
        retry_attempts: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        settle_timeout: float = 10.0,
        poll_interval: float = 0.5,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise BrokerConfigError(
                "CONFIG", f"base url must start with http:// or https://, got {base_url!r}", broker=BROKER
            )
        if not account_id:
            raise BrokerConfigError("CONFIG", "account id is empty", broker=BROKER)
        if timeout <= 0:
            raise BrokerConfigError("CONFIG", f"timeout must be positive, got {timeout}", broker=BROKER)
        if retry_attempts < 0:
            raise BrokerConfigError("CONFIG", f"retry attempts must be 0 or more, got {retry_attempts}", broker=BROKER)
        self._key = _Secret(_secret_text(api_key, "api key"))
        self._secret = _Secret(_secret_text(api_secret, "api secret"))
        self.key_hint = key_hint(self._key.get())
        self.base_url = base_url.rstrip("/")
        self.account_id = account_id
        self._account_path = "/v1/accounts/" + quote(account_id, safe="")
        self.timeout = timeout
        self.retry_attempts = retry_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.settle_timeout = settle_timeout
        self.poll_interval = poll_interval
        self._clock = clock
        self._rng = rng or random.Random()
        self._offset_ms = 0  # server time minus our clock, learned from /v1/time
        self._sync_lock = asyncio.Lock()
        self.stats = ClientStats()
        # The connection pool itself, not an httpx.AsyncClient over it: the API sets no cookies,
        # never redirects and signs each request itself, so the client's cookie jar, redirect and
        # auth layers did nothing for us and cost about 15 % of each order's CPU.
        self._transport = transport or httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
            proxy=environment_proxy(self.base_url),
        )
        self._timeouts = httpx.Timeout(timeout).as_dict()

    @classmethod
    def from_settings(
        cls,
        *,
        api_key: Any,
        api_secret: Any,
        base_url: str | None,
        account_id: str | None,
        timeout: float = 30.0,
        retry_attempts: int = 3,
        **kwargs: Any,
    ) -> HerenyaClient:
        """Build from the HERENYA_* settings (secrets as str or SecretStr), naming the
        variable that is missing."""
        missing = [
            name
            for name, value in (
                ("HERENYA_API_KEY", api_key),
                ("HERENYA_API_SECRET", api_secret),
                ("HERENYA_BASE_URL", base_url),
                ("HERENYA_ACCOUNT_ID", account_id),
            )
            if value is None or value == ""
        ]
        if missing:
            raise BrokerConfigError(
                "CONFIG", "missing settings for the Herenya broker: " + ", ".join(missing), broker=BROKER
            )
        assert base_url is not None and account_id is not None
        return cls(
            api_key=_secret_text(api_key, "HERENYA_API_KEY"),
            api_secret=_secret_text(api_secret, "HERENYA_API_SECRET"),
            base_url=base_url,
            account_id=account_id,
            timeout=timeout,
            retry_attempts=retry_attempts,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"HerenyaClient(base_url={self.base_url!r}, account_id={self.account_id!r}, key={self.key_hint!r})"

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> HerenyaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------- the Broker port

    async def get_instrument(self, symbol: str) -> Instrument:
        return wire.parse_instrument(await self._call("GET", "/v1/instruments/" + quote(symbol, safe="")))

    async def get_quote(self, symbol: str) -> Quote:
        return wire.parse_quote(await self._call("GET", "/v1/quotes/" + quote(symbol, safe="")))

    async def get_account(self) -> Account:
        return wire.parse_account(await self._call("GET", self._account_path))

    async def get_positions(self) -> list[BrokerPosition]:
        return wire.parse_positions(await self._call("GET", self._account_path + "/positions"))

    async def get_order(self, order_id: str) -> BrokerOrder:
        return wire.parse_order(await self._call("GET", self._order_path(order_id)))

    async def find_order(self, client_order_id: str) -> BrokerOrder | None:
        orders = wire.parse_order_list(
            await self._call("GET", self._account_path + "/orders", params={"client_order_id": client_order_id})
        )
        for order in orders:
            if order.client_order_id == client_order_id:
                return order
        return None

    async def cancel_order(self, order_id: str) -> BrokerOrder:
        # A repeated DELETE is harmless (409 ORDER_NOT_CANCELABLE at worst), so it retries like a GET.
        return wire.parse_order(await self._call("DELETE", self._order_path(order_id)))

    async def place_order(self, request: OrderRequest) -> BrokerOrder:
        if (fraction := wire.fraction_refusal(request)) is not None:
            raise OrderRejected("QUANTITY_NOT_WHOLE", fraction, broker=BROKER)
        body = wire.encode_order(request)
        path = self._account_path + "/orders"
        cid = request.client_order_id
        ambiguous = False  # once true, the order may exist: look it up before every resend
        failures = 0
        last: RetryableBrokerError | None = None
        while True:
            if ambiguous:
                self.stats.lookups += 1
                try:
                    found = await self.find_order(cid)
                except RetryableBrokerError as e:
                    raise OrderOutcomeUnknown(
                        cid,
                        f"order {cid} may have been placed: the look-up after {failures} failed tries failed too ({e})",
                        broker=BROKER,
                        tries=failures,
                    ) from e
                if found is not None:
                    return await self._settle(self._asked_for(request, found))
                # Not found may only mean "not visible yet"; resending under the same client
                # id is still safe because the broker answers 409 with the original.
            try:
                order = wire.parse_order(await self._send("POST", path, None, body))
            except DuplicateClientOrderId as e:
                self.stats.duplicates += 1
                if e.order is None:
                    raise BrokerProtocolError(
                        "BAD_RESPONSE", f"409 for {cid} carried no order", 409, broker=BROKER, ambiguous=True
                    ) from e
                return await self._settle(self._asked_for(request, wire.parse_order(e.order)))
            except RetryableBrokerError as e:
                # Includes an unreadable 201: the order was taken, so that failure is ambiguous too.
                last = e
                ambiguous = ambiguous or e.ambiguous
                failures += 1
                if failures > self.retry_attempts:
                    break
                log.warning(
                    "herenya POST %s for %s failed (%s), try %d of %d",
                    path,
                    cid,
                    e.code,
                    failures,
                    self.retry_attempts + 1,
                )
                await self._backoff(failures, e)
                self.stats.retries += 1
                continue
            return await self._settle(self._asked_for(request, order))
        assert last is not None
        if ambiguous:
            raise OrderOutcomeUnknown(
                cid,
                f"order {cid}: outcome unknown after {failures} tries; look it up by client id before anything else"
                f" (last failure: {last})",
                broker=BROKER,
                tries=failures,
            ) from last
        raise OrderNotPlaced(
            cid,
            f"order {cid} was not placed after {failures} tries (last failure: {last})",
            broker=BROKER,
            tries=failures,
        ) from last

    # ------------------------------------------------------------------- internals

    def _order_path(self, order_id: str) -> str:
        return self._account_path + "/orders/" + quote(order_id, safe="")

    def _asked_for(self, request: OrderRequest, order: BrokerOrder) -> BrokerOrder:
        return the_order_asked_for(request, order, broker=BROKER, held="at the broker")

    async def _settle(self, order: BrokerOrder) -> BrokerOrder:
        """Poll a non-final order until final or the deadline; a resting GTC/DAY limit is
        returned at once, since resting is what it is meant to do."""
        if order.status.is_final:
            return order
        if order.type is OrderType.LIMIT and order.time_in_force != "IOC":
            return order
        deadline = time.monotonic() + self.settle_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
            self.stats.polls += 1
            try:
                order = await self.get_order(order.order_id)
            except RetryableBrokerError as e:
                log.warning("herenya poll of order %s failed (%s); still waiting", order.order_id, e.code)
                continue
            if order.status.is_final:
                return order
        return order

    async def _call(self, method: str, path: str, *, params: Mapping[str, str] | None = None) -> Any:
        """One request that is safe to repeat, with retries of retryable failures."""
        failures = 0
        while True:
            try:
                return await self._send(method, path, params, None)
            except RetryableBrokerError as e:
                failures += 1
                if failures > self.retry_attempts:
                    raise
                log.warning(
                    "herenya %s %s failed (%s), try %d of %d", method, path, e.code, failures, self.retry_attempts + 1
                )
                await self._backoff(failures, e)
                self.stats.retries += 1

    async def _backoff(self, failures: int, error: BrokerError) -> None:
        # Full jitter: concurrent clients that failed together do not retry together.
        delay = self._rng.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (failures - 1)))
        if isinstance(error, RateLimited) and error.retry_after is not None:
            delay = max(delay, error.retry_after)
        await asyncio.sleep(delay)

    def now_ms(self) -> int:
        """Our idea of the broker's time: the local clock plus the learned offset."""
        return int(self._clock() * 1000) + self._offset_ms

    async def _send(self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None) -> Any:
        """Send once; on 401 TIMESTAMP_EXPIRED correct the clock and send once more."""
        try:
            return await self._send_signed(method, path, params, body)
        except AuthenticationFailed as e:
            if e.code != "TIMESTAMP_EXPIRED":
                raise
            await self._sync_clock()
            return await self._send_signed(method, path, params, body)

    async def _sync_clock(self) -> None:
        async with self._sync_lock:
            before = self._clock()
            try:
                response = await self._round_trip(self._request("GET", "/v1/time", None))
            except httpx.HTTPError as e:
                raise BrokerUnavailable("TIME_UNAVAILABLE", f"reading /v1/time failed: {e!r}", broker=BROKER) from e
            after = self._clock()
            if response.status_code != 200:
                raise BrokerUnavailable(
                    "TIME_UNAVAILABLE", f"/v1/time answered {response.status_code}", response.status_code, broker=BROKER
                )
            server_ms = wire.parse_server_time(_json(response))
            # The server read its clock about halfway through the round trip.
            self._offset_ms = server_ms - int((before + after) / 2 * 1000)
            self.stats.clock_syncs += 1
            log.info("herenya clock offset corrected to %d ms", self._offset_ms)

    def _request(self, method: str, url: str, body: bytes | None) -> httpx.Request:
        headers = {"User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return httpx.Request(
            method, self.base_url + url, headers=headers, content=body, extensions={"timeout": self._timeouts}
        )

    def _signed_request(
        self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None
    ) -> httpx.Request:
        request = self._request(method, path + ("?" + urlencode(params) if params else ""), body)
        timestamp = str(self.now_ms())
        # Sign what goes on the request line, as httpx encoded it, not what we meant to send.
        signature = sign(self._secret.get(), timestamp, method, request.url.raw_path, body or b"")
        request.headers["X-Herenya-Key"] = self._key.get()
        request.headers["X-Herenya-Timestamp"] = timestamp
        request.headers["X-Herenya-Signature"] = signature
        return request

    async def _round_trip(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def _send_signed(self, method: str, path: str, params: Mapping[str, str] | None, body: bytes | None) -> Any:
        request = self._signed_request(method, path, params, body)
        self.stats.requests += 1
        try:
            response = await self._round_trip(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            # The request never left: nothing can have been done.
            raise BrokerUnavailable(
                "CONNECT_FAILED", f"{method} {path}: could not connect ({type(e).__name__})", broker=BROKER
            ) from e
        except httpx.TimeoutException as e:
            raise BrokerUnavailable(
                "TIMEOUT", f"{method} {path}: no answer within {self.timeout} s", broker=BROKER, ambiguous=True
            ) from e
        except httpx.TransportError as e:
            raise BrokerUnavailable(
                "CONNECTION_LOST",
                f"{method} {path}: connection lost before the answer ({type(e).__name__}: {e})",
                broker=BROKER,
                ambiguous=True,
            ) from e
        except httpx.HTTPError as e:
            # Anything else httpx raises (an answer body it could not decode, ...): the
            # request was sent, so what the broker did is unknown.
            raise BrokerProtocolError(
                "BAD_RESPONSE",
                f"{method} {path}: the answer could not be read ({type(e).__name__}: {e})",
                broker=BROKER,
                ambiguous=True,
            ) from e
        if response.status_code < 300:
            return _json(response)
        raise _error_from(response)


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for `url` (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, and
    NO_PROXY to bypass), as httpx.AsyncClient would have picked it: a desk behind a
    company proxy keeps reaching its broker."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    # Public in urllib.request (and what httpx uses) but missing from typeshed's stubs.
    if urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):  # type: ignore[attr-defined]
        return None
    return proxies.get(parts.scheme) or proxies.get("all")


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError as e:
        raise BrokerProtocolError(
            "BAD_RESPONSE",
            f"HTTP {response.status_code} answer is not JSON: {response.content[:120]!r}",
            response.status_code,
            broker=BROKER,
            ambiguous=True,
        ) from e


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


def _error_from(response: httpx.Response) -> BrokerError:
    status = response.status_code
    code, message, order = f"HTTP_{status}", response.reason_phrase or "error", None
    try:
        data = json.loads(response.content)
    except ValueError:
        if response.content:
            message = f"{message}: {response.content[:120]!r}"
    else:
        err = data.get("error") if isinstance(data, dict) else None
        if isinstance(err, dict):
            if isinstance(err.get("code"), str):
                code = err["code"]
            if isinstance(err.get("message"), str):
                message = err["message"]
            order = err.get("order")
    return error_for_response(status, code, message, broker=BROKER, retry_after=_retry_after(response), order=order)
