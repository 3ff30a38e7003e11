"""The cart page and its actions: open a cart, add an item, change a quantity, remove a line,
check out.

Every action is a plain POST form. A browser without JavaScript gets `303 See Other` back to the
cart page, or, when the cart rejects the command, the page again with the reason next to the
action (422). htmx gets only the regions that changed: the cart panel it targets, and out of
band the header badge and the product card (the whole catalog after checkout). Adding an item
or changing a quantity, the commonest actions, answer with less when the page showed the cart
as it was just before (htmx sends the version the page shows with every action): the one line,
and out of band the panel's version, its total and checkout, the badge and the product card.
Either way a reload shows the cart as stored: the page is always rendered from emit.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, make_response, render_template, request, url_for
from werkzeug.wrappers import Response

from emit import (
    Aggregate,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    CommandResult,
)
from webapp import forms
from webapp.cart import (
    AddItem,
    Cart,
    CartCommand,
    CartEvent,
    ChangeQuantity,
    CheckOut,
    ItemAdded,
    RemoveLine,
)
from webapp.catalog import CATALOG, find_product
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.receipts import find_receipt
from webapp.store import get_emit, get_engine

bp = Blueprint("carts", __name__, url_prefix="/carts")

_NEW_CART_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Rejection:
    """A command the cart refused, and where on the page to say so: next to the product's add
    button ("add:SKU"), the line's stepper ("line:SKU"), the checkout button ("checkout"), or at
    the top of the cart panel ("cart")."""

    where: str
    message: str


# --- pages -------------------------------------------------------------------------------------


@bp.post("")
def open_cart() -> Response:
    """Open a new, empty cart and go to it. A plain form on purpose: the answer is a new page."""
    emit = get_emit()
    for _ in range(_NEW_CART_ATTEMPTS):
        cart_id = f"cart-{secrets.token_hex(4)}"
        try:
            emit.create(cart_id)
        except AggregateAlreadyExists:
            continue
        return see_other(url_for(".show", cart_id=cart_id))
    raise RuntimeError(f"No free cart id after {_NEW_CART_ATTEMPTS} random tries.")


@bp.get("/<cart_id>")
def show(cart_id: str) -> str:
    """The cart page; for htmx, the cart panel alone."""
    fragment = wants_fragment()
    view = _view(_load(forms.cart_id(cart_id)))
    return render_template("_cart_panel.html" if fragment else "cart.html", **view)


@bp.get("/<cart_id>/receipt")
def receipt(cart_id: str) -> str:
    """The receipt's number, which the receipts policy adds shortly after the checkout; htmx
    asks for it until it is there. A plain browser gets the cart page."""
    if not wants_fragment():
        return show(cart_id)
    view = _view(_load(forms.cart_id(cart_id)))
    return render_template("_receipt_number.html", **view)


# --- actions -----------------------------------------------------------------------------------


@bp.post("/<cart_id>/items")
def add_item(cart_id: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = forms.add_item(request.form)
    return _handle(cart_id, command, f"add:{command.sku}")


@bp.post("/<cart_id>/lines/<sku>/quantity")
def change_quantity(cart_id: str, sku: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = forms.change_quantity(sku, request.form)
    return _handle(cart_id, command, f"line:{command.sku}")


@bp.post("/<cart_id>/lines/<sku>/remove")
def remove_line(cart_id: str, sku: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = RemoveLine(forms.sku(sku))
    return _handle(cart_id, command, f"line:{command.sku}")


@bp.post("/<cart_id>/checkout")
def check_out(cart_id: str) -> Response:
    """Check the cart out, once: the form says which version of the cart its page showed, and
    finding the cart checked out right after that version means this page's checkout already
    happened (a double click without JavaScript, a resent form, the same page in two tabs).
    That gets the answer the first submission got, the receipt, not an error."""
    cart_id = forms.cart_id(cart_id)
    shown = forms.shown_version(request.form)

    def checked_out_as_shown(latest: Aggregate[Cart]) -> bool:
        return (
            shown is not None
            and latest.state.status == "checked_out"
            and latest.version == shown + 1  # the checkout came straight after what was shown
        )

    return _handle(cart_id, CheckOut(), "checkout", already_done=checked_out_as_shown)


def _handle(
    cart_id: str,
    command: CartCommand,
    where: str,
    *,
    already_done: Callable[[Aggregate[Cart]], bool] | None = None,
) -> Response:
    """Run the command; answer as the request wants. `where` names the action (see
    `Rejection`), so the answer can point back at it. A rejected command for which
    `already_done(latest)` holds is a repeat of one that succeeded: it is answered as a success
    (and records nothing)."""
    fragment = wants_fragment()
    shown = forms.shown_version(request.form)  # a malformed one is refused before any change
    result: CommandResult[CartEvent, Cart] | None = None
    try:
        result = get_emit().handle_command(cart_id, command)
    except AggregateNotFound:
        abort(404, no_such_cart(cart_id))
    except CommandRejected as rejected:
        latest = _load(cart_id)  # the rejection was decided on the latest state: show that one
        if already_done is None or not already_done(latest):
            return _rejected(latest, Rejection(where, rejected.reason), fragment=fragment)
        aggregate = latest
    else:
        aggregate = Aggregate(result.aggregate_id, result.version, result.state)
    kind, _, sku = where.partition(":")
    if not fragment:
        # Back to where the shopper was: the product's card, or the line while it exists.
        anchor = "cart-panel"
        if kind == "add":
            anchor = f"product-{sku}"
        elif kind == "line" and aggregate.state.line(sku) is not None:
            anchor = f"line-{sku}"
        return see_other(url_for(".show", cart_id=cart_id, _anchor=anchor))
    if result is not None:
        swap = _line_swap(command, result, shown)
        if swap is not None:
            target, how = swap
            line = result.state.line(sku)
            view = _view(aggregate)
            body = _CLEAR_ALERTS + render_template(
                "_line_changed.html", line=line, product=find_product(sku), **view
            )
            return fragment_response(body, retarget=target, reswap=how)
    return fragment_response(_regions(_view(aggregate), product_sku=sku or None))


def _line_swap(
    command: CartCommand, result: CommandResult[CartEvent, Cart], shown: int | None
) -> tuple[str, str] | None:
    """Where the line an added item or a new quantity changed goes in the page (a CSS selector
    and an htmx swap), or None when the whole cart panel must: the page showed another version
    of the cart than the one the command changed (another tab changed it meanwhile), the line
    is gone, or it is the cart's first (the empty cart's note gives way to the list)."""
    cart = result.state
    if not isinstance(command, AddItem | ChangeQuantity) or not cart.is_open:
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


def _rejected(aggregate: Aggregate[Cart], rejection: Rejection, *, fragment: bool) -> Response:
    """Nothing changed; show the cart as it is, with the reason next to the action."""
    cart = aggregate.state
    kind, _, sku = rejection.where.partition(":")
    if not cart.is_open or (kind == "line" and cart.line(sku) is None):
        # The action's own spot is gone (the line was removed, or the cart checked out in
        # another tab): say it at the top of the panel instead.
        rejection = Rejection("cart", rejection.message)
    view = _view(aggregate, rejection)
    if not fragment:
        return make_response(render_template("cart.html", whole_page=True, **view), 422)
    if rejection.where.startswith("add:"):
        # Only the product card changes: aim the answer at it instead of the cart panel.
        body = _CLEAR_ALERTS + render_template("_product.html", product=find_product(sku), **view)
        return fragment_response(body, 422, retarget=f"#product-{sku}", reswap="outerHTML")
    return fragment_response(_regions(view), 422)


# --- rendering ---------------------------------------------------------------------------------

# Every htmx answer to an action starts by emptying the page's alert slots, as the reload after a
# plain form post would. htmx swaps out-of-band elements before the main content, so the
# answer's own alert survives. (Slots, not the alerts themselves: a target that is always there.)
_CLEAR_ALERTS = '<div hx-swap-oob="innerHTML:.alert-slot"></div>\n'


def _regions(view: dict[str, Any], *, product_sku: str | None = None) -> str:
    """The cart panel (the target), then out of band the header badge and the product card that
    changed, or the whole catalog once the cart is checked out."""
    parts = [
        _CLEAR_ALERTS,
        render_template("_cart_panel.html", **view),
        render_template("_cart_badge.html", oob=True, **view),
    ]
    if not view["cart"].is_open:
        parts.append(render_template("_catalog.html", oob=True, **view))
    elif product_sku is not None and (product := find_product(product_sku)) is not None:
        parts.append(render_template("_product.html", product=product, oob=True, **view))
    return "".join(parts)


def _load(cart_id: str) -> Aggregate[Cart]:
    try:
        # catch_up: other processes (gunicorn workers) may have changed this cart.
        return get_emit().aggregate(cart_id, catch_up=True)
    except AggregateNotFound:
        abort(404, no_such_cart(cart_id))


def _view(aggregate: Aggregate[Cart], rejection: Rejection | None = None) -> dict[str, Any]:
    """What the cart templates need."""
    cart = aggregate.state
    checked_out_at = receipt = None
    if cart.status == "checked_out":  # checking out is always a cart's last event
        checked_out_at = get_emit().history(aggregate.id)[-1].recorded_at
        receipt = find_receipt(get_engine(), aggregate.id)
    return {
        "cart_id": aggregate.id,
        "cart": cart,
        "version": aggregate.version,
        "checked_out_at": checked_out_at,
        "receipt": receipt,
        "catalog": CATALOG,
        "rejection": rejection,
    }


def no_such_cart(cart_id: str) -> str:
    return f"There is no cart “{cart_id}”. The dashboard lists every cart there is."
