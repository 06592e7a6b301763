"""The Herenya simulator's HTTP face: the /v1 contract, fault injection, and a control API.

The control API lives under /_sim (never /v1) and has no authentication: the simulator
is for loopback and tests. Faults are decided per request from a seeded generator:
- error: answered 500/502/503 before anything is done;
- delay: the request is carried out, the answer is held back `delay` seconds;
- drop (orders only): the order is placed, then the TCP connection is aborted with no
  answer at all;
- invisible (orders only): the order is left out of client-id look-ups for a while.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from typing import Any

from quart import Quart, Response, g, request

from brokers.herenya.signing import sign, signature_matches
from brokers.herenya.sim_config import SimConfig, SimConfigError
from brokers.herenya.sim_state import SimError, SimState

log = logging.getLogger("brokers.herenya.sim")

_ERROR_ANSWERS = (
    (500, "INTERNAL_ERROR", "injected fault: internal error"),
    (502, "BAD_GATEWAY", "injected fault: bad gateway"),
    (503, "SERVICE_UNAVAILABLE", "injected fault: service unavailable"),
)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")), status=status, headers=headers, content_type="application/json"
    )


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"error": {"code": code, "message": message}}, status, headers)


class _RateLimiter:
    """A token bucket per API key."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str, rate: float, burst: int, now: float) -> float | None:
        """None when allowed, else the seconds until a token is available."""
        if rate <= 0:
            return None
        size = float(burst or max(1, math.ceil(rate)))
        tokens, at = self._buckets.get(key, (size, now))
        tokens = min(size, tokens + (now - at) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate

    def clear(self) -> None:
        self._buckets.clear()


async def _drop_connection(scope: Any) -> bool:
    """Abort the TCP connection this request came on, without an answer.

    No ASGI message does that: Hypercorn answers 500 for an app that ends without a
    response and writes the status line as soon as a response starts. So the transport
    is found by its peer address among the event loop's sockets and aborted; Hypercorn
    then sees the connection gone and sends nothing.
    """
    loop = asyncio.get_running_loop()
    transports = getattr(loop, "_transports", None)  # asyncio's selector loop keeps fd -> transport
    if transports is None:
        return False
    client, server = scope.get("client"), scope.get("server")
    for transport in list(transports.values()):
        if transport is None or transport.is_closing():
            continue
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        if peer and local and tuple(peer[:2]) == tuple(client or ()) and tuple(local[:2]) == tuple(server or ()):
            transport.abort()
            return True
    return False


def create_sim_app(config: SimConfig | None = None, state: SimState | None = None) -> Quart:
    """The simulator as a Quart app; `app.config["SIM_STATE"]` is its exchange."""
    state = state or SimState(config or SimConfig())
    app = Quart("herenya_sim")
    app.config["SIM_STATE"] = state
    limiter = _RateLimiter()

    # ------------------------------------------------------------------- auth, limits, faults

    @app.before_request
    async def _guard() -> Response | None:
        path = request.path
        g.fault = None
        if not path.startswith("/v1/") or path == "/v1/time":
            return None
        faults = state.faults
        roll = state.fault_rng.random()
        if roll < faults.error_rate:
            status, code, message = _ERROR_ANSWERS[int(roll / faults.error_rate * 3) % 3]
            state.injected["error"] += 1
            return _error(status, code, message)
        roll -= faults.error_rate
        if roll < faults.delay_rate:
            g.fault = "delay"
        elif roll < faults.delay_rate + faults.drop_rate:
            g.fault = "drop"

        key = request.headers.get("X-Herenya-Key", "")
        account = state.by_key.get(key)
        if account is None:
            return _error(401, "INVALID_API_KEY", "unknown API key")
        timestamp = request.headers.get("X-Herenya-Timestamp", "")
        signature = request.headers.get("X-Herenya-Signature", "")
        if not timestamp.isdigit() or not signature:
            return _error(
                401, "INVALID_SIGNATURE", "X-Herenya-Timestamp (decimal digits) and X-Herenya-Signature are required"
            )
        scope = request.scope
        path_and_query = scope["raw_path"] + (b"?" + scope["query_string"] if scope["query_string"] else b"")
        body = await request.get_data(cache=True, as_text=False)
        assert isinstance(body, bytes)
        expected = sign(account.api_secret, timestamp, request.method, path_and_query, body)
        if not signature_matches(expected, signature):
            return _error(401, "INVALID_SIGNATURE", "signature does not match the request")
        skew = state.now_ms() - int(timestamp)
        if abs(skew) > state.config.timestamp_window_ms:
            return _error(
                401,
                "TIMESTAMP_EXPIRED",
                f"timestamp is {skew} ms off the server time; the window is {state.config.timestamp_window_ms} ms",
            )
        owner = (request.view_args or {}).get("account_id")
        if owner is not None and owner != account.account_id:
            return _error(403, "FORBIDDEN", "this key does not own that account")
        wait = limiter.take(key, faults.rate_limit, faults.rate_burst, state.clock())
        if wait is not None:
            # Rounded up to the millisecond: rounded down, a wait under 0.5 ms read "0.000".
            retry_after = f"{math.ceil(wait * 1000) / 1000:.3f}"
            return _error(
                429, "RATE_LIMITED", f"over {faults.rate_limit:g} requests/s", headers={"Retry-After": retry_after}
            )
        return None

    @app.after_request
    async def _late(response: Response) -> Response:
        fault = g.get("fault")
        if fault == "delay":
            state.injected["delay"] += 1
            await asyncio.sleep(state.faults.delay)
        elif fault == "drop" and request.method == "POST" and response.status_code == 201:
            if await _drop_connection(request.scope):
                state.injected["drop"] += 1
                # Quart cancels this task when Hypercorn reports the disconnect.
                await asyncio.sleep(60)
            log.warning("could not drop the connection; answering instead")
        return response

    @app.errorhandler(SimError)
    async def _sim_error(e: SimError) -> Response:
        return _json(e.body(), e.status)

    @app.errorhandler(404)
    async def _not_found(e: Exception) -> Response:
        return _error(404, "NOT_FOUND", f"no such endpoint: {request.method} {request.path}")

    @app.errorhandler(405)
    async def _not_allowed(e: Exception) -> Response:
        return _error(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed on {request.path}")

    # ------------------------------------------------------------------- the contract

    @app.get("/v1/time")
    async def server_time() -> Response:
        return _json({"server_time": state.now_ms()})

    @app.get("/v1/instruments/<symbol>")
    async def instrument(symbol: str) -> Response:
        return _json(state.instrument_view(symbol))

    @app.get("/v1/quotes/<symbol>")
    async def quote(symbol: str) -> Response:
        return _json(state.quote(symbol))

    @app.get("/v1/accounts/<account_id>")
    async def account(account_id: str) -> Response:
        return _json(state.account_view(account_id))

    @app.get("/v1/accounts/<account_id>/positions")
    async def positions(account_id: str) -> Response:
        return _json(state.positions_view(account_id))

    @app.post("/v1/accounts/<account_id>/orders")
    async def place_order(account_id: str) -> Response:
        try:
            payload = json.loads(await request.get_data(cache=True))
        except ValueError:
            return _error(400, "INVALID_REQUEST", "the body is not JSON")
        hidden = 0.0
        faults = state.faults
        if faults.invisible_rate and state.fault_rng.random() < faults.invisible_rate:
            hidden = faults.invisible_seconds
            state.injected["invisible"] += 1
        order = state.place_order(account_id, payload, hidden_seconds=hidden)
        return _json(order.to_wire(), 201)

    @app.get("/v1/accounts/<account_id>/orders")
    async def find_orders(account_id: str) -> Response:
        cid = request.args.get("client_order_id")
        if not cid:
            return _error(400, "INVALID_REQUEST", "client_order_id query parameter is required")
        return _json(state.find_orders(account_id, cid))

    @app.get("/v1/accounts/<account_id>/orders/<order_id>")
    async def get_order(account_id: str, order_id: str) -> Response:
        return _json(state.get_order(account_id, order_id))

    @app.delete("/v1/accounts/<account_id>/orders/<order_id>")
    async def cancel_order(account_id: str, order_id: str) -> Response:
        return _json(state.cancel_order(account_id, order_id))

    # ------------------------------------------------------------------- control API (no auth)

    async def _body() -> dict[str, Any]:
        try:
            data = json.loads(await request.get_data(cache=True) or b"{}")
        except ValueError:
            raise SimError(400, "INVALID_REQUEST", "the body is not JSON") from None
        if not isinstance(data, dict):
            raise SimError(400, "INVALID_REQUEST", "the body must be a JSON object")
        return data

    def _decimal(data: dict[str, Any], name: str) -> Decimal:
        try:
            return Decimal(str(data[name]))
        except (KeyError, InvalidOperation):
            raise SimError(400, "INVALID_REQUEST", f"{name} is required as a decimal string") from None

    @app.get("/_sim/book")
    async def sim_book() -> Response:
        return _json(state.book())

    @app.get("/_sim/positions")
    async def sim_positions() -> Response:
        return _json(state.all_positions())

    @app.post("/_sim/reset")
    async def sim_reset() -> Response:
        state.reset()
        limiter.clear()
        return _json({"reset": True})

    @app.get("/_sim/faults")
    async def sim_faults() -> Response:
        return _json(dict(asdict(state.faults), injected=dict(state.injected)))

    @app.post("/_sim/faults")
    async def sim_set_faults() -> Response:
        try:
            state.faults = state.faults.updated(await _body())
        except SimConfigError as e:
            raise SimError(400, "INVALID_REQUEST", str(e)) from None
        return _json(asdict(state.faults))

    @app.post("/_sim/quotes/<symbol>")
    async def sim_set_quote(symbol: str) -> Response:
        data = await _body()
        return _json(
            state.set_quote(symbol, _decimal(data, "bid"), _decimal(data, "ask"), frozen=data.get("frozen", True))
        )

    @app.post("/_sim/instruments/<symbol>")
    async def sim_set_instrument(symbol: str) -> Response:
        data = await _body()
        state.set_trading_status(symbol, data.get("trading_status", ""))
        return _json(state.instrument_view(symbol))

    @app.post("/_sim/accounts/<account_id>")
    async def sim_set_account(account_id: str) -> Response:
        data = await _body()
        state.set_balance(account_id, _decimal(data, "balance"))
        return _json(state.account_view(account_id))

    return app
