"""`signaldesk replay` on files: the table, --json, --trades, --html, --compare, and the
sample data set shipped in examples/replay."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "replay"

BOTS = """
[[bots]]
bot_name = "Cli_Bot"
symbol = "SA40"
webhook_key = "cli_bot_key_1234"
allow_pyramiding = true
max_positions = 2
take_profit_pct = 2
"""
# Hourly candles from 2026-01-05 00:00 UTC (Unix seconds), with a Volume column to ignore.
CANDLES = """time,open,high,low,close,Volume
1767571200,100,100.5,99.5,100,5
1767574800,101,101.5,100.5,101,5
1767578400,101.5,103,101.5,102.5,5
1767582000,102.5,103,102,102.5,5
"""
# Two entries (100, 101: average 100.5, target 102.51 -> 102.5 on the tick), reached at 02:00;
# then a third alert for another ticker.
ALERTS = """Alert ID,Ticker,Name,Description,Time
1,SA40,RSI,"{""action"": ""RSI_LONG_ENTRY"", ""price"": 100}",2026-01-05T00:30:00Z
2,SA40,RSI,"{""action"": ""RSI_LONG_ENTRY"", ""price"": 101}",2026-01-05T01:30:00Z
3,NAS100,RSI,"{""action"": ""RSI_LONG_ENTRY"", ""price"": 101}",2026-01-05T01:40:00Z
"""


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    (tmp_path / "bots.toml").write_text(BOTS)
    (tmp_path / "candles.csv").write_text(CANDLES)
    (tmp_path / "alerts.csv").write_text(ALERTS)
    return [
        "replay",
        "--alerts",
        str(tmp_path / "alerts.csv"),
        "--candles",
        str(tmp_path / "candles.csv"),
        "--bots",
        str(tmp_path / "bots.toml"),
    ]


def test_the_table(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(files) == 0
    out = capsys.readouterr().out
    assert "Replay of Cli_Bot on SA40" in out
    [row] = [line for line in out.splitlines() if line.strip().startswith("1  long")]
    assert row.split()[-3:] == ["102.5", "4.00", "take_profit"]  # (102.5 - 100.5) x 2
    assert "net P&L        4.00 ZAR" in out
    assert "wrong_ticker" in out and 'ticker "NAS100"' in out


def test_json_trades_csv_and_html(files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trades, page = tmp_path / "trades.csv", tmp_path / "report.html"
    assert main([*files, "--json", "--trades", str(trades), "--html", str(page)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {k: data["summary"][k] for k in ("net_pnl", "trades", "win_rate", "profit_factor", "max_drawdown")} == {
        "net_pnl": "4.00",
        "trades": 1,
        "win_rate": "100.00",
        "profit_factor": None,
        "max_drawdown": "0.00",
    }
    [trade] = data["trades"]
    assert (trade["side"], trade["quantity"], trade["entry_price"], trade["exit_price"]) == (
        "long",
        2,
        "100.5",
        "102.5",
    )
    assert (trade["pnl"], trade["exit_reason"]) == ("4.00", "take_profit")
    [skipped] = data["skipped"]
    assert skipped["outcome"] == "wrong_ticker" and "NAS100" in skipped["reason"]

    rows = list(csv.DictReader(trades.open()))
    assert [(r["side"], r["quantity"], r["pnl"], r["exit_reason"]) for r in rows] == [
        ("long", "2", "4.00", "take_profit")
    ]

    html = page.read_text()
    uplot = (ROOT / "web" / "static" / "vendor" / "uplot" / "uPlot.iife.min.js").read_text()
    assert uplot in html  # inlined: the page opens offline
    assert "http://" not in html.replace(uplot, "") and "https://" not in html.replace(uplot, "")
    assert '<div id="equity"></div>' in html and "new uPlot(" in html
    assert "<td>take_profit</td>" in html and ">4.00<" in html


def test_compare_shows_both_runs(files: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*files, "--compare", "max_positions=1"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.lstrip().startswith("as set"))
    assert header.split() == ["as", "set", "max_positions=1"]
    net = next(line for line in out.splitlines() if line.startswith("net P&L"))
    # with one entry only: long 1 at 100, target 102, reached at 02:00 -> 2.00
    assert net.split() == ["net", "P&L", "4.00", "ZAR", "2.00", "ZAR"]
    assert main([*files, "--compare", "max_positions=1", "--json"]) == 0
    both = json.loads(capsys.readouterr().out)
    assert (both["as_set"]["summary"]["net_pnl"], both["changed"]["summary"]["net_pnl"]) == ("4.00", "2.00")


def test_set_overrides_and_bad_input_is_a_clear_error(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*files, "--json", "--set", "take_profit_pct=none"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["summary"]["trades"] == 0 and data["open_position"]["quantity"] == 2
    assert main([*files, "--set", "max_positions=zero"]) == 2
    assert "max_positions" in capsys.readouterr().err
    assert main(["replay", "--alerts", files[2], "--candles", files[2], "--bots", files[6]]) == 2
    assert "the header has no open, high, low, close column" in capsys.readouterr().err


def test_the_same_inputs_print_the_same_bytes(files: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    main([*files, "--json"])
    first = capsys.readouterr().out
    main([*files, "--json"])
    assert capsys.readouterr().out == first


def test_the_sample_data_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["replay", "--alerts", str(SAMPLE / "alerts.csv"), "--candles", str(SAMPLE / "candles.csv")]
    args += ["--bots", str(SAMPLE / "bots.toml"), "--json", "--html", str(tmp_path / "sample.html")]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    summary = data["summary"]
    assert (summary["alerts"], summary["trades"]) == (50, 13)
    assert sum(1 for t in data["trades"] if t["exit_reason"] == "stop_loss") >= 1
    assert sum(1 for t in data["trades"] if t["exit_reason"] == "take_profit") >= 1
    assert sum(1 for t in data["trades"] if t["exit_reason"] == "reduce") == 1
    assert summary["skipped_by_outcome"] == {"ignored": 16, "invalid": 1, "wrong_ticker": 1}
    # the net is the sum of the trades, each (exit - entry) x quantity, signed by side
    worked = sum(
        (Decimal(t["exit_price"]) - Decimal(t["entry_price"])) * t["quantity"] * (1 if t["side"] == "long" else -1)
        for t in data["trades"]
    )
    assert Decimal(summary["net_pnl"]) == worked.quantize(Decimal("0.01"))
    assert "new uPlot(" in (tmp_path / "sample.html").read_text()
