"""One card per alert for a bot on several accounts (issue 27, item 4), on both databases:
the first leg's card lists every account's line, the other legs show on it; Approve executes
every leg, Reject rejects every leg, approving some accounts rejects the others by the
approver, each leg decided exactly once."""

from __future__ import annotations

from db.database import Database
from tests.integration.test_account_legs import TWO, approver_at_a_card, brokers, legs, run_all, send, services
from tests.integration.web_support import add_bot
from tests.support.fake_broker import FakeBroker
from tests.support.service_rig import ALICE, BOB
from trading.domain.records import SignalEdits
from trading.domain.signals import SignalState
from trading.services.bootstrap import Services


async def two_pending(database: Database, **over: object) -> tuple[Services, dict[str, FakeBroker], int]:
    await add_bot(database, **(TWO | {"mode": "approve"} | over))
    by_account = brokers()
    s = services(database, by_account)
    first = (await send(database, {"action": "RSI_LONG_ENTRY", "price": 53210.5, "id": "c1"})).signal_id
    assert first is not None
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.PENDING_APPROVAL] * 2
    return s, by_account, first


async def test_the_first_legs_card_lists_every_account_and_the_other_leg_has_none(database: Database) -> None:
    s, _, first = await two_pending(database)
    card = await s.use_cases.queries.approval_card(first)
    assert card is not None and card.card_of is None
    assert [(x.signal_id, x.account, x.quantity, x.state) for x in card.account_lines] == [
        (first, "main", 1, "pending_approval"),
        (first + 1, "prop", 2, "pending_approval"),
    ]
    assert [x.position_after.split(" @")[0] for x in card.account_lines] == ["long 1", "long 2"]
    assert all(x.risk_to_stop is not None and x.risk_to_stop > 0 for x in card.account_lines)
    assert card.account_lines[1].risk_to_stop == 2 * card.account_lines[0].risk_to_stop  # type: ignore[operator]
    assert card.leg_accounts == ("main", "prop")
    other = await s.use_cases.queries.approval_card(first + 1)
    assert other is not None and other.card_of == first and other.account_lines == ()
    assert await s.use_cases.queries.card_owner(first + 1) == first
    assert await s.use_cases.queries.card_owner(first) == first
    # The web desk's approvals: one card for the alert.
    assert [c.signal_id for c in await s.use_cases.queries.pending_cards()] == [first]


async def test_approve_on_the_card_executes_every_leg_once(database: Database) -> None:
    s, by_account, first = await two_pending(database)
    result = await s.use_cases.decisions.approve(first, ALICE)
    assert result.ok, result.message
    assert result.message.startswith(f"main: signal #{first} approved by alice")
    assert f"; prop: signal #{first + 1} approved by alice" in result.message
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED] * 2
    assert [o.quantity for o in by_account["main"].book.values()] == [1]
    assert [o.quantity for o in by_account["prop"].book.values()] == [2]
    again = await s.use_cases.decisions.approve(first, BOB)
    assert not again.ok and again.code == "already_decided"
    card = await s.use_cases.queries.approval_card(first)
    assert card is not None and [x.state for x in card.account_lines] == ["executed", "executed"]


async def test_approving_some_accounts_rejects_the_others_by_the_approver(database: Database) -> None:
    s, by_account, first = await two_pending(database)
    result = await s.use_cases.decisions.approve(first, ALICE, accounts=["main"])
    assert result.ok, result.message
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED, SignalState.REJECTED]
    async with database.uow(read_only=True) as uow:
        prop_leg = await uow.signals.get(first + 1)
        approval = await uow.approvals.get(first + 1)
    assert prop_leg is not None and approval is not None
    assert (prop_leg.reason, approval.decided_by_name) == ("not approved for account prop", "alice")
    assert by_account["main"].place_calls == 1 and by_account["prop"].place_calls == 0


async def test_reject_on_the_card_rejects_every_leg_with_the_reason(database: Database) -> None:
    s, by_account, first = await two_pending(database)
    result = await s.use_cases.decisions.reject(first, BOB, "too late in the day")
    assert result.ok, result.message
    assert result.message == (
        f"signal #{first} rejected by bob: too late in the day; signal #{first + 1} rejected by bob: too late in the day"
    )
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.REJECTED] * 2
    async with database.uow(read_only=True) as uow:
        reasons = [(await uow.signals.get(i)).reason for i in (first, first + 1)]  # type: ignore[union-attr]
    assert reasons == ["too late in the day"] * 2
    assert by_account["main"].place_calls == 0 and by_account["prop"].place_calls == 0
    assert not (await s.use_cases.decisions.reject(first + 1, ALICE)).ok  # each leg decided once


