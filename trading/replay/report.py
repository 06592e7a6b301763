"""The replay's report: figures from a ReplayResult, printed as a table, JSON, CSV or HTML.

Figures: net P&L (realized; a position still open at the end is shown apart with its
unrealized P&L at the last close), win rate (percent of trades with a positive P&L),
profit factor (gross profit / gross loss; none without a loss), max drawdown (the largest
fall of cumulative realized P&L from its running peak, starting at 0), largest loss, and
exposure (time with a position open, and its share of the candles' span). Every output is a
pure function of the result, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from trading.domain import display, quantities
from trading.domain.values import ZERO
from trading.replay.simulator import ReplayResult, ReplayTrade, SkippedAlert

_HUNDRED = Decimal(100)
SETTINGS_SHOWN = (
    "base_position_size",
    "max_positions",
    "allow_pyramiding",
    "exit_on_opposite_signal",
    "stop_loss_pct",
    "take_profit_pct",
    "max_daily_loss",
    "max_slippage_pct",
    "is_active",
)


@dataclass(frozen=True, slots=True)
class Summary:
    trades: int
    wins: int
    losses: int
    net_pnl: Decimal
    gross_profit: Decimal
    gross_loss: Decimal  # a positive amount
    win_rate: Decimal | None  # percent; None without trades
    profit_factor: Decimal | None  # None without a losing trade
    max_drawdown: Decimal  # a positive amount
    largest_loss: Decimal  # the most negative trade P&L, 0 without a loss
    largest_win: Decimal
    exposure: timedelta
    exposure_pct: Decimal
    alerts: int
    skipped: int
    skipped_by_outcome: dict[str, int]
    unrealized_pnl: Decimal


def summarize(result: ReplayResult) -> Summary:
    pnls = [t.pnl for t in result.trades]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p < 0]
    gross_profit = sum(wins, ZERO)
    gross_loss = -sum(losses, ZERO)
    span = result.end - result.start
    exposure_pct = Decimal(result.exposure / span * 100) if span else ZERO
    return Summary(
        trades=len(pnls),
        wins=len(wins),
        losses=len(losses),
        net_pnl=sum(pnls, ZERO),
        gross_profit=gross_profit,
        gross_loss=gross_loss,
        win_rate=Decimal(len(wins)) / len(pnls) * _HUNDRED if pnls else None,
        profit_factor=gross_profit / gross_loss if gross_loss else None,
        max_drawdown=_max_drawdown(pnls),
        largest_loss=min(losses, default=ZERO),
        largest_win=max(wins, default=ZERO),
        exposure=result.exposure,
        exposure_pct=exposure_pct,
        alerts=result.alerts,
        skipped=len(result.skipped),
        skipped_by_outcome=dict(sorted(Counter(s.outcome for s in result.skipped).items())),
        unrealized_pnl=result.open_position.unrealized_pnl if result.open_position else ZERO,
    )


def _max_drawdown(pnls: Sequence[Decimal]) -> Decimal:
    equity = peak = worst = ZERO
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def equity_curve(result: ReplayResult) -> list[tuple[datetime, Decimal]]:
    """Cumulative realized P&L: 0 at the first candle, a point per trade, the last at the end."""
    points = [(result.start, ZERO)]
    equity = ZERO
    for trade in result.trades:
        equity += trade.pnl
        points.append((trade.closed_at, equity))
    points.append((result.end, equity))
    return points


# --- formatting --------------------------------------------------------------------------


# Ungrouped ("1234.50"): the same text serves the table, the CSV and the JSON.


def money(value: Decimal) -> str:
    return display.amount(value, grouped=False)


def price(value: Decimal, tick: Decimal | None = None) -> str:
    """To the tick in the table; without one (the JSON and CSV) as few places as it needs."""
    return display.price(value if tick is not None else value.normalize(), tick, grouped=False)


def percent(value: Decimal | None) -> str:
    return "-" if value is None else money(value)


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours:02d}h {mins:02d}m" if days else f"{hours}h {mins:02d}m"


def _setting(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def settings_line(result: ReplayResult) -> str:
    config = result.config
    return ", ".join(f"{name} {_setting(getattr(config, name))}" for name in SETTINGS_SHOWN)


# --- the table ---------------------------------------------------------------------------


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(parts).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _trade_rows(trades: Sequence[ReplayTrade], tick: Decimal | None = None) -> list[list[str]]:
    return [
        [
            str(n),
            t.side.value,
            display.quantity(t.quantity),
            _when(t.opened_at),
            price(t.entry_price, tick),
            _when(t.closed_at),
            price(t.exit_price, tick),
            money(t.pnl),
            t.exit_reason,
        ]
        for n, t in enumerate(trades, start=1)
    ]


TRADE_HEADER = ("#", "side", "qty", "opened", "entry", "closed", "exit", "pnl", "reason")


def _summary_rows(result: ReplayResult, s: Summary) -> list[tuple[str, str]]:
    currency = result.instrument.currency
    factor = (
        "-"
        if s.profit_factor is None and not s.trades
        else ("inf" if s.profit_factor is None else money(s.profit_factor))
    )
    skipped = ", ".join(f"{k} {v}" for k, v in s.skipped_by_outcome.items())
    rows = [
        ("trades", f"{s.trades} ({s.wins} won, {s.losses} lost)"),
        ("net P&L", f"{money(s.net_pnl)} {currency}"),
        ("win rate", "-" if s.win_rate is None else f"{percent(s.win_rate)}%"),
        ("profit factor", factor),
        ("max drawdown", money(s.max_drawdown)),
        ("largest loss", money(s.largest_loss)),
        ("largest win", money(s.largest_win)),
        ("exposure", f"{duration(s.exposure)} ({percent(s.exposure_pct)}% of {duration(result.end - result.start)})"),
        ("alerts", f"{s.alerts} read, {s.skipped} not acted on" + (f" ({skipped})" if skipped else "")),
    ]
    pos = result.open_position
    if pos is not None:
        rows.append(
            (
                "open at end",
                f"{pos.side.value} {display.quantity(pos.quantity)} @ {price(pos.average_price, result.instrument.tick_size)}, "
                f"unrealized {money(pos.unrealized_pnl)} at {price(pos.mark_price, result.instrument.tick_size)}",
            )
        )
    return rows


def render_table(result: ReplayResult, title: str = "") -> str:
    s = summarize(result)
    config = result.config
    out = [
        f"Replay of {config.bot_name} on {result.instrument.symbol}{f' ({title})' if title else ''}: "
        f"{result.candles} candles from {_when(result.start)} to {_when(result.end)} UTC, "
        f"slippage {result.slippage_ticks} ticks of {result.instrument.tick_size}",
        f"Settings: {settings_line(result)}",
        "",
        "Trades",
    ]
    if result.trades:
        out.extend(
            "  " + line
            for line in _grid(TRADE_HEADER, _trade_rows(result.trades, result.instrument.tick_size), {0, 2, 4, 6, 7})
        )
    else:
        out.append("  none")
    out += ["", "Summary"]
    rows = _summary_rows(result, s)
    width = max(len(k) for k, _ in rows)
    out.extend(f"  {k.ljust(width)}  {v}" for k, v in rows)
    out += ["", "Not acted on"]
    if result.skipped:
        skipped_rows = [[_when(x.time), x.source, x.action or "-", x.outcome, x.reason] for x in result.skipped]
        out.extend("  " + line for line in _grid(("time", "alert", "action", "outcome", "reason"), skipped_rows, set()))
    else:
        out.append("  none")
    return "\n".join(out) + "\n"


def render_comparison(base: ReplayResult, other: ReplayResult, changes: dict[str, str]) -> str:
    """Both runs' figures side by side (and the settings that differ)."""
    label = ", ".join(f"{k}={v}" for k, v in changes.items())
    a, b = summarize(base), summarize(other)
    left, right = dict(_summary_rows(base, a)), dict(_summary_rows(other, b))
    keys = list(dict.fromkeys([*left, *right]))
    rows = [[k, left.get(k, "-"), right.get(k, "-")] for k in keys]
    out = [
        f"Replay of {base.config.bot_name} on {base.instrument.symbol}: {base.candles} candles from "
        f"{_when(base.start)} to {_when(base.end)} UTC, as set and with {label}",
        "",
    ]
    out.extend(_grid(("", "as set", label), rows, set()))
    return "\n".join(out) + "\n"


