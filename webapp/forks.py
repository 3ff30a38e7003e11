"""Starting a new cart from a version of another one (`Emit.fork`): "two futures of one past".

`POST /carts/<id>/fork` with the version to start from copies the cart's events up to it into
a new cart and goes to the new cart's history (303). The new cart is this browser session's,
as a cart it opened is. At most `FORK_MAX_EVENTS` events are copied: the copy is one
transaction, and other appends wait for it. Like opening a cart, the form's key names the new
cart, so a form sent twice makes one fork; it counts against the limit of new carts
(webapp/limits.py).
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, request, url_for
from werkzeug.exceptions import Conflict
from werkzeug.wrappers import Response

from webapp import forms, shoppers
from webapp.cart_ids import new_cart
from webapp.cart_view import no_such_cart
from webapp.db import get_emit
from webapp.hypermedia import see_other

bp = Blueprint("forks", __name__, url_prefix="/carts")
bp.before_request(shoppers.check_cart)


@bp.post("/<cart_id>/fork")
def fork_cart(cart_id: str) -> Response:
    """A new cart whose versions 1 to N are this cart's, N being the form's `version`; 404 for a
    cart or version it does not have, 409 from a checked-out version (it can take no command)."""
    emit = get_emit()
    cart_id = forms.cart_id(cart_id)
    raw = request.form.get("version", "").strip()
    if not raw:
        abort(400, "Say which version of the cart the new one starts from.")
    version = forms.version(raw)
    latest = emit.store.stream_version(cart_id)
    if not latest:
        abort(404, no_such_cart(cart_id))
    if not 1 <= version <= latest:
        abort(404, f"Cart “{cart_id}” has versions 1 to {latest} to start from; not {version}.")
    most = current_app.config["FORK_MAX_EVENTS"]
    if version > most:
        abort(
            400,
            f"A new cart copies at most {most:,} events (FORK_MAX_EVENTS): start from version "
            f"{most:,} or earlier. Nothing was changed.",
        )
    if not emit.state_at(cart_id, version).is_open:
        raise Conflict(
            f"Version {version} of cart “{cart_id}” is checked out, and a checked-out cart takes "
            "no changes: start from a version before its checkout."
        )
    key = forms.command_key(request.form)

    def made_by_this_form(new_id: str) -> bool:
        fork = emit.fork_of(new_id)
        return fork is not None and (fork.origin_id, fork.version) == (cart_id, version)

    new_id = new_cart(
        lambda new_id: emit.fork(cart_id, version, new_id),
        key,
        made_by_this_form=made_by_this_form,
        purpose="fork ",
    )
    shoppers.remember(new_id)
    return see_other(url_for("history.show", cart_id=new_id))
