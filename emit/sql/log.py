"""Reading the log newest first, a page at a time, filtered (`EventStore.read_log`), and one
event by its position.

A page is a range of positions walked through an index, never an OFFSET: `position < before`
newest first on the primary key; with a correlation id, a range of the
`(correlation_id, position)` index; with a stream, the stream's events (at most as many as its
versions). A type or time filter is checked on the rows walked, so a rare type costs the walk
to its events. Each shape of filter (which parts it has, how many types) is compiled once and
kept, so a page costs one statement with its parameters.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import sqlalchemy as sa

from emit.log import LogFilter
from emit.sql.dialects import Dialect
from emit.sql.tables import EVENT_COLUMNS, events

# (types, stream, since, until, correlation, before, after, nearest to after)
_Shape = tuple[int, bool, bool, bool, bool, bool, bool, bool]


class LogReads:
    """The statements of `read_log` and `event_at` for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled = lru_cache(maxsize=256)(self._compile)
        self.event_at = dialect.compile(
            sa.select(*EVENT_COLUMNS).where(events.c.position == sa.bindparam("position"))
        )

    def page(
        self, log_filter: LogFilter, before: int | None, after: int | None, limit: int
    ) -> tuple[str, dict[str, Any], bool]:
        """The statement and parameters of one page, and whether its rows come oldest first
        (and are to be reversed): the page nearest to `after` when only `after` bounds it."""
        ascending = before is None and after is not None
        types = sorted(log_filter.types)
        shape: _Shape = (
            len(types),
            log_filter.stream_id is not None,
            log_filter.since is not None,
            log_filter.until is not None,
            log_filter.correlation_id is not None,
            before is not None,
            after is not None,
            ascending,
        )
        timestamp = self._dialect.timestamp_param
        params: dict[str, Any] = {f"type_{n}": name for n, name in enumerate(types)}
        params |= {
            "stream_id": log_filter.stream_id,
            "since": None if log_filter.since is None else timestamp(log_filter.since),
            "until": None if log_filter.until is None else timestamp(log_filter.until),
            "correlation_id": log_filter.correlation_id,
            "before": before,
            "after": after,
            "limit": limit,
            "offset": 0,
        }
        return self._compiled(shape), params, ascending

    def _compile(self, shape: _Shape) -> str:
        types, stream, since, until, correlation, before, after, ascending = shape
        bind = sa.bindparam
        where: list[sa.ColumnElement[bool]] = []
        if types == 1:
            where.append(events.c.type == bind("type_0"))
        elif types:
            where.append(events.c.type.in_([bind(f"type_{n}") for n in range(types)]))
        if stream:
            where.append(events.c.stream_id == bind("stream_id"))
        if since:
            where.append(events.c.recorded_at >= bind("since", type_=events.c.recorded_at.type))
        if until:
            where.append(events.c.recorded_at < bind("until", type_=events.c.recorded_at.type))
        if correlation:
            where.append(events.c.correlation_id == bind("correlation_id"))
        if before:
            where.append(events.c.position < bind("before"))
        if after:
            where.append(events.c.position > bind("after"))
        order = events.c.position.asc() if ascending else events.c.position.desc()
        statement = (
            sa.select(*EVENT_COLUMNS)
            .where(*where)
            .order_by(order)
            .limit(bind("limit"))
            .offset(bind("offset"))  # SQLite's compiler insists on an OFFSET after a bound LIMIT
        )
        return self._dialect.compile(statement)
