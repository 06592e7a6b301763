"""signals + signal_state_changes: every signal with its whole life."""

from __future__ import annotations

import builtins
import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, insert, select, union_all, update

from db.codec import decode_edits, decode_signal, encode_edits, encode_signal
from db.errors import NotFound
from db.models import BotRow, SignalRow, SignalStateChangeRow, table_of
from db.repositories.base import Repository
from trading.domain.records import DuplicateProbe, NewSignal, SignalEdits, StateChange, StoredSignal
from trading.domain.signals import Signal, SignalState

SIGNALS = table_of(SignalRow)
CHANGES = table_of(SignalStateChangeRow)
BOTS = table_of(BotRow)

# The statements every signal runs, built once: building one costs more than running it.
_GET = (
    select(SIGNALS, BOTS.c.bot_name)
    .join(BOTS, BOTS.c.id == SIGNALS.c.bot_id)
    .where(SIGNALS.c.id == bindparam("signal_id"))
)
_GET_FOR_UPDATE = _GET.with_for_update(of=SIGNALS)  # SQLite: a no-op; its writer lock is already held
_HISTORY = select(CHANGES).where(CHANGES.c.signal_id.in_(bindparam("ids", expanding=True))).order_by(CHANGES.c.id)
# The UPDATE matches only from a source state the caller gives: a compare-and-set.
_MOVE = (
    update(SIGNALS)
    .where(SIGNALS.c.id == bindparam("signal_id"), SIGNALS.c.state.in_(bindparam("sources", expanding=True)))
    .values(
        state=bindparam("new_state", type_=SIGNALS.c.state.type),
        updated_at=bindparam("at", type_=SIGNALS.c.updated_at.type),
    )
)
_MOVE_WITH_REASON = _MOVE.values(reason=bindparam("new_reason", type_=SIGNALS.c.reason.type))
_OLDEST = (
    select(SIGNALS, BOTS.c.bot_name)
    .join(BOTS, BOTS.c.id == SIGNALS.c.bot_id)
    .where(SIGNALS.c.bot_id == bindparam("bot_id"), SIGNALS.c.state.in_(bindparam("states", expanding=True)))
    .order_by(SIGNALS.c.id)
    .limit(1)
)
_STATE_OF = select(SIGNALS.c.state).where(SIGNALS.c.id == bindparam("signal_id"))
_ADD_CHANGE = insert(CHANGES)
_ADD_MANY = insert(SIGNALS).returning(SIGNALS.c.id, sort_by_parameter_order=True)
_DUPLICATE_COLUMNS = (SIGNALS.c.id, SIGNALS.c.bot_id, SIGNALS.c.alert_id, SIGNALS.c.body_hash, SIGNALS.c.created_at)
# A batch's dedupe candidates (find_duplicates), built once: the same statement each batch.
_DUPLICATES_BY_BODY = select(*_DUPLICATE_COLUMNS).where(
    SIGNALS.c.bot_id.in_(bindparam("bot_ids", expanding=True)),
    SIGNALS.c.body_hash.in_(bindparam("body_hashes", expanding=True)),
    SIGNALS.c.created_at >= bindparam("since", type_=SIGNALS.c.created_at.type),
)
_DUPLICATES_BY_BODY_OR_ID = union_all(
    _DUPLICATES_BY_BODY,
    select(*_DUPLICATE_COLUMNS).where(
        SIGNALS.c.bot_id.in_(bindparam("bot_ids", expanding=True)),
        SIGNALS.c.alert_id.in_(bindparam("alert_ids", expanding=True)),
    ),
)


def _to_stored(row: Row[Any], history: tuple[StateChange, ...]) -> StoredSignal:
    m = row._mapping
    return StoredSignal(
        id=m["id"],
        bot_id=m["bot_id"],
        bot_name=m["bot_name"],
        signal=decode_signal(m["payload"]),
        state=SignalState(m["state"]),
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        reason=m["reason"],
        edits=decode_edits(m["edits"]),
        history=history,
    )


