"""TradingView alert bodies -> Signal, with errors that tell the sender exactly what to fix.

The three accepted shapes are described in docs/alerts.md. This runs on every
webhook, so it decodes once, parses JSON once and only scans for placeholders when the text
holds "{{" at all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

from trading.domain import quantities
from trading.domain.levels import MIN_PRICE_EXPONENT, level_problem
from trading.domain.quantities import MAX_QUANTITY
from trading.domain.signals import AlertShape, Signal, SignalAction
from trading.domain.values import OrderSide, OrderType, PositionSide

__all__ = ["AlertError", "DuplicateKeyError", "no_duplicate_keys", "parse_alert", "redact_body"]


class AlertError(ValueError):
    """An alert body that cannot become a signal.

    `code` is a stable machine word (`not_json`, `bad_field`, ...: the front door decides
    what each answers), `field` the field at fault.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field
        self.message = message


_RSI_ACTIONS: dict[str, SignalAction] = {
    "RSI_LONG_ENTRY": SignalAction.ENTER_LONG,
    "RSI_SHORT_ENTRY": SignalAction.ENTER_SHORT,
    "RSI_CLOSE_LONG": SignalAction.CLOSE_LONG,
    "RSI_CLOSE_SHORT": SignalAction.CLOSE_SHORT,
}
_ORDER_ACTIONS: dict[str, OrderSide] = {"BUY": OrderSide.BUY, "SELL": OrderSide.SELL}
_ACCEPTED_ACTIONS = ", ".join([*_RSI_ACTIONS, "buy", "sell"])

# TradingView placeholders: {{close}}, {{strategy.order.action}}, {{plot_0}}, {{plot("RSI")}}.
# Kept this narrow so ordinary braces in a broken body are not mistaken for one.
# Inside a JSON string the quotes of plot("RSI") arrive escaped, hence the optional backslashes.
_PLACEHOLDER = re.compile(r'\{\{\s*([A-Za-z_][\w.]{0,100}(?:\(\\?"[^"{}\\]*\\?"\))?)\s*\}\}')
# The key just before a position in a (possibly invalid) JSON text: `"price": ` or `"time": "abc`.
_KEY_BEFORE = re.compile(r'"((?:[^"\\]|\\.){1,100})"\s*:\s*"?[^"{}\[\],:]*$')
# Plain decimal notation only: Decimal() alone would also take "1_000", " NaN" and "Infinity".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TP = re.compile(r"tp(\d+)")

# Bounds that no real alert comes near; they keep absurd values (1e999999) away from integer
# conversion and the database instead of failing somewhere less clear.
_MAX_ADJUSTED_EXPONENT = 14  # numbers below 1e15
_MAX_ID_LENGTH = 200
_MAX_SHOWN = 40  # characters of a bad value quoted back in an error

_STRATEGY_ALIASES: dict[str, tuple[str, ...]] = {
    "action": ("strategy.order.action",),
    "contracts": ("strategy.order.contracts",),
    "id": ("strategy.order.id",),
    "market_position": ("strategy.market_position",),
    "market_position_size": ("strategy.market_position_size",),
    "position_size": ("strategy.position_size",),
    "prev_market_position": ("strategy.prev_market_position",),
    "prev_market_position_size": ("strategy.prev_market_position_size",),
}
_STRATEGY_FIELDS = ("market_position", "position_size", "market_position_size")
_EXTRAS = ("exchange", "subaccount", "chart_url", "interval", "timeframe")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS_LIMIT = Decimal("1e11")  # below this an epoch number is seconds (year 5138), above it milliseconds


def parse_alert(body: bytes, content_type: str | None) -> Signal:
    """The signal an alert body asks for, or AlertError saying what is wrong with it.

    `content_type` is not used to decide anything: TradingView sends a JSON message as
    text/plain unless it happens to parse it, so the body is judged on its own.
    """
    del content_type
    text = _decode(body)
    has_braces = "{{" in text
    try:
        data = _ALERT_JSON.decode(text)
    except DuplicateKeyError as e:
        if has_braces:
            _raise_if_placeholder(text, None)
        raise AlertError(
            "bad_field", f'field "{e.key}" appears twice in the alert; send each field once', e.key
        ) from None
    except (ValueError, RecursionError) as e:
        # Checked before calling it "not JSON": `"price": {{close}}` is invalid JSON only
        # because TradingView left the placeholder, and that is what the sender must fix.
        if has_braces:
            _raise_if_placeholder(text, None)
        raise AlertError("not_json", _not_json_message(text, e)) from None
    if has_braces:
        _raise_if_placeholder(text, data)
    if not isinstance(data, dict):
        raise AlertError(
            "bad_field",
            f"the body is JSON but {_json_kind(data)}, not an object; the alert message must be a JSON "
            'object such as {"action": "RSI_LONG_ENTRY", "price": 53210.5}',
        )
    return _signal_from(_Fields(data))


