"""The cart page and its actions: open a cart, add an item, change a quantity, remove a line,
check out.

Every action is a plain POST form. A browser without JavaScript gets `303 See Other` back to the
cart page, also when the cart refuses the command: the reason then travels in the session and
the page shows it once, next to the action (see webapp/refusals.py), so the address is the
cart's and a reload or "Back" never posts again. htmx gets the reason drawn in place (422, 409),
or only the regions that changed: the cart panel it targets, and out of band the header badge
and the product card (the whole catalog after checkout). Adding an item or changing a quantity,
the commonest actions, answer with less when the page showed the cart as it was just before
(htmx sends the version the page shows with every action): the one line, and out of band the
panel's version, its total and checkout, the badge and the product card. Either way a reload
shows the cart as stored: the page is always rendered from emit.

What the person saw travels with every form (see `command_fields` in
templates/partials/_macros.html):
- the version of the cart their page showed. Decisions taken on what they saw (check out, set a
  quantity, remove a line) are made only on that version: if the cart changed since, nothing is
  stored and the answer (409) is the fresh cart with what changed. Adding an item and "+"/"−"
  mean "one more"/"one fewer" whatever the page showed, so they need no version;
- a key made when the form was drawn: a resent form, a double submission or a retry after a
  timeout is answered as the first time, and nothing more is stored.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    g,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from emit import (
    Aggregate,
    AggregateNotFound,
    CommandRejected,
    IdempotencyKeyReused,
    WrongExpectedVersion,
)
from shop.cart import (
    CartCommand,
    CheckOut,
    RemoveLine,
)
from shop.catalog import find_product
from webapp import forms, shoppers
from webapp.cart_ids import new_cart
from webapp.cart_view import (
    CLEAR_ALERTS,
    Rejection,
    context,
    line_swap,
    live_regions,
    load,
    no_such_cart,
    regions,
    shown_version,
)
from webapp.db import get_emit
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.refusals import KEY_REUSED, refused, since_shown, take_refusal

bp = Blueprint("carts", __name__, url_prefix="/carts")
bp.before_request(shoppers.check_cart)

# --- pages -------------------------------------------------------------------------------------


@bp.post("")
def open_cart() -> Response:
    """Open a new, empty cart and go to it. A plain form on purpose: the answer is a new page.
    The form's key names the cart, so sending the form again opens no second one."""
    emit = get_emit()
    key = forms.command_key(request.form)
    # A resent form's `create` is answered as the first (its idempotency key): the same cart.
    return _opened(new_cart(lambda cart_id: emit.create(cart_id, idempotency_key=key), key))


def _opened(cart_id: str) -> Response:
    # When the carts are not public, the cart is this browser session's to see and change.
    shoppers.remember(cart_id)
    return see_other(url_for(".show", cart_id=cart_id))


@bp.get("/<cart_id>")
def show(cart_id: str) -> Response | str:
    """The cart page, with the reason for a refusal the session carries (see `webapp.refusals`); for
    htmx, the cart panel alone."""
    aggregate = load(forms.cart_id(cart_id))
    if wants_fragment():
        shown = forms.shown_version(request.args)
        if shown is not None:
            # The live page (webapp/live.py): the cart changed elsewhere since `shown`.
            return fragment_response(live_regions(aggregate, shown))
        return render_template("carts/_cart_panel.html", **context(aggregate))
    rejection = take_refusal(aggregate)
    return render_template(
        "carts/cart.html", whole_page=rejection is not None, **context(aggregate, rejection)
    )


@bp.get("/<cart_id>/receipt")
def receipt(cart_id: str) -> Response | str:
    """The receipt's number, which the receipts policy adds shortly after the checkout; htmx
    asks for it until it is there. A plain browser gets the cart page."""
    if not wants_fragment():
        return show(cart_id)
    view = context(load(forms.cart_id(cart_id)))
    return render_template("carts/_receipt_number.html", **view)


# --- actions -----------------------------------------------------------------------------------


@bp.post("/<cart_id>/items")
def add_item(cart_id: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = forms.add_item(request.form)
    return _handle(cart_id, command, f"add:{command.sku}", on_what_was_shown=False)


@bp.post("/<cart_id>/lines/<sku>/quantity")
def change_quantity(cart_id: str, sku: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = forms.change_quantity(sku, request.form)
    return _handle(cart_id, command, f"line:{command.sku}")


@bp.post("/<cart_id>/lines/<sku>/step")
def change_quantity_by(cart_id: str, sku: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = forms.change_quantity_by(sku, request.form)
    return _handle(cart_id, command, f"line:{command.sku}", on_what_was_shown=False)


@bp.post("/<cart_id>/lines/<sku>/remove")
def remove_line(cart_id: str, sku: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    command = RemoveLine(forms.sku(sku))
    return _handle(cart_id, command, f"line:{command.sku}")


@bp.post("/<cart_id>/checkout")
def check_out(cart_id: str) -> Response:
    """Pay for the cart as the page showed it, once: see the module's docstring."""
    return _handle(forms.cart_id(cart_id), CheckOut(), "checkout")


def _handle(
    cart_id: str, command: CartCommand, where: str, *, on_what_was_shown: bool = True
) -> Response:
    """Run the command; answer as the request wants. `where` names the action (see
    `Rejection`), so the answer can point back at it. `on_what_was_shown`: the command is a
    decision on the cart as the page showed it, and is refused if the cart changed since."""
    fragment = wants_fragment()
    # Malformed fields are refused here, before any change.
    shown = forms.shown_version(request.form)
    key = forms.command_key(request.form)
    emit = get_emit()
    try:
        result = emit.handle_command(
            cart_id,
            command,
            expected_version=shown if on_what_was_shown else None,
            idempotency_key=key,
        )
    except AggregateNotFound:
        abort(404, no_such_cart(cart_id))
    except CommandRejected as rejected:
        latest = load(cart_id)  # the rejection was decided on the latest state: show that one
        rejection = Rejection(where, rejected.reason)
        return refused(latest, rejection, fragment=fragment, shown=shown)
    except WrongExpectedVersion as stale:
        latest = load(cart_id)
        message = since_shown(cart_id, stale.expected_version, latest, where)
        rejection = Rejection(where, message)
        return refused(latest, rejection, fragment=fragment, status=409, shown=shown)
    except IdempotencyKeyReused:
        abort(409, KEY_REUSED)
    g.command_stored = True  # from here on, a failure must not say "nothing was changed"
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
    current = emit.aggregate(cart_id)
    if current.version != result.version:
        # A repeat answered with its first result, or another change came right after:
        # draw the cart as it is now.
        return fragment_response(regions(context(current), product_sku=sku or None))
    swap = line_swap(command, result, shown)
    if swap is not None:
        target, how = swap
        line = result.state.line(sku)
        page = context(aggregate)
        body = (
            CLEAR_ALERTS
            + shown_version(result.version)
            + render_template(
                "carts/_line_changed.html", line=line, product=find_product(sku), **page
            )
        )
        return fragment_response(body, retarget=target, reswap=how)
    return fragment_response(regions(context(aggregate), product_sku=sku or None))
