"""Buttons and modals: the approval card's persistent buttons, the Edit modal, confirm views.

The card buttons are DynamicItems: one registration (client.add_dynamic_items in
setup_hook) handles every signal id parsed from the custom id, so a card posted before a
restart still works after it, with nothing kept per message.

Every callback answers Discord within 3 seconds: it defers before it calls the Desk (whose
work may wait on a database lock), then edits its deferred answer with the Desk's words.
The card itself is edited by the sink, never here, so there is one writer per card.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, cast

import discord

from bot.discord.cards import PENDING, card_buttons, card_link, result_text
from bot.discord.inputs import parse_account_quantities, parse_edits
from trading.domain.inputs import InputError
from trading.domain.records import SignalEdits
from trading.domain.views import ApprovalCard
from trading.domain.wording import REASON_LIMIT, state_words
from trading.services.actions import ActionResult, Actor

if TYPE_CHECKING:
    from bot.discord.client import SignalDeskClient

log = logging.getLogger("signaldesk.discord.views")

# Reading the card to pre-fill the Edit modal must leave time to answer within 3 s.
MODAL_PREFILL_TIMEOUT = 1.0
CONFIRM_TIMEOUT = 60.0
DESK_FAILED = ActionResult(
    False, "The desk failed while handling this; see the error channel and the card before retrying.", "failed"
)


def _client(interaction: discord.Interaction[Any]) -> SignalDeskClient:
    return cast("SignalDeskClient", interaction.client)


async def _desk_call(what: str, call: Awaitable[ActionResult]) -> ActionResult:
    try:
        return await call
    except Exception:
        log.exception("desk call %s raised", what)
        return DESK_FAILED


async def _decide(
    interaction: discord.Interaction[Any],
    signal_id: int,
    verb: str,
    reason: str | None = None,
    accounts: list[str] | None = None,
) -> None:
    client = _client(interaction)
    actor = client.actor(interaction.user)
    call = (
        client.use_cases.decisions.approve(signal_id, actor, accounts=accounts)
        if verb == "approve"
        else client.use_cases.decisions.reject(signal_id, actor, reason)
    )
    # The defer goes out first and the decision does not wait for its round trip: a click
    # reaches the order as early as it can, and Discord still hears back within 3 s.
    _, result = await asyncio.gather(
        interaction.response.defer(ephemeral=True, thinking=True), _desk_call(f"{verb} #{signal_id}", call)
    )
    await interaction.edit_original_response(content=result_text(result))
    if result.ok:
        client.refresh_card(signal_id)


class ApproveButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"sd:approve:(?P<id>[0-9]+)"):
    def __init__(self, signal_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Approve", style=discord.ButtonStyle.success, custom_id=f"sd:approve:{signal_id}")
        )
        self.signal_id = signal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> ApproveButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _decide(interaction, self.signal_id, "approve")


class RejectButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"sd:reject:(?P<id>[0-9]+)"):
    def __init__(self, signal_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Reject", style=discord.ButtonStyle.danger, custom_id=f"sd:reject:{signal_id}")
        )
        self.signal_id = signal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> RejectButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        if not _client(interaction).actor(interaction.user).can_approve:
            # Refused before the modal, not after the reason is typed; the Desk refuses and audits it.
            await _decide(interaction, self.signal_id, "reject")
            return
        await interaction.response.send_modal(RejectModal(self.signal_id, str(interaction.id)))


class RejectModal(discord.ui.Modal):
    """Reject, with an optional reason: kept in the audit, shown on the card and the signal."""

    def __init__(self, signal_id: int, nonce: str) -> None:
        super().__init__(
            title=f"Reject signal #{signal_id}", timeout=600, custom_id=f"sd:rejectmodal:{signal_id}:{nonce}"
        )
        self.signal_id = signal_id
        self.reason: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Reason (optional)",
            custom_id="reason",
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=REASON_LIMIT,
            placeholder="why not: shown on the card and kept in the audit",
        )
        self.add_item(self.reason)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        await _decide(interaction, self.signal_id, "reject", self.reason.value or None)


class EditButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"sd:edit:(?P<id>[0-9]+)"):
    def __init__(self, signal_id: int) -> None:
        super().__init__(
            discord.ui.Button(label="Edit", style=discord.ButtonStyle.secondary, custom_id=f"sd:edit:{signal_id}")
        )
        self.signal_id = signal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> EditButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = _client(interaction)
        actor = client.actor(interaction.user)
        if not actor.can_approve:
            # Refuse before the modal, not after the user has filled it in; the request
            # still goes to the Desk, which refuses it and writes the audit entry.
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await _desk_call(
                f"edit #{self.signal_id}", client.use_cases.decisions.edit(self.signal_id, actor, SignalEdits())
            )
            await interaction.edit_original_response(content=result_text(result))
            return
        card: ApprovalCard | None = None
        try:
            card = await asyncio.wait_for(client.use_cases.queries.approval_card(self.signal_id), MODAL_PREFILL_TIMEOUT)
        except Exception:
            log.warning("could not read signal #%s to pre-fill the edit modal", self.signal_id, exc_info=True)
        if card is not None and card.state != PENDING:
            state = state_words(card.state)
            await interaction.response.send_message(
                f"⚠️ Signal #{self.signal_id} is no longer waiting for approval ({state}).", ephemeral=True
            )
            return
        await interaction.response.send_modal(EditModal(self.signal_id, card, str(interaction.id)))


class AccountsSelect(discord.ui.DynamicItem[discord.ui.Select[Any]], template=r"sd:accounts:(?P<id>[0-9]+)"):
    """The card of an alert for a bot on several accounts: approve only the accounts picked;
    the alert's other legs end rejected by the approver (Approve approves every account)."""

    def __init__(self, signal_id: int, accounts: tuple[str, ...]) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"sd:accounts:{signal_id}",
                placeholder="Approve only some accounts…",
                min_values=1,
                max_values=len(accounts),
                options=[discord.SelectOption(label=a[:100], value=a[:100]) for a in accounts[:SELECT_LIMIT]],
            )
        )
        self.signal_id = signal_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> AccountsSelect:
        options = item.options if isinstance(item, discord.ui.Select) else []
        return cls(int(match["id"]), tuple(o.value for o in options) or ("?",))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        await _decide(interaction, self.signal_id, "approve", accounts=list(self.item.values))