# --- JSON ----------------------------------------------------------------------------------


def to_data(result: ReplayResult) -> dict[str, Any]:
    """The report as JSON-ready data; decimals as strings (money to the cent)."""
    s = summarize(result)
    pos = result.open_position
    return {
        "bot": result.config.bot_name,
        "symbol": result.instrument.symbol,
        "currency": result.instrument.currency,
        "settings": {name: _json_value(getattr(result.config, name)) for name in SETTINGS_SHOWN},
        "slippage_ticks": result.slippage_ticks,
        "candles": {"count": result.candles, "start": _iso(result.start), "end": _iso(result.end)},
        "summary": {
            "net_pnl": money(s.net_pnl),
            "trades": s.trades,
            "wins": s.wins,
            "losses": s.losses,
            "win_rate": None if s.win_rate is None else percent(s.win_rate),
            "profit_factor": None if s.profit_factor is None else money(s.profit_factor),
            "max_drawdown": money(s.max_drawdown),
            "largest_loss": money(s.largest_loss),
            "largest_win": money(s.largest_win),
            "gross_profit": money(s.gross_profit),
            "gross_loss": money(s.gross_loss),
            "exposure_seconds": int(s.exposure.total_seconds()),
            "exposure_pct": percent(s.exposure_pct),
            "alerts": s.alerts,
            "skipped": s.skipped,
            "skipped_by_outcome": s.skipped_by_outcome,
            "unrealized_pnl": money(s.unrealized_pnl),
        },
        "trades": [_trade_data(t) for t in result.trades],
        "skipped": [_skipped_data(x) for x in result.skipped],
        "open_position": None
        if pos is None
        else {
            "side": pos.side.value,
            "quantity": quantities.json_number(pos.quantity),
            "average_price": price(pos.average_price),
            "stop_loss": None if pos.stop_loss is None else price(pos.stop_loss),
            "take_profit": None if pos.take_profit is None else price(pos.take_profit),
            "mark_price": price(pos.mark_price),
            "unrealized_pnl": money(pos.unrealized_pnl),
        },
    }


