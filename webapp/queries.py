"""The dashboard's reads, behind one narrow interface: `CartQueries`.

Views ask for a page of cart summaries and for the shop's totals, and nothing else. Today
`ReplayedCartQueries` answers both from the event store itself: it lists the carts, takes each
one's state from emit (replayed from its events, or from the pool) and scans the global log for
the totals. That is simple and always right, but costs work on every view. Read-model tables
kept up to date as events are appended (projections) will answer the same two questions in one
query each: they replace this class, and nothing that calls it has to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from flask import Flask, current_app

from emit import StreamInfo
from webapp.cart import CartCheckedOut, Status
from webapp.store import CartEmit, get_emit

EXTENSION = "cart_queries"


@dataclass(frozen=True, slots=True)
class CartSummary:
    """One dashboard row: a cart as it stands."""

    cart_id: str
    status: Status
    line_count: int
    item_count: int
    total: int  # cents
    last_activity: datetime


@dataclass(frozen=True, slots=True)
class CartPage:
    """Carts ordered by id. `next_after` is the id to pass as `after` for the next page; None
    on the last page."""

    carts: tuple[CartSummary, ...]
    next_after: str | None


@dataclass(frozen=True, slots=True)
class ShopTotals:
    open_carts: int
    checked_out_carts: int
    revenue: int  # cents: the sum of every checked-out cart's total


class CartQueries(Protocol):
    """What the dashboard reads."""

    def cart_page(self, *, after: str | None = None, limit: int) -> CartPage:
        """Up to `limit` carts whose ids sort after `after` (keyset paging)."""
        ...

    def totals(self) -> ShopTotals: ...


class ReplayedCartQueries:
    """`CartQueries` answered from emit directly: one state per cart on the page, and a scan
    of the global log for the totals."""

    SCAN_BATCH = 1000

    def __init__(self, emit: CartEmit) -> None:
        self._emit = emit

    def cart_page(self, *, after: str | None = None, limit: int) -> CartPage:
        infos = self._emit.list_aggregates(after=after, limit=limit + 1)
        more = len(infos) > limit
        infos = infos[:limit]
        return CartPage(
            tuple(self._summary(info) for info in infos),
            infos[-1].stream_id if more else None,
        )

    def _summary(self, info: StreamInfo) -> CartSummary:
        aggregate = self._emit.aggregate(info.stream_id)
        if aggregate.version < info.version:  # another process moved it on
            aggregate = self._emit.aggregate(info.stream_id, catch_up=True)
        cart = aggregate.state
        return CartSummary(
            cart_id=info.stream_id,
            status=cart.status,
            line_count=len(cart.lines),
            item_count=cart.item_count,
            total=cart.total,
            last_activity=info.updated_at,
        )

    def totals(self) -> ShopTotals:
        # Counted before the scan: a cart opened and checked out in between shows up in revenue
        # and checked-out carts but not yet in the count, so clamp rather than go negative.
        carts = self._emit.count_aggregates()
        checked_out = revenue = 0
        position = 0
        while batch := self._emit.read_all(after=position, limit=self.SCAN_BATCH):
            for recorded in batch:
                if isinstance(recorded.event, CartCheckedOut):
                    checked_out += 1
                    revenue += recorded.event.total
            position = batch[-1].position
        return ShopTotals(max(carts - checked_out, 0), checked_out, revenue)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = ReplayedCartQueries(get_emit(app))


def get_queries() -> CartQueries:
    return cast(CartQueries, current_app.extensions[EXTENSION])
