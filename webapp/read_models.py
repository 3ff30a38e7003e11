"""The dashboard's read models: tables kept up to date by projections, inside the transaction
that appends each cart's events (see emit/subscribers/projections.py). The dashboard reads them
with one query each (`webapp.queries.ProjectedCartQueries`) instead of replaying carts.

- `carts`: one row per cart (table `read_carts`) with its status, line and item counts, total
  and last activity; the shop's totals are a sum over it. (It was called `cart_list`: its
  checkpoint carries on under the new name.)
- `best_sellers`: what checked-out carts bought, per product (`product_sales`). It keeps the
  lines of carts still open (`open_lines`) to know what a checkout sells, since the
  `CartCheckedOut` event carries totals, not lines.

Each handles the cart's events by what they say happened; the amounts come in the events
themselves (unit price, quantities), so no catalog is consulted and a replay gives the same rows.
Bump a projection's `revision` when its tables or rules change: it is rebuilt on the next
`flask --app webapp init-db`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from emit import Projection, RecordedEvent
from shop.cart import (
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
    # The dashboard lists carts by last activity, newest first, a page at a time.
    sa.Index("read_carts_by_activity", "last_activity", "cart_id"),
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


# The statements are built once, with bind parameters: they run inside every append's
# transaction, and building them anew for each event cost more than running them.
_bind = sa.bindparam
_open_cart = sa.insert(carts).values(
    cart_id=_bind("cart_id"),
    status="open",
    line_count=0,
    item_count=0,
    total=0,
    last_activity=_bind("at"),
)
_change_cart = (
    sa.update(carts)
    .where(carts.c.cart_id == _bind("cart"))
    .values(
        line_count=carts.c.line_count + _bind("lines", type_=sa.Integer),
        item_count=carts.c.item_count + _bind("items", type_=sa.Integer),
        total=carts.c.total + _bind("amount", type_=sa.BigInteger),
        last_activity=_bind("at"),
    )
)
_check_out_cart = (
    sa.update(carts)
    .where(carts.c.cart_id == _bind("cart"))
    .values(status="checked_out", last_activity=_bind("at"))
)
_this_line = sa.and_(open_lines.c.cart_id == _bind("cart"), open_lines.c.sku == _bind("line"))
_this_carts_lines = open_lines.c.cart_id == _bind("cart")
_add_line = sa.insert(open_lines).values(
    cart_id=_bind("cart_id"),
    sku=_bind("sku"),
    name=_bind("name"),
    unit_price=_bind("unit_price"),
    quantity=_bind("quantity"),
)
_set_line = sa.update(open_lines).where(_this_line).values(quantity=_bind("new_quantity"))
_remove_line = sa.delete(open_lines).where(_this_line)
_lines_of_cart = sa.select(
    open_lines.c.sku, open_lines.c.name, open_lines.c.unit_price, open_lines.c.quantity
).where(_this_carts_lines)
_remove_lines_of_cart = sa.delete(open_lines).where(_this_carts_lines)
_add_to_sale = (
    sa.update(product_sales)
    .where(product_sales.c.sku == _bind("product"))
    .values(
        name=_bind("product_name"),
        quantity=product_sales.c.quantity + _bind("sold", type_=sa.Integer),
        revenue=product_sales.c.revenue + _bind("earned", type_=sa.BigInteger),
        carts=product_sales.c.carts + 1,
    )
)
_first_sale = sa.insert(product_sales).values(
    sku=_bind("sku"),
    name=_bind("name"),
    quantity=_bind("quantity"),
    revenue=_bind("revenue"),
    carts=1,
)


def project_carts(connection: sa.Connection, recorded: RecordedEvent[CartEvent]) -> None:
    at = recorded.recorded_at
    match recorded.event:
        case CartOpened():
            connection.execute(_open_cart, {"cart_id": recorded.aggregate_id, "at": at})
            return
        case ItemAdded(_, _, unit_price, quantity, line_quantity):
            lines, items = (1 if line_quantity == quantity else 0), quantity
        case QuantityChanged(_, _, unit_price, from_quantity, to_quantity):
            lines, items = 0, to_quantity - from_quantity
        case LineRemoved(_, _, unit_price, quantity):
            lines, items = -1, -quantity
        case CartCheckedOut():
            connection.execute(_check_out_cart, {"cart": recorded.aggregate_id, "at": at})
            return
        case _:
            return
    change = {"lines": lines, "items": items, "amount": unit_price * items}
    connection.execute(_change_cart, {"cart": recorded.aggregate_id, "at": at, **change})


def project_best_sellers(connection: sa.Connection, recorded: RecordedEvent[CartEvent]) -> None:
    cart = recorded.aggregate_id
    match recorded.event:
        case ItemAdded(sku, name, unit_price, quantity, line_quantity):
            if line_quantity == quantity:
                line = {"sku": sku, "name": name, "unit_price": unit_price, "quantity": quantity}
                connection.execute(_add_line, {"cart_id": cart, **line})
            else:
                change = {"cart": cart, "line": sku, "new_quantity": line_quantity}
                connection.execute(_set_line, change)
        case QuantityChanged(sku, _, _, _, to_quantity):
            connection.execute(_set_line, {"cart": cart, "line": sku, "new_quantity": to_quantity})
        case LineRemoved(sku):
            connection.execute(_remove_line, {"cart": cart, "line": sku})
        case CartCheckedOut():
            sold = connection.execute(_lines_of_cart, {"cart": cart}).all()
            for sku, name, unit_price, quantity in sold:
                _add_sale(connection, sku, name, quantity, unit_price * quantity)
            connection.execute(_remove_lines_of_cart, {"cart": cart})


def _add_sale(connection: sa.Connection, sku: str, name: str, quantity: int, revenue: int) -> None:
    # Appends are serialised (the store's head row), so update-then-insert cannot race here.
    sale = {"product": sku, "product_name": name, "sold": quantity, "earned": revenue}
    if connection.execute(_add_to_sale, sale).rowcount == 0:
        first = {"sku": sku, "name": name, "quantity": quantity, "revenue": revenue}
        connection.execute(_first_sale, first)


# Revision 2: the index by last activity (the dashboard's order since 2026-12).
carts_projection: Projection[CartEvent] = Projection(
    "carts", [carts], project_carts, revision=2, renamed_from=["cart_list"]
)
best_sellers: Projection[CartEvent] = Projection(
    "best_sellers", [open_lines, product_sales], project_best_sellers
)

PROJECTIONS: tuple[Projection[CartEvent], ...] = (carts_projection, best_sellers)


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure the dashboard shows, and how its projection computes it: `anchor` is the id of
    its explanation on /read-models, which the dashboard links to."""

    anchor: str
    name: str
    how: str


