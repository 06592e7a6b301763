"""The hot statements, run on SQLite's own connection instead of through SQLAlchemy's
execution machinery.

Measured on this project's 2-core machine: a cached Core statement costs 60-150 µs in
SQLAlchemy (execution context, parameter and result set-up, events) against 5 µs in
SQLite; an executed signal runs about thirty, so most of its time on the database went to
the machinery. A statement registered here with `prebuilt()` is compiled by SQLAlchemy
once, with the engine's own dialect, and from then on run with the compiled SQL, the
compiler's bind processors and the column types' result processors: the same SQL and
the same conversions SQLAlchemy would apply, without the per-execution work. Statements
that need more than that (Python-side column defaults, an empty IN list, literal-execute
parameters) and every statement not registered go through SQLAlchemy as before, and so
does every statement on PostgreSQL, whose driver is asynchronous.

Only SQLite's connection inside a unit of work's transaction runs these (see
`SqlUnitOfWork.execute`), so the transaction, commit and rollback stay SQLAlchemy's.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import ClauseElement

Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

# id -> statement, for the statements built once at import (or once per shape). The
# statement is kept so that its id is never reused by another object.
_PREBUILT: dict[int, ClauseElement] = {}


S = TypeVar("S", bound=ClauseElement)


def prebuilt(stmt: S) -> S:
    """Mark a statement built once (a module constant, or from a cached builder) as one
    to run directly on SQLite. Never for a statement built per call: each would be compiled."""
    _PREBUILT[id(stmt)] = stmt
    return stmt


def is_prebuilt(stmt: object) -> bool:
    return _PREBUILT.get(id(stmt)) is stmt


class Row(tuple[Any, ...]):
    """A result row as the repositories read SQLAlchemy's: by position, by attribute, and
    through `_mapping`."""

    __slots__ = ()
    _keys: dict[str, int] = {}

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._keys[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> dict[str, Any]:
        return {key: self[index] for key, index in self._keys.items()}


class Result:
    """The part of SQLAlchemy's result API the repositories use."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Row]:
        return self._rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def first(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def one_or_none(self) -> Row | None:
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when one or none was required")
        return self.first()

    def one(self) -> Row:
        row = self.one_or_none()
        if row is None:
            raise NoResultFound("No row was found when one was required")
        return row

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalars(self) -> _Scalars:
        return _Scalars([row[0] for row in self._rows])


class _Scalars:
    __slots__ = ("_values",)

    def __init__(self, values: list[Any]) -> None:
        self._values = values

    def all(self) -> list[Any]:
        return self._values

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)


_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


