"""Shoppers and operators told apart: which carts a browser session opened, and who may see a
cart.

`CARTS_PUBLIC` on (the demo): anyone sees the dashboard of every cart and any cart's page,
history and export, and may change any open cart; the dashboard says so. Off (production): the
dashboard of every cart, and the carts themselves, are for signed-in operators; a shopper sees,
changes and reads the history of only the carts their own browser session opened, and the
dashboard lists just those. Another cart's URL gets 403 whether or not that cart exists, so
guessing ids tells nothing.

The ids of the carts a session opened are kept in Flask's session, a cookie signed with the
`SECRET_KEY`: a shopper can drop it (and lose sight of those carts) but not add to it.
"""

from __future__ import annotations

from flask import current_app, request, session
from werkzeug.exceptions import Forbidden

from webapp import forms
from webapp.auth import is_operator

SESSION_KEY = "carts_opened"
# The most a session remembers, newest kept: a cookie holds about 4 KB, and ids are ~15 bytes.
KEPT = 50


def remember(cart_id: str) -> None:
    """Note that this browser session opened `cart_id`."""
    opened = [known for known in session.get(SESSION_KEY, []) if known != cart_id]
    opened.append(cart_id)
    session[SESSION_KEY] = opened[-KEPT:]


def opened_here() -> list[str]:
    """The carts this browser session opened, the newest first."""
    opened = session.get(SESSION_KEY, [])
    return [cart_id for cart_id in reversed(opened) if isinstance(cart_id, str)]


def carts_public() -> bool:
    return bool(current_app.config["CARTS_PUBLIC"])


def sees_every_cart() -> bool:
    """True when this request may see every cart: the carts are public, or an operator asks."""
    return carts_public() or is_operator()


def may_see(cart_id: str) -> bool:
    return sees_every_cart() or cart_id in opened_here()


def check_cart() -> None:
    """`before_request` of the blueprints whose URLs name a cart: 403 for a cart this request
    may not see (a malformed id stays a 400)."""
    if request.view_args is None or "cart_id" not in request.view_args:
        return
    if carts_public():  # the demo: nothing to check, and no session to read
        return
    cart_id = forms.cart_id(str(request.view_args["cart_id"]))
    if not may_see(cart_id):
        raise Forbidden(
            f"Cart “{cart_id}” was not opened in this browser, and only its shopper and the "
            "shop's operators may see it. The dashboard lists the carts you opened here."
        )
