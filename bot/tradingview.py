"""What to paste into TradingView for one bot: the webhook URL, the alert messages, a Pine
Script strategy whose orders send them (`signaldesk bots alerts NAME [--pine]`).

The messages are the RSI actions of docs/alerts.md with TradingView's placeholders
({{ticker}}, {{close}}, {{timenow}}) where TradingView fills in a value. Only hashes of the
webhook key and the passphrase are stored, so both are printed as placeholders unless the
caller has them in clear (read from the bots file they were imported from).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from bot.settings import Settings
from trading.domain.config import BotConfig
from trading.domain.records import Bot
from trading.domain.values import Mode

PASSPHRASE_PLACEHOLDER = "<your passphrase>"
KEY_PLACEHOLDER = "<your webhook key>"
TRADINGVIEW_PORTS = (80, 443)


@dataclass(frozen=True, slots=True)
class AlertMessage:
    action: str
    does: str  # what the bot does with it, in plain words
    pine_name: str  # the Pine constant holding it
    text: str  # the message, exactly as it goes into TradingView's "Message" box


@dataclass(frozen=True, slots=True)
class Secrets:
    """The bot's webhook key and passphrase in clear, when the caller has them."""

    webhook_key: str | None = None
    passphrase: str | None = None


def alert_messages(bot: Bot, secrets: Secrets | None = None) -> list[AlertMessage]:
    """One message per action the bot understands (the RSI actions), in TradingView's form."""
    config = bot.config
    entries = _entry_words(config)
    reverse = (
        "closes the other side first, then enters"
        if config.exit_on_opposite_signal
        else "is ignored while the other side is open"
    )
    actions = [
        ("RSI_LONG_ENTRY", "LONG_ENTRY", f"enter long ({entries}); when short, {reverse}"),
        ("RSI_SHORT_ENTRY", "SHORT_ENTRY", f"enter short ({entries}); when long, {reverse}"),
        ("RSI_CLOSE_LONG", "CLOSE_LONG", "close the whole long position (ignored when flat or short)"),
        ("RSI_CLOSE_SHORT", "CLOSE_SHORT", "close the whole short position (ignored when flat or long)"),
    ]
    passphrase: str | None = None
    if bot.passphrase_hash is not None:
        passphrase = (secrets.passphrase if secrets else None) or PASSPHRASE_PLACEHOLDER
    out = []
    for action, pine_name, does in actions:
        fields = {"action": action, "ticker": "{{ticker}}", "price": "{{close}}", "time": "{{timenow}}"}
        if passphrase is not None:
            fields["passphrase"] = passphrase
        out.append(AlertMessage(action, does, pine_name, json.dumps(fields, ensure_ascii=False)))
    return out


def _entry_words(config: BotConfig) -> str:
    size = f"{config.base_position_size} contract{'s' if config.base_position_size != 1 else ''}"
    if config.allow_pyramiding and config.max_positions > 1:
        return f"{size}; adds up to {config.max_positions} entries per side"
    return f"{size}; a second entry on the same side is ignored"


@dataclass(frozen=True, slots=True)
class WebhookAddress:
    url: str
    notes: list[str]


def webhook_address(settings: Settings, bot: Bot, secrets: Secrets | None = None) -> WebhookAddress:
    """The URL to paste into TradingView, and what the user must know about it."""
    notes: list[str] = []
    key = secrets.webhook_key if secrets else None
    if key is None:
        key = KEY_PLACEHOLDER
        notes.append(
            f"Replace {KEY_PLACEHOLDER} with the bot's webhook key (it ends in {bot.webhook_key_hint.lstrip('*')}). "
            "Only its hash is stored, so it cannot be shown here: take it from the bots file you imported, or "
            "pass that file with --bots-file to have it filled in."
        )
    if settings.signaldesk_public_url:
        base = settings.signaldesk_public_url.rstrip("/")
        if not base.startswith("https://"):
            notes.append(
                "SIGNALDESK_PUBLIC_URL is not https: TradingView sends webhooks to ports 80 and 443 only, and "
                "anyone on the path could read the key; serve signaldesk over https on 443."
            )
    else:
        host = settings.signaldesk_host
        shown_host = "<this machine's address>" if host in ("0.0.0.0", "::", "") else host
        base = f"http://{shown_host}:{settings.signaldesk_port}"
        notes.append(
            "SIGNALDESK_PUBLIC_URL is not set, so this is the local address. TradingView sends webhooks only "
            "to ports 80 and 443 and should use https: put signaldesk behind a reverse proxy with TLS on 443 "
            "(e.g. Caddy or nginx) and set SIGNALDESK_PUBLIC_URL=https://your.host"
        )
    return WebhookAddress(f"{base}/webhook/{key}", notes)