class SqlSignalRepository(Repository):
    async def add(
        self,
        bot_id: int,
        signal: Signal,
        *,
        body_hash: str,
        state: SignalState,
        cause: str,
        at: datetime,
        reason: str | None = None,
    ) -> StoredSignal:
        bot_name = await self._uow.bots.name_of(bot_id)
        s = self._uow
        signal = dataclasses.replace(signal, passphrase=None)
        signal_id = (
            await s.execute(
                insert(SIGNALS)
                .values(
                    bot_id=bot_id,
                    action=signal.action.value,
                    price=signal.price,
                    alert_id=signal.alert_id,
                    body_hash=body_hash,
                    payload=encode_signal(signal),
                    state=state.value,
                    reason=reason,
                    created_at=at,
                    updated_at=at,
                )
                .returning(SIGNALS.c.id)
            )
        ).scalar_one()
        change = StateChange(state=state, at=at, cause=cause, reason=reason)
        await s.execute(
            insert(CHANGES).values(signal_id=signal_id, state=state.value, at=at, cause=cause, reason=reason)
        )
        return StoredSignal(
            id=signal_id,
            bot_id=bot_id,
            bot_name=bot_name,
            signal=signal,
            state=state,
            created_at=at,
            updated_at=at,
            reason=reason,
            history=(change,),
        )

    async def find_duplicate(self, bot_id: int, *, alert_id: str | None, body_hash: str, since: datetime) -> int | None:
        s = self._uow
        # One statement, one arm per index (bot_id + body_hash + created_at; bot_id +
        # alert_id): with an OR, SQLite's planner may walk all of the bot's signals instead.
        same_body = select(SIGNALS.c.id).where(
            SIGNALS.c.bot_id == bot_id, SIGNALS.c.body_hash == body_hash, SIGNALS.c.created_at >= since
        )
        candidates = same_body.subquery()
        if alert_id is not None:
            same_alert = select(SIGNALS.c.id).where(SIGNALS.c.bot_id == bot_id, SIGNALS.c.alert_id == alert_id)
            candidates = union_all(same_body, same_alert).subquery()
        found = (await s.execute(select(func.min(candidates.c.id)))).scalar()
        return None if found is None else int(found)

    async def add_many(self, items: Sequence[NewSignal]) -> builtins.list[StoredSignal]:
        if not items:
            return []
        names = {bot_id: await self._uow.bots.name_of(bot_id) for bot_id in sorted({i.bot_id for i in items})}
        # Never stored (the codec drops it too) nor handed back; the intake drops it before.
        signals = [
            i.signal if i.signal.passphrase is None else dataclasses.replace(i.signal, passphrase=None) for i in items
        ]
        rows = [
            {
                "bot_id": i.bot_id,
                "action": signal.action.value,
                "price": signal.price,
                "alert_id": signal.alert_id,
                "body_hash": i.body_hash,
                "payload": encode_signal(signal),
                "state": i.state.value,
                "reason": i.reason,
                "created_at": i.at,
                "updated_at": i.at,
            }
            for i, signal in zip(items, signals, strict=True)
        ]
        # One multi-row INSERT ... RETURNING on both databases, the ids in the order of the
        # rows given: the table's insert sentinel lets SQLAlchemy sort SQLite's RETURNING rows
        # (without it, it falls back to one INSERT per row there).
        ids = [int(i) for i in (await self._uow.execute(_ADD_MANY, rows)).scalars()]
        await self._uow.execute(
            _ADD_CHANGE,
            [
                {"signal_id": signal_id, "state": i.state.value, "at": i.at, "cause": i.cause, "reason": i.reason}
                for i, signal_id in zip(items, ids, strict=True)
            ],
        )
        return [
            StoredSignal(
                id=signal_id,
                bot_id=i.bot_id,
                bot_name=names[i.bot_id],
                signal=signal,
                state=i.state,
                created_at=i.at,
                updated_at=i.at,
                reason=i.reason,
                history=(StateChange(state=i.state, at=i.at, cause=i.cause, reason=i.reason),),
            )
            for i, signal, signal_id in zip(items, signals, ids, strict=True)
        ]

    async def find_duplicates(self, probes: Sequence[DuplicateProbe]) -> builtins.list[int | None]:
        if not probes:
            return []
        params: dict[str, Any] = {
            "bot_ids": sorted({p.bot_id for p in probes}),
            "body_hashes": sorted({p.body_hash for p in probes}),
            "since": min(p.since for p in probes),
        }
        alert_ids = sorted({p.alert_id for p in probes if p.alert_id is not None})
        # The candidates of the whole batch in one statement, one arm per index (bot_id +
        # body_hash + created_at; bot_id + alert_id), as find_duplicate; each probe's exact
        # rule is applied below, so a candidate of one probe never answers for another.
        if alert_ids:
            params["alert_ids"] = alert_ids
        rows = (await self._uow.execute(_DUPLICATES_BY_BODY_OR_ID if alert_ids else _DUPLICATES_BY_BODY, params)).all()
        found: builtins.list[int | None] = []
        for p in probes:
            matches = [
                int(r.id)
                for r in rows
                if r.bot_id == p.bot_id
                and (
                    (p.alert_id is not None and r.alert_id == p.alert_id)
                    or (r.body_hash == p.body_hash and r.created_at >= p.since)
                )
            ]
            found.append(min(matches, default=None))
        return found

    async def _history(self, ids: Sequence[int]) -> dict[int, tuple[StateChange, ...]]:
        if not ids:
            return {}
        s = self._uow
        rows = (await s.execute(_HISTORY, {"ids": list(ids)})).all()
        out: dict[int, builtins.list[StateChange]] = {i: [] for i in ids}
        for r in rows:
            out[r.signal_id].append(StateChange(SignalState(r.state), r.at, r.cause, r.reason))
        return {i: tuple(changes) for i, changes in out.items()}

    async def get(self, signal_id: int, *, for_update: bool = False, history: bool = True) -> StoredSignal | None:
        s = self._uow
        row = (await s.execute(_GET_FOR_UPDATE if for_update else _GET, {"signal_id": signal_id})).first()
        if row is None:
            return None
        return _to_stored(row, (await self._history([signal_id]))[signal_id] if history else ())

    async def set_state(
        self,
        signal_id: int,
        state: SignalState,
        *,
        sources: Collection[SignalState],
        cause: str,
        at: datetime,
        reason: str | None = None,
    ) -> SignalState | None:
        s = self._uow
        params: dict[str, Any] = {
            "signal_id": signal_id,
            "sources": [source.value for source in sources],
            "new_state": state.value,
            "at": at,
        }
        if reason is None:
            moved = await s.execute(_MOVE, params)
        else:
            moved = await s.execute(_MOVE_WITH_REASON, params | {"new_reason": reason})
        if moved.rowcount != 1:
            # Only when the UPDATE matched nothing is the current state read, to say why.
            current = (await s.execute(_STATE_OF, {"signal_id": signal_id})).scalar_one_or_none()
            if current is None:
                raise NotFound(f"signal {signal_id} does not exist")
            return SignalState(current)
        await s.execute(
            _ADD_CHANGE, {"signal_id": signal_id, "state": state.value, "at": at, "cause": cause, "reason": reason}
        )
        return None

    async def move(self, signal_id: int, steps: Sequence[StateChange], *, from_state: SignalState) -> bool:
        s = self._uow
        last = steps[-1]
        params: dict[str, Any] = {
            "signal_id": signal_id,
            "sources": [from_state.value],
            "new_state": last.state.value,
            "at": last.at,
        }
        reason = next((step.reason for step in reversed(steps) if step.reason is not None), None)
        if reason is None:
            moved = await s.execute(_MOVE, params)
        else:
            moved = await s.execute(_MOVE_WITH_REASON, params | {"new_reason": reason})
        if moved.rowcount != 1:
            return False
        await s.execute(
            _ADD_CHANGE,
            [
                {"signal_id": signal_id, "state": st.state.value, "at": st.at, "cause": st.cause, "reason": st.reason}
                for st in steps
            ],
        )
        return True

    async def set_edits(self, signal_id: int, edits: SignalEdits) -> None:
        s = self._uow
        result = await s.execute(update(SIGNALS).where(SIGNALS.c.id == signal_id).values(edits=encode_edits(edits)))
        if result.rowcount != 1:
            raise NotFound(f"signal {signal_id} does not exist")

    async def list(
        self,
        *,
        bot_id: int | None = None,
        state: SignalState | None = None,
        limit: int = 100,
        before_id: int | None = None,
        history: bool = True,
    ) -> builtins.list[StoredSignal]:
        s = self._uow
        stmt = select(SIGNALS, BOTS.c.bot_name).join(BOTS, BOTS.c.id == SIGNALS.c.bot_id)
        if bot_id is not None:
            stmt = stmt.where(SIGNALS.c.bot_id == bot_id)
        if state is not None:
            stmt = stmt.where(SIGNALS.c.state == state.value)
        if before_id is not None:
            stmt = stmt.where(SIGNALS.c.id < before_id)
        rows = (await s.execute(stmt.order_by(SIGNALS.c.id.desc()).limit(limit))).all()
        changes = await self._history([r.id for r in rows]) if history else {}
        return [_to_stored(r, changes.get(r.id, ())) for r in rows]

    async def ids_in_states(self, states: Sequence[SignalState], *, bot_id: int | None = None) -> builtins.list[int]:
        if not states:
            return []
        s = self._uow
        # On the indexes (state, id) and (bot_id, state, id): only unfinished rows are read.
        stmt = select(SIGNALS.c.id).where(SIGNALS.c.state.in_([st.value for st in states]))
        if bot_id is not None:
            stmt = stmt.where(SIGNALS.c.bot_id == bot_id)
        rows = await s.execute(stmt.order_by(SIGNALS.c.id))
        return [int(i) for i in rows.scalars()]

    async def oldest(self, bot_id: int, states: Sequence[SignalState]) -> StoredSignal | None:
        row = (await self._uow.execute(_OLDEST, {"bot_id": bot_id, "states": [st.value for st in states]})).first()
        return None if row is None else _to_stored(row, ())

    async def legs_of(self, signal_id: int) -> builtins.list[int]:
        """The ids of the signals one alert made with this one (a bot on several accounts: one
        per account), this one included, in order: its bot's signals stored with the same
        body at the same moment."""
        me = SIGNALS.alias("me")
        stmt = (
            select(SIGNALS.c.id)
            .join(
                me,
                (me.c.bot_id == SIGNALS.c.bot_id)
                & (me.c.body_hash == SIGNALS.c.body_hash)
                & (me.c.created_at == SIGNALS.c.created_at),
            )
            .where(me.c.id == signal_id)
            .order_by(SIGNALS.c.id)
        )
        return [int(i) for i in (await self._uow.execute(stmt)).scalars()]

    async def next_to_run(self, bot_id: int, states: Sequence[SignalState]) -> int | None:
        """The bot's oldest signal in one of `states`: the one whose turn it is."""
        rows = await self._uow.execute(
            select(func.min(SIGNALS.c.id)).where(
                SIGNALS.c.bot_id == bot_id, SIGNALS.c.state.in_([st.value for st in states])
            )
        )
        found = rows.scalar()
        return int(found) if found is not None else None

    async def bots_with_signals_in(self, states: Sequence[SignalState]) -> builtins.list[int]:
        rows = await self._uow.execute(
            select(SIGNALS.c.bot_id).where(SIGNALS.c.state.in_([st.value for st in states])).distinct()
        )
        return sorted(int(i) for i in rows.scalars())