# Discord's most options in one select menu.
SELECT_LIMIT = 25

APPROVAL_ITEMS = (ApproveButton, EditButton, RejectButton, AccountsSelect)
_ITEM_FOR = {"approve": ApproveButton, "edit": EditButton, "reject": RejectButton}


class RepairButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"sd:repair:(?P<action>adopt|flatten):(?P<bot>[A-Za-z0-9_.-]{1,64})",
):
    """Adopt / Flatten on the error channel's mismatch message: approvers only, after a confirm."""

    QUESTIONS: ClassVar[dict[str, str]] = {
        "adopt": "Adopt the broker's position for **{bot}**? Its position takes the broker's side of the "
        "difference at the broker's average price; no order is sent.",
        "flatten": "Flatten **{bot}**'s symbol? The broker's whole net position on it is closed at market "
        "and every bot on it is set flat.",
    }

    def __init__(self, action: str, bot_name: str) -> None:
        style = discord.ButtonStyle.primary if action == "adopt" else discord.ButtonStyle.danger
        super().__init__(
            discord.ui.Button(label=action.title(), style=style, custom_id=f"sd:repair:{action}:{bot_name}")
        )
        self.action = action
        self.bot_name = bot_name

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: Any, /
    ) -> RepairButton:
        return cls(match["action"], match["bot"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = _client(interaction)
        actor = client.actor(interaction.user)
        what = f"{self.action} {self.bot_name}"

        def repair(who: Actor) -> Awaitable[ActionResult]:
            return client.use_cases.repairs.repair(self.bot_name, self.action, who)

        if not actor.can_approve:
            # The Desk refuses and writes the audit entry; no question is asked.
            await interaction.response.defer(ephemeral=True, thinking=True)
            result = await _desk_call(what, repair(actor))
            await interaction.edit_original_response(content=result_text(result))
            return
        view = ConfirmView(interaction.user.id, repair, what, interaction)
        await interaction.response.send_message(self.QUESTIONS[self.action].format(bot=self.bot_name), view=view)


REPAIR_ITEMS = (RepairButton,)


def repair_view(bot_name: str) -> discord.ui.View:
    """The mismatch message's buttons."""
    view = discord.ui.View(timeout=None)
    for action in ("adopt", "flatten"):
        view.add_item(RepairButton(action, bot_name))
    return view


def approval_view(card: ApprovalCard) -> discord.ui.View | None:
    """The card's buttons: Approve, Edit, Reject while it waits, and a link to the alert's
    chart whenever it has one (None when there is nothing: the edit then removes them)."""
    names = card_buttons(card)
    link = card_link(card)
    if not names and link is None:
        return None
    view = discord.ui.View(timeout=None)
    for name in names:
        view.add_item(_ITEM_FOR[name](card.signal_id))
    if link is not None:
        view.add_item(discord.ui.Button(label="Chart", style=discord.ButtonStyle.link, url=link))
    if names and len(card.leg_accounts) > 1:
        view.add_item(AccountsSelect(card.signal_id, card.leg_accounts))
    return view


def _text(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"


class EditModal(discord.ui.Modal):
    """Quantity, order type, limit price, stop, target; pre-filled from the card."""

    def __init__(self, signal_id: int, card: ApprovalCard | None, nonce: str) -> None:
        super().__init__(title=f"Edit signal #{signal_id}", timeout=600, custom_id=f"sd:editmodal:{signal_id}:{nonce}")
        self.signal_id = signal_id
        self.card = card
        self.quantity: discord.ui.TextInput[Any] = discord.ui.TextInput(
            custom_id="quantity",
            required=False,
            **_quantity_box(card),
        )
        self.order_type: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Order type: market or limit",
            custom_id="order_type",
            required=False,
            max_length=6,
            default=card.order_type.value if card else None,
        )
        self.limit_price: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Limit price (limit orders)",
            custom_id="limit_price",
            required=False,
            max_length=24,
            default=_text(card.limit_price) if card else None,
        )
        self.stop_loss: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Stop loss",
            custom_id="stop_loss",
            required=False,
            max_length=24,
            default=_text(card.stop_loss) if card else None,
        )
        self.take_profit: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label="Take profit",
            custom_id="take_profit",
            required=False,
            max_length=24,
            default=_text(card.take_profit) if card else None,
        )
        for item in (self.quantity, self.order_type, self.limit_price, self.stop_loss, self.take_profit):
            self.add_item(item)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        client = _client(interaction)
        accounts = _waiting_accounts(self.card)
        quantities: dict[str, Decimal] = {}
        try:
            if accounts:
                quantities = parse_account_quantities(self.quantity.value, accounts)
            others = (self.order_type.value, self.limit_price.value, self.stop_loss.value, self.take_profit.value)
            if quantities and not any(v.strip() for v in others):
                edits = SignalEdits()  # the accounts' quantities alone: no mistake
            else:
                edits = parse_edits("" if accounts else self.quantity.value, *others)
        except InputError as e:
            await interaction.response.send_message(f"⛔ {e} Nothing was changed.", ephemeral=True)
            return
        edits = changed_only(edits, self.card)
        was = {line.account: line.quantity for line in self.card.account_lines} if self.card else {}
        quantities = {a: q for a, q in quantities.items() if was.get(a) != q}
        if edits == SignalEdits() and not quantities:
            await interaction.response.send_message("Nothing was changed.", ephemeral=True)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        actor = client.actor(interaction.user)
        result = await _desk_call(
            f"edit #{self.signal_id}",
            client.use_cases.decisions.edit(self.signal_id, actor, edits, quantities or None),
        )
        await interaction.edit_original_response(content=result_text(result))
        if result.ok:
            client.refresh_card(self.signal_id)