def render_alerts(settings: Settings, bot: Bot, secrets: Secrets | None = None) -> str:
    """The text `signaldesk bots alerts NAME` prints."""
    c = bot.config
    address = webhook_address(settings, bot, secrets)
    messages = alert_messages(bot, secrets)
    lines = [
        f"Bot {c.bot_name}: {c.broker_account} {c.symbol}, {c.mode.value} mode, "
        f"TradingView ticker {c.ticker}, timeframe {c.timeframe}",
        "",
        "Webhook URL (alert > Notifications > Webhook URL):",
        f"  {address.url}",
        *(f"  note: {n}" for n in address.notes),
        "",
        'Alert messages (alert > Message), one alert per action; set "Once per bar close":',
    ]
    for m in messages:
        lines += ["", f"{m.action}: {m.does}", f"  {m.text}"]
    lines.append("")
    lines += _message_notes(bot, messages)
    if c.mode is Mode.APPROVE:
        lines.append("- This bot is in approve mode: each alert waits for a decision on Discord or the API.")
    if not c.is_active:
        lines.append("- This bot is inactive (is_active = false): its alerts are refused (409) until it is activated.")
    if bot.signing_secret:
        lines.append(
            "- This bot has a signing_secret, so every alert must carry an X-Signature header, which "
            "TradingView cannot send: its alerts will be refused (401 bad_signature). Remove signing_secret "
            "for a bot fed by TradingView."
        )
    lines.append(f"- A Pine Script v5 strategy that sends these: signaldesk bots alerts {c.bot_name} --pine")
    return "\n".join(lines)


def _message_notes(bot: Bot, messages: list[AlertMessage]) -> list[str]:
    c = bot.config
    notes = [
        "Notes:",
        "- TradingView fills in {{ticker}}, {{close}} and {{timenow}} when the alert fires; leave them as "
        f"they are. {{{{ticker}}}} must be {c.ticker} (the alert must be on a {c.ticker} chart), and an alert "
        f"older than {c.max_signal_age_seconds} s by its time is refused.",
    ]
    if bot.passphrase_hash is not None and any(PASSPHRASE_PLACEHOLDER in m.text for m in messages):
        notes.append(
            f"- The bot has a passphrase, stored only as a hash: replace {PASSPHRASE_PLACEHOLDER} with it "
            '(inside the quotes; write \\" for a quote and \\\\ for a backslash in it).'
        )
    elif bot.passphrase_hash is None:
        notes.append("- The bot has no passphrase, so the messages carry none; the webhook key alone admits them.")
    return notes


# ---------------------------------------------------------------------------------------------
# Pine Script


