"""The peer: the same shopping cart written against the `eventsourcing` library's public API.

This is how that library's documentation writes a domain: an `Aggregate` subclass whose command
methods check the rules and call `@event`-decorated methods, which record the event and apply it
to the aggregate. The rules, catalog and event fields are those of `shop/cart.py`, so both
sides do the same work and record the same facts.

`eventsourcing` is installed in the benchmark's own virtual environment only (see the Makefile),
never as a dependency of emit.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from shop.cart import MAX_LINES, MAX_QUANTITY
from shop.catalog import find_product


class PeerRejected(Exception):
    """A command the cart's rules refuse (the peer's `CommandRejected`)."""


class Cart(Aggregate):
    @event("Opened")
    def __init__(self, cart_id: str) -> None:
        self.cart_id = cart_id
        self.lines: dict[str, list[Any]] = {}  # sku: [name, unit_price, quantity]
        self.status = "open"

    # --- commands ------------------------------------------------------------------------------

    def add_item(self, sku: str, quantity: int = 1) -> None:
        self._check_open()
        product = find_product(sku)
        if product is None:
            raise PeerRejected(f"There is no product {sku!r} in the catalog.")
        _check_quantity(quantity)
        line = self.lines.get(sku)
        if line is None and len(self.lines) >= MAX_LINES:
            raise PeerRejected(f"A cart holds at most {MAX_LINES} different products.")
        current = 0 if line is None else line[2]
        if current + quantity > MAX_QUANTITY:
            raise PeerRejected(f"A cart holds at most {MAX_QUANTITY} of one product.")
        self.item_added(sku, product.name, product.unit_price, quantity, current + quantity)

    def change_quantity(self, sku: str, quantity: int) -> None:
        self._check_open()
        line = self.lines.get(sku)
        if line is None:
            raise PeerRejected("That product is not in the cart.")
        if quantity == 0:
            self.line_removed(sku, line[0], line[1], line[2])
            return
        _check_quantity(quantity)
        if quantity != line[2]:
            self.quantity_changed(sku, line[0], line[1], line[2], quantity)

    def remove_line(self, sku: str) -> None:
        self._check_open()
        line = self.lines.get(sku)
        if line is None:
            raise PeerRejected("That product is not in the cart.")
        self.line_removed(sku, line[0], line[1], line[2])

    def check_out(self) -> None:
        self._check_open()
        if not self.lines:
            raise PeerRejected("An empty cart cannot be checked out.")
        total = sum(line[1] * line[2] for line in self.lines.values())
        items = sum(line[2] for line in self.lines.values())
        self.checked_out(total, items, len(self.lines))

    def _check_open(self) -> None:
        if self.status != "open":
            raise PeerRejected("This cart is checked out and can no longer change.")

    # --- events --------------------------------------------------------------------------------

    @event("ItemAdded")
    def item_added(
        self, sku: str, name: str, unit_price: int, quantity: int, line_quantity: int
    ) -> None:
        self.lines[sku] = [name, unit_price, line_quantity]

    @event("QuantityChanged")
    def quantity_changed(
        self, sku: str, name: str, unit_price: int, from_quantity: int, to_quantity: int
    ) -> None:
        self.lines[sku][2] = to_quantity

    @event("LineRemoved")
    def line_removed(self, sku: str, name: str, unit_price: int, quantity: int) -> None:
        del self.lines[sku]

    @event("CheckedOut")
    def checked_out(self, total: int, item_count: int, line_count: int) -> None:
        self.status = "checked_out"


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise PeerRejected(f"Quantity must be between 1 and {MAX_QUANTITY}.")


class Shop(Application[UUID]):
    """The peer's application: open carts and run commands, `get` + command + `save`."""

    def open_cart(self, cart_id: str) -> UUID:
        cart = Cart(cart_id)
        self.save(cart)
        return cart.id

    def add_item(self, cart_id: UUID, sku: str, quantity: int = 1) -> None:
        cart: Cart = self.repository.get(cart_id)
        cart.add_item(sku, quantity)
        self.save(cart)

    def get_cart(self, cart_id: UUID, version: int | None = None) -> Cart:
        cart: Cart = self.repository.get(cart_id, version=version)
        return cart


SNAPSHOT_EVERY = 100  # emit's snapshot interval in the benchmark is the same


class SnapshottingShop(Shop):
    """The same application with the library's own snapshotting (`snapshotting_intervals`)."""

    name = "Shop"  # the same tables as Shop: on PostgreSQL they are named after the application
    snapshotting_intervals = {Cart: SNAPSHOT_EVERY}  # noqa: RUF012


# The peer's configurations, each a set of its own documented environment settings.
CONFIGS: dict[str, dict[str, str]] = {
    "defaults": {},
    "cache": {"AGGREGATE_CACHE_MAXSIZE": "1000"},
}


def sqlite_env(path: str, config: str = "defaults", **extra: str) -> dict[str, str]:
    """Settings for a Shop on the SQLite file `path`.

    The peer's SQLite module puts the file in WAL mode and leaves `synchronous` at SQLite's
    compiled default, which is FULL (2) in this Python's SQLite; `check_sqlite_settings` proves
    it on the peer's own connection in every run.
    """
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        **CONFIGS[config],
        **extra,
    }


def postgres_env(
    url_parts: dict[str, str], schema: str, config: str = "defaults", **extra: str
) -> dict[str, str]:
    """Settings for a Shop on PostgreSQL in `schema` (its default, synchronous commit)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url_parts["database"],
        "POSTGRES_HOST": url_parts["host"],
        "POSTGRES_PORT": url_parts["port"],
        "POSTGRES_USER": url_parts["user"],
        "POSTGRES_PASSWORD": url_parts["password"],
        "POSTGRES_SCHEMA": schema,
        **CONFIGS[config],
        **extra,
    }


def open_shop(env: dict[str, str], *, snapshots: bool = False) -> Shop:
    """A Shop; with `snapshots`, one that snapshots every `SNAPSHOT_EVERY` versions."""
    return SnapshottingShop(env) if snapshots else Shop(env)


def check_sqlite_settings(shop: Shop) -> tuple[str, int]:
    """The journal mode and synchronous level of the peer's own SQLite connection."""
    datastore = shop.factory.datastore  # type: ignore[attr-defined]
    with datastore.transaction(commit=False) as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal = str(cursor.fetchone()[0])
        cursor.execute("PRAGMA synchronous")
        synchronous = int(cursor.fetchone()[0])
    return journal, synchronous


def cart_lines(cart: Cart) -> tuple[str, tuple[tuple[str, str, int, int], ...]]:
    """The cart's status and lines in a form both sides can be compared in."""
    lines = tuple(sorted((sku, *line) for sku, line in cart.lines.items()))
    return cart.status, lines
