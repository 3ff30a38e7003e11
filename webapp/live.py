"""Live pages: a page hears that what it shows changed, whoever changed it, and asks for it again.

What a page follows is a *mark*: a cart page its cart's version, /ops the head position. The
process's `HeadWatcher` (emit/watcher.py, one thread) knows both: it follows the store's head,
from any process or host (on PostgreSQL woken by `NOTIFY`, else every `LIVE_POLL_INTERVAL`).
`GET /live/...` answers in one of two ways:

- `Accept: text/event-stream` (the page's `EventSource`, static/js/live.js): a stream of
  server-sent events, the mark at once and again each time it changes, a comment every
  `_KEEPALIVE` seconds, and the end after `LIVE_STREAM_SECONDS` (the browser reconnects): a
  worker never waits long for a stream at shutdown. At most `LIVE_MAX_STREAMS` streams per
  process, each holding one of its threads; past that, 503 and the page polls instead.
- otherwise, conditional polling: the mark as an `ETag`, and 304 when `If-None-Match` has it.

Either way no HTML travels: the page compares the mark with the one it shows and, when they
differ, its regions (`hx-trigger="live"`) ask for themselves with htmx. Making one more page
live is a route here that returns `follow(<its mark>)`, and `live_attributes` on the region.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import cast

from flask import Blueprint, Flask, abort, current_app, request
from werkzeug.wrappers import Response

from emit import HeadWatcher, StorageError
from webapp import forms, shoppers
from webapp.db import get_watcher

bp = Blueprint("live", __name__, url_prefix="/live")
bp.before_request(shoppers.check_cart)

_STREAMS = "emit_live_streams"
# A comment this often on an idle stream: a proxy keeps it open, a gone browser is noticed.
_KEEPALIVE = 15.0

# What a page follows: its mark now, and a wait until the mark passes a value (or a timeout),
# which returns the mark then.
Mark = Callable[[HeadWatcher], int]
Wait = Callable[[HeadWatcher, int, float], int]


def init_app(app: Flask) -> None:
    app.extensions[_STREAMS] = threading.BoundedSemaphore(app.config["LIVE_MAX_STREAMS"])
    app.register_blueprint(bp)


@bp.get("/log")
def log() -> Response:
    """The head position: pages that show the whole log, or what follows it (/ops). How busy
    the shop is, so only for those who may see every cart."""
    if not shoppers.sees_every_cart():
        abort(403, "Only the shop's operators may follow the whole log.")
    return follow(
        lambda watcher: watcher.position,
        lambda watcher, after, timeout: watcher.wait(after, timeout),
    )


@bp.get("/carts/<cart_id>")
def cart(cart_id: str) -> Response:
    """The cart's version: its page and its history."""
    cart_id = forms.cart_id(cart_id)
    return follow(
        lambda watcher: watcher.version(cart_id),
        lambda watcher, after, timeout: watcher.wait_version(cart_id, after, timeout),
    )


def follow(mark: Mark, wait: Wait) -> Response:
    """The answer to a page that follows `mark`: a stream of it (woken by `wait`), or a
    conditional GET."""
    watcher = get_watcher()
    watcher.start()
    if watcher.failure is not None:
        # Its last read failed: the database is away (a 503, as for any page) or back.
        watcher.store.head_position()
    if request.accept_mimetypes.best == "text/event-stream":
        streams = cast(threading.BoundedSemaphore, current_app.extensions[_STREAMS])
        if not streams.acquire(blocking=False):
            return _busy()
        seconds = float(current_app.config["LIVE_STREAM_SECONDS"])
        return Response(
            _stream(watcher, mark, wait, seconds, streams.release),
            mimetype="text/event-stream",
            headers={
                "Cache-Control": "no-store",
                # nginx buffers a proxied answer unless told not to; a stream must not wait.
                "X-Accel-Buffering": "no",
            },
        )
    current = str(mark(watcher))
    response = Response(current, mimetype="text/plain")
    response.set_etag(current)
    response.headers["Cache-Control"] = "no-cache"
    return response.make_conditional(request)


def _busy() -> Response:
    response = Response(
        "This server follows as many pages as it has threads for; this one polls instead.",
        status=503,
        mimetype="text/plain",
    )
    response.headers["Retry-After"] = "5"
    return response


def _stream(
    watcher: HeadWatcher, mark: Mark, wait: Wait, seconds: float, release: Callable[[], None]
) -> Iterator[str]:
    """The server-sent events of one page. Ends after `seconds`, when the watcher stops, or
    when the database fails (the browser reconnects); gives its thread's slot back at the end,
    also when the browser went away (the server closes the generator)."""
    try:
        deadline = time.monotonic() + seconds
        # The browser waits this long before it reconnects, after the stream ends.
        yield "retry: 500\n\n"
        sent = mark(watcher)
        yield _changed(sent)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or watcher.stopping:
                return
            current = wait(watcher, sent, min(left, _KEEPALIVE))
            if current > sent:
                sent = current
                yield _changed(sent)
            else:
                yield ": still here\n\n"
    except StorageError:
        return
    finally:
        release()


def _changed(mark: int) -> str:
    return f"id: {mark}\nevent: changed\ndata: {mark}\n\n"
