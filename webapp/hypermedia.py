"""Page or fragment: how every view decides what to answer, and the headers that go with it.

Every URL answers a plain browser with a whole page (and a POST with `303 See Other`); an htmx
request gets only the fragment it will swap. The decision is made in one place, here, and it
marks the response `Vary: HX-Request`, so no cache hands a fragment to a browser that asked for
a page or the other way round.
"""

from __future__ import annotations

from typing import Any, Literal, cast

import htmx_flask
from flask import Flask, Response, g, redirect
from werkzeug.wrappers import Response as BaseResponse

# htmx's settings, rendered into `<meta name="htmx-config">` by the base layout.
HTMX_CONFIG: dict[str, Any] = {
    # Our Content-Security-Policy allows no inline style or script, and we need neither: htmx
    # would inject a <style> for its indicators, and its hx-on / js: features need eval.
    "includeIndicatorStyles": False,
    "allowEval": False,
    "allowScriptTags": False,
    # New content gets htmx's behaviour in the same moment it appears: a form swapped in is
    # never, however briefly, a plain form that a quick Enter would submit the old way. (Before
    # htmx has arrived at all, static/js/early_actions.js holds such a submit for it.)
    "defaultSettleDelay": 0,
    # "Back" loads the page afresh instead of restoring a stale snapshot of a cart.
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    "historyRestoreAsHxRequest": False,
    # htmx 2 swaps no 4xx/5xx answer by default. Ours are written to be swapped: a rejected
    # command (422) or one decided on a stale page (409) re-renders its region with the
    # reason, other errors retarget the page's alert area. 422 and 409 are expected outcomes,
    # not errors to log.
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "422", "swap": True},
        {"code": "409", "swap": True},  # decided on a page the cart has moved past: the fresh cart
        {"code": "[45]..", "swap": True, "error": True},
    ],
}


def wants_fragment() -> bool:
    """True when htmx asked for this and will swap the answer into the page.

    A boosted request (`hx-boost`) also carries `HX-Request`, yet replaces the whole body, and a
    history restore wants the whole page too: both get a page.
    """
    g.varies_on_htmx = True
    htmx = htmx_flask.request.htmx
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def fragment_response(
    body: str,
    status: int = 200,
    *,
    retarget: str | None = None,
    reswap: str | None = None,
    push_url: str | Literal[False] | None = None,
) -> Response:
    """A fragment for htmx to swap; `retarget` (a CSS selector) and `reswap` override where and
    how, from the server (HX-Retarget, HX-Reswap); `push_url=False` keeps the address bar as it
    is even if the element asked to push its URL, and a URL pushes that one instead of the
    request's (HX-Push-Url)."""
    return cast(
        Response,
        htmx_flask.make_response(body, status, retarget=retarget, reswap=reswap, push_url=push_url),
    )


def see_other(location: str) -> BaseResponse:
    """The answer to a successful POST from a plain form: go and GET the page again, so reload
    and back never repeat the POST."""
    return redirect(location, code=303)


def _add_vary(response: Response) -> Response:
    if g.get("varies_on_htmx"):
        response.vary.add("HX-Request")
    return response


def init_app(app: Flask) -> None:
    app.after_request(_add_vary)
    app.jinja_env.globals["htmx_config"] = HTMX_CONFIG
