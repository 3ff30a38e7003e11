"""The cart dashboard: a Flask + htmx web app running the shopping-cart domain on emit.

`create_app()` builds everything (settings, the event store, the dashboard's queries, blueprints,
error pages, CLI commands); nothing is created at import time. Run it with
`flask --app webapp run`, or under gunicorn: `gunicorn -w 2 --threads 256 'webapp:create_app()'`
(threads for the live pages' streams: docs/operations.md).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from htmx_flask import Htmx

from webapp import (
    auth,
    carts,
    cli,
    dashboard,
    db,
    errors,
    events,
    forks,
    formatting,
    glossary,
    history,
    hypermedia,
    imports,
    limits,
    live,
    ops,
    queries,
    read_models_page,
    rebuilds,
    runner,
    security,
)

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The cart dashboard, configured from (later ones win): the defaults below,
    `instance/config.py` if it exists, `FLASK_*` environment variables (`FLASK_EMIT_STORE_URL`
    becomes `EMIT_STORE_URL`), then `test_config`.

    The event store is opened but not touched: creating its tables is `flask init-db`'s job.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_mapping(
        # Signs the session cookie that holds the CSRF secret. Set your own in
        # instance/config.py or FLASK_SECRET_KEY; every worker of one site needs the same one.
        SECRET_KEY="dev",
        # Where events are stored: a SQLite file in instance/, or a PostgreSQL URL.
        EMIT_STORE_URL=f"sqlite:///{Path(app.instance_path) / 'emit.sqlite3'}",
        # Seconds that any wait for the event store may last: connecting, a pooled connection,
        # each statement, each lock (SQLite: its busy timeout). A request to a database that is
        # down or hangs answers 503 after about this long, and its worker is free again.
        EMIT_STORE_TIMEOUT=5.0,
        # How many live carts each process keeps in memory.
        EMIT_POOL_SIZE=1000,
        # How many refused commands the store keeps (the newest; shown in each cart's
        # history): 0 keeps none.
        EMIT_REFUSAL_RETENTION=10_000,
        # Run the policies (receipts) in a background thread of each web process, started by
        # its first request; off when `flask emit run-policies` runs them on its own.
        # (Formerly EMIT_RUN_SUBSCRIBERS: see RENAMED_SETTINGS.)
        EMIT_RUN_POLICIES=True,
        # The longest the runner waits before looking for events other processes appended.
        # (Formerly EMIT_SUBSCRIBERS_POLL_INTERVAL.)
        EMIT_POLICIES_POLL_INTERVAL=1.0,
        # On PostgreSQL, the channel every append NOTIFYs, so that live pages and policies in
        # every process and host hear of it at once (an empty value: none; they poll).
        EMIT_NOTIFY_CHANNEL="emit_appended",
        # Live pages (webapp/live.py): seconds between the reads of the head position (the
        # only way to hear appends on SQLite, a fallback beside NOTIFY on PostgreSQL); how many
        # pages each process streams to at most (each holds one of its threads: keep it below
        # gunicorn's --threads, others poll); how long one stream lasts before the browser
        # reconnects (a worker shutting down waits at most this long for it).
        LIVE_POLL_INTERVAL=0.5,
        LIVE_MAX_STREAMS=224,
        LIVE_STREAM_SECONDS=25,
        # Seconds between refreshes of the operations page while it is open, for what changes
        # without an event (checkpoints, dead letters); appends refresh it at once.
        OPS_REFRESH_SECONDS=10,
        # Issuing a receipt: tries before a checkout becomes a dead letter, and the wait after
        # the first failure (it doubles each time).
        RECEIPTS_MAX_ATTEMPTS=4,
        RECEIPTS_FIRST_RETRY_WAIT=1.0,
        # True (the demo): anyone sees the dashboard of every cart and any cart's page and
        # history, and the dashboard says so. False (production): those are for signed-in
        # operators; a shopper sees only the carts opened in their own browser session.
        CARTS_PUBLIC=True,
        # Rows per dashboard page.
        CARTS_PER_PAGE=20,
        # Products in the dashboard's best sellers.
        BEST_SELLERS=5,
        # Events per page of a cart's history: a page is read, decoded and sent whole, so this
        # bounds its cost however long the cart's stream (100: about 150 KB).
        HISTORY_EVENTS_PER_PAGE=100,
        # The most events "Start a new cart from version N" copies: the copies and their read
        # models are written in one transaction, which holds back every other append (about
        # 0.35 ms an event on SQLite, 3 ms on PostgreSQL, measured with the demo's projections).
        FORK_MAX_EVENTS=1000,
        # The largest `emit.stream/1` export /history/import opens (bytes of the request).
        IMPORT_MAX_BYTES=1024 * 1024,
        # Our forms are a few short fields: anything bigger is not from them.
        MAX_CONTENT_LENGTH=16 * 1024,
        # The CSRF token lives as long as the browser session, so a tab left open overnight
        # still works; it is still unique per session and checked on every POST.
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_SAMESITE="Lax",
        # The host names this site answers to (a leading dot: any subdomain); a request for
        # another gets 400. Set your own, e.g. ["shop.example"]; None trusts any Host header.
        TRUSTED_HOSTS=["localhost", "127.0.0.1"],
        # How many reverse proxies in front of the app (nginx, a load balancer) set
        # X-Forwarded-For and X-Forwarded-Proto; 0 when clients connect directly.
        TRUSTED_PROXY_COUNT=0,
        # True when the site is reached over HTTPS only (itself or through its proxy): the
        # session cookie becomes Secure, and HSTS tells browsers to use HTTPS for this long.
        HTTPS_ONLY=False,
        HSTS_MAX_AGE=365 * 24 * 3600,
        # Rate limits (webapp/limits.py), counted per client address, POSTs only: new carts;
        # every other action together; and commands on one cart, whoever sends them.
        RATE_LIMIT_NEW_CARTS="30 per minute",
        RATE_LIMIT_ACTIONS="120 per minute",
        RATE_LIMIT_CART_COMMANDS="60 per minute; 1000 per day",
        # Tries to sign in, per client: an operator's password cannot be guessed by trying.
        RATE_LIMIT_SIGN_IN="10 per minute; 100 per day",
        # Where the counts are kept: memory:// is per process (each gunicorn worker counts on
        # its own); a shared store such as redis://host:6379 counts for every worker and host.
        RATELIMIT_STORAGE_URI="memory://",
    )
    # Set aside, to tell whether the settings below set a renamed setting's new name.
    defaults = {new: app.config.pop(new) for new in RENAMED_SETTINGS.values()}
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env()
    if test_config is not None:
        app.config.from_mapping(test_config)
    _read_renamed_settings(app, defaults)
    if app.config["SECRET_KEY"] == "dev" and not app.testing:
        _warn_of_the_development_key(app)

    Htmx(app)
    security.init_app(app)
    limits.init_app(app)
    hypermedia.init_app(app)
    db.init_app(app)
    runner.init_app(app)
    queries.init_app(app)
    formatting.init_app(app)
    glossary.init_app(app)
    rebuilds.init_app(app)
    read_models_page.init_app(app)
    errors.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(carts.bp)
    app.register_blueprint(history.bp)
    app.register_blueprint(forks.bp)
    app.register_blueprint(imports.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(read_models_page.bp)
    live.init_app(app)
    cli.init_app(app)
    return app


# Settings that were renamed, old name -> new name. An old name is still read when the new one is
# not set, with a warning each time the app is made.
RENAMED_SETTINGS = {
    "EMIT_RUN_SUBSCRIBERS": "EMIT_RUN_POLICIES",
    "EMIT_SUBSCRIBERS_POLL_INTERVAL": "EMIT_POLICIES_POLL_INTERVAL",
}


def _read_renamed_settings(app: Flask, defaults: Mapping[str, Any]) -> None:
    """Give each renamed setting its value: the new name's if set, else the old name's (with a
    deprecation warning), else the default."""
    for old, new in RENAMED_SETTINGS.items():
        if old in app.config:
            ignored = " (ignored: {new} is set)" if new in app.config else ""
            app.logger.warning(
                "Setting %s is deprecated: call it %s%s.", old, new, ignored.format(new=new)
            )
            app.config.setdefault(new, app.config[old])
        app.config.setdefault(new, defaults[new])


DEV_KEY_WARNING = (
    "SECRET_KEY is the development default: fine on your own machine, but anyone could forge "
    "this site's session cookies (and so sign in as an operator). Before serving others, put "
    "SECRET_KEY = '<output of: python -c \"import secrets; print(secrets.token_hex())\">' in "
    "instance/config.py, or set FLASK_SECRET_KEY."
)


def _warn_of_the_development_key(app: Flask) -> None:
    """Once, when the app first serves a request: CLI commands (init-db, seed-demo) build the
    app too, and warning for each of them said the same thing three times over `make run`."""
    once = threading.Lock()

    def warn() -> None:
        if once.acquire(blocking=False):  # never released: once per process
            app.logger.warning(DEV_KEY_WARNING)

    app.before_request(warn)
