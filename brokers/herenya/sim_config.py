"""The Herenya simulator's configuration: accounts and keys, instruments, fault injection.

Read from a TOML file (see README "Herenya simulator") or built in code by tests; the
defaults are what the tests and a first try need: account A1 (key test-key / secret
test-secret), account A2 (key other-key) for the 403 case, SA40 and US30.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


class SimConfigError(ValueError):
    """The simulator's configuration is wrong; the message names the file and field."""


@dataclass(frozen=True)
class SimAccount:
    account_id: str
    api_key: str
    api_secret: str
    currency: str = "ZAR"
    balance: Decimal = Decimal("100000.00")

    def __repr__(self) -> str:
        return f"SimAccount(account_id={self.account_id!r}, api_key={self.api_key!r}, balance={self.balance})"


@dataclass(frozen=True)
class SimInstrument:
    symbol: str
    description: str = ""
    currency: str = "ZAR"
    min_quantity: int = 1
    max_quantity: int = 12
    quantity_step: int = 1
    tick_size: Decimal = Decimal("0.5")
    contract_multiplier: Decimal = Decimal("1")
    trading_status: str = "OPEN"
    price: Decimal = Decimal("53210.5")  # the random walk's starting mid
    spread_ticks: int = 2
    margin_rate: Decimal = Decimal("0.05")  # share of the notional held as margin


