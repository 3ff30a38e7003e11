"""Demo carts for `flask --app webapp seed-demo`: a few shoppers' histories, told as commands.

Each cart has a fixed id, so seeding twice finds its carts already there and adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shop.cart import AddItem, CartCommand, ChangeQuantity, CheckOut, RemoveLine
from webapp.db import CartEmit

DEMO_CARTS: dict[str, Sequence[CartCommand]] = {
    # A pour-over kit, a change of mind about the mug, then paid.
    "cart-5eed0001": [
        AddItem("BEAN-250", 2),
        AddItem("FILT-100"),
        AddItem("DRIP-V60"),
        AddItem("MUG-TRVL"),
        ChangeQuantity("BEAN-250", 3),
        RemoveLine("MUG-TRVL"),
        CheckOut(),
    ],
    # The serious espresso setup, paid at once.
    "cart-5eed0002": [
        AddItem("KETL-GOOSE"),
        AddItem("SCALE-01"),
        AddItem("BEAN-1K"),
        CheckOut(),
    ],
    # A tea drinker still deciding how much oat milk to take.
    "cart-5eed0003": [
        AddItem("TEA-MATCHA"),
        AddItem("MILK-OAT", 4),
        AddItem("CUP-ESP2"),
        ChangeQuantity("MILK-OAT", 6),
    ],
    # Grinder and beans; the chai went back on the shelf.
    "cart-5eed0004": [
        AddItem("GRIND-HND"),
        AddItem("BEAN-250"),
        AddItem("TEA-CHAI", 2),
        RemoveLine("TEA-CHAI"),
    ],
    # Opened and left empty.
    "cart-5eed0005": [],
}


@dataclass(frozen=True, slots=True)
class SeedReport:
    created: tuple[str, ...]
    already_there: tuple[str, ...]


def seed(emit: CartEmit) -> SeedReport:
    """Create the demo carts that do not exist yet and replay their commands."""
    created: list[str] = []
    already_there: list[str] = []
    for cart_id, commands in DEMO_CARTS.items():
        if emit.exists(cart_id):
            already_there.append(cart_id)
            continue
        emit.create(cart_id, metadata={"source": "seed-demo"})
        for command in commands:
            emit.handle_command(cart_id, command, metadata={"source": "seed-demo"})
        created.append(cart_id)
    return SeedReport(tuple(created), tuple(already_there))
