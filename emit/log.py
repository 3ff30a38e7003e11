"""Reading the whole log newest first: which events a page keeps (`LogFilter`) and which pages
may be asked for (`check_log_page`). Every store answers `read_log` with these (emit/store.py);
the SQL store's statements are in emit/sql/log.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from emit.clock import as_utc

if TYPE_CHECKING:
    from emit.store import StoredEvent


@dataclass(frozen=True, slots=True, init=False)
class LogFilter:
    """Which events a read of the log (`read_log`, `Emit.log`) keeps; an empty filter keeps all.

    - `types`: stored type names, any of them (empty: every type);
    - `stream_id`: one stream (aggregate) only;
    - `since` / `until`: recorded at or after `since`, strictly before `until` (a naive
      datetime is taken as UTC);
    - `correlation_id`: the events one request set off (answered from an index).

    Built once and passed as it is: a value, hashable, and checked when made (`ValueError` for
    `until` not after `since`, or an empty string where an id is asked for).
    """

    types: frozenset[str]
    stream_id: str | None
    since: datetime | None
    until: datetime | None
    correlation_id: str | None

    def __init__(
        self,
        types: Iterable[str] = (),
        *,
        stream_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        correlation_id: str | None = None,
    ) -> None:
        if isinstance(types, str):  # one name is a type, not a set of one-letter ones
            types = (types,)
        since, until = as_utc(since), as_utc(until)
        if since is not None and until is not None and until <= since:
            raise ValueError(f"A log filter's until ({until}) must be after its since ({since}).")
        for name, value in (("stream_id", stream_id), ("correlation_id", correlation_id)):
            if value is not None and not value:
                raise ValueError(f"A log filter's {name} cannot be empty: leave it out (None).")
        set_ = object.__setattr__
        set_(self, "types", frozenset(types))
        set_(self, "stream_id", stream_id)
        set_(self, "since", since)
        set_(self, "until", until)
        set_(self, "correlation_id", correlation_id)

    def keeps(self, event: StoredEvent, correlation_id: str | None) -> bool:
        """Whether the filter keeps `event`, whose metadata holds `correlation_id` (a store
        that reads every event checks each with this; the SQL store asks its indexes)."""
        return (
            (not self.types or event.type in self.types)
            and (self.stream_id is None or event.stream_id == self.stream_id)
            and (self.since is None or event.recorded_at >= self.since)
            and (self.until is None or event.recorded_at < self.until)
            and (self.correlation_id is None or correlation_id == self.correlation_id)
        )


NO_FILTER = LogFilter()


def check_log_page(before: int | None, after: int | None, limit: int) -> None:
    """Refuse a page of the log no store should read: `ValueError` for a `limit` below 1 or a
    bound that is not a position (a whole number from 0)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(
            f"A page of the log holds at least 1 event; limit {limit!r} asks for none."
        )
    for name, bound in (("before", before), ("after", after)):
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, int) or bound < 0
        ):
            raise ValueError(f"{name} must be a position (a whole number from 0), not {bound!r}.")
