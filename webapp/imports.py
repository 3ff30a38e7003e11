"""Opening an `emit.stream/1` export (from this app's "Export events", or attached to a bug
report) in the timeline, read only and without storing anything.

`GET /history/import` is the upload form. `POST /history/import` reads the file (or, for the
page's own moves, the document it sends back in a hidden field), checks it as emit's
`read_export` does, and draws the cart at the version asked for: the slider, the step buttons,
the comparison and the event list are all one POST form, since the export lives in no store a
link could name. A file that is not an export of cart events gets a 400 saying what does not
fit: not JSON (where), another format or decider, a missing or mistyped field (of which event),
versions that skip, an event type carts do not have, or a file over `IMPORT_MAX_BYTES`
(webapp/security.py refuses that one before it is read).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template, request
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest

from emit import RecordedEvent
from emit.codec import encoder
from emit.export import InvalidExport, event_document, read_export
from shop.cart import Cart, CartEvent, cart_decider
from webapp import forms
from webapp.scenarios import MAX_EVENTS, scenario, too_long
from webapp.timeline import CartTimeline

bp = Blueprint("imports", __name__, url_prefix="/history/import")

_encode_cart = encoder(Cart)


@bp.get("")
def upload() -> str:
    """The form to choose an export file."""
    return render_template("imports/upload.html")


@bp.post("")
def open_export() -> str:
    """The export's cart at the version the form asks for (the latest at first)."""
    text = _document_text()
    timeline = CartTimeline(_events(text))
    version = _number("go") if request.form.get("go") else _number("version")
    version = timeline.latest if version is None else _check(timeline, version)
    compare = _number("compare")
    if compare is not None:
        compare = _check(timeline, compare, "to compare with")
    base = compare if compare is not None else (version - 1 if version else None)
    event = timeline.event(version)
    if version > MAX_EVENTS:
        test = too_long(timeline.cart_id, version)
    else:
        after = timeline.event(version + 1) if version < timeline.latest else None
        test = scenario(timeline.cart_id, version, timeline.events[:version], after)
    view: dict[str, Any] = {
        "imported": True,
        "document_text": text,
        "file_name": _file_name(),
        "cart_id": timeline.cart_id,
        "latest": timeline.latest,
        "version": version,
        "compare": compare,
        "base": base,
        "at": None,
        "event": event,
        "event_document": event_document(cart_decider, event) if event else None,
        "cart": timeline.state(version),
        "state_document": _encode_cart(timeline.state(version)),
        "diff": timeline.diff(version, base) if base is not None else None,
        "timeline": timeline,
        "test": test,
    }
    # htmx picks the region it swaps (#imported) out of the whole page: one answer for both.
    return render_template("imports/imported.html", **view)


def _document_text() -> str:
    """The export's text: the uploaded file, or the page's hidden copy of it."""
    upload = request.files.get("file")
    if isinstance(upload, FileStorage) and upload.filename:
        raw: bytes = upload.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise BadRequest(
                f"This file is not text in UTF-8 (byte {error.start + 1} is not), so it is not "
                "an export."
            ) from None
    text: str = request.form.get("document", "")
    if not text:
        raise BadRequest("Choose an export file to open (a .json file from “Export events”).")
    return text


def _events(text: str) -> list[RecordedEvent[CartEvent]]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(
            f"This file is not JSON: {error.msg} at line {error.lineno}, column {error.colno}. "
            "An export is the JSON document “Export events” saves."
        ) from None
    except RecursionError:  # the parser's own limit, far past any export's nesting
        raise BadRequest(
            "This file is not JSON this site can read: it nests arrays or objects too deeply. "
            "An export is the JSON document “Export events” saves."
        ) from None
    try:
        return read_export(cart_decider, document)
    except InvalidExport as error:
        raise BadRequest(f"This export does not fit: {error}") from None


def _number(field: str) -> int | None:
    raw = request.form.get(field, "").strip()
    if not raw:
        return None
    what = "a version to compare with" if field == "compare" else "a version"
    return forms.version(raw, what=what)


def _check(timeline: CartTimeline, version: int, purpose: str = "") -> int:
    if not 0 <= version <= timeline.latest:
        purpose = f" {purpose}" if purpose else ""
        raise BadRequest(
            f"The export of “{timeline.cart_id}” has versions 0 to {timeline.latest}; there is "
            f"no version {version}{purpose}."
        )
    return version


def _file_name() -> str:
    upload = request.files.get("file")
    if isinstance(upload, FileStorage) and upload.filename:
        return upload.filename
    return request.form.get("file_name", "")[:200]
