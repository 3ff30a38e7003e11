"""The shopping cart, as a decider: its commands, events, state and rules. Pure Python.

Rules:
- a line holds 1 to 99 of one product; adding a product already in the cart raises its quantity;
- a cart holds at most 20 different products;
- only products in the catalog can be added;
- an empty cart cannot be checked out;
- a checked-out cart accepts no change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from emit import CommandRejected, Decider
from shop.catalog import Product, find_product

MAX_QUANTITY = 99
MAX_LINES = 20

# --- commands: what a shopper asks -----------------------------------------------------------


@dataclass(frozen=True)
class AddItem:
    sku: str
    quantity: int = 1


@dataclass(frozen=True)
class ChangeQuantity:
    """Set a line's quantity; 0 removes the line."""

    sku: str
    quantity: int


@dataclass(frozen=True)
class ChangeQuantityBy:
    """Change a line's quantity by `by` (one more, one fewer), whatever it is now; reaching 0
    removes the line. Two people pressing "+" at once get one more each."""

    sku: str
    by: int


@dataclass(frozen=True)
class RemoveLine:
    sku: str


@dataclass(frozen=True)
class CheckOut:
    pass


CartCommand = AddItem | ChangeQuantity | ChangeQuantityBy | RemoveLine | CheckOut

# --- events: what happened, with what a history view needs to tell it -------------------------


@dataclass(frozen=True)
class CartOpened:
    cart_id: str


@dataclass(frozen=True)
class ItemAdded:
    sku: str
    name: str
    unit_price: int
    quantity: int  # how many were added
    line_quantity: int  # the line's quantity afterwards


@dataclass(frozen=True)
class QuantityChanged:
    sku: str
    name: str
    unit_price: int
    from_quantity: int
    to_quantity: int


@dataclass(frozen=True)
class LineRemoved:
    sku: str
    name: str
    unit_price: int
    quantity: int  # what the line held when it was removed


@dataclass(frozen=True)
class CartCheckedOut:
    total: int
    item_count: int
    line_count: int


CartEvent = CartOpened | ItemAdded | QuantityChanged | LineRemoved | CartCheckedOut

# --- state -----------------------------------------------------------------------------------


# A cart is kept in memory while it is live: slots keep a state without a dict per object.
@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    name: str
    unit_price: int
    quantity: int

    @property
    def subtotal(self) -> int:
        return self.unit_price * self.quantity


Status = Literal["new", "open", "checked_out"]


@dataclass(frozen=True, slots=True)
class Cart:
    cart_id: str = ""
    lines: tuple[Line, ...] = ()
    status: Status = "new"

    @property
    def total(self) -> int:
        return sum(line.subtotal for line in self.lines)

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def line(self, sku: str) -> Line | None:
        for line in self.lines:
            if line.sku == sku:
                return line
        return None


# --- decide and evolve -----------------------------------------------------------------------


def _check_quantity(quantity: int) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise CommandRejected(f"Quantity must be between 1 and {MAX_QUANTITY}.")


