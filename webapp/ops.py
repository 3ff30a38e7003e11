"""The operations page: what the subscribers, the dead letters and the pool of live carts are
doing, with the buttons to repair them (Retry, Skip, Evict) and the demo's receipt-printer switch.

It refreshes itself while open: the panel asks for itself again every `OPS_REFRESH_SECONDS`
(htmx `every`), and gets the panel alone. Every button is a plain POST form: without JavaScript
it answers `303 See Other` back to the page with a message; with htmx it answers the refreshed
panel, with the message in it. A retry that fails again (422), or a dead letter someone else is
retrying (409), is said in the panel, or on the whole page without JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    make_response,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from emit import DeadLetterBusy, DeadLetterNotFound, PolicyFailed
from webapp import forms
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.receipts import jam_printer, printer_jammed
from webapp.store import get_emit, get_engine, get_subscribers

bp = Blueprint("ops", __name__, url_prefix="/ops")

SHOWN = 50  # dead letters and live carts listed


@bp.get("")
def index() -> str:
    """The page; for htmx (its own refresh), the panel alone."""
    fragment = wants_fragment()
    view = _view(notice=" ".join(str(m) for m in get_flashed_messages()) or None)
    return render_template("_ops_panel.html" if fragment else "ops.html", **view)


@bp.get("/dead-letters/<int:dead_letter_id>")
def dead_letter(dead_letter_id: int) -> str:
    """One dead letter, with the traceback of its last failure."""
    try:
        letter = get_subscribers().dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    return render_template("dead_letter.html", letter=letter)


@bp.post("/dead-letters/<int:dead_letter_id>/retry")
def retry(dead_letter_id: int) -> Response:
    try:
        get_subscribers().retry_dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    except PolicyFailed as error:
        return _trouble(str(error), 422)
    except DeadLetterBusy as error:
        return _trouble(str(error), 409)
    return _done(f"Dead letter {dead_letter_id} was handled, and is gone.")


@bp.post("/dead-letters/<int:dead_letter_id>/skip")
def skip(dead_letter_id: int) -> Response:
    try:
        letter = get_subscribers().skip_dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    except DeadLetterBusy as error:
        return _trouble(str(error), 409)
    return _done(
        f"Dead letter {dead_letter_id} was skipped: {letter.subscriber} will never handle "
        f"{letter.event_type} at position {letter.position}."
    )


@bp.post("/pool/<cart_id>/evict")
def evict(cart_id: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    if get_emit().evict(cart_id):
        return _done(f"{cart_id} left the pool; its next use rebuilds it from its events.")
    return _done(f"{cart_id} was not in the pool.")


@bp.post("/receipt-printer")
def receipt_printer() -> Response:
    value = request.form.get("jammed", "")
    if value not in ("0", "1"):
        raise BadRequest("The printer is jammed (1) or working (0).")
    jam_printer(get_engine(), value == "1")
    if value == "1":
        return _done("The receipt printer is jammed: checkouts now fail to get a receipt.")
    return _done("The receipt printer works again: retry the dead letters.")


def _view(*, notice: str | None = None, alert: str | None = None) -> dict[str, Any]:
    emit, subscribers = get_emit(), get_subscribers()
    return {
        "statuses": subscribers.status(),
        "dead_letters": subscribers.dead_letters(limit=SHOWN),
        "runner": subscribers,
        "pool": emit.live_aggregates(limit=SHOWN),
        "metrics": emit.metrics(),
        "printer_jammed": printer_jammed(get_engine()),
        "refresh": current_app.config["OPS_REFRESH_SECONDS"],
        "notice": notice,
        "alert": alert,
    }


def _done(message: str) -> Response:
    if wants_fragment():
        return fragment_response(render_template("_ops_panel.html", **_view(notice=message)))
    flash(message)
    return see_other(url_for(".index"))


def _trouble(message: str, status: int) -> Response:
    """Nothing changed, and why: in the panel for htmx, on the whole page without it."""
    if wants_fragment():
        body = render_template("_ops_panel.html", **_view(alert=message))
        return fragment_response(body, status)
    body = render_template("ops.html", whole_page=True, **_view(alert=message))
    return make_response(body, status)
