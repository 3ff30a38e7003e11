"""The cart as its templates draw it: what they are given (`context`), and the regions an htmx
answer to a cart action swaps (`regions`, `line_swap`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, get_template_attribute, render_template

from emit import Aggregate, AggregateNotFound, CommandResult
from shop.cart import (
    AddItem,
    Cart,
    CartCommand,
    CartEvent,
    ChangeQuantity,
    ChangeQuantityBy,
    ItemAdded,
)
from shop.catalog import CATALOG, find_product
from webapp.db import get_emit, get_engine, get_policies
from webapp.receipts import RECEIPTS, find_receipt
from webapp.timeline import summary


@dataclass(frozen=True, slots=True)
class Rejection:
    """A command the cart refused, and where on the page to say so: next to the product's add
    button ("add:SKU"), the line's stepper ("line:SKU"), the checkout button ("checkout"), or at
    the top of the cart panel ("cart")."""

    where: str
    message: str


def line_swap(
    command: CartCommand, result: CommandResult[CartEvent, Cart], shown: int | None
) -> tuple[str, str] | None:
    """Where the line an added item or a new quantity changed goes in the page (a CSS selector
    and an htmx swap), or None when the whole cart panel must: the page showed another version
    of the cart than the one the command changed (another tab changed it meanwhile), the line
    is gone, or it is the cart's first (the empty cart's note gives way to the list)."""
    cart = result.state
    if not isinstance(command, AddItem | ChangeQuantity | ChangeQuantityBy) or not cart.is_open:
        return None
    if shown is None or shown != result.version - len(result.events):
        return None
    if cart.line(command.sku) is None:
        return None
    new_line = any(
        isinstance(recorded.event, ItemAdded)
        and recorded.event.line_quantity == recorded.event.quantity
        for recorded in result.events
    )
    if not new_line:
        return f"#line-{command.sku}", "outerHTML"
    if len(cart.lines) > 1:
        return "#cart-lines", "beforeend"
    return None


# Every htmx answer to an action starts by emptying the page's alert slots, as the reload after a
# plain form post would. htmx swaps out-of-band elements before the main content, so the
# answer's own alert survives. (Slots, not the alerts themselves: a target that is always there.)
CLEAR_ALERTS = '<div hx-swap-oob="innerHTML:.alert-slot"></div>\n'


def regions(
    view: dict[str, Any], *, product_sku: str | None = None, whole_catalog: bool = False
) -> str:
    """The cart panel (the target), then out of band the header badge and the product card that
    changed, or the whole catalog once the cart is checked out or when the page showed another
    version of the cart (its cards' "in cart" counts may all be out of date)."""
    parts = [
        CLEAR_ALERTS,
        shown_version(view["version"]),
        render_template("carts/_cart_panel.html", **view),
        render_template("carts/_cart_badge.html", oob=True, **view),
    ]
    if whole_catalog or not view["cart"].is_open:
        parts.append(render_template("carts/_catalog.html", oob=True, **view))
    elif product_sku is not None and (product := find_product(product_sku)) is not None:
        parts.append(render_template("carts/_product.html", product=product, oob=True, **view))
    return "".join(parts)


def live_regions(aggregate: Aggregate[Cart], shown: int) -> str:
    """The answer to a live cart page whose forms show version `shown`: every region, as after
    a change it did not make, and out of band the note saying what changed elsewhere."""
    view = context(aggregate)
    note = changed_elsewhere(aggregate, shown)
    return regions(view, whole_catalog=True) + render_template(
        "carts/_live_note.html", note=note, oob=True
    )


# The live note names this many changes at most, the latest ones.
_NOTED = 3


def changed_elsewhere(aggregate: Aggregate[Cart], shown: int) -> str:
    """The changes after version `shown`, in words: "Added elsewhere: 1 × Travel mug". Empty
    when there are none (the page is up to date, or ahead of this process)."""
    if shown >= aggregate.version:
        return ""
    after = max(shown, aggregate.version - _NOTED)
    events = get_emit().history(aggregate.id, after=after, up_to=aggregate.version)
    words = [_elsewhere(recorded.event) for recorded in events]
    if after > shown:
        words.insert(0, f"{after - shown} earlier changes elsewhere")
    return "; ".join(words) + "."


def _elsewhere(event: CartEvent) -> str:
    if isinstance(event, ItemAdded):
        return f"Added elsewhere: {event.quantity} × {event.name}"
    return f"Elsewhere: {summary(event)}"


def shown_version(version: int) -> str:
    """Out of band: every form's version field now says `version` (see `command_fields`)."""
    field = get_template_attribute("partials/_macros.html", "version_field")
    return f"{field(version, oob=True)}\n"


def load(cart_id: str) -> Aggregate[Cart]:
    try:
        # catch_up: other processes (gunicorn workers) may have changed this cart.
        return get_emit().aggregate(cart_id, catch_up=True)
    except AggregateNotFound:
        abort(404, no_such_cart(cart_id))


def context(aggregate: Aggregate[Cart], rejection: Rejection | None = None) -> dict[str, Any]:
    """What the cart templates need."""
    cart = aggregate.state
    checked_out_at = receipt = None
    receipt_parked = False
    if cart.status == "checked_out":  # checking out is always a cart's last event
        checked_out_at = get_emit().history(aggregate.id)[-1].recorded_at
        receipt = find_receipt(get_engine(), aggregate.id)
        if receipt is None:
            # Parked as a dead letter: only an operator's retry issues it now.
            parked = get_policies().dead_letters(policy=RECEIPTS, aggregate_id=aggregate.id)
            receipt_parked = bool(parked)
    return {
        "cart_id": aggregate.id,
        "cart": cart,
        "version": aggregate.version,
        "checked_out_at": checked_out_at,
        "receipt": receipt,
        "receipt_parked": receipt_parked,
        "catalog": CATALOG,
        "rejection": rejection,
    }


def no_such_cart(cart_id: str) -> str:
    return f"There is no cart “{cart_id}”. The dashboard lists every cart there is."