class Prepared:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, stmt: ClauseElement, dialect: Dialect, keys: Sequence[str] | None) -> None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        if compiled.insert_prefetch or compiled.update_prefetch or compiled.literal_execute_params:
            raise _NotPreparable("the statement needs values SQLAlchemy computes at execution")
        if compiled.positiontup is None:
            raise _NotPreparable("the dialect does not bind by position")
        self.sql = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup)
        processors = compiled._bind_processors
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(processors.get(n) for n in self._names)
        binds = compiled.binds
        # A value the statement itself holds (`.limit(1)`, `col == 5`), used when the caller
        # gives none; a bindparam() without one must be given.
        self._defaults: dict[str, Any] = {
            n: binds[n].value for n in self._names if not binds[n].required and binds[n].callable is None
        }
        self._expanding = frozenset(n for n in self._names if binds[n].expanding)
        self._variants: dict[tuple[int, ...], str] = {}
        columns = compiled._result_columns
        self._returns = bool(columns)
        self._results: tuple[Callable[[Any], Any] | None, ...] = tuple(
            c.type._cached_result_processor(dialect, None) for c in columns
        )
        self._convert = any(p is not None for p in self._results)
        keys_of = {c.keyname: index for index, c in reversed(list(enumerate(columns)))}
        self._row = type("Row", (Row,), {"__slots__": (), "_keys": keys_of})

    def run(self, conn: sqlite3.Connection, params: Params, observed: Connection | None = None) -> Result:
        many = params is not None and not isinstance(params, Mapping)
        if many and (not params or self._returns or self._expanding):
            raise _NotPreparable("executemany of this statement")  # rows or IN lists per set: SQLAlchemy's job
        try:
            if many:
                sql, values = self.sql, [self._bind(p) for p in params]  # type: ignore[union-attr]
            else:
                given = params or {}
                sql, values = self._sql_for(given), self._bind(given)  # type: ignore[arg-type]
        except _NotPreparable:
            raise
        except Exception as e:
            # A value a type refuses: SQLAlchemy's StatementError naming the statement, as it would raise.
            raise DBAPIError.instance(self.sql, params, e, sqlite3.Error) from e
        return self._call(conn, sql, values, many, observed)

    def _sql_for(self, params: Mapping[str, Any]) -> str:
        if not self._expanding:
            return self.sql
        lengths = tuple(len(params[n]) for n in self._names if n in self._expanding)
        if 0 in lengths:
            raise _NotPreparable("an empty IN list")  # SQLAlchemy renders it specially
        sql = self._variants.get(lengths)
        if sql is None:
            counts = dict(zip((n for n in self._names if n in self._expanding), lengths, strict=True))
            sql = _POSTCOMPILE.sub(lambda m: ", ".join("?" * counts[m.group(1)]), self.sql)
            self._variants[lengths] = sql
        return sql

    def _bind(self, params: Mapping[str, Any]) -> list[Any]:
        values: list[Any] = []
        defaults = self._defaults
        for name, process in zip(self._names, self._processors, strict=True):
            if name in params:
                value = params[name]
            elif name in defaults:
                value = defaults[name]
            else:
                raise KeyError(f"a value is required for bind parameter {name!r}")
            if name in self._expanding:
                values.extend(value if process is None else [process(v) for v in value])
            else:
                values.append(value if process is None else process(value))
        return values

    def _call(self, conn: sqlite3.Connection, sql: str, values: Any, many: bool, observed: Connection | None) -> Result:
        cursor = conn.cursor()
        # SQLAlchemy's cursor events still see every statement (echo, statement counts);
        # there is no execution context to give them.
        if observed is not None:
            for before in observed.dispatch.before_cursor_execute:
                before(observed, cursor, sql, values, None, many)
        try:
            if many:
                cursor.executemany(sql, values)
                raw = []
            else:
                raw = cursor.execute(sql, values).fetchall()
        except sqlite3.Error as e:
            raise DBAPIError.instance(sql, values, e, sqlite3.Error) from e
        if observed is not None:
            for after in observed.dispatch.after_cursor_execute:
                after(observed, cursor, sql, values, None, many)
        make = self._row
        if self._convert:
            results = self._results
            rows = [
                make(v if p is None else p(v) for v, p in zip(r, results, strict=True))  # type: ignore[arg-type]
                for r in raw
            ]
        else:
            rows = [make(r) for r in raw]
        return Result(rows, cursor.rowcount)


class _NotPreparable(Exception):
    pass


class PreparedStatements:
    """Each registered statement compiled once per set of parameter names, for one
    database; None for those that must go through SQLAlchemy."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._cache: dict[tuple[int, frozenset[str] | None], Prepared | None] = {}

    def run(
        self, conn: sqlite3.Connection, stmt: ClauseElement, params: Params, observed: Connection | None = None
    ) -> Result | None:
        """The statement's result, or None when it is not one to run here. `observed`: the
        SQLAlchemy connection whose cursor event listeners should see the statement."""
        if not is_prebuilt(stmt):
            return None
        first = params if params is None or isinstance(params, Mapping) else (params[0] if params else None)
        keys = frozenset(first) if first is not None else None
        cache_key = (id(stmt), keys)
        try:
            prepared = self._cache[cache_key]
        except KeyError:
            try:
                prepared = Prepared(stmt, self._dialect, sorted(keys) if keys is not None else None)
            except _NotPreparable:
                prepared = None
            self._cache[cache_key] = prepared
        if prepared is None:
            return None
        try:
            return prepared.run(conn, params, observed)
        except _NotPreparable:
            return None