def _waiting_accounts(card: ApprovalCard | None) -> tuple[str, ...]:
    """The accounts whose quantity the Edit modal's box holds: an alert's waiting legs, when
    it has several (each account's quantity is its own); () otherwise."""
    if card is None or not card.account_lines or len(card.leg_accounts) < 2:
        return ()
    return card.leg_accounts


def _quantity_box(card: ApprovalCard | None) -> dict[str, Any]:
    """The quantity box's label, size and value: one number, or each waiting account's."""
    accounts = _waiting_accounts(card)
    if card is None or not accounts:
        # Up to 1,000,000 with 8 decimals (an exchange account's 0.00125 BTC): 16 characters.
        return {"label": "Quantity (contracts)", "max_length": 16, "default": str(card.quantity) if card else None}
    now = {line.account: line.quantity for line in card.account_lines}
    return {
        "label": "Quantity per account (account=contracts)",
        "max_length": 200,
        "default": " ".join(f"{a}={now.get(a, 0)}" for a in accounts),
    }


def changed_only(edits: SignalEdits, card: ApprovalCard | None) -> SignalEdits:
    """Keep only what differs from the card the modal was filled from, so the card's
    "edited" line names what the approver actually changed."""
    if card is None:
        return edits
    current = {
        "quantity": card.quantity,
        "order_type": card.order_type,
        "limit_price": card.limit_price,
        "stop_loss": card.stop_loss,
        "take_profit": card.take_profit,
    }
    changes = {k: None for k, v in current.items() if getattr(edits, k) is not None and getattr(edits, k) == v}
    return replace(edits, **changes)


class ConfirmView(discord.ui.View):
    """Confirm / Cancel for a drastic command; only the member who asked may press them."""

    def __init__(
        self,
        owner_id: int,
        action: Callable[[Actor], Awaitable[ActionResult]],
        what: str,
        origin: discord.Interaction[Any],
    ) -> None:
        super().__init__(timeout=CONFIRM_TIMEOUT)
        self.owner_id = owner_id
        self.action = action
        self.what = what
        self.origin = origin
        self.done = False

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message("Only the member who asked can confirm this.", ephemeral=True)
            return False
        if self.done:
            # A second press while the first is still being handled.
            await interaction.response.send_message("Already answered.", ephemeral=True)
            return False
        return True

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]) -> None:
        self.done = True
        await interaction.response.defer()
        actor = _client(interaction).actor(interaction.user)
        result = await _desk_call(self.what, self.action(actor))
        await interaction.edit_original_response(content=result_text(result), view=None)
        self.stop()

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction[Any], _: discord.ui.Button[Any]) -> None:
        self.done = True
        await interaction.response.edit_message(content=f"Cancelled: {self.what} was not done.", view=None)
        self.stop()

    async def on_timeout(self) -> None:
        if self.done:
            return
        try:
            await self.origin.edit_original_response(content=f"Timed out: {self.what} was not done.", view=None)
        except discord.HTTPException:
            log.info("could not mark the %s confirmation as timed out", self.what)
