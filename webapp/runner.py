"""The policies' runner in the web app: a background thread that feeds committed events to
the app's policies (the receipts), started by the first request when `EMIT_RUN_POLICIES` is
on (not by `create_app`, so CLI commands and forked gunicorn workers start none they do not use).

Every worker may start one: leases in the database let exactly one runner process each policy
at a time, and another takes over if it dies. Or run it alone,
`flask --app webapp emit run-policies`, and turn `EMIT_RUN_POLICIES` off for the web
processes.
"""

from __future__ import annotations

import atexit
import threading

from flask import Flask

from webapp.db import get_policies


def init_app(app: Flask) -> None:
    if not app.config["EMIT_RUN_POLICIES"]:
        return
    policies = get_policies(app)
    once = threading.Lock()

    def start_once() -> None:
        if once.acquire(blocking=False):  # never released: the first request starts it
            policies.start()
            atexit.register(policies.stop, 2.0)  # give the leases up for the next runner

    app.before_request(start_once)