def redact_body(body: bytes) -> str:
    """The body as text for the webhook log, with every passphrase value replaced by "***".

    Never raises: a log line must not be able to break the intake.
    """
    try:
        text = body.decode("utf-8", errors="replace").removeprefix("\ufeff")
        if "\\u" not in text and _WORD.search(text) is None:
            # No escape can spell the word and it is not there: the text has no passphrase
            # to mask, and the masking below would give it back unchanged (most alerts).
            return text
        # The regex keeps the sender's own formatting, which is what one wants to read when an
        # alert went wrong. It reads the text with \u escapes of letters and digits decoded
        # ("pass\u0070hrase" is the parser's "passphrase"), and like the parser it takes a key
        # with spaces around it. For a JSON body the result is parsed again to prove it caught
        # every passphrase (a value may be a list); if it did not, the parsed body is written
        # out masked instead.
        redacted = _PASSPHRASE_TEXT.sub(_mask_match, _LETTER_ESCAPE.sub(_unescape, text))
        try:
            original = json.loads(text)
        except (ValueError, RecursionError):
            # Nothing to prove it against: the text is kept only up to the first "passphrase"
            # the regex did not mask (a key it could not read, or a broken structure).
            return _cut_at_unmasked(redacted)
        try:
            checked = json.loads(redacted)
        except (ValueError, RecursionError):
            checked = None
        if checked is None or _holds_clear_passphrase(checked):
            return json.dumps(_masked(original), ensure_ascii=False)
        return redacted
    except Exception:
        return "<alert body not shown: it could not be redacted>"


# ---------------------------------------------------------------------------------------------
# decoding and placeholders


def _decode(body: bytes) -> str:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise AlertError(
            "not_utf8",
            f"the body is not UTF-8 text (invalid byte at position {e.start}); send the alert message as UTF-8 JSON",
        ) from None
    return text.removeprefix("\ufeff")


class DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json.loads's object_pairs_hook that refuses a key given twice, for alerts and API bodies alike."""
    # json keeps the last of two equal keys silently; with two prices that is a guess on money.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise DuplicateKeyError(key)
        result[key] = value
    return result


# What json.loads(text, **these options) builds on every call, built once: a decoder keeps
# no state between documents.
_ALERT_JSON = json.JSONDecoder(
    parse_float=Decimal,
    parse_int=Decimal,
    parse_constant=Decimal,  # NaN / Infinity, refused later by name of field
    object_pairs_hook=no_duplicate_keys,
)


def _raise_if_placeholder(text: str, data: Any) -> None:
    found = _placeholders_in_data(data) if data is not None else _placeholders_in_text(text)
    if not found:
        return
    placeholder, field = found[0]
    others = sorted({p for p, _ in found[1:]} - {placeholder})
    also = f" (also unreplaced: {', '.join(others)})" if others else ""
    where = f'field "{field}" still holds' if field else "the body still holds"
    raise AlertError(
        "unreplaced_placeholder",
        f"{where} the TradingView placeholder {placeholder}: TradingView did not replace it; "
        f"check the alert message{also}",
        field,
    )


def _is_secret(field: str | None) -> bool:
    # A passphrase is the sender's own text, not a template: braces in it are not judged, and
    # quoting them back in an error would put part of a secret in the log.
    return field is not None and "passphrase" in field.lower()


def _placeholder_text(match: re.Match[str]) -> str:
    return match.group(0).replace('\\"', '"')


