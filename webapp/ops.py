"""The operations page: what the subscribers, the dead letters and the pool of live carts are
doing, with the buttons to repair them (Retry, Skip, Evict) and the demo's receipt-printer switch.
All of it is for signed-in operators (`webapp.auth`).

It refreshes itself while open, in two parts: the subscribers (with the dead letters and the
printer switch), and this process's counters and pool, which change with every page anyone reads.
Each part asks for itself again when events are appended, by any process (it follows the head
position: webapp/live.py), and every `OPS_REFRESH_SECONDS` for what changes without an event (a
checkpoint, a dead letter), saying what it shows (a digest), and gets "204 No Content" while
nothing changed (so nothing moves under the pointer), the new part when something did. Every button
is a plain POST form: without JavaScript it answers `303 See Other` back to the page with a
message; with htmx it answers the refreshed part, with the message in it. A retry that fails again
(422), or a dead letter someone else is retrying (409), is said in the part with htmx; without
JavaScript it too is a 303 back to the page, which says it once, focused (the address stays /ops,
and a reload retries nothing).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup
from werkzeug.exceptions import BadRequest
from werkzeug.wrappers import Response

from emit import DeadLetterBusy, DeadLetterNotFound, PolicyFailed, UnknownSubscriber
from webapp import forms
from webapp.auth import require_operator
from webapp.db import get_emit, get_engine, get_policies
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.receipts import jam_printer, printer_jammed

bp = Blueprint("ops", __name__, url_prefix="/ops")
# Every page and button here, the tracebacks included, is for operators.
bp.before_request(require_operator)

SHOWN = 50  # dead letters and live carts listed
_CSRF_FIELD = re.compile(r'<input type="hidden" name="csrf_token" value="[^"]*">')


@bp.get("")
def index() -> Response | str:
    """The page; for htmx (a part refreshing itself, `?part=`), that part alone, or 204 if it
    would show what the browser has (`?seen=<digest>`)."""
    notices: dict[str, str] = {}
    alerts: dict[str, str] = {}
    for flashed in get_flashed_messages(with_categories=True):
        category, message = flashed if isinstance(flashed, tuple) else ("subscribers", flashed)
        kind, _, part = category.rpartition(":")  # "part", or "alert:part" (`_trouble`)
        (alerts if kind == "alert" else notices)[part] = message
    if not wants_fragment():
        panels = [_panel(part, notice=notices.get(part), alert=alerts.get(part)) for part in PARTS]
        return render_template(
            "ops/ops.html", panels=panels, refresh=_refresh(), whole_page=bool(alerts)
        )
    part = request.args.get("part", "")
    if part not in PARTS:
        raise BadRequest(f"The operations page has parts {', '.join(PARTS)}.")
    panel = _panel(part)
    if request.args.get("seen") == panel.digest:
        return Response(status=204)
    return render_template("ops/_ops_panel.html", panel=panel, refresh=_refresh())


# Dead letter ids are 64-bit integers in the database: a larger number is no dead letter (404),
# not a driver error.
MAX_ID = 2**63 - 1


@bp.get(f"/dead-letters/<int(max={MAX_ID}):dead_letter_id>")
def dead_letter(dead_letter_id: int) -> str:
    """One dead letter, with the traceback of its last failure."""
    try:
        letter = get_policies().dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    return render_template("ops/dead_letter.html", letter=letter)


@bp.post(f"/dead-letters/<int(max={MAX_ID}):dead_letter_id>/retry")
def retry(dead_letter_id: int) -> Response:
    try:
        get_policies().retry_dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    except PolicyFailed as error:
        return _trouble("subscribers", str(error), 422)
    except DeadLetterBusy as error:
        return _trouble("subscribers", str(error), 409)
    except UnknownSubscriber as error:  # parked by a policy this app no longer runs
        return _trouble("subscribers", str(error), 409)
    return _done("subscribers", f"Dead letter {dead_letter_id} was handled, and is gone.")


@bp.post(f"/dead-letters/<int(max={MAX_ID}):dead_letter_id>/skip")
def skip(dead_letter_id: int) -> Response:
    try:
        letter = get_policies().skip_dead_letter(dead_letter_id)
    except DeadLetterNotFound as error:
        abort(404, str(error))
    except DeadLetterBusy as error:
        return _trouble("subscribers", str(error), 409)
    return _done(
        "subscribers",
        f"Dead letter {dead_letter_id} was skipped: {letter.policy} will never handle "
        f"{letter.event_type} at position {letter.position}.",
    )


@bp.post("/pool/<cart_id>/evict")
def evict(cart_id: str) -> Response:
    cart_id = forms.cart_id(cart_id)
    if get_emit().evict(cart_id):
        return _done("live", f"{cart_id} left the pool; its next use rebuilds it from its events.")
    return _done("live", f"{cart_id} was not in the pool.")


@bp.post("/receipt-printer")
def receipt_printer() -> Response:
    value = request.form.get("jammed", "")
    if value not in ("0", "1"):
        raise BadRequest("The printer is jammed (1) or working (0).")
    jam_printer(get_engine(), value == "1")
    if value == "1":
        return _done(
            "subscribers", "The receipt printer is jammed: checkouts now fail to get a receipt."
        )
    return _done("subscribers", "The receipt printer works again: retry the dead letters.")


@dataclass(frozen=True, slots=True)
class Panel:
    """One part of the page: its content, rendered, a digest of it, and a message for it (kept
    out of the digest, so it stays until the content changes)."""

    part: str
    label: str
    content: Markup
    digest: str
    head: int  # the head position when it was drawn: the page follows it (webapp/live.py)
    notice: str | None = None
    alert: str | None = None


def _subscribers() -> str:
    policies = get_policies()
    return render_template(
        "ops/_ops_subscribers.html",
        statuses=policies.status(),
        dead_letters=policies.dead_letters(limit=SHOWN),
        runner=policies,
        printer_jammed=printer_jammed(get_engine()),
    )


def _live() -> str:
    emit = get_emit()
    return render_template(
        "ops/_ops_live.html", pool=emit.live_aggregates(limit=SHOWN), metrics=emit.metrics()
    )


PARTS: dict[str, tuple[str, Callable[[], str]]] = {
    "subscribers": ("Subscribers and dead letters", _subscribers),
    "live": ("This process: counters and live carts", _live),
}


def _panel(part: str, *, notice: str | None = None, alert: str | None = None) -> Panel:
    label, render = PARTS[part]
    head = get_emit().store.head_position()
    content = render()
    # The CSRF token in each form is signed anew on every render: leave it out of the digest.
    compared = _CSRF_FIELD.sub("", content)
    digest = hashlib.blake2b(compared.encode(), digest_size=8).hexdigest()
    return Panel(part, label, Markup(content), digest, head, notice, alert)


def _refresh() -> int:
    return int(current_app.config["OPS_REFRESH_SECONDS"])


def _done(part: str, message: str) -> Response:
    if wants_fragment():
        panel = _panel(part, notice=message)
        return fragment_response(
            render_template("ops/_ops_panel.html", panel=panel, refresh=_refresh())
        )
    flash(message, part)
    return see_other(url_for(".index"))


def _trouble(part: str, message: str, status: int) -> Response:
    """Nothing changed, and why: in the part for htmx, with `status`; without it, `303 See
    Other` back to the page, which shows it once (a GET, 200), as a cart page shows a refusal
    (see `refusals.refused`)."""
    if wants_fragment():
        panel = _panel(part, alert=message)
        body = render_template("ops/_ops_panel.html", panel=panel, refresh=_refresh())
        return fragment_response(body, status)
    flash(message, f"alert:{part}")
    return see_other(url_for(".index"))
