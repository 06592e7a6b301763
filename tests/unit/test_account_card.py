"""The one card of an alert for a bot on several accounts (issue 27, item 4): each account's
line on the Discord embed, and the select menu that approves some accounts only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.discord.cards import account_lines_text, approval_embed
from bot.discord.inputs import parse_account_quantities
from bot.discord.views import AccountsSelect, approval_view
from tests.e2e.fake_desk import make_card
from trading.domain.inputs import InputError
from trading.domain.views import AccountLine, ApprovalCard


def line(signal_id: int, account: str, qty: int, after: str, risk: str | None, state: str) -> AccountLine:
    return AccountLine(
        signal_id=signal_id,
        account=account,
        quantity=qty,
        position_before="flat",
        position_after=after,
        risk_to_stop=Decimal(risk) if risk is not None else None,
        currency="ZAR",
        state=state,
    )


def two_accounts(state: str = "pending_approval") -> ApprovalCard:
    lines = (
        line(7, "main", 1, "long 1 @ 53,230.0", "610.00", state),
        line(8, "prop", 2, "long 2 @ 53,230.0", "1220.00", state),
    )
    return make_card(7, account="main", account_lines=lines, leg_accounts=("main", "prop"), state=state)


def test_the_card_lists_each_accounts_quantity_position_and_money_at_risk() -> None:
    embed = approval_embed(two_accounts())
    assert embed.title == "#7 SA40_RSI_Bot on main, prop · open · enter long"
    assert account_lines_text(two_accounts()) == (
        "```\n"
        "ACCOUNT       QTY  POSITION                       AT RISK\n"
        "main     1 market  flat → long 1 @ 53,230.0    610.00 ZAR\n"
        "prop     2 market  flat → long 2 @ 53,230.0  1,220.00 ZAR\n"
        "```"
    )
    description = embed.description or ""
    lines = account_lines_text(two_accounts())
    assert lines is not None and lines in description
    # The first leg's own quantity, risk and position would read as the alert's: left to the lines.
    assert "Quantity" not in description and "At risk" not in description and "Position " not in description


def test_a_decided_card_says_where_each_account_ended() -> None:
    lines = (
        line(7, "main", 1, "", None, "rejected"),
        line(8, "prop", 2, "", None, "executed"),
    )
    card = make_card(7, account="main", account_lines=lines, state="rejected", decided_by="discord:42")
    ended = account_lines_text(card)
    assert ended is not None
    assert "main       1  rejected" in ended and "prop       2  executed" in ended


def test_a_bot_on_one_account_keeps_its_card_as_it_was() -> None:
    card = make_card(7)
    assert account_lines_text(card) is None
    assert "Quantity" in (approval_embed(card).description or "")


def test_the_card_of_several_accounts_carries_a_multiple_choice_select_of_its_waiting_accounts() -> None:
    view = approval_view(two_accounts())
    assert view is not None
    [menu] = [item.item for item in view.children if isinstance(item, AccountsSelect)]
    assert menu.custom_id == "sd:accounts:7"
    assert [o.value for o in menu.options] == ["main", "prop"]
    assert (menu.min_values, menu.max_values) == (1, 2)
    # Decided: no buttons, no select.
    assert approval_view(two_accounts("rejected")) is None
    # One account left waiting: Approve is the whole choice.
    one = approval_view(make_card(7, leg_accounts=("main",)))
    assert one is not None and not [i for i in one.children if isinstance(i, AccountsSelect)]


def test_the_edit_modals_quantity_box_reads_each_accounts_quantity() -> None:
    accounts = ("main", "prop")
    assert parse_account_quantities("main=1 prop=3", accounts) == {"main": 1, "prop": 3}
    assert parse_account_quantities(" PROP=2, ", accounts) == {"prop": 2}  # an account as the bot names it
    assert parse_account_quantities("", accounts) == {}
    with pytest.raises(InputError, match=r"^Quantity: write each account's as account=contracts \(main=1 prop=1\)"):
        parse_account_quantities("main=1 demo=2", accounts)
    with pytest.raises(InputError, match=r"^Quantity on prop: "):
        parse_account_quantities("prop=0", accounts)
