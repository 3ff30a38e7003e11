"""The dashboard's reads, behind one narrow interface: `CartQueries`.

Views ask for a page of cart summaries, the shop's totals and its best sellers, and nothing
else. The app answers them from read-model tables that projections keep up to date in each
append's transaction (`ProjectedCartQueries`, webapp/read_models.py): one query each.
`ReplayedCartQueries` answers the same questions from the events themselves (each cart's state,
a scan of the global log): slower, always right, and the reference the projections are tested
against.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

import sqlalchemy as sa
from flask import Flask, current_app

from emit import StreamInfo
from emit.clock import as_utc
from emit.sql import storage_errors
from shop.cart import CartCheckedOut, Status
from webapp.db import CartEmit, get_engine
from webapp.read_models import carts, product_sales

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
class CartCursor:
    """Where a page of carts ends: the last cart shown, and its last activity. The next page
    starts after it, so carts moving to the top in between are not shown twice."""

    last_activity: datetime
    cart_id: str


@dataclass(frozen=True, slots=True)
class CartFilter:
    """Which carts a page lists: `status` "open" or "checked_out" (None: all), and `search`, a
    part of the cart id in any case ("" matches every cart)."""

    status: Status | None = None
    search: str = ""

    def matches(self, cart: CartSummary) -> bool:
        if self.status is not None and cart.status != self.status:
            return False
        return self.search.lower() in cart.cart_id.lower()


@dataclass(frozen=True, slots=True)
class CartPage:
    """Carts by last activity, newest first (then by id, from the end of the alphabet).
    `next_after` is the cursor to pass as `after` for the next page; None on the last page."""

    carts: tuple[CartSummary, ...]
    next_after: CartCursor | None


@dataclass(frozen=True, slots=True)
class ShopTotals:
    open_carts: int
    checked_out_carts: int
    revenue: int  # cents: the sum of every checked-out cart's total


@dataclass(frozen=True, slots=True)
class ProductSales:
    """What checked-out carts bought of one product."""

    sku: str
    name: str
    quantity: int
    revenue: int  # cents
    carts: int


class CartQueries(Protocol):
    """What the dashboard reads."""

    def cart_page(
        self, *, after: CartCursor | None = None, limit: int, only: CartFilter = CartFilter()
    ) -> CartPage:
        """Up to `limit` carts that `only` lets through, newest activity first, from after
        `after` (keyset paging: no cart is shown twice or skipped while carts change)."""
        ...

    def totals(self) -> ShopTotals: ...

    def best_sellers(self, *, limit: int) -> list[ProductSales]:
        """The `limit` products sold in the most units (then by revenue, then sku)."""
        ...


class ReplayedCartQueries:
    """`CartQueries` answered from emit directly: one state per cart on the page, and a scan
    of the global log for the totals."""

    SCAN_BATCH = 1000

    def __init__(self, emit: CartEmit) -> None:
        self._emit = emit

    def cart_page(
        self, *, after: CartCursor | None = None, limit: int, only: CartFilter = CartFilter()
    ) -> CartPage:
        # Every cart, for its last activity: the reference, not meant for a big shop.
        infos: list[StreamInfo] = []
        while batch := self._emit.list_aggregates(
            after=infos[-1].stream_id if infos else None, limit=self.SCAN_BATCH
        ):
            infos.extend(batch)
        summaries = sorted((self._summary(info) for info in infos), key=_newest_first, reverse=True)
        listed = [
            cart
            for cart in summaries
            if only.matches(cart) and (after is None or _newest_first(cart) < _key(after))
        ]
        return _page(listed[: limit + 1], limit)

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

    def best_sellers(self, *, limit: int) -> list[ProductSales]:
        quantity: Counter[str] = Counter()
        revenue: Counter[str] = Counter()
        buyers: Counter[str] = Counter()
        names: dict[str, str] = {}
        position = 0
        while batch := self._emit.read_all(after=position, limit=self.SCAN_BATCH):
            for recorded in batch:
                if isinstance(recorded.event, CartCheckedOut):
                    # A checked-out cart never changes again: its state is the one it paid.
                    for line in self._emit.get_state(recorded.aggregate_id, catch_up=True).lines:
                        quantity[line.sku] += line.quantity
                        revenue[line.sku] += line.subtotal
                        buyers[line.sku] += 1
                        names[line.sku] = line.name
            position = batch[-1].position
        sales = [ProductSales(s, names[s], quantity[s], revenue[s], buyers[s]) for s in names]
        return sorted(sales, key=_best_first)[:limit]


class ProjectedCartQueries:
    """`CartQueries` answered from the read models (webapp/read_models.py), one query each.
    A database failure is a `StorageError`, as it is for emit's own reads."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def _rows(self, query: sa.Select[Any]) -> list[Any]:
        reading = storage_errors("read the dashboard's read models")
        with reading, self._engine.connect() as connection:
            return list(connection.execute(query).all())

    def cart_page(
        self, *, after: CartCursor | None = None, limit: int, only: CartFilter = CartFilter()
    ) -> CartPage:
        c = carts.c
        query = sa.select(carts).order_by(c.last_activity.desc(), c.cart_id.desc()).limit(limit + 1)
        if after is not None:
            at, cart_id = after.last_activity, after.cart_id
            earlier = sa.or_(
                c.last_activity < at, sa.and_(c.last_activity == at, c.cart_id < cart_id)
            )
            query = query.where(earlier)
        if only.status is not None:
            query = query.where(c.status == only.status)
        if only.search:
            query = query.where(c.cart_id.ilike(f"%{_escape_like(only.search)}%", escape="\\"))
        summaries = [
            CartSummary(
                cart_id=r.cart_id,
                status=r.status,
                line_count=r.line_count,
                item_count=r.item_count,
                total=r.total,
                last_activity=as_utc(r.last_activity),
            )
            for r in self._rows(query)
        ]
        return _page(summaries, limit)

    def totals(self) -> ShopTotals:
        checked_out = carts.c.status == "checked_out"
        query = sa.select(
            sa.func.count().filter(carts.c.status == "open"),
            sa.func.count().filter(checked_out),
            sa.func.coalesce(sa.func.sum(carts.c.total).filter(checked_out), 0),
        )
        ((open_carts, checked_out_carts, revenue),) = self._rows(query)
        return ShopTotals(int(open_carts), int(checked_out_carts), int(revenue))

    def best_sellers(self, *, limit: int) -> list[ProductSales]:
        sale = product_sales.c
        query = (
            sa.select(sale.sku, sale.name, sale.quantity, sale.revenue, sale.carts)
            .order_by(sale.quantity.desc(), sale.revenue.desc(), sale.sku)
            .limit(limit)
        )
        return [ProductSales(*row) for row in self._rows(query)]


def _newest_first(cart: CartSummary) -> tuple[datetime, str]:
    return (cart.last_activity, cart.cart_id)


def _key(cursor: CartCursor) -> tuple[datetime, str]:
    return (cursor.last_activity, cursor.cart_id)


def _page(carts: list[CartSummary], limit: int) -> CartPage:
    """A page of the first `limit` of `carts` (which holds up to one more, to tell whether
    there is a next page)."""
    if len(carts) <= limit:
        return CartPage(tuple(carts), None)
    last = carts[limit - 1]
    return CartPage(tuple(carts[:limit]), CartCursor(last.last_activity, last.cart_id))


def _escape_like(text: str) -> str:
    """`text` matched as it is by LIKE: its wildcards (% and _) and the escape itself escaped."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _best_first(sales: ProductSales) -> tuple[int, int, str]:
    return (-sales.quantity, -sales.revenue, sales.sku)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = ProjectedCartQueries(get_engine(app))


def get_queries() -> CartQueries:
    return cast(CartQueries, current_app.extensions[EXTENSION])
