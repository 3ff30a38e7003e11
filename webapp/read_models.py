"""The dashboard's read models: tables kept up to date by projections, inside the transaction
that appends each cart's events (see emit/projections.py). The dashboard reads them with one
query each (`webapp.queries.ProjectedCartQueries`) instead of replaying carts.

- `cart_list`: one row per cart (`carts`) with its status, line and item counts, total and last
  activity; the shop's totals are a sum over it.
- `best_sellers`: what checked-out carts bought, per product (`product_sales`). It keeps the
  lines of carts still open (`open_lines`) to know what a checkout sells, since the
  `CartCheckedOut` event carries totals, not lines.

Each handles the cart's events by what they say happened; the amounts come in the events
themselves (unit price, quantities), so no catalog is consulted and a replay gives the same rows.
Bump a projection's `revision` when its tables or rules change: it is rebuilt on the next
`flask --app webapp init-db`.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from emit import Projection, RecordedEvent
from webapp.cart import (
    CartCheckedOut,
    CartEvent,
    CartOpened,
    ItemAdded,
    LineRemoved,
    QuantityChanged,
)

metadata = sa.MetaData()

_Timestamp = sa.DateTime(timezone=True)

carts = sa.Table(
    "read_carts",
    metadata,
    sa.Column("cart_id", sa.String(200), primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("line_count", sa.Integer, nullable=False),
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),  # cents
    sa.Column("last_activity", _Timestamp, nullable=False),
)

open_lines = sa.Table(
    "read_open_lines",
    metadata,
    sa.Column("cart_id", sa.String(200), primary_key=True),
    sa.Column("sku", sa.String(50), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_price", sa.Integer, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
)

product_sales = sa.Table(
    "read_product_sales",
    metadata,
    sa.Column("sku", sa.String(50), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),  # units sold
    sa.Column("revenue", sa.BigInteger, nullable=False),  # cents
    sa.Column("carts", sa.Integer, nullable=False),  # checked-out carts that had it
)


def project_cart_list(connection: sa.Connection, recorded: RecordedEvent[CartEvent]) -> None:
    row = carts.c
    this_cart = row.cart_id == recorded.aggregate_id
    change: dict[str, Any]
    match recorded.event:
        case CartOpened():
            connection.execute(
                sa.insert(carts).values(
                    cart_id=recorded.aggregate_id,
                    status="open",
                    line_count=0,
                    item_count=0,
                    total=0,
                    last_activity=recorded.recorded_at,
                )
            )
            return
        case ItemAdded(_, _, unit_price, quantity, line_quantity):
            change = {
                "line_count": row.line_count + (1 if line_quantity == quantity else 0),
                "item_count": row.item_count + quantity,
                "total": row.total + unit_price * quantity,
            }
        case QuantityChanged(_, _, unit_price, from_quantity, to_quantity):
            difference = to_quantity - from_quantity
            change = {
                "item_count": row.item_count + difference,
                "total": row.total + unit_price * difference,
            }
        case LineRemoved(_, _, unit_price, quantity):
            change = {
                "line_count": row.line_count - 1,
                "item_count": row.item_count - quantity,
                "total": row.total - unit_price * quantity,
            }
        case CartCheckedOut():
            change = {"status": "checked_out"}
        case _:
            return
    update = sa.update(carts).where(this_cart)
    connection.execute(update.values(last_activity=recorded.recorded_at, **change))


def project_best_sellers(connection: sa.Connection, recorded: RecordedEvent[CartEvent]) -> None:
    line = open_lines.c
    this_line = line.cart_id == recorded.aggregate_id
    match recorded.event:
        case ItemAdded(sku, name, unit_price, quantity, line_quantity):
            if line_quantity == quantity:
                connection.execute(
                    sa.insert(open_lines).values(
                        cart_id=recorded.aggregate_id,
                        sku=sku,
                        name=name,
                        unit_price=unit_price,
                        quantity=quantity,
                    )
                )
            else:
                connection.execute(
                    sa.update(open_lines)
                    .where(this_line, line.sku == sku)
                    .values(quantity=line_quantity)
                )
        case QuantityChanged(sku, _, _, _, to_quantity):
            connection.execute(
                sa.update(open_lines).where(this_line, line.sku == sku).values(quantity=to_quantity)
            )
        case LineRemoved(sku):
            connection.execute(sa.delete(open_lines).where(this_line, line.sku == sku))
        case CartCheckedOut():
            sold = connection.execute(
                sa.select(line.sku, line.name, line.unit_price, line.quantity).where(this_line)
            ).all()
            for sku, name, unit_price, quantity in sold:
                _add_sale(connection, sku, name, quantity, unit_price * quantity)
            connection.execute(sa.delete(open_lines).where(this_line))


def _add_sale(connection: sa.Connection, sku: str, name: str, quantity: int, revenue: int) -> None:
    # Appends are serialised (the store's head row), so update-then-insert cannot race here.
    sale = product_sales.c
    updated = connection.execute(
        sa.update(product_sales)
        .where(sale.sku == sku)
        .values(
            name=name,
            quantity=sale.quantity + quantity,
            revenue=sale.revenue + revenue,
            carts=sale.carts + 1,
        )
    )
    if updated.rowcount == 0:
        connection.execute(
            sa.insert(product_sales).values(
                sku=sku, name=name, quantity=quantity, revenue=revenue, carts=1
            )
        )


cart_list: Projection[CartEvent] = Projection("cart_list", [carts], project_cart_list)
best_sellers: Projection[CartEvent] = Projection(
    "best_sellers", [open_lines, product_sales], project_best_sellers
)

PROJECTIONS: tuple[Projection[CartEvent], ...] = (cart_list, best_sellers)