@dataclass(frozen=True, slots=True)
class Explained:
    """A projection in words, for /read-models: what it is for, the event types it reads (the
    ones its `handle` matches; it ignores the rest), and the dashboard figures it keeps."""

    projection: Projection[CartEvent]
    purpose: str
    reads: tuple[type[CartEvent], ...]
    figures: tuple[Figure, ...]


_CHANGES_A_TOTAL = (
    "ItemAdded, QuantityChanged and LineRemoved move a cart's total by the unit price times "
    "the change in quantity"
)

EXPLAINED: tuple[Explained, ...] = (
    Explained(
        carts_projection,
        "One row per cart, as it stands now, so the dashboard lists carts and adds up the "
        "shop's totals with one query instead of replaying every cart.",
        (CartOpened, ItemAdded, QuantityChanged, LineRemoved, CartCheckedOut),
        (
            Figure(
                "how-cart-rows",
                "The list of carts",
                "CartOpened adds a cart's row (open, empty); ItemAdded, QuantityChanged and "
                "LineRemoved change its lines, items and total; CartCheckedOut marks it "
                "checked out. Every one of them sets its last activity to the event's time.",
            ),
            Figure(
                "how-open-carts",
                "Open carts",
                "The rows whose status is open: CartOpened adds one, CartCheckedOut takes one "
                "away.",
            ),
            Figure(
                "how-checked-out",
                "Checked out",
                "The rows whose status is checked out: CartCheckedOut marks a cart so.",
            ),
            Figure(
                "how-revenue",
                "Revenue",
                f"The sum of the totals of checked-out rows: {_CHANGES_A_TOTAL}, and "
                "CartCheckedOut counts the cart's total in.",
            ),
            Figure(
                "how-average-order",
                "Average order",
                "The revenue divided by the number of checked-out carts, both from the rows above.",
            ),
        ),
    ),
    Explained(
        best_sellers,
        "What checked-out carts bought, per product; it keeps the lines of carts still open, "
        "since the CartCheckedOut event carries a cart's totals, not its lines.",
        (ItemAdded, QuantityChanged, LineRemoved, CartCheckedOut),
        (
            Figure(
                "how-best-sellers",
                "Best sellers",
                "ItemAdded, QuantityChanged and LineRemoved keep an open cart's lines in "
                "read_open_lines; CartCheckedOut adds each of its lines to its product in "
                "read_product_sales (units, revenue, one more cart) and deletes the cart's open "
                "lines. The dashboard shows the products with the most units sold.",
            ),
        ),
    ),
)
