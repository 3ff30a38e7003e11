"""A cart's history told for people: each event in a line of words, the cart as it was after
each one, and what changed between any two versions. Pure Python: no Flask, no store.

`CartTimeline` takes one read of a cart's stream and folds it once, keeping the cart as it was
after every event, so a page that shows many versions (a running total per event, the version
picked, the one it is compared with) replays the stream once, not once per version.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Literal

from emit import RecordedEvent, VersionOutOfRange
from emit.clock import as_utc
from shop.cart import (
    AddItem,
    Cart,
    CartCheckedOut,
    CartCommand,
    CartEvent,
    CartOpened,
    ChangeQuantity,
    ChangeQuantityBy,
    CheckOut,
    ItemAdded,
    Line,
    LineRemoved,
    QuantityChanged,
    RemoveLine,
    cart_decider,
)
from shop.catalog import find_product
from webapp.formatting import count, money

EventKind = Literal["opened", "added", "changed", "removed", "checked-out"]


def kind(event: CartEvent) -> EventKind:
    """What sort of thing happened: it picks the event's colour on the page."""
    match event:
        case CartOpened():
            return "opened"
        case ItemAdded():
            return "added"
        case QuantityChanged():
            return "changed"
        case LineRemoved():
            return "removed"
        case CartCheckedOut():
            return "checked-out"
    raise TypeError(f"Not a cart event: {event!r}")


def summary(event: CartEvent) -> str:
    """The event in a line of words: 'Added 2 × Coffee beans, 250 g'."""
    match event:
        case CartOpened():
            return "Opened the cart"
        case ItemAdded(_, name, _, quantity, line_quantity):
            if line_quantity == quantity:
                return f"Added {quantity} × {name}"
            return f"Added {quantity} × {name} ({line_quantity} in the cart)"
        case QuantityChanged(_, name, _, from_quantity, to_quantity):
            return f"Changed {name} from {from_quantity} to {to_quantity}"
        case LineRemoved(_, name, _, quantity):
            return f"Removed {quantity} × {name}"
        case CartCheckedOut(total, item_count, _):
            return f"Checked out {count(item_count, 'item')} for {money(total)}"
    raise TypeError(f"Not a cart event: {event!r}")


def command_summary(command: CartCommand) -> str:
    """What a command asked, in the words of the event it would have recorded, lower case (it
    follows "Refused: "): 'add 100 × Oat milk, 1 L'."""
    match command:
        case AddItem(sku, quantity):
            return f"add {quantity} × {_product_name(sku)}"
        case ChangeQuantity(sku, 0) | RemoveLine(sku):
            return f"remove {_product_name(sku)}"
        case ChangeQuantity(sku, quantity):
            return f"change {_product_name(sku)} to {quantity}"
        case ChangeQuantityBy(sku, by):
            return f"change {_product_name(sku)} by {by:+d}"
        case CheckOut():
            return "check out"
    raise TypeError(f"Not a cart command: {command!r}")


def _product_name(sku: str) -> str:
    """The product's name, or its sku when the catalog has no such product (a refusal may
    well be about that)."""
    product = find_product(sku)
    return sku if product is None else product.name


# --- comparing two versions --------------------------------------------------------------------

LineChangeKind = Literal["added", "removed", "changed", "unchanged"]


@dataclass(frozen=True, slots=True)
class LineChange:
    """One product's line in two versions of a cart: `before` or `after` is None when the line
    was added or removed in between."""

    before: Line | None
    after: Line | None

    @property
    def line(self) -> Line:
        """The line as it is now, or as it was if it is gone."""
        line = self.after or self.before
        assert line is not None, "a LineChange has a line on at least one side"
        return line

    @property
    def kind(self) -> LineChangeKind:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "unchanged" if self.before == self.after else "changed"

    @property
    def quantity_change(self) -> int:
        return _quantity(self.after) - _quantity(self.before)

    @property
    def subtotal_change(self) -> int:
        return _subtotal(self.after) - _subtotal(self.before)


def _quantity(line: Line | None) -> int:
    return 0 if line is None else line.quantity


def _subtotal(line: Line | None) -> int:
    return 0 if line is None else line.subtotal


@dataclass(frozen=True, slots=True)
class CartDiff:
    """What changed from one version of a cart (`before`) to another (`after`); either may be
    the later one. `lines` holds every line of either version, in the order the cart shows them,
    with the removed ones where they used to be."""

    before: Cart
    after: Cart
    lines: tuple[LineChange, ...]

    @property
    def total_change(self) -> int:
        return self.after.total - self.before.total

    @property
    def status_changed(self) -> bool:
        return self.before.status != self.after.status

    @property
    def changed_lines(self) -> tuple[LineChange, ...]:
        return tuple(change for change in self.lines if change.kind != "unchanged")

    @property
    def is_empty(self) -> bool:
        return not self.changed_lines and not self.status_changed


def diff(before: Cart, after: Cart) -> CartDiff:
    """Compare two versions of a cart, line by line."""
    # A cart never reorders its lines and appends new ones, so `before`'s order with the added
    # lines after it is `after`'s order, with the removed lines in their old places.
    lines = [LineChange(line, after.line(line.sku)) for line in before.lines]
    lines += [LineChange(None, line) for line in after.lines if before.line(line.sku) is None]
    return CartDiff(before, after, tuple(lines))


# --- the whole stream ----------------------------------------------------------------------------


class CartTimeline:
    """One cart's events as read once from the store (versions 1 to `latest`), with the cart as
    it was at every version from 0 (before anything happened) to `latest`.

    Raises `ValueError` for an empty stream, or events that are not one cart's versions 1, 2,
    3 ... in order.
    """

    def __init__(self, events: Sequence[RecordedEvent[CartEvent]]) -> None:
        if not events:
            raise ValueError("A cart's timeline needs at least one event.")
        if [recorded.version for recorded in events] != list(range(1, len(events) + 1)):
            raise ValueError("A cart's timeline needs its events in version order 1, 2, 3 ...")
        self.cart_id = events[0].aggregate_id
        self.events = tuple(events)
        self.latest = len(events)
        self.states: tuple[Cart, ...] = tuple(
            accumulate(
                (recorded.event for recorded in events),
                cart_decider.evolve,
                initial=cart_decider.initial_state,
            )
        )

    def check(self, version: int) -> int:
        """`version` if the cart has it; otherwise `VersionOutOfRange`."""
        if not 0 <= version <= self.latest:
            raise VersionOutOfRange(self.cart_id, version, self.latest)
        return version

    def state(self, version: int) -> Cart:
        """The cart as it was at `version` (0: before its first event). `VersionOutOfRange` if
        it has no such version."""
        return self.states[self.check(version)]

    def event(self, version: int) -> RecordedEvent[CartEvent] | None:
        """The event that made `version`; None for version 0."""
        return self.events[self.check(version) - 1] if version else None

    def version_at(self, moment: datetime) -> int:
        """The cart's version at `moment`: that of its last event recorded at or before it, 0 if
        it was not opened yet. A naive `moment` is taken as UTC. (`Emit.version_at` answers the
        same from a read of its own; this one agrees with the events already read.)"""
        moment = as_utc(moment)
        return bisect.bisect_right(self.events, moment, key=lambda recorded: recorded.recorded_at)

    def diff(self, version: int, compare: int) -> CartDiff:
        """What changed from version `compare` to version `version`."""
        return diff(self.state(compare), self.state(version))