def _placeholders_in_data(data: Any) -> list[tuple[str, str | None]]:
    """(placeholder, field path) for every placeholder in the parsed body's keys and text values."""
    found: list[tuple[str, str | None]] = []
    # Iterative, so a deeply nested body that json accepted cannot exhaust the stack here.
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            children = [(k, f"{path}.{k}" if path else k, v) for k, v in value.items() if not _is_secret(k)]
        elif isinstance(value, list):
            children = [(str(i), f"{path}.{i}" if path else str(i), v) for i, v in enumerate(value)]
        else:
            continue
        for key, child_path, child in children:
            for where in (key, child) if isinstance(child, str) else (key,):
                found.extend((_placeholder_text(m), child_path) for m in _PLACEHOLDER.finditer(where))
        stack.extend(reversed([(p, v) for _, p, v in children if isinstance(v, dict | list)]))
    return found


_MAX_LOCATED = 20  # placeholders whose field is looked for in a broken body; the scan is per match


def _placeholders_in_text(text: str) -> list[tuple[str, str | None]]:
    """(placeholder, field) for placeholders in a body that is not valid JSON, field best effort."""
    found: list[tuple[str, str | None]] = []
    for match in _PLACEHOLDER.finditer(text):
        if len(found) >= _MAX_LOCATED:
            break
        before = _KEY_BEFORE.search(text, max(0, match.start() - 200), match.start())
        field = before.group(1) if before else None
        if not _is_secret(field):
            found.append((_placeholder_text(match), field))
    return found


def _not_json_message(text: str, error: BaseException) -> str:
    hint = 'the alert message must be a JSON object such as {"action": "RSI_LONG_ENTRY", "price": 53210.5}'
    if not text.strip():
        return f"the body is empty; {hint}"
    if isinstance(error, json.JSONDecodeError):
        return f"the body is not JSON ({error.msg} at line {error.lineno} column {error.colno}); {hint}"
    if isinstance(error, RecursionError):
        return f"the body is not usable JSON (nested too deeply); {hint}"
    return f"the body is not JSON; {hint}"


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    return "null"


# ---------------------------------------------------------------------------------------------
# field access


def _show(value: Any) -> str:
    shown = repr(value) if isinstance(value, str) else str(value) if isinstance(value, Decimal) else _json_kind(value)
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 3] + "..."