async def test_two_approvers_on_the_alerts_card_approve_every_leg_on_the_second_click(database: Database) -> None:
    s, _, first = await two_pending(database, second_approval_above=2)
    one = await s.use_cases.decisions.approve(first, ALICE)
    assert one.ok and one.message.count("approved 1 of 2") == 2
    assert [state for *_, state in await legs(database, first)] == [SignalState.PENDING_APPROVAL] * 2
    two = await s.use_cases.decisions.approve(first, BOB)
    assert two.ok and two.message.count("(2 of 2)") == 2
    await run_all(s, [first, first + 1])
    assert [state for *_, state in await legs(database, first)] == [SignalState.EXECUTED] * 2


async def test_an_edit_on_the_alerts_card_moves_every_legs_stop_and_each_accounts_own_quantity(
    database: Database,
) -> None:
    s, by_account, first = await two_pending(database)
    card = await s.use_cases.queries.approval_card(first)
    assert card is not None and card.stop_loss is not None
    stop = card.stop_loss - 10
    stranger = await s.use_cases.decisions.edit(first, ALICE, SignalEdits(), {"demo": 3})
    assert not stranger.ok and stranger.message == (
        f"signal #{first} has no waiting leg on 'demo' (its accounts: main, prop)"
    )
    edited = await s.use_cases.decisions.edit(first, ALICE, SignalEdits(stop_loss=stop), {"prop": 3})
    assert edited.ok, edited.message
    # Quantity alone on main afterwards keeps the stop the first edit gave it.
    assert (await s.use_cases.decisions.edit(first, ALICE, SignalEdits(quantity=2))).ok
    async with database.uow(read_only=True) as uow:
        main_leg, prop_leg = [await uow.signals.get(i, history=False) for i in (first, first + 1)]
    assert main_leg is not None and prop_leg is not None
    assert main_leg.edits == SignalEdits(quantity=2, stop_loss=stop)
    assert prop_leg.edits == SignalEdits(quantity=3, stop_loss=stop)
    assert (await s.use_cases.decisions.approve(first, BOB)).ok
    await run_all(s, [first, first + 1])
    assert [o.quantity for o in by_account["main"].book.values()] == [2]
    assert [o.quantity for o in by_account["prop"].book.values()] == [3]
    card = await s.use_cases.queries.approval_card(first)
    assert card is not None and [x.quantity for x in card.account_lines] == [2, 3]


async def test_the_web_desk_shows_one_card_with_each_accounts_line_and_quantity_box(sqlite_database: Database) -> None:
    by_account, _, first, anna = await approver_at_a_card(sqlite_database)
    html = (await (await anna.get("/approvals")).get_data()).decode()
    assert html.count('data-card="') == 1 and f'id="card-{first}"' in html and f'id="card-{first + 1}"' not in html
    assert '<tr data-account="main">' in html and '<tr data-account="prop">' in html
    for account in ("main", "prop"):
        assert f'name="quantity:{account}"' in html
    # The live page fetches the card of a leg's event: the alert's one card answers.
    leg = (await (await anna.get(f"/approvals/{first + 1}/card")).get_data()).decode()
    assert f'data-card="{first}"' in leg and f'data-legs="{first} {first + 1}"' in leg
    bad = await anna.post(f"/approvals/{first}/edit", form={"quantity:prop": "two"}, headers={"X-Part": "1"})
    assert bad.status_code == 422
    edited = await anna.post(f"/approvals/{first}/edit", form={"quantity:prop": "3"}, headers={"X-Part": "1"})
    assert edited.status_code == 200, (await edited.get_data()).decode()
    rejected = await anna.post(f"/approvals/{first}/reject", form={"reason": "no"}, headers={"X-Part": "1"})
    assert rejected.status_code == 200
    assert [state for *_, state in await legs(sqlite_database, first)] == [SignalState.REJECTED] * 2
    async with sqlite_database.uow(read_only=True) as uow:
        prop_leg = await uow.signals.get(first + 1, history=False)
    assert prop_leg is not None and prop_leg.edits == SignalEdits(quantity=3)
    assert by_account["main"].place_calls == 0 and by_account["prop"].place_calls == 0


async def test_an_approval_with_edits_gives_the_quantity_to_its_own_leg_and_the_stop_to_every_leg(
    database: Database,
) -> None:
    s, by_account, first = await two_pending(database)
    card = await s.use_cases.queries.approval_card(first)
    assert card is not None and card.stop_loss is not None
    stop = card.stop_loss - 10
    assert (await s.use_cases.decisions.approve(first, ALICE, SignalEdits(quantity=4, stop_loss=stop))).ok
    await run_all(s, [first, first + 1])
    async with database.uow(read_only=True) as uow:
        main_leg, prop_leg = [await uow.signals.get(i, history=False) for i in (first, first + 1)]
    assert main_leg is not None and prop_leg is not None
    assert (main_leg.edits, prop_leg.edits) == (SignalEdits(quantity=4, stop_loss=stop), SignalEdits(stop_loss=stop))
    assert [o.quantity for o in by_account["main"].book.values()] == [4]
    assert [o.quantity for o in by_account["prop"].book.values()] == [2]  # prop's own, scaled
