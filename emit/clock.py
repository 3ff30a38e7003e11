"""Time in emit: every moment it records, reads back or is given is an aware datetime in UTC.

SQLite hands timestamps back without a zone, and callers may pass naive ones; `as_utc` is the
one place that reads those as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(moment: datetime) -> datetime:
    """`moment` with its zone; a naive one is taken to be UTC already (not local time)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def now() -> datetime:
    """The current moment, in UTC."""
    return datetime.now(UTC)
