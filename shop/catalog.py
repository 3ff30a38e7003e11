"""The shop's catalog: what can be put in a cart, at what price (integer cents)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Product:
    sku: str
    name: str
    unit_price: int  # cents
    description: str


CATALOG: tuple[Product, ...] = (
    Product("BEAN-250", "Coffee beans, 250 g", 1290, "Washed Ethiopian, light roast"),
    Product("BEAN-1K", "Coffee beans, 1 kg", 4200, "House espresso blend"),
    Product("GRIND-HND", "Hand grinder", 6900, "Steel burrs, 30 g hopper"),
    Product("DRIP-V60", "Ceramic dripper", 2450, "Size 02, white"),
    Product("FILT-100", "Paper filters, 100", 650, "Unbleached, size 02"),
    Product("KETL-GOOSE", "Gooseneck kettle", 5900, "0.8 L, stovetop"),
    Product("SCALE-01", "Coffee scale", 3400, "0.1 g resolution, timer"),
    Product("MUG-TRVL", "Travel mug", 2200, "Insulated, 350 ml"),
    Product("CUP-ESP2", "Espresso cups, pair", 1800, "Porcelain, 80 ml"),
    Product("TEA-CHAI", "Chai tea, 20 bags", 890, "Black tea, cardamom, ginger"),
    Product("TEA-MATCHA", "Matcha, 30 g tin", 2600, "Ceremonial grade"),
    Product("MILK-OAT", "Oat milk, 1 L", 325, "Barista edition"),
)

_BY_SKU = {product.sku: product for product in CATALOG}


def find_product(sku: str) -> Product | None:
    return _BY_SKU.get(sku)
