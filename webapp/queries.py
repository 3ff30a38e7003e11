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

    def cart_page(self, *, after: str | None = None, limit: int) -> CartPage:
        """Up to `limit` carts whose ids sort after `after` (keyset paging)."""
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

    def cart_page(self, *, after: str | None = None, limit: int) -> CartPage:
        query = sa.select(carts).order_by(carts.c.cart_id).limit(limit + 1)
        if after is not None:
            query = query.where(carts.c.cart_id > after)
        rows = self._rows(query)
        more = len(rows) > limit
        rows = rows[:limit]
        summaries = tuple(
            CartSummary(
                cart_id=r.cart_id,
                status=r.status,
                line_count=r.line_count,
                item_count=r.item_count,
                total=r.total,
                last_activity=as_utc(r.last_activity),
            )
            for r in rows
        )
        return CartPage(summaries, rows[-1].cart_id if more else None)

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


def _best_first(sales: ProductSales) -> tuple[int, int, str]:
    return (-sales.quantity, -sales.revenue, sales.sku)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = ProjectedCartQueries(get_engine(app))


def get_queries() -> CartQueries:
    return cast(CartQueries, current_app.extensions[EXTENSION])
