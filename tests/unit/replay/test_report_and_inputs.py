"""The report's figures (worked out by hand) and the input readers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest

from tests.unit.replay.helpers import at, bot, candles, flat, rsi, run
from trading.domain.config import BotConfig
from trading.domain.inputs import InputError
from trading.replay.inputs import apply_overrides, instrument_for, parse_time, read_alerts, read_candles
from trading.replay.report import render_html, render_json, render_table, render_trades_csv, summarize
from trading.replay.simulator import replay

ROOT = Path(__file__).resolve().parents[3]


def _four_trades():  # type: ignore[no-untyped-def]
    # Long/close pairs at +10, -4, +6, -8: equity 10, 6, 12, 4.
    moves = [(100, 110), (110, 106), (106, 112), (112, 104)]
    bars = candles(*[(p, max(p, q) + 1, min(p, q) - 1, q) for p, q in moves for _ in range(2)])
    alerts = []
    for n, (p, q) in enumerate(moves):
        alerts += [rsi("RSI_LONG_ENTRY", p, 2 * n, 10), rsi("RSI_CLOSE_LONG", q, 2 * n + 1, 10)]
    return run(bot(), alerts, bars)


def test_the_summary_figures() -> None:
    result = _four_trades()
    assert [t.pnl for t in result.trades] == [D(10), D(-4), D(6), D(-8)]
    s = summarize(result)
    assert (s.trades, s.wins, s.losses, s.net_pnl) == (4, 2, 2, D(4))
    assert s.win_rate == D(50)
    assert s.profit_factor == D(16) / D(12)
    assert s.max_drawdown == D(8)  # from the peak of 12 down to 4
    assert (s.largest_loss, s.largest_win) == (D(-8), D(10))
    # each trade held from :10 of one hour to :10 of the next: 4 hours of the 8 candles' 8 hours
    assert s.exposure.total_seconds() == 4 * 3600 and s.exposure_pct == D(50)


def test_json_has_the_fields_scripts_rely_on_with_decimals_as_strings() -> None:
    data = json.loads(render_json(_four_trades()))
    assert data["summary"]["net_pnl"] == "4.00"
    assert (data["summary"]["trades"], data["summary"]["win_rate"]) == (4, "50.00")
    assert (data["summary"]["profit_factor"], data["summary"]["max_drawdown"]) == ("1.33", "8.00")
    first = data["trades"][0]
    assert {k: first[k] for k in ("side", "quantity", "entry_price", "exit_price", "pnl", "exit_reason")} == {
        "side": "long",
        "quantity": 1,
        "entry_price": "100",
        "exit_price": "110",
        "pnl": "10.00",
        "exit_reason": "close",
    }
    assert data["skipped"] == []


def test_a_fractional_bot_replays_on_an_exchange_step_and_reports_plain_numbers() -> None:
    btc = instrument_for("BTC/USDT:USDT", {"min_quantity": "0.001", "quantity_step": "0.001", "tick_size": "0.1"})
    assert (btc.min_quantity, btc.quantity_step) == (D("0.001"), D("0.001"))
    config = bot(symbol="BTC/USDT:USDT", base_position_size="0.01")
    bars = candles(*flat(3))
    result = replay(config, btc, [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_CLOSE_LONG", 110, 1)], bars)
    [trade] = json.loads(render_json(result))["trades"]
    assert trade["quantity"] == 0.01 and isinstance(trade["quantity"], float)
    assert "0.01" in render_table(result) and "0.0100" not in render_table(result)
    with pytest.raises(InputError, match="quantity_step and min_quantity must be positive"):
        instrument_for("BTC/USDT:USDT", {"quantity_step": "0"})


def test_without_losses_the_profit_factor_is_none_and_without_trades_the_win_rate() -> None:
    bars = candles(*flat(3))
    empty = json.loads(render_json(run(bot(), [], bars)))["summary"]
    assert (empty["trades"], empty["win_rate"], empty["profit_factor"], empty["net_pnl"]) == (0, None, None, "0.00")
    won = run(bot(), [rsi("RSI_LONG_ENTRY", 100, 0), rsi("RSI_CLOSE_LONG", 100.5, 1)], bars)
    assert summarize(won).profit_factor is None and "profit factor  inf" in render_table(won)


def test_the_table_csv_and_html_show_the_trades() -> None:
    result = _four_trades()
    table = render_table(result)
    assert "net P&L        4.00 ZAR" in table and "max drawdown   8.00" in table
    csv_text = render_trades_csv([("as set", result)])
    assert csv_text.splitlines()[0].startswith("side,quantity,entry_time,entry_price")
    assert csv_text.splitlines()[2] == "long,1,2026-01-05T02:10:00Z,110,2026-01-05T03:10:00Z,106,-4.00,close,alert 3:10"
    page = render_html([("as set", result)], "/*UPLOT-JS*/", "/*UPLOT-CSS*/")
    assert "/*UPLOT-JS*/" in page and "/*UPLOT-CSS*/" in page and "new uPlot(" in page
    assert page.count('<tr><td class="n">') == 4 and "-8.00" in page
    chart = json.loads(page.split('id="equity-data">')[1].split("</script>")[0])
    assert chart["series"][1] == [0.0, 10.0, 6.0, 12.0, 4.0, 4.0]


def test_times_are_unix_seconds_or_iso() -> None:
    moment = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    assert parse_time("1767607200") == moment
    assert parse_time("1767607200000") == moment  # milliseconds
    assert parse_time("2026-01-05T10:00:00Z") == moment
    assert parse_time("2026-01-05 12:00:00+02:00") == moment
    assert parse_time("2026-01-05T10:00:00") == moment  # naive is UTC
    with pytest.raises(ValueError):
        parse_time("yesterday")


def test_candles_ignore_extra_columns_and_refuse_bad_rows() -> None:
    bars = read_candles(
        "time,open,high,low,close,Volume\n1767607200,1,2,0.5,1.5,10\n2026-01-05T11:00:00Z,1.5,2,1,1,3\n"
    )
    assert [(b.time, b.close) for b in bars] == [(at(10), D("1.5")), (at(11), D(1))]
    with pytest.raises(InputError, match=r"line 3: time .* is not after"):
        read_candles("time,open,high,low,close\n1767607200,1,2,0.5,1.5\n1767607200,1,2,0.5,1.5\n")
    with pytest.raises(InputError, match=r"line 2: low 1\.6 and high 2 do not contain"):
        read_candles("time,open,high,low,close\n1767607200,1,2,1.6,1.5\n1767610800,1,2,0.5,1.5\n")
    with pytest.raises(InputError, match="no close column"):
        read_candles("time,open,high,low\n")


def test_alert_log_csv_and_json_lines() -> None:
    csv_text = (
        "Alert ID,Ticker,Name,Description,Time\n"
        '7,SA40,RSI,"{""action"": ""RSI_LONG_ENTRY"", ""price"": 100}",2026-01-05T10:00:00Z\n'
    )
    [a] = read_alerts(csv_text, "log.csv")
    assert (a.time, a.ticker, a.source) == (at(10), "SA40", "log.csv line 2")
    assert json.loads(a.body) == {"action": "RSI_LONG_ENTRY", "price": 100}
    lines = '{"time": "2026-01-05T10:00:00Z", "body": {"action": "RSI_CLOSE_LONG", "price": 100.5}}\n\n{"body": "x"}\n'
    first, second = read_alerts(lines, "a.jsonl")
    assert (first.time, json.loads(first.body)["price"], second.time, second.body) == (at(10), 100.5, None, b"x")
    with pytest.raises(InputError, match="not a TradingView alert log"):
        read_alerts("a,b\n1,2\n")


def test_overrides_are_validated_like_a_bots_file() -> None:
    config = bot(max_positions=1)
    changed = apply_overrides(config, {"max_positions": "3", "stop_loss_pct": "1.5", "take_profit_pct": "none"})
    assert (changed.max_positions, changed.stop_loss_pct, changed.take_profit_pct) == (3, D("1.5"), None)
    assert changed.webhook_key == config.webhook_key
    with pytest.raises(InputError, match="max_positions"):
        apply_overrides(config, {"max_positions": "0"})
    with pytest.raises(InputError, match="no_such: unknown field"):
        apply_overrides(config, {"no_such": "1"})
    # A bot read from the database holds only a hint of its key; overrides still apply.
    stored = BotConfig.model_construct(**{**config.model_dump(), "webhook_key": "****_key"})
    assert apply_overrides(stored, {"max_positions": "2"}).webhook_key == "****_key"
    inst = instrument_for("SA40", {"tick_size": "0.25", "max_quantity": "50"})
    assert (inst.tick_size, inst.max_quantity, inst.min_quantity) == (D("0.25"), 50, 1)
    with pytest.raises(InputError, match="unknown field"):
        instrument_for("SA40", {"colour": "red"})


def test_the_committed_sample_is_what_its_script_writes(tmp_path: Path) -> None:
    import runpy

    runpy.run_path(str(ROOT / "examples" / "replay" / "make_sample.py"), run_name="sample")["write"](tmp_path)
    for name in ("alerts.csv", "candles.csv"):
        assert (tmp_path / name).read_bytes() == (ROOT / "examples" / "replay" / name).read_bytes(), name
