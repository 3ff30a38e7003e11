"""How things read on the page: Jinja filters `money`, `ago`, `utc`, `iso`, `tone` and
`pretty_json`.

Money is kept as integer cents everywhere and only turned into text here, at the edge.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the filters themselves need no Flask
    from flask import Flask

CURRENCY_SYMBOL = "€"


def money(cents: int) -> str:
    """1234567 -> '€12,345.67'."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{CURRENCY_SYMBOL}{euros:,}.{rest:02d}"


def count(n: int, word: str, plural: str | None = None) -> str:
    """'1 event', '2 events', '0 events'; `plural` where adding "s" would not do ('tries').
    Templates call it too (a global)."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def ago(moment: datetime, now: datetime | None = None) -> str:
    """How long ago, in the words a person would use: 'just now', '5 min ago', '3 h ago',
    then the date. A moment still to come (a retry's) says how soon: 'in 4 s', 'in 2 min'."""
    now = now or datetime.now(UTC)
    seconds = (now - moment).total_seconds()
    if seconds < -0.5:
        ahead = -seconds
        if ahead < 90:
            return f"in {round(ahead)} s"
        return f"in {round(ahead / 60)} min"
    if seconds < 45:
        return "just now"
    if seconds < 60 * 60:
        return f"{max(round(seconds / 60), 1)} min ago"
    if seconds < 24 * 60 * 60:
        return f"{int(seconds // 3600)} h ago"
    return f"{moment.astimezone(UTC):%d %b %Y}"


def utc(moment: datetime, seconds: bool = False) -> str:
    """'27 Nov 2025, 09:45 UTC'; with `seconds`, '27 Nov 2025, 09:45:07 UTC'."""
    if seconds:
        return f"{moment.astimezone(UTC):%d %b %Y, %H:%M:%S} UTC"
    return f"{moment.astimezone(UTC):%d %b %Y, %H:%M} UTC"


def iso(moment: datetime) -> str:
    """For `<time datetime=...>`."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def pretty_json(value: Any) -> str:
    """JSON to read, indented, with non-ASCII characters as they are (the page escapes it)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


TONES = 6


def tone(text: str) -> int:
    """A colour (0 to TONES - 1) that a product's tile keeps from one render to the next: the
    part of its sku before the first dash, so beans are always one colour."""
    family = text.split("-", 1)[0]
    return sum(family.encode()) % TONES


def init_app(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(ago)
    app.add_template_filter(utc)
    app.add_template_filter(iso)
    app.add_template_filter(tone)
    app.add_template_filter(pretty_json)
    app.add_template_global(count)
