"""The app's database, as flaskr's `db.py`: one `Emit` running the cart decider with the
dashboard's projections, the `Policies` runner of its policies and the `HeadWatcher` that pages
and policies follow the store with, built per app, kept in `app.extensions`; `init_db` creates
the tables.

One `Emit` serves every thread of a process. Several processes (gunicorn workers) each build
their own on the same database; emit's version checks keep them consistent, and pages read
with `catch_up=True` so they show what the other workers wrote.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from flask import Flask, current_app

from emit import Emit, HeadWatcher, SqlEventStore, create_schema
from emit.idempotency import module_moved
from emit.subscribers import Policies
from shop.cart import Cart, CartCommand, CartEvent, cart_decider
from webapp import operators
from webapp.read_models import PROJECTIONS
from webapp.receipts import receipt_policy

CartEmit = Emit[CartCommand, CartEvent, Cart]

# The cart's commands were webapp.cart's until 2026-12: a form sent before that deploy and sent
# again after it is still the same command.
module_moved("shop.cart", was="webapp.cart")

EXTENSION = "emit"
POLICIES = "emit_policies"
WATCHER = "emit_watcher"


def init_app(app: Flask) -> None:
    # create=False: building the app does no I/O, so workers start even while the database is
    # still coming up; `flask init-db` creates the tables and installs the read models.
    # queue_writers: on SQLite, gunicorn's worker processes and their policies' threads queue
    # for the write lock in the kernel instead of in SQLite's sleeping busy handler.
    timeout = app.config["EMIT_STORE_TIMEOUT"]
    # notify: on PostgreSQL every append sends NOTIFY, so the pages and policies of every
    # process and host that follow the store hear of it at once (webapp/live.py).
    events = SqlEventStore(
        app.config["EMIT_STORE_URL"],
        create=False,
        timeout=timeout,
        queue_writers=True,
        notify=app.config["EMIT_NOTIFY_CHANNEL"] or None,
    )
    emit: CartEmit = Emit(
        cart_decider,
        store=events,
        pool_size=app.config["EMIT_POOL_SIZE"],
        projections=PROJECTIONS,
        # A request on a cart waits for the one before it at most as long as that one can
        # take on a database that hangs (its group commit's failure, then its own).
        queue_timeout=2 * timeout + 1,
        refusal_retention=app.config["EMIT_REFUSAL_RETENTION"],
    )
    app.extensions[EXTENSION] = emit
    receipts = receipt_policy(
        max_attempts=app.config["RECEIPTS_MAX_ATTEMPTS"],
        first_wait=app.config["RECEIPTS_FIRST_RETRY_WAIT"],
    )
    # One thread per process follows the store's head: for the live pages and the policies.
    watcher = HeadWatcher(events, interval=app.config["LIVE_POLL_INTERVAL"])
    app.extensions[WATCHER] = watcher
    app.extensions[POLICIES] = Policies(
        emit,
        [receipts],
        poll_interval=app.config["EMIT_POLICIES_POLL_INTERVAL"],
        watcher=watcher,
    )


def get_emit(app: Flask | None = None) -> CartEmit:
    """The app's `Emit` (the current app's when `app` is None)."""
    return cast(CartEmit, (app or current_app).extensions[EXTENSION])


def get_policies(app: Flask | None = None) -> Policies:
    """The app's `Policies`: its policies, their runner and the operator's view of them."""
    return cast(Policies, (app or current_app).extensions[POLICIES])


def get_watcher(app: Flask | None = None) -> HeadWatcher:
    """The process's `HeadWatcher`: started by the first page that follows the store, or by
    the policies' runner (webapp/live.py)."""
    return cast(HeadWatcher, (app or current_app).extensions[WATCHER])


def init_db(app: Flask | None = None) -> None:
    """Create the event store's tables if they are missing, install the read models (build
    new ones from the events, rebuild changed ones), the policies' tables and the operators'
    table. Never deletes an event: an event store only grows. Safe to run while the app
    serves, and from several processes at once."""
    emit = get_emit(app)
    create_schema(_engine(emit))
    operators.install(_engine(emit))
    emit.projections.install()
    get_policies(app).install()


def get_engine(app: Flask | None = None) -> sa.Engine:
    """The SQLAlchemy engine of the app's store, for the read models and receipts."""
    return _engine(get_emit(app))


def store_url(app: Flask | None = None) -> str:
    """The store's URL with any password hidden, for messages."""
    return _engine(get_emit(app)).url.render_as_string(hide_password=True)


def _engine(emit: CartEmit) -> sa.Engine:
    events = emit.store
    if not isinstance(events, SqlEventStore):
        raise TypeError(f"The cart app runs on a SqlEventStore, not {type(events).__name__}.")
    return events.engine
