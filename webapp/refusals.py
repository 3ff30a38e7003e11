"""A refused command's answer: nothing changed, and the person is told why next to what they
did. The cart refused it (422), or it was decided on a version of the cart their page no longer
shows (409: "Since you loaded this page: ..."). htmx gets the regions with the reason drawn in;
a plain browser gets `303 See Other` to the cart page, the reason kept in the session for that
page to show once."""

from __future__ import annotations

from flask import render_template, session, url_for
from werkzeug.wrappers import Response

from emit import Aggregate
from shop.cart import Cart
from shop.catalog import find_product
from webapp.cart_view import CLEAR_ALERTS, Rejection, context, regions
from webapp.db import get_emit
from webapp.formatting import money
from webapp.hypermedia import fragment_response, see_other
from webapp.timeline import diff

KEY_REUSED = (
    "This form was sent before with other values, and that change was saved. Reload the cart "
    "to see it, then make your change again."
)

# What a person whose page was out of date can do next, by the action they took.
_AGAIN = {
    "checkout": "Check out again to pay that.",
    "line": "Make your change again if you still want it.",
}


def since_shown(cart_id: str, shown: int, latest: Aggregate[Cart], where: str) -> str:
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


def refused(
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
    that page to show once (`take_refusal`): the address bar then shows the cart, not the
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
        return see_other(url_for("carts.show", cart_id=aggregate.id))
    page = context(aggregate, rejection)
    if rejection.where.startswith("add:") and shown == aggregate.version:
        # Only the product card changes: aim the answer at it instead of the cart panel. Not
        # when the page showed another version: the card's forms would then claim the new one
        # while the rest of the page shows the old, and a decision sent from that page (a
        # checkout) would pass for one taken on what it never showed. So the whole cart then.
        body = CLEAR_ALERTS + render_template(
            "carts/_product.html", product=find_product(sku), **page
        )
        return fragment_response(body, status, retarget=f"#product-{sku}", reswap="outerHTML")
    return fragment_response(regions(page, whole_catalog=shown != aggregate.version), status)


# The session's key for the refusal a plain browser is redirected to see. Not Flask's `flash`:
# every page that reads flashed messages takes them all (/ops does), and this one belongs to
# one cart at one version.
_REJECTION = "cart_rejection"


def take_refusal(aggregate: Aggregate[Cart]) -> Rejection | None:
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