def _pine_string(text: str) -> str:
    """A Pine single-quoted string literal holding `text`."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pine_float(value: Decimal) -> str:
    return str(float(value))


def render_pine(settings: Settings, bot: Bot) -> str:
    """A Pine Script v5 RSI strategy whose order fills send the bot's alert messages.

    The message templates are the ones `render_alerts` prints, word for word; the script
    fills in the placeholders itself (the same values TradingView would put there), and the
    passphrase comes from an input, so the script holds no secret.
    """
    c = bot.config
    messages = alert_messages(bot)
    address = webhook_address(settings, bot)
    pyramiding = c.max_positions if c.allow_pyramiding else 1
    has_passphrase = bot.passphrase_hash is not None
    title = f"signaldesk {c.bot_name}"
    lines = [
        "//@version=5",
        f"// {title}: an RSI strategy whose order fills send signaldesk's alert messages.",
        f"// Made by `signaldesk bots alerts {c.bot_name} --pine`.",
        "//",
        f"// 1. Pine Editor: paste this, save, and add it to a {c.ticker} chart on the {c.timeframe} timeframe.",
    ]
    if has_passphrase:
        lines.append(
            "// 2. The strategy's Settings > Inputs: type the bot's passphrase (the alerts are refused without)."
        )
    else:
        lines.append("// 2. The strategy's Settings > Inputs: check the RSI values (the bot has no passphrase).")
    lines += [
        f'// 3. Create alert: Condition "{title}", "Order fills only"; Message exactly:',
        "//      {{strategy.order.alert_message}}",
        "//    Notifications > Webhook URL:",
        f"//      {address.url}",
        "//    (see `signaldesk bots alerts " + c.bot_name + "` for the key and the address)",
    ]
    if not c.exit_on_opposite_signal:
        lines += [
            "// The bot has exit_on_opposite_signal = false: it ignores an entry against an open position,",
            "// while this strategy reverses; close first (the close conditions below) to stay in step.",
        ]
    lines += [
        "",
        f"strategy({_pine_string(title)}, overlay=false, pyramiding={pyramiding}, "
        f"default_qty_type=strategy.fixed, default_qty_value={c.base_position_size}, "
        "process_orders_on_close=true)",
        "",
        f'rsiLength = input.int({c.rsi_length}, "RSI length", minval=1)',
        f'overbought = input.float({_pine_float(c.rsi_overbought)}, "Overbought")',
        f'oversold = input.float({_pine_float(c.rsi_oversold)}, "Oversold")',
    ]
    if has_passphrase:
        lines.append('passphrase = input.string("", "Passphrase")')
    lines += ["", "// The alert messages, word for word as `signaldesk bots alerts` prints them."]
    for m in messages:
        lines.append(f"{m.pine_name} = {_pine_string(m.text)}")
    if has_passphrase:
        lines += [
            "",
            "// JSON string escaping, for the passphrase.",
            "jsonEscaped(s) =>",
            '    str.replace_all(str.replace_all(s, "\\\\", "\\\\\\\\"), "\\"", "\\\\\\"")',
        ]
    lines += [
        "",
        "// The placeholders filled in with the values TradingView would put there.",
        "signalMessage(template) =>",
        '    m = str.replace_all(template, "{{ticker}}", syminfo.ticker)',
        '    m := str.replace_all(m, "{{close}}", str.tostring(close))',
        '    m := str.replace_all(m, "{{timenow}}", str.format_time(timenow, "yyyy-MM-dd\'T\'HH:mm:ss\'Z\'", "UTC"))',
    ]
    if has_passphrase:
        lines.append(f"    str.replace_all(m, {_pine_string(PASSPHRASE_PLACEHOLDER)}, jsonEscaped(passphrase))")
        lines += [
            "",
            'if barstate.islast and passphrase == ""',
            "    runtime.error(\"type the bot's passphrase in the strategy's Settings > Inputs\")",
        ]
    else:
        lines.append("    m")
    lines += [
        "",
        "rsi = ta.rsi(close, rsiLength)",
        "",
        "if ta.crossover(rsi, oversold)",
        '    strategy.entry("Long", strategy.long, alert_message=signalMessage(LONG_ENTRY))',
        "if ta.crossunder(rsi, overbought)",
        '    strategy.entry("Short", strategy.short, alert_message=signalMessage(SHORT_ENTRY))',
        "if ta.crossover(rsi, overbought)",
        '    strategy.close("Long", alert_message=signalMessage(CLOSE_LONG))',
        "if ta.crossunder(rsi, oversold)",
        '    strategy.close("Short", alert_message=signalMessage(CLOSE_SHORT))',
        "",
        'plot(rsi, "RSI", color=color.purple)',
        'hline(overbought, "Overbought", color=color.red)',
        'hline(oversold, "Oversold", color=color.green)',
    ]
    return "\n".join(lines)
