"""Replay inputs: alert records, candles and setting overrides, parsed from text.

Alerts come as TradingView's alert-log export (CSV with `Alert ID,Ticker,Name,Description,Time`,
the message in `Description`) or as JSON lines `{"time": "...", "body": {...}}`; candles as
TradingView's chart-data export (CSV with `time,open,high,low,close`, more columns ignored).
Times are Unix seconds or ISO-8601; a time without a zone is UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.domain.candles import Candle  # the candle the desk stores is the one replay reads
from trading.domain.config import BotConfig, BotConfigError
from trading.domain.inputs import (
    InputError,  # the one error type for what a person gives; here the file's line or field
)
from trading.domain.market import Instrument

ALERT_LOG_COLUMNS = ("Alert ID", "Ticker", "Name", "Description", "Time")
CANDLE_COLUMNS = ("time", "open", "high", "low", "close")
_NONE_WORDS = ("", "none", "null")
# A placeholder key that passes BotConfig's check while overrides are validated (a bot read
# from the database carries only a masked hint of its key); the real one is put back after.
_STAND_IN_KEY = "replay_stand_in_key"


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """One recorded alert: its body as received and when it arrived (None: use the body's time)."""

    time: datetime | None
    body: bytes
    source: str  # where it came from, for the report: "alerts.csv line 3", "webhook log #12"
    ticker: str | None = None  # the export's own ticker column, when it has one


def parse_time(text: str) -> datetime:
    """Unix seconds (an integer or decimal number) or ISO-8601; naive times are UTC."""
    value = text.strip()
    if not value:
        raise ValueError("empty time")
    try:
        seconds = Decimal(value)
    except InvalidOperation:
        seconds = None
    if seconds is not None and seconds.is_finite():
        # Milliseconds are what some exports write; no candle is dated after the year 5138.
        if abs(seconds) >= 100_000_000_000:
            seconds /= 1000
        return datetime.fromtimestamp(float(seconds), UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither Unix seconds nor an ISO-8601 time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# --- alerts ------------------------------------------------------------------------------


def read_alerts(text: str, name: str = "alerts") -> list[AlertRecord]:
    """Alert records from an alert-log CSV export or JSON lines, told apart by the first line."""
    text = text.removeprefix("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return _alerts_from_json_lines(text, name)
    return _alerts_from_csv(text, name)


def _alerts_from_csv(text: str, name: str) -> list[AlertRecord]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise InputError(f"{name}: empty file")
    columns = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [c for c in ("Description", "Time") if c.lower() not in columns]
    if missing:
        raise InputError(
            f"{name}: not a TradingView alert log: the header has no {', '.join(missing)} column "
            f"(expected {','.join(ALERT_LOG_COLUMNS)}), and the file is not JSON lines"
        )
    at_description, at_time = columns["description"], columns["time"]
    at_ticker = columns.get("ticker")
    records: list[AlertRecord] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(at_description, at_time):
            raise InputError(f"{name} line {line}: {len(row)} columns, fewer than the header's")
        try:
            moment = parse_time(row[at_time])
        except ValueError as e:
            raise InputError(f"{name} line {line}: Time: {e}") from None
        ticker = row[at_ticker].strip() or None if at_ticker is not None and at_ticker < len(row) else None
        records.append(AlertRecord(moment, row[at_description].encode("utf-8"), f"{name} line {line}", ticker))
    return records


def _alerts_from_json_lines(text: str, name: str) -> list[AlertRecord]:
    records: list[AlertRecord] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise InputError(f"{name} line {number}: not JSON: {e}") from None
        if not isinstance(item, dict) or "body" not in item:
            raise InputError(f'{name} line {number}: expected an object {{"time": "...", "body": {{...}}}}')
        body = item["body"]
        raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
        moment: datetime | None = None
        if item.get("time") is not None:
            try:
                moment = parse_time(str(item["time"]))
            except ValueError as e:
                raise InputError(f"{name} line {number}: time: {e}") from None
        records.append(AlertRecord(moment, raw.encode("utf-8"), f"{name} line {number}"))
    return records


# --- candles -----------------------------------------------------------------------------


def read_candles(text: str, name: str = "candles") -> list[Candle]:
    """Candles in time order; InputError naming the line for anything unreadable."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = next(reader, None)
    if header is None:
        raise InputError(f"{name}: empty file")
    columns = {h.strip().lower(): i for i, h in enumerate(header)}
    missing = [c for c in CANDLE_COLUMNS if c not in columns]
    if missing:
        raise InputError(f"{name}: the header has no {', '.join(missing)} column (expected {','.join(CANDLE_COLUMNS)})")
    at = [columns[c] for c in CANDLE_COLUMNS]
    width = max(at)
    candles: list[Candle] = []
    previous: datetime | None = None
    for row in reader:
        line = reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) <= width:
            raise InputError(f"{name} line {line}: {len(row)} columns, fewer than the header's")
        try:
            moment = parse_time(row[at[0]])
        except ValueError as e:
            raise InputError(f"{name} line {line}: time: {e}") from None
        try:
            o, h, lo, c = (Decimal(row[i].strip()) for i in at[1:])
        except InvalidOperation:
            raise InputError(f"{name} line {line}: open, high, low and close must be numbers") from None
        if not all(p.is_finite() and p > 0 for p in (o, h, lo, c)):
            raise InputError(f"{name} line {line}: prices must be positive numbers")
        if lo > min(o, c) or h < max(o, c):
            raise InputError(f"{name} line {line}: low {lo} and high {h} do not contain open {o} and close {c}")
        if previous is not None and moment <= previous:
            raise InputError(f"{name} line {line}: time {moment.isoformat()} is not after the candle before it")
        previous = moment
        candles.append(Candle(moment, o, h, lo, c))
    if len(candles) < 2:
        raise InputError(f"{name}: at least two candles are needed (the interval is read from them)")
    return candles


def candles_csv(candles: Iterable[Candle]) -> str:
    """Candles in the layout read_candles reads: `time,open,high,low,close`, ISO-8601 UTC."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CANDLE_COLUMNS)
    for c in candles:
        writer.writerow((c.time.isoformat(), *(format(p, "f") for p in (c.open, c.high, c.low, c.close))))
    return out.getvalue()


# --- settings ----------------------------------------------------------------------------


def parse_assignments(items: Iterable[str], what: str = "--set") -> dict[str, str]:
    """`field=value` strings as a dict; InputError for one without `=`."""
    out: dict[str, str] = {}
    for item in items:
        field, sep, value = item.partition("=")
        if not sep or not field.strip():
            raise InputError(f"{what} {item!r}: expected field=value")
        out[field.strip()] = value.strip()
    return out


def apply_overrides(config: BotConfig, overrides: dict[str, str]) -> BotConfig:
    """`config` with fields replaced by text values, validated as a bots file would be."""
    if not overrides:
        return config
    data: dict[str, Any] = config.model_dump()
    data["webhook_key"] = _STAND_IN_KEY
    for field, value in overrides.items():
        if field == "webhook_key":
            raise InputError("--set webhook_key: the webhook key plays no part in a replay")
        data[field] = None if value.lower() in _NONE_WORDS else value
    try:
        changed = BotConfig.parse(data)
    except BotConfigError as e:
        raise InputError("; ".join(e.errors)) from None
    return changed.model_copy(update={"webhook_key": config.webhook_key})


# Quantities too are decimals: an exchange market steps in 0.001 BTC.
_INSTRUMENT_QUANTITIES = ("min_quantity", "max_quantity", "quantity_step")
_INSTRUMENT_DECIMALS = ("tick_size", "contract_multiplier")


def instrument_for(symbol: str, overrides: dict[str, str], base: Instrument | None = None) -> Instrument:
    """The instrument to replay on: `base` (or the Herenya defaults) with fields replaced."""
    values: dict[str, Any] = {}
    known = (*_INSTRUMENT_QUANTITIES, *_INSTRUMENT_DECIMALS)
    for field, text in overrides.items():
        if field not in known:
            raise InputError(f"--instrument {field}: unknown field (one of {', '.join(known)})")
        try:
            values[field] = Decimal(text)
        except (ValueError, InvalidOperation):
            raise InputError(f"--instrument {field}={text}: not a number") from None
        if not values[field].is_finite():
            raise InputError(f"--instrument {field}={text}: not a number")
    made = replace(base if base is not None else Instrument(symbol), symbol=symbol, **values)
    if made.tick_size <= 0 or made.contract_multiplier <= 0:
        raise InputError("--instrument: tick_size and contract_multiplier must be positive")
    if made.quantity_step <= 0 or made.min_quantity <= 0 or made.max_quantity < made.min_quantity:
        raise InputError(
            "--instrument: quantity_step and min_quantity must be positive, max_quantity at least min_quantity"
        )
    return made