class _Fields:
    """The alert's fields, looked up by name regardless of case and surrounding spaces.

    TradingView messages are typed by hand ("Long SL", "price "), so an exact-case lookup
    would turn a harmless spelling into a silently missing stop.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._values: dict[str, tuple[str, Any]] = {}
        for key, value in data.items():
            norm = key.strip().lower()
            if norm in self._values:
                raise AlertError(
                    "bad_field",
                    f'fields "{self._values[norm][0]}" and "{key}" name the same thing; send it once',
                    key,
                )
            self._values[norm] = (key, value)
        for name, aliases in _STRATEGY_ALIASES.items():
            for alias in aliases:
                if alias in self._values:
                    if name in self._values:
                        raise AlertError(
                            "bad_field",
                            f'fields "{self._values[name][0]}" and "{self._values[alias][0]}" name the same '
                            "thing; send it once",
                            name,
                        )
                    self._values[name] = self._values.pop(alias)

    def has(self, name: str) -> bool:
        return self.get(name) is not None

    def get(self, name: str) -> Any:
        entry = self._values.get(name.lower())
        return None if entry is None else entry[1]

    def label(self, name: str) -> str:
        """The field's name as the sender spelled it, for error messages."""
        entry = self._values.get(name.lower())
        return name if entry is None else entry[0]

    def text(self, name: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return str(value)
        raise AlertError("bad_field", f'field "{self.label(name)}" must be text, not {_json_kind(value)}', name)

    def decimal(self, name: str) -> Decimal | None:
        """The field as a finite Decimal (from a JSON number or a string), None when absent or null."""
        value = self.get(name)
        if value is None:
            return None
        label = self.label(name)
        if isinstance(value, bool) or not isinstance(value, Decimal | str):
            _bad_number(label, f"must be a number, not {_json_kind(value)}")
        if isinstance(value, str):
            raw = value.strip().replace("\u2212", "-")
            if not raw:
                _bad_number(label, "is empty; it must be a number")
            if not _NUMBER.fullmatch(raw):
                _bad_number(label, f"is {_show(value)}, not a number")
            try:
                number = Decimal(raw)
            except InvalidOperation:
                _bad_number(label, f"is {_show(value)}, not a number")
        else:
            number = value
        if not number.is_finite():
            _bad_number(label, f"is {number}, not a finite number")
        if number != 0 and number.adjusted() > _MAX_ADJUSTED_EXPONENT:
            _bad_number(label, f"is {_show(value)}, too large to be real")
        return number

    def positive(self, name: str) -> Decimal | None:
        number = self.decimal(name)
        if number is not None and number <= 0:
            _bad_number(self.label(name), f"is {number}; it must be above zero")
        if number is not None and number.adjusted() < MIN_PRICE_EXPONENT:
            _bad_number(self.label(name), f"is {number:.3E}, too small to be a price")
        return number

    def contracts(self, name: str, *, allow_zero: bool = False, signed: bool = False) -> Decimal | None:
        """A quantity: "2", 2, 2.0 and 0.01 are fine (at most 8 decimals); whether the account
        trades fractions is checked where the account is known (trading/domain/quantities.py)."""
        number = self.decimal(name)
        if number is None:
            return None
        label = self.label(name)
        if abs(number) > MAX_QUANTITY:
            _bad_number(label, f"is {number}, more than {MAX_QUANTITY} contracts")
        if not quantities.within_bounds(number):
            _bad_number(label, f"is {number}; it may have at most {quantities.MAX_DECIMALS} decimals")
        count = quantities.plain(number)
        if count < 0 and not signed:
            _bad_number(label, f"is {count}; it must not be negative")
        if count == 0 and not allow_zero:
            _bad_number(label, "is 0; it must be at least 1 contract")
        return count


def _bad_number(label: str, problem: str) -> NoReturn:
    raise AlertError("bad_number", f'field "{label}" {problem}', label)


def _missing(name: str, why: str = "") -> NoReturn:
    raise AlertError("missing_field", f'field "{name}" is missing{why}', name)


# ---------------------------------------------------------------------------------------------
# shapes


def _signal_from(fields: _Fields) -> Signal:
    raw_action = fields.get("action")
    if raw_action is None:
        _missing("action", f"; it must be one of {_ACCEPTED_ACTIONS}")
    if not isinstance(raw_action, str):
        raise AlertError(
            "unknown_action",
            f'field "action" must be text, one of {_ACCEPTED_ACTIONS}; got {_json_kind(raw_action)}',
            "action",
        )
    action_word = raw_action.strip()
    if not action_word:
        _missing("action", f" (it is empty); it must be one of {_ACCEPTED_ACTIONS}")
    upper = action_word.upper()

    builder: Callable[[_Fields, str], dict[str, Any]]
    if upper in _RSI_ACTIONS:
        builder = _rsi
    elif upper in _ORDER_ACTIONS:
        # A strategy alert states the position it leaves, which is more exact than a message
        # word, so its fields win when both are present.
        builder = _strategy if any(fields.has(f) for f in _STRATEGY_FIELDS) else _order_message
    else:
        raise AlertError(
            "unknown_action",
            f'field "action" is {_show(raw_action)}, which is not an action signaldesk knows; '
            f"use one of {_ACCEPTED_ACTIONS}",
            "action",
        )

    price = fields.positive("price")
    if price is None:
        _missing("price", "; every alert needs the price it fired at (e.g. {{close}})")
    parts = builder(fields, action_word)
    action: SignalAction = parts["action"]
    _check_levels(parts["shape"], action, price, parts.get("stop_loss"), parts.get("take_profit"))
    trailing = fields.positive("trailing_stop")
    if trailing is not None and trailing >= 100:
        _bad_number(fields.label("trailing_stop"), f"is {trailing}; a trailing stop is a percentage below 100")
    return Signal(
        trailing_stop=trailing,
        price=price,
        time=_time(fields),
        ticker=fields.text("ticker") or None,
        alert_id=_alert_id(fields),
        passphrase=_passphrase(fields),
        accounts=_accounts(fields),
        extras={name: text for name in _EXTRAS if (text := fields.text(name))},
        **parts,
    )


def _rsi(fields: _Fields, word: str) -> dict[str, Any]:
    rsi = fields.decimal("rsi")
    if rsi is not None and not 0 <= rsi <= 100:
        _bad_number(fields.label("rsi"), f"is {rsi}; an RSI lies between 0 and 100")
    return {
        "action": _RSI_ACTIONS[word.upper()],
        "shape": AlertShape.RSI,
        "message": word,
        "quantity": fields.contracts("quantity"),
        "stop_loss": fields.positive("stop_loss"),
        "take_profit": fields.positive("take_profit"),
        "rsi": rsi,
    }


def _order_message(fields: _Fields, word: str) -> dict[str, Any]:
    side = _ORDER_ACTIONS[word.upper()]
    raw = fields.text("message")
    if raw is None or not raw:
        # The sender most likely meant an entry: say what to add rather than what is missing.
        rsi_action = "RSI_LONG_ENTRY" if side is OrderSide.BUY else "RSI_SHORT_ENTRY"
        raise AlertError(
            "missing_field",
            f'action "{word}" alone does not say what to do: add "message": "entry" (or "exit", "tp1", '
            '"breakeven"), or send market_position and position_size as a TradingView strategy alert does, '
            f'or use an RSI action such as "{rsi_action}"',
            "message",
        )
    message = raw.lower()
    parts: dict[str, Any] = {"shape": AlertShape.ORDER_MESSAGE, "message": raw, "order_type": _order_type(fields)}
    tp = _TP.match(message)
    if message == "entry":
        entering = side.opens
        prefix = "long" if entering is PositionSide.LONG else "short"
        parts |= {
            "action": SignalAction.enter(entering),
            "stop_loss": fields.positive(f"{prefix} SL"),
            "take_profit": fields.positive(f"{prefix} TP"),
        }
    elif message == "exit":
        parts["action"] = SignalAction.CLOSE
    elif message.endswith("breakeven"):
        parts["action"] = SignalAction.BREAKEVEN
        if tp is not None:
            parts["reduce_pct"] = _tp_close(fields)
    elif tp is not None and tp.end() == len(message):
        pct = _tp_close(fields)
        if pct is None:
            _missing("tp Close", f' (message "{raw}" takes a percentage off the position, and says how much)')
        parts |= {"action": SignalAction.REDUCE, "reduce_pct": pct}
    else:
        raise AlertError(
            "unknown_action",
            f'field "message" is {_show(raw)}, which is not a message signaldesk knows; '
            "use entry, exit, tp1, tp2, … or a message ending in breakeven",
            "message",
        )
    return parts


def _tp_close(fields: _Fields) -> Decimal | None:
    value = fields.get("tp Close")
    if isinstance(value, str) and value.strip().endswith("%"):
        # "50%" is how people write a percentage; the number is what counts.
        pct = _Fields({"tp Close": value.strip()[:-1]}).decimal("tp Close")
    else:
        pct = fields.decimal("tp Close")
    if pct is not None and not 0 < pct <= 100:
        _bad_number(fields.label("tp Close"), f"is {pct}; it must be a percentage above 0 and at most 100")
    return pct


def _order_type(fields: _Fields) -> OrderType:
    word = fields.text("type")
    if word is None or not word:
        return OrderType.MARKET
    try:
        return OrderType(word.lower())
    except ValueError:
        raise AlertError(
            "bad_field", f'field "{fields.label("type")}" is {_show(word)}; it must be market or limit', "type"
        ) from None


def _strategy(fields: _Fields, word: str) -> dict[str, Any]:
    order_side = _ORDER_ACTIONS[word.upper()]
    contracts = fields.contracts("contracts")
    target_side, target_size = _target(fields, contracts)
    parts: dict[str, Any] = {"shape": AlertShape.STRATEGY, "message": word}
    if target_side is None:
        return parts | {"action": SignalAction.CLOSE, "target_position": quantities.ZERO}
    parts["target_position"] = target_side.sign * target_size

    prev_side = _position_word(fields, "prev_market_position")
    if prev_side is target_side:
        prev_size = fields.contracts("prev_market_position_size", allow_zero=True)
        if prev_size is not None and prev_size != target_size:
            if target_size > prev_size:
                action, quantity = SignalAction.enter(target_side), target_size - prev_size
            else:
                action, quantity = SignalAction.REDUCE, prev_size - target_size
        elif prev_size is not None:
            raise AlertError(
                "bad_field",
                f"position_size {target_size} equals prev_market_position_size {prev_size}: "
                "the alert says the position did not change",
                "position_size",
            )
        else:
            # Without the previous size only the order's own side and contracts say what changed.
            if contracts is None:
                _missing(
                    "prev_market_position_size",
                    " (or contracts); without it the change to the position cannot be worked out",
                )
            adding = order_side is target_side.opening_order_side
            action, quantity = (SignalAction.enter(target_side) if adding else SignalAction.REDUCE), contracts
    elif prev_side is None and not fields.has("prev_market_position") and order_side is target_side.closing_order_side:
        # No previous position given and the order closes part of the target side: it reduced,
        # and entering `target_size` here would add to the position instead of taking off.
        if contracts is None:
            _missing("contracts", " (the order reduced the position and the alert does not say by how much)")
        action, quantity = SignalAction.REDUCE, contracts
    else:
        # From flat, from the opposite side or from an unknown one: enter the target size;
        # the engine closes an opposite position first.
        action, quantity = SignalAction.enter(target_side), target_size

    expected = target_side.opening_order_side if action.is_entry else target_side.closing_order_side
    if order_side is not expected:
        raise AlertError(
            "bad_field",
            f'field "action" is {_show(word)}, but the alert says the {target_side.value} position goes to '
            f"{target_size} contracts, which needs a {expected.value}; check the alert's strategy fields",
            "action",
        )
    return parts | {"action": action, "quantity": quantity}


def _target(fields: _Fields, contracts: Decimal | None) -> tuple[PositionSide | None, Decimal]:
    """The side and size the strategy says it holds after this order (None when flat)."""
    side = _position_word(fields, "market_position")
    stated = fields.has("market_position")
    signed = fields.contracts("position_size", allow_zero=True, signed=True)
    absolute = fields.contracts("market_position_size", allow_zero=True)
    if signed is not None and absolute is not None and abs(signed) != absolute:
        raise AlertError(
            "bad_field",
            f"position_size {signed} and market_position_size {absolute} disagree",
            "position_size",
        )
    size = absolute if absolute is not None else (abs(signed) if signed is not None else None)

    if stated and side is None:  # "flat"
        if size:
            raise AlertError(
                "bad_field",
                f"market_position is flat but the position size is {size}; the alert contradicts itself",
                "market_position",
            )
        return None, quantities.ZERO
    if side is None:
        # No market_position: the sign of position_size tells the side.
        if signed is None:
            if absolute == 0:
                return None, quantities.ZERO
            _missing("position_size", " (or market_position); a strategy alert must say which side it holds")
        if signed == 0:
            return None, quantities.ZERO
        return (PositionSide.LONG if signed > 0 else PositionSide.SHORT), abs(signed)
    if signed is not None and signed < 0 and side is PositionSide.LONG:
        # A positive size with "short" is allowed: {{strategy.market_position_size}} is unsigned
        # and is often sent as position_size. A negative one can only mean short.
        raise AlertError(
            "bad_field",
            f"market_position is long but position_size is {signed}; the alert contradicts itself",
            "position_size",
        )
    if size is None:
        if contracts is None:
            _missing("position_size", " (or contracts); the alert must say how many contracts it holds")
        size = contracts
    if size == 0:
        raise AlertError(
            "bad_field",
            f"market_position is {side.value} but the position size is 0; the alert contradicts itself",
            "position_size",
        )
    return side, size


def _position_word(fields: _Fields, name: str) -> PositionSide | None:
    """long / short as a side, flat as None; anything else is refused."""
    word = fields.text(name)
    if word is None:
        return None
    lowered = word.lower()
    if lowered == "flat":
        return None
    if lowered in ("long", "short"):
        return PositionSide(lowered)
    raise AlertError(
        "bad_field", f'field "{fields.label(name)}" is {_show(word)}; it must be long, short or flat', name
    )


def _check_levels(
    shape: AlertShape, action: SignalAction, price: Decimal, stop: Decimal | None, target: Decimal | None
) -> None:
    # The engine keeps an alert's levels exactly as given, so a stop on the wrong side of the
    # entry would close the position on the first quote; better to refuse the alert now.
    side = action.entry_side
    if side is None:
        return
    if shape is AlertShape.ORDER_MESSAGE:
        names = (f"{side.value} SL", f"{side.value} TP")
    else:
        names = ("stop_loss", "take_profit")
    problem = level_problem(side, price, stop, target, names)
    if problem is not None:
        field, message = problem
        raise AlertError("bad_field", f'field "{field}" {message.removeprefix(field + " ")}', field)


def _alert_id(fields: _Fields) -> str | None:
    value = fields.text("id")
    if not value:
        return None
    if len(value) > _MAX_ID_LENGTH:
        raise AlertError("bad_field", f'field "{fields.label("id")}" is longer than {_MAX_ID_LENGTH} characters', "id")
    return value


def _accounts(fields: _Fields) -> tuple[str, ...] | None:
    """ "accounts": ["prop"] (or "prop"): the bot's accounts this alert is for."""
    value = fields.get("accounts")
    if value is None:
        return None
    names = [value] if isinstance(value, str) else value
    label = fields.label("accounts")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n.strip() for n in names):
        raise AlertError(
            "bad_field", f'field "{label}" must be a list of account names such as ["main", "prop"]', "accounts"
        )
    if any(len(n.strip()) > 32 for n in names):
        raise AlertError("bad_field", f'field "{label}": an account name is at most 32 characters', "accounts")
    return tuple(dict.fromkeys(n.strip() for n in names))


