"""The objects behind tests/runtime/fixtures/codec-2026-12-03.json: what stored JSON must decode to.

The fixture holds the JSON text that emit's first, hand-written codec wrote for each case (events
and snapshots as `Emit` and `Snapshots` store them, metadata as `Emit` writes it); the cases here
say which object each text stands for. Edit a case and its stored text no longer matches: add a
new case instead, stored data is never rewritten.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from emit import AggregateCreated, Decider
from emit.recorded import Metadata
from shop.cart import (
    Cart,
    CartCheckedOut,
    CartOpened,
    ItemAdded,
    LineRemoved,
    QuantityChanged,
    cart_decider,
)
from shop.cart import Line as CartLine
from tests.account import Account, Closed, Deposited, Opened, Withdrawn, account

FIXTURE = "codec-2026-12-03.json"


class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


class Size(enum.IntEnum):
    SMALL = 1
    LARGE = 3


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Rich:
    """Every field type the codec supported when the fixture was written, but the rarer ones
    (see `Odds`)."""

    when: datetime
    day: date
    price: Decimal
    ref: UUID
    colour: Colour
    kind: Literal["a", "b"]
    lines: tuple[Line, ...]
    pair: tuple[int, str]
    tags: frozenset[str]
    names: list[str]
    totals: dict[str, int]
    note: str | None = None
    ratio: float = 0.5
    extra: tuple[int, ...] = field(default=())


@dataclass(frozen=True)
class Odds:
    size: Size
    level: Literal[1, 2]
    anything: Any
    seen: set[int]
    by_sku: Mapping[str, Line]
    best: Line | None
    flag: bool
    nothing: None
    empty: tuple[()]
    when: datetime | None = None
    label: str = field(default="", kw_only=True)


rich = Decider("rich", None, lambda c, s: [], lambda s, e: s, events=[Rich, Odds])

_LINE_1 = CartLine("BEAN-250", "Coffee beans, 250 g", 1250, 3)
_LINE_2 = CartLine("TEA-EG", 'Tea "Earl Grey" \\ ☕ \u2013 2 × 50 g', 675, 1)
RICH = Rich(
    when=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    day=date(2026, 1, 2),
    price=Decimal("9.99"),
    ref=UUID(int=7),
    colour=Colour.RED,
    kind="b",
    lines=(Line("a", 1), Line("b", 2)),
    pair=(1, "x"),
    tags=frozenset({"t"}),
    names=["n"],
    totals={"a": 1},
)

# name -> (decider, the object); the fixture stores each event's type name and schema version.
EVENTS: dict[str, tuple[Decider[Any, Any, Any], object]] = {
    "cart opened": (cart_decider, CartOpened("cart-5eed0001")),
    "item added": (cart_decider, ItemAdded("BEAN-250", "Coffee beans, 250 g", 1250, 2, 2)),
    "item added, more of a line": (cart_decider, ItemAdded("BEAN-250", "Coffee beans", 1250, 1, 3)),
    "item added, text to escape": (
        cart_decider,
        ItemAdded("TEA-EG", 'Tea "Earl Grey" \\ ☕\n\t\u2028 \u2013 2 × 50 g', 675, 1, 1),
    ),
    "quantity changed": (cart_decider, QuantityChanged("BEAN-250", "Coffee beans", 1250, 3, 1)),
    "line removed": (cart_decider, LineRemoved("BEAN-250", "Coffee beans", 1250, 1)),
    "cart checked out": (cart_decider, CartCheckedOut(4425, 4, 2)),
    "aggregate created": (account, AggregateCreated("acc-1")),
    "account opened": (account, Opened("acc-1")),
    "deposited": (account, Deposited(-3, "é")),
    "withdrawn": (account, Withdrawn(0)),
    "closed": (account, Closed(12)),
    "rich": (rich, RICH),
    "rich, every optional field": (
        rich,
        Rich(
            when=datetime(2026, 12, 3, 16, 5, 0, 123456),  # naive
            day=date(1999, 12, 31),
            price=Decimal("-0.10"),
            ref=UUID("6f1c0c8e-0000-4000-8000-00000000abcd"),
            colour=Colour.GREEN,
            kind="a",
            lines=(),
            pair=(-1, ""),
            tags=frozenset({"x", "y", "z"}),
            names=[],
            totals={},
            note="a note",
            ratio=2.0,
            extra=(1, 2, 3),
        ),
    ),
    "rich, an offset and a big decimal": (
        rich,
        Rich(
            when=datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))),
            day=date(2026, 6, 1),
            price=Decimal("1E+3"),
            ref=UUID(int=0),
            colour=Colour.RED,
            kind="a",
            lines=(Line("é", 99),),
            pair=(2**53 + 1, "big"),
            tags=frozenset(),
            names=["a", "b"],
            totals={"x": -1, "y": 0},
            ratio=1e-7,
        ),
    ),
    "odds": (
        rich,
        Odds(
            size=Size.LARGE,
            level=2,
            anything={"k": [1, "two", None, True, 2.5]},
            seen={3, 1, 2},
            by_sku={"a": Line("a", 1)},
            best=Line("b", 2),
            flag=True,
            nothing=None,
            empty=(),
            when=datetime(2026, 12, 3, 0, 0, tzinfo=UTC),
            label="kw",
        ),
    ),
    "odds, the defaults": (
        rich,
        Odds(Size.SMALL, 1, None, set(), {}, None, False, None, ()),
    ),
}

# name -> (the decider whose state is snapshotted, the state)
SNAPSHOTS: dict[str, tuple[Decider[Any, Any, Any], object]] = {
    "cart, new": (cart_decider, Cart()),
    "cart, open": (cart_decider, Cart("cart-5eed0001", (_LINE_1, _LINE_2), "open")),
    "cart, checked out": (cart_decider, Cart("cart-5eed0001", (_LINE_1,), "checked_out")),
    "account": (account, Account(21, (1, 2, 3, 15), True)),
    "account, new": (account, Account()),
}

# name -> (command name, the caller's metadata): what `Emit` writes with a command's events.
# The fixture stores the command id it drew, which is both correlation and causation id.
METADATA: dict[str, tuple[str, Mapping[str, Any] | None]] = {
    "create": ("create", None),
    "a command": ("AddItem", None),
    "a command with extra metadata": (
        "ChangeQuantityBy",
        {"user": "ann", "ip": "127.0.0.1", "note": 'é ☕ "quoted"', "n": [1, 2.5, None]},
    ),
    "a policy's command": (
        "CheckOut",
        {"correlation_id": "corr-1", "causation_id": "event-2", "policy": "auto_checkout"},
    ),
}

RECORDED_AT = datetime(2026, 12, 3, 16, 0, 0, 654321, tzinfo=UTC)


def expected_metadata(command: str, extra: Mapping[str, Any] | None, command_id: str) -> Metadata:
    """The `Metadata` a stored event with this metadata reads back as, recorded at
    `RECORDED_AT`."""
    extra = dict(extra or {})
    return Metadata(
        timestamp=RECORDED_AT,
        correlation_id=extra.pop("correlation_id", command_id),
        causation_id=extra.pop("causation_id", command_id),
        command=command,
        extra=extra,
    )
