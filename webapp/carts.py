"""The cart page and its actions: open a cart, add an item, change a quantity, remove a line,
check out.

Every action is a plain POST form. A browser without JavaScript gets `303 See Other` back to the
cart page, also when the cart refuses the command: the reason then travels in the session and
the page shows it once, next to the action (see `_rejected`), so the address is the cart's and a
reload or "Back" never posts again. htmx gets the reason drawn in place (422, 409), or only the
regions that changed: the cart panel it targets, and out of band the header badge and the
product card (the whole catalog after checkout). Adding an item or changing a quantity, the
commonest actions, answer with less when the page showed the cart as it was just before (htmx
sends the version the page shows with every action): the one line, and out of band the panel's
version, its total and checkout, the badge and the product card. Either way a reload shows the
cart as stored: the page is always rendered from emit.

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

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    abort,
    g,
    get_template_attribute,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from emit import (
    Aggregate,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    CommandResult,
    IdempotencyKeyReused,
    WrongExpectedVersion,
)
from shop.cart import (
    AddItem,
    Cart,
    CartCommand,
    CartEvent,
    ChangeQuantity,
    ChangeQuantityBy,
    CheckOut,
    ItemAdded,
    RemoveLine,
)
from shop.catalog import CATALOG, find_product
from webapp import forms, shoppers
from webapp.db import get_emit, get_engine
from webapp.formatting import money
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.receipts import find_receipt
from webapp.timeline import diff

bp = Blueprint("carts", __name__, url_prefix="/carts")
bp.before_request(shoppers.check_cart)

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
    """Open a new, empty cart and go to it. A plain form on purpose: the answer is a new page.
    The form's key names the cart, so sending the form again opens no second one."""
    emit = get_emit()
    key = forms.command_key(request.form)
    if key is not None:
        cart_id = f"cart-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
        try:
            emit.create(cart_id, idempotency_key=key)
        except AggregateAlreadyExists:
            pass  # another key's cart has this id (rare): a random one below
        else:
            return _opened(cart_id)
    for _ in range(_NEW_CART_ATTEMPTS):
        cart_id = f"cart-{secrets.token_hex(4)}"
        try:
            emit.create(cart_id)
        except AggregateAlreadyExists:
            continue
        return _opened(cart_id)
    raise RuntimeError(f"No free cart id after {_NEW_CART_ATTEMPTS} random tries.")


def _opened(cart_id: str) -> Response:
    # When the carts are not public, the cart is this browser session's to see and change.
    shoppers.remember(cart_id)
    return see_other(url_for(".show", cart_id=cart_id))


@bp.get("/<cart_id>")
def show(cart_id: str) -> str:
    """The cart page, with the reason for a refusal the session carries (see `_rejected`); for
    htmx, the cart panel alone."""
    aggregate = _load(forms.cart_id(cart_id))
    if wants_fragment():
        return render_template("carts/_cart_panel.html", **_view(aggregate))
    rejection = _take_rejection(aggregate)
    return render_template(
        "carts/cart.html", whole_page=rejection is not None, **_view(aggregate, rejection)
    )


@bp.get("/<cart_id>/receipt")
def receipt(cart_id: str) -> str:
    """The receipt's number, which the receipts policy adds shortly after the checkout; htmx
    asks for it until it is there. A plain browser gets the cart page."""
    if not wants_fragment():
        return show(cart_id)
    view = _view(_load(forms.cart_id(cart_id)))
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
        latest = _load(cart_id)  # the rejection was decided on the latest state: show that one
        rejection = Rejection(where, rejected.reason)
        return _rejected(latest, rejection, fragment=fragment, shown=shown)
    except WrongExpectedVersion as stale:
        latest = _load(cart_id)
        message = _since_shown(cart_id, stale.expected_version, latest, where)
        rejection = Rejection(where, message)
        return _rejected(latest, rejection, fragment=fragment, status=409, shown=shown)
    except IdempotencyKeyReused:
        abort(409, _KEY_REUSED)
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
        return fragment_response(_regions(_view(current), product_sku=sku or None))
    swap = _line_swap(command, result, shown)
    if swap is not None:
        target, how = swap
        line = result.state.line(sku)
        view = _view(aggregate)
        body = (
            _CLEAR_ALERTS
            + _shown_version(result.version)
            + render_template(
                "carts/_line_changed.html", line=line, product=find_product(sku), **view
            )
        )
        return fragment_response(body, retarget=target, reswap=how)
    return fragment_response(_regions(_view(aggregate), product_sku=sku or None))


_KEY_REUSED = (
    "This form was sent before with other values, and that change was saved. Reload the cart "
    "to see it, then make your change again."
)

# What a person whose page was out of date can do next, by the action they took.
_AGAIN = {
    "checkout": "Check out again to pay that.",
    "line": "Make your change again if you still want it.",
}