def _passphrase(fields: _Fields) -> str | None:
    value = fields.get("passphrase")
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    # The value itself is never quoted back: it is (or is near) a secret.
    raise AlertError("bad_field", f'field "passphrase" must be text, not {_json_kind(value)}', "passphrase")


# ---------------------------------------------------------------------------------------------
# time


def _time(fields: _Fields) -> datetime | None:
    value = fields.get("time")
    if value is None:
        return None
    label = fields.label("time")
    if isinstance(value, bool) or not isinstance(value, Decimal | str):
        _bad_time(label, f"must be an ISO-8601 time or epoch milliseconds, not {_json_kind(value)}")
    if isinstance(value, str):
        raw = value.strip()
        if not raw:
            _bad_time(label, "is empty")
        if _NUMBER.fullmatch(raw):
            return _from_epoch(Decimal(raw), label, value)
        try:
            parsed = datetime.fromisoformat(raw)
        except ValueError:
            _bad_time(label, f"is {_show(value)}, not an ISO-8601 time (2023-01-01T12:34:56Z) or epoch milliseconds")
        # TradingView's {{timenow}} is UTC; a time without an offset is read as UTC too.
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    return _from_epoch(value, label, value)


def _from_epoch(number: Decimal, label: str, shown: Any) -> datetime:
    if not number.is_finite() or number < 0:
        _bad_time(label, f"is {_show(shown)}, not a time")
    try:
        if number < _SECONDS_LIMIT:
            return _EPOCH + timedelta(seconds=float(number))
        return _EPOCH + timedelta(milliseconds=float(number))
    except (OverflowError, ValueError):
        _bad_time(label, f"is {_show(shown)}, too far in the future to be a time")


