"""Time in emit: every moment it records, reads back or is given is an aware datetime in UTC.

SQLite hands timestamps back without a zone, and callers may pass naive ones; `as_utc` is the
one place that reads those as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """`moment` with its zone; a naive one is taken to be UTC already (not local time). None
    stays None (a column with no time in it)."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def now() -> datetime:
    """The current moment, in UTC."""
    return datetime.now(UTC)
