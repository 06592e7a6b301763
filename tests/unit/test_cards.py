"""The Discord card and embed builders, and the input parsing, without Discord."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum

import discord
import pytest

from bot.discord.cards import (
    AMBER,
    BUTTONS,
    GREEN,
    GREY,
    RED,
    approval_embed,
    bots_embed,
    card_buttons,
    card_link,
    event_line,
    expired_line,
    new_card_text,
    order_embed,
    pnl_embed,
    positions_embed,
    reminder_text,
    result_text,
    signal_embed,
    trades_embed,
)
from bot.discord.formatting import table
from bot.discord.inputs import period_start
from bot.discord.views import approval_view, changed_only
from tests.e2e.fake_desk import make_bot, make_card, sample_position
from trading.domain.display import money, price
from trading.domain.events import ApprovalDecided, ExecutionFailed, OrderFilled, TradeClosed
from trading.domain.inputs import InputError
from trading.domain.orders import OrderStatus
from trading.domain.plan import LegKind
from trading.domain.records import ControlState, OrderRecord, SignalEdits, StoredSignal, TradeRecord
from trading.domain.signals import AlertShape, Signal, SignalAction, SignalState
from trading.domain.values import OrderSide, OrderType, PositionSide
from trading.domain.views import PnlView, SignalView
from trading.services.actions import ActionResult

NOW = datetime(2024, 3, 6, 14, 30, tzinfo=UTC)  # a Wednesday


def text(embed) -> str:  # type: ignore[no-untyped-def]
    return "\n".join([embed.title or "", embed.description or "", embed.footer.text or ""])


# ---------------------------------------------------------------------- formatting


def test_money_is_signed_with_currency_and_two_decimals() -> None:
    assert money(Decimal("1234.5"), "ZAR") == "+1,234.50 ZAR"
    assert money(Decimal("-80"), "ZAR") == "-80.00 ZAR"
    assert money(Decimal("-0.004"), "ZAR") == "0.00 ZAR"
    assert money(None, "ZAR") == "—"


def test_price_keeps_the_ticks_it_was_given() -> None:
    assert price(Decimal("53210.5")) == "53,210.5"
    assert price(Decimal("5.321E+4")) == "53,210"
    assert price(Decimal("0.0001")) == "0.0001"


def test_table_right_aligns_number_columns() -> None:
    out = table(("BOT", "P&L"), [("a", "+1.00"), ("longer", "-120.00")], right={1})
    lines = out.splitlines()
    assert lines == ["BOT         P&L", "a         +1.00", "longer  -120.00"]


# ---------------------------------------------------------------------- approval card


def test_pending_card_shows_everything_a_decision_needs() -> None:
    expires = NOW + timedelta(minutes=15)
    card = make_card(17, plan_summary="add 2 of 3", quantity=2, expires_at=expires)
    embed = approval_embed(card)
    body = text(embed)
    assert embed.title == "#17 SA40_RSI_Bot · add 2 of 3 · enter long"
    assert f"<t:{int(expires.timestamp())}:R>" in body
    assert "Quantity     2 market" in body
    assert "Alert price  53,210.5" in body
    assert "Quote now    53,230.0 (+0.04%)" in body
    assert "Stop         52,600.5" in body
    assert "Target       54,150" in body
    assert "At risk      610.00 ZAR" in body
    assert "Position     flat → long 1 @ 53,230.0" in body
    assert embed.colour == AMBER
    assert card_buttons(card) == BUTTONS


def test_expiry_timestamp_sits_outside_the_code_block() -> None:
    # Discord does not render <t:..> inside a code block.
    body = approval_embed(make_card(1)).description or ""
    before_block = body.split("```")[0]
    assert "<t:" in before_block


def test_decided_card_names_who_when_and_the_fill_and_has_no_buttons() -> None:
    decided = NOW
    card = make_card(17, state="executed", decided_by="alice", decided_at=decided, outcome="filled 2 @ 53211.0")
    body = text(approval_embed(card))
    assert approval_embed(card).title == "#17 SA40_RSI_Bot · enter long"
    assert f"Executed** by alice at <t:{int(decided.timestamp())}:f>" in body
    assert "filled 2 @ 53211.0" in body
    # The Desk re-plans decided cards against today's position: those rows would mislead.
    assert "Plan" not in body and "Position" not in body and "At risk" not in body and "Quote now" not in body
    assert "Alert price  53,210.5" in body and "Quantity     1 market" in body
    assert approval_embed(card).colour == GREEN
    assert card_buttons(card) == ()
    assert approval_view(card) is None


def test_discord_actors_show_as_mentions() -> None:
    card = make_card(
        2,
        state="rejected",
        decided_by="discord:1234",
        decided_at=NOW,
        edits=SignalEdits(quantity=2),
        edited_by="discord:99",
    )
    body = approval_embed(card).description or ""
    assert "Rejected** by <@1234> at" in body and "Edited by <@99>: quantity 2" in body
    assert "by the approval timeout" in (approval_embed(replace(card, decided_by="expiry")).description or "")


def test_expired_and_failed_cards() -> None:
    expired = approval_embed(make_card(3, state="expired", decided_at=NOW))
    assert "Expired" in (expired.description or "") and "nothing was sent" in (expired.description or "")
    assert expired.colour == GREY
    failed = approval_embed(make_card(3, state="failed", decided_by="bob", outcome="broker refused: margin"))
    assert "broker refused: margin" in (failed.description or "")
    assert failed.colour == RED


def test_an_approved_signal_whose_resting_order_ended_says_what_filled() -> None:
    reason = "order sd-3-1 (open buy 3) timed out after 300 s (order_timeout_seconds): 1 of 3 filled"
    timed_out = approval_embed(
        make_card(3, state="expired", decided_by="discord:42", decided_at=NOW, outcome=f"expired: {reason}")
    )
    text = timed_out.description or ""
    assert "⌛ Expired**, approved by <@42>" in text and reason in text and "nothing was sent" not in text
    cancelled = approval_embed(
        make_card(3, state="canceled", decided_by="discord:42", outcome="canceled: cancelled by bob: nothing filled")
    )
    text = cancelled.description or ""
    assert "🚫 Cancelled**, approved by <@42>" in text and "cancelled by bob: nothing filled" in text
    assert cancelled.colour == GREY


def test_limit_order_and_edits_are_shown() -> None:
    card = make_card(
        5,
        order_type=OrderType.LIMIT,
        limit_price=Decimal("53200"),
        quantity=3,
        edits=SignalEdits(quantity=3, limit_price=Decimal("53200"), order_type=OrderType.LIMIT),
        edited_by="bob",
    )
    body = approval_embed(card).description or ""
    assert "Quantity     3 limit @ 53,200" in body
    assert "Edited by bob: quantity 3, type limit, limit 53,200" in body


def test_pending_view_carries_persistent_custom_ids() -> None:
    view = approval_view(make_card(42))
    assert view is not None and view.timeout is None
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    assert ids == ["sd:approve:42", "sd:edit:42", "sd:reject:42"]
    assert view.is_persistent()


def test_prices_go_to_the_tick_and_the_risk_is_positive() -> None:
    card = make_card(
        1,
        tick_size=Decimal("0.5"),
        risk_to_stop=Decimal("-2393.5"),
        quote=Decimal("53210.83333333333333333333333"),
        position_before="long 1 @ 53,211.5",
        position_after="long 3 @ 53,210.8",
    )
    body = text(approval_embed(card))
    assert "At risk      2,393.50 ZAR" in body and "−" not in body and "-2,393" not in body
    assert "Quote now    53,210.8 (+0.04%)" in body
    assert "Position     long 1 @ 53,211.5 → long 3 @ 53,210.8" in body
    assert "At risk   2,393.50 ZAR" in text(order_embed(card))


def test_unknown_quote_and_missing_risk_show_a_dash() -> None:
    card = make_card(1, quote=None, drift_pct=None, risk_to_stop=None, stop_loss=None)
    body = approval_embed(card).description or ""
    assert "Quote now    —" in body and "At risk      —" in body and "Stop         —" in body


CHART = "https://www.tradingview.com/chart/AbCd1234/?symbol=JSE%3AJ200"


def test_the_alerts_chart_is_a_link_button_beside_the_decision_buttons() -> None:
    view = approval_view(make_card(42, chart_url=CHART))
    assert view is not None
    buttons = view.children
    assert [b.custom_id for b in buttons[:3]] == ["sd:approve:42", "sd:edit:42", "sd:reject:42"]  # type: ignore[attr-defined]
    link = buttons[3]
    assert isinstance(link, discord.ui.Button) and link.style is discord.ButtonStyle.link
    assert (link.url, link.label, link.custom_id) == (CHART, "Chart", None)
    assert link.to_component_dict() == {"type": 2, "style": 5, "label": "Chart", "url": CHART, "disabled": False}
    # A decided card keeps the chart, without the decision buttons.
    decided = approval_view(make_card(42, chart_url=CHART, state="executed"))
    assert decided is not None and [b.url for b in decided.children] == [CHART]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "ftp://x/y", "www.tradingview.com/chart", "https://", "https://x/" + "a" * 600, " ", None],
)
def test_a_chart_url_discord_would_refuse_is_left_off(url: str | None) -> None:
    card = make_card(42, chart_url=url)
    assert card_link(card) is None
    view = approval_view(card)
    assert view is not None and len(view.children) == 3


def test_rsi_and_timeframe_are_shown_when_known() -> None:
    body = approval_embed(make_card(1, rsi=Decimal("23.40"), timeframe="4h")).description or ""
    assert "RSI          23.4" in body and "Timeframe    4h" in body
    plain = approval_embed(make_card(1)).description or ""
    assert "RSI" not in plain and "Timeframe" not in plain


def test_a_two_approver_card_says_why_then_1_of_2_and_who() -> None:
    reason = "3 contracts is above second_approval_above (2)"
    waiting = approval_embed(make_card(4, second_approval_reason=reason)).description or ""
    assert f"Needs 2 approvers (0 of 2): {reason}" in waiting
    first = make_card(4, second_approval_reason=reason, first_approved_by="discord:11", first_approved_at=NOW)
    body = approval_embed(first).description or ""
    assert f"**1 of 2** — approved by <@11> <t:{int(NOW.timestamp())}:R>; waiting for a second" in body
    assert card_buttons(first) == BUTTONS  # still waiting for the second
    done = replace(first, state="executed", decided_by="discord:12", decided_at=NOW)
    assert "Executed** by <@12> at" in (approval_embed(done).description or "")
    assert "(2 of 2; first <@11>)" in (approval_embed(done).description or "")
    assert "1 of 2" not in (approval_embed(done).description or "")
    rejected = replace(first, state="rejected", decided_by="discord:12", decided_at=NOW)
    assert "Rejected** by <@12>" in (approval_embed(rejected).description or "")
    assert "(after 1 of 2 by <@11>)" in (approval_embed(rejected).description or "")
    assert "Needs 2" not in (approval_embed(make_card(4)).description or "")


def test_risk_sizing_arithmetic_and_a_refusal_are_shown() -> None:
    sizing = "1% of equity 100,000.00 ZAR = 1,000.00 ZAR; … = 1.63 → 1 contract"
    body = approval_embed(make_card(5, sizing=sizing)).description or ""
    assert f"📐 Sized by risk: {sizing}" in body
    refused = make_card(5, ignored_reason="risk_per_trade_pct 1 sizes entries from the stop", refused=True)
    text_ = approval_embed(refused).description or ""
    assert "⛔ Refused: risk_per_trade_pct 1 sizes entries from the stop" in text_ and "Nothing to do" not in text_


def test_reminder_expiry_and_new_card_texts() -> None:
    card = make_card(6, expires_at=NOW)
    assert reminder_text(card, 77) == (
        f"⏰ <@&77> Signal #6 for SA40_RSI_Bot still awaits a decision, expires <t:{int(NOW.timestamp())}:R>."
    )
    assert reminder_text(card, None).startswith("⏰ Signal #6 for SA40_RSI_Bot still awaits")
    two = replace(card, second_approval_reason="x", first_approved_by="discord:1")
    assert "(1 of 2 approvals so far)" in reminder_text(two, None)
    assert expired_line(card) == (
        "⌛ Signal #6 for SA40_RSI_Bot (open · enter long) expired without a decision; nothing was sent."
    )
    assert new_card_text(77) == "<@&77> a new signal awaits approval" and new_card_text(None) is None


# ---------------------------------------------------------------------- other embeds


def test_positions_embed_aligns_and_totals_by_currency() -> None:
    embed = positions_embed(
        [
            sample_position(),
            sample_position(bot_name="B2", side=PositionSide.SHORT, quantity=1, unrealized_pnl=Decimal("-250.5")),
            sample_position(bot_name="flat", side=None, quantity=0),
        ]
    )
    body = embed.description or ""
    assert "SA40_RSI_Bot  SA40  long" in body
    assert "B2" in body and "flat " not in body
    assert "-250.50" in body and "+179.00" in body
    assert "Unrealized total: **-71.50 ZAR**" in body
    assert embed.colour == RED


def test_positions_embed_when_flat_and_halted() -> None:
    embed = positions_embed([], ControlState(halted=True, halted_by="alice", reason="news"))
    assert "No open positions." in (embed.description or "")
    assert "HALTED** by alice: news" in (embed.description or "")


def test_trades_embed_sums_realized_with_currency() -> None:
    t = TradeRecord(
        bot_id=1,
        bot_name="SA40_RSI_Bot",
        symbol="SA40",
        side=PositionSide.LONG,
        quantity=1,
        entry_price=Decimal("53210.5"),
        exit_price=Decimal("53480"),
        realized_pnl=Decimal("269.5"),
        opened_at=None,
        closed_at=NOW,
        position_closed=True,
    )
    loss = replace(t, realized_pnl=Decimal("-300"), closed_at=NOW - timedelta(hours=1))
    embed = trades_embed([t, loss], "ZAR", "SA40_RSI_Bot")
    body = embed.description or ""
    assert embed.title == "Trades · SA40_RSI_Bot"
    assert "03-06 14:30" in body and "+269.50" in body and "-300.00" in body
    assert "2 trades, realized **-30.50 ZAR**" in body
    assert embed.colour == RED


def test_pnl_embed() -> None:
    view = PnlView("SA40_RSI_Bot", NOW, Decimal("1250.5"), Decimal("-80"), 4, 3, 1, "ZAR")
    embed = pnl_embed(view, "today")
    body = embed.description or ""
    assert embed.title == "P&L · SA40_RSI_Bot · today"
    assert "Realized       +1,250.50 ZAR" in body
    assert "Total          +1,170.50 ZAR" in body
    assert "Win rate                 75%" in body
    assert embed.colour == GREEN


def test_bots_embed_states() -> None:
    paused = make_bot("Paused_Bot", paused=True, paused_reason="daily loss")
    embed = bots_embed([make_bot(), paused])
    body = embed.description or ""
    assert "SA40_RSI_Bot  SA40  Paper   approve  on" in body
    assert "paused" in body and "⏸️ Paused_Bot: daily loss" in body


def test_event_lines_and_results() -> None:
    filled = OrderFilled(
        at=NOW,
        bot_name="B",
        signal_id=3,
        client_order_id="sd-3-0",
        symbol="SA40",
        side="buy",
        quantity=1,
        price=Decimal("53211"),
    )
    assert event_line(filled).startswith(f"💱 <t:{int(NOW.timestamp())}:T> filled buy 1 SA40 @ 53,211 (sd-3-0, B)")
    closed = TradeClosed(
        at=NOW,
        bot_name="B",
        symbol="SA40",
        side="long",
        quantity=1,
        entry_price=Decimal(1),
        exit_price=Decimal(2),
        realized_pnl=Decimal("10"),
        currency="ZAR",
    )
    assert "+10.00 ZAR" in event_line(closed)
    assert event_line(ExecutionFailed(at=NOW, signal_id=1, bot_name="B", reason="x")).startswith("❌")
    assert result_text(ActionResult(True, "done")) == "✅ done"
    assert result_text(ActionResult(False, "no", "forbidden")) == "⛔ no"
    assert result_text(ActionResult(False, "late", "already_decided")) == "⚠️ late"


# ---------------------------------------------------------------------- inputs


# The Edit modal's rules: tests/unit/test_input_rules.py runs them through every face.


def test_changed_only_keeps_what_differs_from_the_card() -> None:
    card = make_card(1, quantity=1, stop_loss=Decimal("52600.5"))
    edits = SignalEdits(quantity=2, order_type=OrderType.MARKET, stop_loss=Decimal("52600.5"))
    assert changed_only(edits, card) == SignalEdits(quantity=2)
    assert changed_only(edits, None) == edits


def test_period_start_uses_utc_calendar_boundaries() -> None:
    assert period_start("today", NOW) == (datetime(2024, 3, 6, tzinfo=UTC), "today")
    assert period_start("week", NOW) == (datetime(2024, 3, 4, tzinfo=UTC), "this week")
    assert period_start("month", NOW) == (datetime(2024, 3, 1, tzinfo=UTC), "this month")
    assert period_start("all", NOW) == (None, "all time")
    with pytest.raises(InputError):
        period_start("year", NOW)


def test_an_executed_signal_shows_what_filled_and_its_average_to_the_tick() -> None:
    stored = StoredSignal(
        id=9,
        bot_id=1,
        bot_name="SA40_RSI_Bot",
        signal=Signal(SignalAction.CLOSE_LONG, Decimal("53480"), AlertShape.RSI),
        state=SignalState.EXECUTED,
        created_at=NOW,
        updated_at=NOW,
    )
    order = OrderRecord(
        signal_id=9,
        bot_id=1,
        client_order_id="sd-9-1",
        leg_index=1,
        leg_kind=LegKind.CLOSE,
        position_side=PositionSide.LONG,
        symbol="SA40",
        side=OrderSide.SELL,
        quantity=3,
        status=OrderStatus.FILLED,
        filled_quantity=3,
        average_fill_price=Decimal("53479.8333333333333"),
    )
    body = text(signal_embed(SignalView(stored, (order,), None, tick_size=Decimal("0.5"))))
    assert "Quantity  3" in body and "None" not in body
    assert "3 @ 53,479.8" in body


def test_no_event_says_none_when_its_optional_fields_are_empty() -> None:
    """Every event's line, with each optional field left empty: "target None" reads as a bug."""
    import dataclasses
    import typing

    from trading.domain import events

    samples: dict[str, object] = {
        "str": "x", "int": 1, "float": 1.0, "bool": True, "Decimal": Decimal(1), "datetime": NOW,
    }  # fmt: skip
    kinds = [
        k
        for k in vars(events).values()
        if isinstance(k, type) and issubclass(k, events.Event) and dataclasses.is_dataclass(k)
    ]
    assert len(kinds) > 20
    for kind in kinds:
        hints = typing.get_type_hints(kind, vars(events))
        values: dict[str, object] = {}
        for f in dataclasses.fields(kind):
            hint = hints[f.name]
            if f.name == "seq":
                continue
            if f.name in ("bot_name", "signal_id"):  # what the event is about: always set where it is told
                values[f.name] = "B" if f.name == "bot_name" else 7
            elif type(None) in typing.get_args(hint):
                values[f.name] = None
            elif isinstance(hint, type) and issubclass(hint, Enum):
                values[f.name] = next(iter(hint))
            elif isinstance(hint, type) and hint.__name__ in samples:
                values[f.name] = samples[hint.__name__]
            elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            else:
                values[f.name] = ()
        line = kind(**values).text()  # type: ignore[call-arg]
        assert "None" not in line, (kind.__name__, line)