def _bad_time(label: str, problem: str) -> NoReturn:
    raise AlertError("bad_time", f'field "{label}" {problem}', label)


# ---------------------------------------------------------------------------------------------
# redaction

# Starts with the literal word so the scan is linear: a leading run of "any key character"
# made a 64 KiB body without delimiters take half a minute. A key such as "my_passphrase"
# still matches from its "passphrase" part.
_PASSPHRASE_TEXT = re.compile(
    r"""(?P<key>passphrase[^"'\s,{}:=]{0,40}\s{0,20}["']?\s{0,20}[:=]\s{0,20})"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"?|'[^']*'?|[^,}&;\r\n]+)""",
    re.IGNORECASE,
)


# A JSON \u escape of a letter, a digit, a space or "_": what a key may hide its name with.
_LETTER_ESCAPE = re.compile(r"\\u(00(?:[46][1-9a-fA-F]|[57][0-9aA]|3[0-9]|20|5[fF]))")
_WORD = re.compile("passphrase", re.IGNORECASE)
_CUT = " \u2026 [the rest is not shown: it may hold a passphrase]"


def _unescape(match: re.Match[str]) -> str:
    return chr(int(match.group(1), 16))


def _cut_at_unmasked(redacted: str) -> str:
    masked = {m.start() for m in _PASSPHRASE_TEXT.finditer(redacted) if m.group("value").strip("\"'") == "***"}
    for word in _WORD.finditer(redacted):
        if word.start() not in masked:
            return redacted[: word.start()] + _CUT
    return redacted


def _mask_match(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[0] in "\"'" else ""
    return f"{match.group('key')}{quote}***{quote}"


def _holds_clear_passphrase(data: Any) -> bool:
    if isinstance(data, dict):
        return any(
            ("passphrase" in key.lower() and value != "***") or _holds_clear_passphrase(value)
            for key, value in data.items()
        )
    if isinstance(data, list):
        return any(_holds_clear_passphrase(v) for v in data)
    return False


def _masked(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: "***" if "passphrase" in k.lower() else _masked(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_masked(v) for v in data]
    return data