@dataclass(frozen=True)
class FaultSettings:
    """Per run: what share of requests goes wrong, and how."""

    error_rate: float = 0.0  # answered 500/502/503 before anything is done
    delay_rate: float = 0.0  # answered only after `delay` seconds (an order IS placed first)
    delay: float = 35.0
    drop_rate: float = 0.0  # orders placed, then the connection is dropped without an answer
    invisible_rate: float = 0.0  # orders hidden from client-id look-up for `invisible_seconds`
    invisible_seconds: float = 0.0
    rate_limit: float = 0.0  # requests/s per key before 429 (0: unlimited)
    rate_burst: int = 0  # requests allowed at once (0: one second's worth)

    def validate(self) -> FaultSettings:
        for name in ("error_rate", "delay_rate", "drop_rate", "invisible_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise SimConfigError(f"faults.{name} must be between 0 and 1, got {value}")
        if self.error_rate + self.delay_rate + self.drop_rate > 1.0:
            raise SimConfigError("faults.error_rate + delay_rate + drop_rate must not exceed 1")
        for name in ("delay", "invisible_seconds", "rate_limit"):
            if getattr(self, name) < 0:
                raise SimConfigError(f"faults.{name} must not be negative, got {getattr(self, name)}")
        if self.rate_burst < 0:
            raise SimConfigError(f"faults.rate_burst must not be negative, got {self.rate_burst}")
        return self

    def updated(self, changes: dict[str, Any]) -> FaultSettings:
        """A copy with `changes` applied (from the control API), validated."""
        known = {f.name: f.type for f in fields(self)}
        out: dict[str, Any] = {}
        for name, value in changes.items():
            if name not in known:
                raise SimConfigError(f"unknown fault setting {name!r}; known: {', '.join(sorted(known))}")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SimConfigError(f"fault setting {name!r} must be a number, got {value!r}")
            out[name] = int(value) if name == "rate_burst" else float(value)
        return replace(self, **out).validate()


def default_accounts() -> tuple[SimAccount, ...]:
    return (
        SimAccount("A1", "test-key", "test-secret"),
        SimAccount("A2", "other-key", "other-secret"),
    )


def default_instruments() -> tuple[SimInstrument, ...]:
    return (
        SimInstrument("SA40", "South Africa 40 index CFD", price=Decimal("53210.5")),
        SimInstrument(
            "US30",
            "Wall Street 30 index CFD",
            currency="USD",
            max_quantity=20,
            tick_size=Decimal("1"),
            price=Decimal("38500"),
        ),
    )


@dataclass(frozen=True)
class SimConfig:
    accounts: tuple[SimAccount, ...] = field(default_factory=default_accounts)
    instruments: tuple[SimInstrument, ...] = field(default_factory=default_instruments)
    faults: FaultSettings = field(default_factory=FaultSettings)
    seed: int | None = None
    timestamp_window_ms: int = 5000
    quote_step_seconds: float = 1.0  # one random-walk step per this many seconds; 0 freezes quotes
    market_fill_delay: float = 0.0  # > 0: MARKET orders answer NEW and fill this many seconds later

    def validate(self) -> SimConfig:
        if not self.accounts:
            raise SimConfigError("at least one account is needed")
        seen: set[str] = set()
        for a in self.accounts:
            if not a.account_id or not a.api_key or not a.api_secret:
                raise SimConfigError(f"account {a.account_id!r} needs account_id, api_key and api_secret")
            if a.api_key in seen:
                raise SimConfigError(f"api key of account {a.account_id!r} is used by another account")
            seen.add(a.api_key)
        for i in self.instruments:
            if not 0 < i.min_quantity <= i.max_quantity or i.quantity_step <= 0:
                raise SimConfigError(
                    f"instrument {i.symbol}: need 0 < min_quantity <= max_quantity and quantity_step > 0"
                )
            if i.tick_size <= 0 or i.price <= 0 or i.contract_multiplier <= 0:
                raise SimConfigError(
                    f"instrument {i.symbol}: tick_size, price and contract_multiplier must be positive"
                )
            if i.trading_status not in ("OPEN", "CLOSED"):
                raise SimConfigError(f"instrument {i.symbol}: trading_status must be OPEN or CLOSED")
        if len({i.symbol for i in self.instruments}) != len(self.instruments):
            raise SimConfigError("instrument symbols must be unique")
        self.faults.validate()
        return self


def _build(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise SimConfigError(f"{where} must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        if name not in known:
            raise SimConfigError(f"{where}: unknown field {name!r}; known: {', '.join(sorted(known))}")
        default = getattr(cls, name, None) if not callable(getattr(cls, name, None)) else None
        try:
            if isinstance(default, Decimal):
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise SimConfigError(f"{where}.{name} must be a decimal string, got {value!r}")
                value = Decimal(str(value))
            elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
        except InvalidOperation:
            raise SimConfigError(f"{where}.{name} is not a decimal: {value!r}") from None
        expected = type(default) if default is not None else str  # fields without a default are names and keys
        if isinstance(value, bool) is not (expected is bool) or not isinstance(value, expected):
            raise SimConfigError(f"{where}.{name} must be {expected.__name__}, got {value!r}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise SimConfigError(f"{where}: {e}") from None


def load_sim_config(path: str | Path) -> SimConfig:
    """Read a TOML file; missing sections take the defaults."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SimConfigError(f"{p}: no such file") from None
    except tomllib.TOMLDecodeError as e:
        raise SimConfigError(f"{p}: not valid TOML: {e}") from None
    top = {f.name for f in fields(SimConfig)}
    unknown = set(data) - top
    if unknown:
        raise SimConfigError(f"{p}: unknown keys {', '.join(sorted(unknown))}; known: {', '.join(sorted(top))}")
    kwargs: dict[str, Any] = {}
    if "accounts" in data:
        kwargs["accounts"] = tuple(_build(SimAccount, a, f"{p}: accounts[{n}]") for n, a in enumerate(data["accounts"]))
    if "instruments" in data:
        kwargs["instruments"] = tuple(
            _build(SimInstrument, i, f"{p}: instruments[{n}]") for n, i in enumerate(data["instruments"])
        )
    if "faults" in data:
        kwargs["faults"] = _build(FaultSettings, data["faults"], f"{p}: faults")
    for name in ("seed", "timestamp_window_ms"):
        if name in data:
            if not isinstance(data[name], int) or isinstance(data[name], bool):
                raise SimConfigError(f"{p}: {name} must be an integer")
            kwargs[name] = data[name]
    for name in ("quote_step_seconds", "market_fill_delay"):
        if name in data:
            if not isinstance(data[name], int | float) or isinstance(data[name], bool):
                raise SimConfigError(f"{p}: {name} must be a number")
            kwargs[name] = float(data[name])
    try:
        return SimConfig(**kwargs).validate()
    except SimConfigError as e:
        raise SimConfigError(f"{p}: {e}") from None