def make_decide(
    find_product: Callable[[str], Product | None],
) -> Callable[[CartCommand, Cart], Sequence[CartEvent]]:
    """`decide` for a given catalog look-up, so tests can use a catalog of their own."""

    def decide(command: CartCommand, cart: Cart) -> Sequence[CartEvent]:
        if cart.status == "checked_out":
            raise CommandRejected("This cart is checked out and can no longer change.")
        if cart.status != "open":
            raise CommandRejected("This cart has not been opened.")
        match command:
            case AddItem(sku, quantity):
                product = find_product(sku)
                if product is None:
                    raise CommandRejected(f"There is no product {sku!r} in the catalog.")
                _check_quantity(quantity)
                line = cart.line(sku)
                if line is None:
                    if len(cart.lines) >= MAX_LINES:
                        raise CommandRejected(
                            f"A cart holds at most {MAX_LINES} different products."
                        )
                    current = 0
                else:
                    current = line.quantity
                if current + quantity > MAX_QUANTITY:
                    raise CommandRejected(
                        f"A cart holds at most {MAX_QUANTITY} of one product; "
                        f"this one already has {current}."
                    )
                return [
                    ItemAdded(sku, product.name, product.unit_price, quantity, current + quantity)
                ]
            case ChangeQuantity(sku, quantity):
                line = cart.line(sku)
                if line is None:
                    raise CommandRejected("That product is not in the cart.")
                if not 0 <= quantity <= MAX_QUANTITY:
                    raise CommandRejected(
                        f"A line's quantity is 0 to {MAX_QUANTITY}; 0 removes the line."
                    )
                if quantity == 0:
                    return [LineRemoved(sku, line.name, line.unit_price, line.quantity)]
                if quantity == line.quantity:
                    return []
                return [QuantityChanged(sku, line.name, line.unit_price, line.quantity, quantity)]
            case ChangeQuantityBy(sku, by):
                line = cart.line(sku)
                if line is None:
                    raise CommandRejected("That product is not in the cart.")
                quantity = line.quantity + by
                if quantity == 0:
                    return [LineRemoved(sku, line.name, line.unit_price, line.quantity)]
                if quantity < 0:
                    raise CommandRejected(f"This line holds {line.quantity}; it cannot lose {-by}.")
                if quantity > MAX_QUANTITY:
                    raise CommandRejected(
                        f"A cart holds at most {MAX_QUANTITY} of one product; "
                        f"this one already has {line.quantity}."
                    )
                if by == 0:
                    return []
                return [QuantityChanged(sku, line.name, line.unit_price, line.quantity, quantity)]
            case RemoveLine(sku):
                line = cart.line(sku)
                if line is None:
                    raise CommandRejected("That product is not in the cart.")
                return [LineRemoved(sku, line.name, line.unit_price, line.quantity)]
            case CheckOut():
                if not cart.lines:
                    raise CommandRejected("An empty cart cannot be checked out.")
                return [CartCheckedOut(cart.total, cart.item_count, len(cart.lines))]
        raise TypeError(f"Not a cart command: {command!r}")

    return decide


# evolve runs once per event on every replay, so it builds states with their constructors:
# with dataclasses.replace(), which looks the fields up on every call, a cold load of 10,000
# events took half as long again (bench W2, 4.3 to 6 us an event).
def evolve(cart: Cart, event: CartEvent) -> Cart:
    match event:
        case CartOpened(cart_id):
            return Cart(cart_id=cart_id, status="open")
        case ItemAdded(sku, name, unit_price, quantity, line_quantity):
            if line_quantity == quantity:  # the line was not in the cart: a new one
                line = Line(sku, name, unit_price, line_quantity)
                return Cart(cart.cart_id, (*cart.lines, line), cart.status)
            return _with_quantity(cart, sku, line_quantity)
        case QuantityChanged(sku, to_quantity=to_quantity):
            return _with_quantity(cart, sku, to_quantity)
        case LineRemoved(sku):
            lines = tuple([line for line in cart.lines if line.sku != sku])
            return Cart(cart.cart_id, lines, cart.status)
        case CartCheckedOut():
            return Cart(cart.cart_id, cart.lines, "checked_out")
    raise TypeError(f"Not a cart event: {event!r}")


def _with_quantity(cart: Cart, sku: str, quantity: int) -> Cart:
    """The cart with its line of `sku` (if it has one) holding `quantity`."""
    lines = [
        Line(sku, line.name, line.unit_price, quantity) if line.sku == sku else line
        for line in cart.lines
    ]
    return Cart(cart.cart_id, tuple(lines), cart.status)


def make_cart_decider(
    find_product: Callable[[str], Product | None],
) -> Decider[CartCommand, CartEvent, Cart]:
    return Decider(
        name="cart",
        initial_state=Cart(),
        decide=make_decide(find_product),
        evolve=evolve,
        events=[CartOpened, ItemAdded, QuantityChanged, LineRemoved, CartCheckedOut],
        genesis=lambda cart_id: [CartOpened(cart_id)],
    )


cart_decider = make_cart_decider(find_product)
