"""The app's event store: one `Emit` running the cart decider, built per app, kept in
`app.extensions`.

One `Emit` serves every thread of a process. Several processes (gunicorn workers) each build
their own on the same database; emit's version checks keep them consistent, and pages read
with `catch_up=True` so they show what the other workers wrote.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from flask import Flask, current_app

from emit import Emit, SqlEventStore, create_schema
from webapp.cart import Cart, CartCommand, CartEvent, cart_decider

CartEmit = Emit[CartCommand, CartEvent, Cart]

EXTENSION = "emit"


def init_app(app: Flask) -> None:
    # create=False: building the app does no I/O, so workers start even while the database is
    # still coming up; `flask init-db` creates the tables.
    events = SqlEventStore(app.config["EMIT_STORE_URL"], create=False)
    app.extensions[EXTENSION] = Emit(
        cart_decider, store=events, pool_size=app.config["EMIT_POOL_SIZE"]
    )


def get_emit(app: Flask | None = None) -> CartEmit:
    """The app's `Emit` (the current app's when `app` is None)."""
    return cast(CartEmit, (app or current_app).extensions[EXTENSION])


def init_db(app: Flask | None = None) -> None:
    """Create the event store's tables if they are missing. Never deletes anything: an event
    store only grows. Safe to run while the app serves, and from several processes at once."""
    create_schema(_engine(get_emit(app)))


def store_url(app: Flask | None = None) -> str:
    """The store's URL with any password hidden, for messages."""
    return _engine(get_emit(app)).url.render_as_string(hide_password=True)


def _engine(emit: CartEmit) -> sa.Engine:
    events = emit.store
    if not isinstance(events, SqlEventStore):
        raise TypeError(f"The cart app runs on a SqlEventStore, not {type(events).__name__}.")
    return events.engine
