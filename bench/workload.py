"""The work both sides do, and what the result must be: commands, cart ids, expected states.

Everything here is deterministic, so the benchmark can check its own results: a fast answer that
lost, doubled or misapplied a command fails the run instead of winning it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from shop.cart import MAX_QUANTITY, AddItem, Cart, CartCommand, ChangeQuantity, RemoveLine
from shop.catalog import CATALOG, find_product

SKUS = tuple(product.sku for product in CATALOG)

# A cart's status and lines, sorted by sku: the form in which emit's and the peer's carts are
# compared (the order of lines depends on which command came first, which threads make vary).
CartLines = tuple[str, tuple[tuple[str, str, int, int], ...]]


@dataclass(frozen=True)
class Commands:
    """`count` add-item commands spread round-robin over `carts` carts."""

    carts: int
    count: int

    def cart_ids(self) -> list[str]:
        return [f"cart-{n:04d}" for n in range(self.carts)]

    def items(self) -> list[tuple[int, str]]:
        """(cart index, sku) per command; each cart gets each sku in turn, one at a time."""
        return [(k % self.carts, SKUS[(k // self.carts) % len(SKUS)]) for k in range(self.count)]

    def expected(self) -> list[CartLines]:
        """Every cart's status and lines after all the commands, whatever their order."""
        quantities: list[dict[str, int]] = [{} for _ in range(self.carts)]
        for cart, sku in self.items():
            quantities[cart][sku] = quantities[cart].get(sku, 0) + 1
        return [_lines(q) for q in quantities]


def _lines(quantities: dict[str, int]) -> CartLines:
    lines = []
    for sku in sorted(quantities):
        product = find_product(sku)
        assert product is not None
        lines.append((sku, product.name, product.unit_price, quantities[sku]))
    return "open", tuple(lines)


def emit_lines(cart: Cart) -> CartLines:
    return cart.status, tuple(
        sorted((line.sku, line.name, line.unit_price, line.quantity) for line in cart.lines)
    )


def long_cart(events: int) -> Iterator[CartCommand]:
    """Commands that each record exactly one event, `events` of them, all accepted by the rules:
    lines are added, raised, halved and removed in turn, so the state keeps changing."""
    quantities: dict[str, int] = {}
    for n in range(events):
        sku = SKUS[n % len(SKUS)]
        current = quantities.get(sku, 0)
        command: CartCommand
        if current == 0:
            command, after = AddItem(sku, 1 + n % 3), 1 + n % 3
        elif current + 3 > MAX_QUANTITY:
            command, after = RemoveLine(sku), 0
        elif n % 7 == 0 and current >= 2:
            command, after = ChangeQuantity(sku, current // 2), current // 2
        else:
            command, after = AddItem(sku, 3), current + 3
        quantities[sku] = after
        yield command


def long_cart_expected(events: int, up_to: int | None = None) -> CartLines:
    """The status and lines after the first `up_to` (default: all) of `long_cart(events)`."""
    quantities: dict[str, int] = {}
    for n, command in enumerate(long_cart(events)):
        if up_to is not None and n >= up_to:
            break
        match command:
            case AddItem(sku, quantity):
                quantities[sku] = quantities.get(sku, 0) + quantity
            case ChangeQuantity(sku, quantity):
                quantities[sku] = quantity
            case RemoveLine(sku):
                del quantities[sku]
    return _lines(quantities)