def _since_shown(cart_id: str, shown: int, latest: Aggregate[Cart], where: str) -> str:
    """What changed in the cart since the version the person's page showed, in words:
    "Since you loaded this page: + 1 × Travel mug; total now €30.90. Check out again to pay
    that." """
    before = get_emit().state_at(cart_id, shown) if shown <= latest.version else None
    cart = latest.state
    parts = []
    if before is not None:
        change = diff(before, cart)
        for line in change.changed_lines:
            n = line.quantity_change
            if n:
                parts.append(f"{'+' if n > 0 else '−'} {abs(n)} × {line.line.name}")
        if change.status_changed and cart.status == "checked_out":
            parts.append("the cart was checked out")
    what = "; ".join(parts) or "the cart changed"
    message = f"Since you loaded this page: {what}; total now {money(cart.total)}."
    if cart.is_open:
        message += " " + _AGAIN.get(where.partition(":")[0], "")
    return message.strip()


def _line_swap(
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


def _rejected(
    aggregate: Aggregate[Cart],
    rejection: Rejection,
    *,
    fragment: bool,
    status: int = 422,
    shown: int | None = None,
) -> Response:
    """Nothing changed; show the cart as it is, with the reason next to the action. htmx gets
    the regions with the reason drawn in: 422 for a command the cart refused, 409 for one
    decided on a version the cart has moved past.

    A plain browser gets `303 See Other` to the cart page, the reason kept in the session for
    that page to show once (`_take_rejection`): the address bar then shows the cart, not the
    form's URL, and reload or "Back" never sends the form again. The page it loads answers 200,
    as every GET of a cart page does: the refusal was the POST's, and a reload of the same
    address shows the same cart without the reason. (No #anchor: a browser ignores `autofocus`
    on a page whose address names an element, and the alert's focus is what scrolls to it.)"""
    cart = aggregate.state
    kind, _, sku = rejection.where.partition(":")
    if not cart.is_open or (kind == "line" and cart.line(sku) is None):
        # The action's own spot is gone (the line was removed, or the cart checked out in
        # another tab): say it at the top of the panel instead.
        rejection = Rejection("cart", rejection.message)
    if not fragment:
        session[_REJECTION] = {
            "cart_id": aggregate.id,
            "version": aggregate.version,
            "where": rejection.where,
            "message": rejection.message,
        }
        return see_other(url_for(".show", cart_id=aggregate.id))
    view = _view(aggregate, rejection)
    if rejection.where.startswith("add:") and shown == aggregate.version:
        # Only the product card changes: aim the answer at it instead of the cart panel. Not
        # when the page showed another version: the card's forms would then claim the new one
        # while the rest of the page shows the old, and a decision sent from that page (a
        # checkout) would pass for one taken on what it never showed. So the whole cart then.
        body = _CLEAR_ALERTS + render_template(
            "carts/_product.html", product=find_product(sku), **view
        )
        return fragment_response(body, status, retarget=f"#product-{sku}", reswap="outerHTML")
    return fragment_response(_regions(view, whole_catalog=shown != aggregate.version), status)


# The session's key for the refusal a plain browser is redirected to see. Not Flask's `flash`:
# every page that reads flashed messages takes them all (/ops does), and this one belongs to
# one cart at one version.
_REJECTION = "cart_rejection"


def _take_rejection(aggregate: Aggregate[Cart]) -> Rejection | None:
    """The refusal the session carries for this cart, taken out of it: a cart page shows it
    once. None if there is none, or it was for another cart, or the cart changed since it was
    decided (the page shows the cart as it is now; the reason may no longer hold)."""
    if _REJECTION not in session:
        return None  # (popping an absent key would still send the session cookie anew)
    kept = session.pop(_REJECTION)
    if not isinstance(kept, dict):
        return None
    if kept.get("cart_id") != aggregate.id or kept.get("version") != aggregate.version:
        return None
    return Rejection(str(kept["where"]), str(kept["message"]))


# --- rendering ---------------------------------------------------------------------------------

# Every htmx answer to an action starts by emptying the page's alert slots, as the reload after a
# plain form post would. htmx swaps out-of-band elements before the main content, so the
# answer's own alert survives. (Slots, not the alerts themselves: a target that is always there.)
_CLEAR_ALERTS = '<div hx-swap-oob="innerHTML:.alert-slot"></div>\n'


def _regions(
    view: dict[str, Any], *, product_sku: str | None = None, whole_catalog: bool = False
) -> str:
    """The cart panel (the target), then out of band the header badge and the product card that
    changed, or the whole catalog once the cart is checked out or when the page showed another
    version of the cart (its cards' "in cart" counts may all be out of date)."""
    parts = [
        _CLEAR_ALERTS,
        _shown_version(view["version"]),
        render_template("carts/_cart_panel.html", **view),
        render_template("carts/_cart_badge.html", oob=True, **view),
    ]
    if whole_catalog or not view["cart"].is_open:
        parts.append(render_template("carts/_catalog.html", oob=True, **view))
    elif product_sku is not None and (product := find_product(product_sku)) is not None:
        parts.append(render_template("carts/_product.html", product=product, oob=True, **view))
    return "".join(parts)


def _shown_version(version: int) -> str:
    """Out of band: every form's version field now says `version` (see `command_fields`)."""
    field = get_template_attribute("partials/_macros.html", "version_field")
    return f"{field(version, oob=True)}\n"


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
