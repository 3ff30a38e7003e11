"""Error pages: every HTTP error gets a page that says what went wrong in plain words, or, for
htmx, a fragment shown in the page's alert area (`#page-alert`) while the rest stays put.

Kinds: 400 malformed input (and a failed CSRF check), 404 unknown page or cart, 405 wrong method,
413 oversized request, 500 our bug, 503 the event store failed (any `StorageError`, on every
route), in words that fit why: unreachable, not answering in time, full, read-only. None of them
reveals internals: details go to the log, one line per failure (the traceback at DEBUG level).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from emit import StorageError, StorageErrorKind
from webapp.hypermedia import fragment_response, wants_fragment

TITLES = {
    400: "That request did not make sense",
    401: "Operators only",
    403: "Not for you to see",
    404: "Not found",
    405: "Not allowed",
    411: "Send the length of the data",
    413: "Too much data",
    429: "Too many requests",
    500: "Something went wrong on our side",
    503: "The shop is unavailable",
}


def _http_error(error: HTTPException) -> Response:
    code = error.code or 500
    title = TITLES.get(code, error.name)
    message = error.description or ""
    if isinstance(error, CSRFError):
        title = "This form has expired"
        message = (
            f"It is out of date or did not come from this site: {error.description} "
            "Reload the page and try again."
        )
    elif isinstance(error, InternalServerError):
        message = "The error has been logged. Please try again in a moment."
    # Keep the headers the error needs, such as 405's Allow.
    headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
    if wants_fragment():
        body = render_template("partials/_page_alert.html", code=code, title=title, message=message)
        # The page stays as it was, so must its URL: a link that pushes its URL into the
        # address bar (the history page's scrubber, the dashboard's pager) does not on an error.
        response = fragment_response(
            body, code, retarget="#page-alert", reswap="innerHTML", push_url=False
        )
    else:
        body = render_template("error.html", code=code, title=title, message=message)
        response = make_response(body, code)
    response.headers.extend(headers)
    return response


# Why the store failed, by `StorageError.kind`: the first half of a 503's message.
STORAGE_CAUSES = {
    StorageErrorKind.UNREACHABLE: (
        "The event store cannot be reached: its database is down or the network to it is."
    ),
    StorageErrorKind.TIMEOUT: "The event store did not answer in time: it is overloaded or stuck.",
    StorageErrorKind.FULL: (
        "The event store is full (its disk or its quota): nothing can be saved until an "
        "operator frees space."
    ),
    StorageErrorKind.READ_ONLY: (
        "The event store is read-only right now (a standby database or a read-only disk): "
        "nothing can be saved. Pages that only read still work."
    ),
    StorageErrorKind.OTHER: (
        "The event store failed. (If this is a new installation, run `flask --app webapp init-db`.)"
    ),
}

# Seconds a client is asked to wait before trying again (`Retry-After`).
RETRY_AFTER = 5


def storage_message(error: StorageError) -> str:
    """What to tell the person whose request met `error`: why the store failed, then what
    became of their change, as far as is known (never "nothing was changed" unless it is so)."""
    return f"{STORAGE_CAUSES[error.kind]} {_outcome(error)}"


def _outcome(error: StorageError) -> str:
    if error.maybe_stored:  # the commit's answer was lost
        if request.endpoint == "carts.open_cart":  # there is no cart page to reload yet
            return "The new cart may have been opened: the dashboard lists it if so."
        return "This may have been saved. Reload the cart to see; sending it again is safe."
    if g.get("command_stored"):  # the change was stored; drawing the answer failed
        return (
            "Your change was saved, but the page could not be drawn. Reload the cart to see "
            "it; sending it again is safe."
        )
    if request.method == "POST":
        return "Nothing was changed; try again in a moment."
    return "Try again in a moment."


def _storage_error(error: StorageError) -> Response:
    # Drawing the error page must not ask the store again (who is signed in, say).
    g.store_failed = True
    # An outage fails every request: one line each, not a traceback each.
    cause = " ".join(str(error).split())
    current_app.logger.error("Event store failure (%s): %s", error.kind, cause)
    current_app.logger.debug("Event store failure traceback", exc_info=error)
    return _http_error(ServiceUnavailable(storage_message(error), retry_after=RETRY_AFTER))


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StorageError, _storage_error)
