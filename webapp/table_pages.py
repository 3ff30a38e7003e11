"""A read model's rows, a page at a time, for /read-models: any table, in the order of its
primary key, keyset-paged (`WHERE key > last key shown`, never OFFSET), so a page costs the same
however far into a big table it is, and rows added meanwhile are neither skipped nor repeated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from werkzeug.exceptions import BadRequest

from emit.sql import storage_errors

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class TablePage:
    """Up to a page of `table`'s rows, by primary key. `next_after` is the key to pass as
    `after` for the next page, `previous_before` as `before` for the one before (None: there is
    none)."""

    table: sa.Table
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    next_after: Key | None
    previous_before: Key | None


def read_page(
    engine: sa.Engine,
    table: sa.Table,
    *,
    after: Key | None = None,
    before: Key | None = None,
    limit: int,
) -> TablePage:
    """The `limit` rows of `table` after the key `after`, or the `limit` before `before` (the
    first page if neither). Raises `StorageError`."""
    key = list(table.primary_key.columns)
    query = sa.select(table)
    if before is not None:
        query = query.where(_key(key) < _key_values(key, before))
        query = query.order_by(*(column.desc() for column in key))
    else:
        if after is not None:
            query = query.where(_key(key) > _key_values(key, after))
        query = query.order_by(*key)
    with storage_errors("read a read model's rows"), engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(query.limit(limit + 1)).all()]
    more = len(rows) > limit
    rows = rows[:limit]
    if before is not None:
        rows.reverse()
    positions = [table.columns.keys().index(column.name) for column in key]
    first = tuple(rows[0][i] for i in positions) if rows else None
    last = tuple(rows[-1][i] for i in positions) if rows else None
    if before is not None:
        next_after, previous_before = last, (first if more else None)
    else:
        next_after, previous_before = (last if more else None), (first if after else None)
    return TablePage(table, tuple(table.columns.keys()), tuple(rows), next_after, previous_before)


def parse_key(table: sa.Table, values: Sequence[str]) -> Key:
    """A primary key of `table` from a query string (one value per key column, in order);
    `BadRequest` if it cannot be one."""
    key = list(table.primary_key.columns)
    if len(values) != len(key):
        names = ", ".join(column.name for column in key)
        raise BadRequest(
            f"A key of {table.name} is {len(key)} value(s), its {names}; {len(values)} were sent."
        )
    parsed: list[Any] = []
    for column, value in zip(key, values, strict=True):
        if column.type.python_type is int:
            if not value.lstrip("-").isdigit() or len(value) > 19:
                raise BadRequest(f"{column.name} of {table.name} is a whole number, not {value!r}.")
            parsed.append(int(value))
        elif "\x00" in value:
            # No key of ours has one, and PostgreSQL's text cannot even take it.
            raise BadRequest(
                f"A key holds no NUL character; {column.name} of {table.name} cannot be {value!r}."
            )
        else:
            parsed.append(value)
    return tuple(parsed)


def _key(columns: list[sa.Column[Any]]) -> sa.ColumnElement[Any]:
    return sa.tuple_(*columns)


def _key_values(columns: list[sa.Column[Any]], values: Key) -> sa.ColumnElement[Any]:
    pairs = zip(columns, values, strict=True)
    return sa.tuple_(*(sa.literal(value, type_=column.type) for column, value in pairs))