def _json_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _trade_data(t: ReplayTrade) -> dict[str, Any]:
    return {
        "side": t.side.value,
        "quantity": quantities.json_number(t.quantity),
        "entry_time": _iso(t.opened_at),
        "entry_price": price(t.entry_price),
        "exit_time": _iso(t.closed_at),
        "exit_price": price(t.exit_price),
        "pnl": money(t.pnl),
        "exit_reason": t.exit_reason,
        "source": t.source,
    }


def _skipped_data(x: SkippedAlert) -> dict[str, Any]:
    return {"time": _iso(x.time), "source": x.source, "action": x.action, "outcome": x.outcome, "reason": x.reason}


def render_json(result: ReplayResult) -> str:
    return json.dumps(to_data(result), indent=2, ensure_ascii=False) + "\n"


def render_comparison_json(base: ReplayResult, other: ReplayResult, changes: dict[str, str]) -> str:
    data = {"changes": changes, "as_set": to_data(base), "changed": to_data(other)}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


# --- CSV -----------------------------------------------------------------------------------

CSV_HEADER = (
    "side",
    "quantity",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "pnl",
    "exit_reason",
    "source",
)


def render_trades_csv(runs: Sequence[tuple[str, ReplayResult]]) -> str:
    """The trades of one run, or of several with a `run` column first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    labelled = len(runs) > 1
    writer.writerow((("run",) if labelled else ()) + CSV_HEADER)
    for label, result in runs:
        for t in result.trades:
            row = _trade_data(t)
            writer.writerow(
                (([label]) if labelled else []) + [row[k] if row[k] is not None else "" for k in CSV_HEADER]
            )
    return buffer.getvalue()


# --- HTML ----------------------------------------------------------------------------------

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { padding: .2em .6em; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.loss { color: #b00020; } .win { color: #00702a; }
p.settings { color: #555; }
"""

