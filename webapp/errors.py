"""Error pages: every HTTP error gets a page that says what went wrong in plain words, or, for
htmx, a fragment shown in the page's alert area (`#page-alert`) while the rest stays put.

Kinds: 400 malformed input (and a failed CSRF check), 404 unknown page or cart, 405 wrong method,
413 oversized request, 500 our bug, 503 the event store is unreachable. None of them reveals
internals: details go to the log.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, make_response, render_template
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from emit import StorageError
from webapp.hypermedia import fragment_response, wants_fragment

TITLES = {
    400: "That request did not make sense",
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
        body = render_template("_page_alert.html", code=code, title=title, message=message)
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


def _storage_error(error: StorageError) -> Response:
    current_app.logger.error("Event store failure: %s", error, exc_info=error)
    return _http_error(
        ServiceUnavailable(
            "The event store cannot be reached. Nothing was changed; try again in a moment. "
            "(If this is a new installation, run `flask --app webapp init-db`.)"
        )
    )


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(StorageError, _storage_error)