def test_trades_embed_rounds_an_average_entry_to_the_tick() -> None:
    t = TradeRecord(
        bot_id=1,
        bot_name="SA40_RSI_Bot",
        symbol="SA40",
        side=PositionSide.LONG,
        quantity=3,
        entry_price=Decimal("53211.166666666667"),
        exit_price=Decimal("53211"),
        realized_pnl=Decimal("-0.5"),
        opened_at=None,
        closed_at=NOW,
        position_closed=True,
    )
    body = trades_embed([t], "ZAR", None, {"SA40": Decimal("0.5")}).description or ""
    assert "53,211.2" in body and "53,211.0" in body and "-0.50" in body and "166666" not in body


def test_a_reject_reason_shows_on_the_card_and_in_the_log_as_typed() -> None:
    card = make_card(5, state="rejected", decided_by="web:bob", decided_at=NOW, decision_reason="**news** at 14:30")
    body = approval_embed(card).description or ""
    assert "Rejected** by bob at" in body and "💬 Reason: \\*\\*news\\*\\* at 14:30" in body
    decided = ApprovalDecided(at=NOW, bot_name="B", signal_id=5, decision="rejected", by="bob", reason="**news**")
    assert event_line(decided).endswith("signal #5 for B rejected by bob: \\*\\*news\\*\\*")