_CHART_SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById("equity-data").textContent);
  var series = [{}];
  var colours = ["#1f6feb", "#d97706"];
  data.labels.forEach(function (label, i) {
    series.push({ label: label, stroke: colours[i % colours.length], width: 2 });
  });
  var el = document.getElementById("equity");
  new uPlot({
    title: "Equity (cumulative realized P&L, " + data.currency + ")",
    width: Math.max(480, Math.min(1100, window.innerWidth - 80)),
    height: 320,
    scales: { x: { time: true } },
    series: series
  }, data.series, el);
})();
"""


def render_html(runs: Sequence[tuple[str, ReplayResult]], uplot_js: str, uplot_css: str) -> str:
    """One self-contained page: the equity curve (uPlot, inlined) and each run's figures and trades."""
    first = runs[0][1]
    # uPlot wants one x axis: every run's curve points, stepped, on the union of their times.
    curves = [equity_curve(r) for _, r in runs]
    xs = sorted({int(t.timestamp()) for curve in curves for t, _ in curve})
    columns: list[list[float]] = []
    for curve in curves:
        column: list[float] = []
        at = 0
        value = 0.0
        for x in xs:
            while at < len(curve) and int(curve[at][0].timestamp()) <= x:
                value = float(curve[at][1])
                at += 1
            column.append(value)
        columns.append(column)
    chart = {
        "currency": first.instrument.currency,
        "labels": [label for label, _ in runs],
        "series": [xs, *columns],
    }
    # "</" never appears in JSON we write inside <script>: escaped so no value can end the tag.
    chart_json = json.dumps(chart, separators=(",", ":")).replace("</", "<\\/")
    esc = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Replay of {esc(first.config.bot_name)}</title>",
        f"<style>{uplot_css}</style>",
        f"<style>{_STYLE}</style>",
        "</head><body>",
        f"<h1>Replay of {esc(first.config.bot_name)} on {esc(first.instrument.symbol)}</h1>",
        f"<p>{first.candles} candles from {esc(_when(first.start))} to {esc(_when(first.end))} UTC; "
        f"slippage {first.slippage_ticks} ticks of {esc(str(first.instrument.tick_size))}.</p>",
        '<div id="equity"></div>',
        f'<script type="application/json" id="equity-data">{chart_json}</script>',
    ]
    for label, result in runs:
        s = summarize(result)
        parts.append(f"<h2>{esc(label)}</h2>")
        parts.append(f'<p class="settings">Settings: {esc(settings_line(result))}</p>')
        parts.append('<table class="summary">')
        parts.extend(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _summary_rows(result, s))
        parts.append("</table>")
        parts.append('<table class="trades"><thead><tr>')
        parts.extend(f"<th>{esc(h)}</th>" for h in TRADE_HEADER)
        parts.append("</tr></thead><tbody>")
        for row, trade in zip(_trade_rows(result.trades, result.instrument.tick_size), result.trades, strict=True):
            cls = "win" if trade.pnl > 0 else "loss" if trade.pnl < 0 else ""
            cells = "".join(
                f'<td class="n{" " + cls if i == 7 and cls else ""}">{esc(c)}</td>'
                if i in (0, 2, 4, 6, 7)
                else f"<td>{esc(c)}</td>"
                for i, c in enumerate(row)
            )
            parts.append(f"<tr>{cells}</tr>")
        parts.append("</tbody></table>")
        if result.skipped:
            parts.append(
                "<h3>Not acted on</h3><table><tr><th>time</th><th>alert</th><th>outcome</th><th>reason</th></tr>"
            )
            parts.extend(
                f"<tr><td>{esc(_when(x.time))}</td><td>{esc(x.source)}</td><td>{esc(x.outcome)}</td>"
                f"<td>{esc(x.reason)}</td></tr>"
                for x in result.skipped
            )
            parts.append("</table>")
    parts += [f"<script>{uplot_js}</script>", f"<script>{_CHART_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
