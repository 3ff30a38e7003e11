"""Rate limits: how often one client may change something, and how often anyone may change one
cart. Every POST counts; GETs do not (they change nothing).

- Opening a cart, or starting one from a version of another (a fork): `RATE_LIMIT_NEW_CARTS`
  per client.
- Every other POST (a cart's commands, the buttons of /ops, any POST route added later):
  `RATE_LIMIT_ACTIONS` per client, all of them together.
- A cart's commands: `RATE_LIMIT_CART_COMMANDS` per cart, whoever sends them, so that no one
  can flip a quantity until a cart's history is too long to read.
- Signing in: `RATE_LIMIT_SIGN_IN` per client, on top of the actions' limit, tight enough that
  guessing an operator's password by trying is hopeless.

A client is its IP address (`request.remote_addr`; behind a proxy, see `TRUSTED_PROXY_COUNT`).
The limits are checked before the view runs, so a refused request changes nothing. It gets
`429 Too Many Requests` with `Retry-After` and a message saying when to try again: a page, or
with htmx the page's alert region (errors.py).

Flask-Limiter keeps the counts where `RATELIMIT_STORAGE_URI` says: `memory://` (the default)
counts per process, so with two gunicorn workers a client gets up to twice the rate; a shared
store such as `redis://host:6379` (with its client installed: `pip install 'limits[redis]'`)
makes the limits hold across workers and hosts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.util import get_remote_address
from limits import parse_many

from webapp import limit_counts, shoppers

EXTENSION = "rate_limits"

SETTINGS = (
    "RATE_LIMIT_NEW_CARTS",
    "RATE_LIMIT_ACTIONS",
    "RATE_LIMIT_CART_COMMANDS",
    "RATE_LIMIT_SIGN_IN",
)

NEW_CARTS = frozenset({"carts.open_cart", "forks.fork_cart"})
SIGN_IN = "auth.sign_in"


def _is_new_cart() -> bool:
    return request.endpoint in NEW_CARTS


def _is_cart_command() -> bool:
    """A POST to a cart that this client may act on. A stranger's requests, refused 403 right
    after, do not count against the cart: else anyone knowing its id could use up its
    shopper's limit."""
    cart_id = (request.view_args or {}).get("cart_id")
    if request.blueprint != "carts" or not isinstance(cart_id, str):
        return False
    return shoppers.carts_public() or shoppers.may_see(cart_id)


def _cart_key() -> str:
    return str((request.view_args or {}).get("cart_id", ""))


def init_app(app: Flask) -> None:
    # A mistyped limit fails here, at start-up, not as a 500 on every POST.
    for name in SETTINGS:
        try:
            parse_many(app.config[name])
        except ValueError:
            raise ValueError(
                f"{name} = {app.config[name]!r} is not a rate limit: write it like "
                "'30 per minute', or several like '60 per minute; 1000 per day'."
            ) from None

    def setting(name: str) -> Callable[[], str]:
        return lambda: str(current_app.config[name])

    def message(what: str) -> Callable[[], str]:
        """The 429's message: what was counted, the limit, and when to try again."""

        def say() -> str:
            breached = limiter.current_limit
            if breached is None:  # Flask-Limiter sets it before it raises: never None here
                return f"{what}. Nothing was changed; try again in a minute."
            item = breached.limit
            period = item.GRANULARITY.name
            per = f"per {period}" if item.multiples == 1 else f"per {item.multiples} {period}s"
            return (
                f"{what}: at most {item.amount} {per}. Nothing was changed; "
                f"try again in {_wait(_retry_after(breached.reset_at))}."
            )

        return say

    # memory:// counts in this process, as limits' own storage does, but without a thread
    # started per request (webapp/limit_counts.py).
    in_memory = app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    limiter = Limiter(
        get_remote_address,
        storage_uri=f"{limit_counts.SCHEME}://" if in_memory else None,
        # A moving window: a client who used up the limit waits for its oldest request to age
        # out, not until the end of a clock minute, and cannot double it across a boundary.
        strategy="moving-window",
        # If a shared store goes down, count in this process's memory meanwhile rather than
        # answer 500 or let everything through.
        in_memory_fallback_enabled=True,
        application_limits=[
            ApplicationLimit(
                setting("RATE_LIMIT_NEW_CARTS"),
                scope="new-carts",
                methods=["POST"],
                exempt_when=lambda: not _is_new_cart(),
                error_message=message("Too many new carts from your address"),
            ),
            ApplicationLimit(
                setting("RATE_LIMIT_ACTIONS"),
                scope="actions",
                methods=["POST"],
                exempt_when=_is_new_cart,
                error_message=message("Too many changes from your address"),
            ),
            ApplicationLimit(
                setting("RATE_LIMIT_SIGN_IN"),
                scope="sign-in",
                methods=["POST"],
                exempt_when=lambda: request.endpoint != SIGN_IN,
                error_message=message("Too many tries to sign in from your address"),
            ),
            ApplicationLimit(
                setting("RATE_LIMIT_CART_COMMANDS"),
                key_function=_cart_key,
                scope="cart",
                methods=["POST"],
                exempt_when=lambda: not _is_cart_command(),
                error_message=message("Too many changes to this cart, from everyone together"),
            ),
        ],
    )
    limiter.init_app(app)
    app.extensions[EXTENSION] = limiter

    @app.after_request
    def add_retry_after(response: Response) -> Response:
        breached = limiter.current_limit
        if response.status_code == 429 and breached is not None:
            response.headers["Retry-After"] = str(_retry_after(breached.reset_at))
        return response


def _retry_after(reset_at: float) -> int:
    """Whole seconds until `reset_at` (a Unix time), at least 1."""
    return max(1, math.ceil(reset_at - time.time()))


def _wait(seconds: int) -> str:
    """'1 second', '45 seconds', '3 minutes', '5 hours': rounded up, as a person says it."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            count = math.ceil(seconds / size)
            return f"{count} {unit}s"
    return "1 second" if seconds == 1 else f"{seconds} seconds"
