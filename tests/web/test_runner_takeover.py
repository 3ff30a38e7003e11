"""A policy runner process killed with -9 while it works is replaced within seconds by another
runner, not after its lease (30 s): its lock dies with it (emit/subscribers/locks.py). No receipt
is lost or issued twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from shop.cart import AddItem, CheckOut
from tests.web.conftest import make_app
from webapp.db import get_emit, get_engine, get_policies
from webapp.receipts import receipts

FLASK = str(Path(sys.executable).with_name("flask"))


def receipt_count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(receipts)).scalar())


def wait_until(condition: object, timeout: float) -> float:
    """Seconds until `condition()` held; fails the test after `timeout`."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        assert time.monotonic() - started < timeout, f"not within {timeout} s"
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.mark.slow
def test_a_killed_runner_is_replaced_within_seconds(database_url: str) -> None:
    app = make_app(database_url)
    emit = get_emit(app)
    engine = get_engine(app)
    serial = iter(range(10**6))

    def check_out_carts(count: int) -> None:
        for _ in range(count):
            cart_id = f"cart-k{next(serial)}"
            emit.create(cart_id)
            emit.handle_command(cart_id, AddItem("BEAN-250"))
            emit.handle_command(cart_id, CheckOut())

    environment = {**os.environ, "FLASK_EMIT_STORE_URL": database_url, "FLASK_SECRET_KEY": "k"}
    runner = subprocess.Popen(
        [FLASK, "--app", "webapp", "emit", "run-policies"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    other = get_policies(app)  # another runner, ready to take over
    try:
        check_out_carts(5)
        wait_until(lambda: receipt_count(engine) >= 5, timeout=20)
        other.start()
        check_out_carts(40)  # the process is busy with these when it is killed
        os.kill(runner.pid, signal.SIGKILL)
        runner.wait()
        killed_at = time.monotonic()
        check_out_carts(5)
        total = next(serial)
        wait_until(lambda: receipt_count(engine) == total, timeout=10)
        takeover = time.monotonic() - killed_at
    finally:
        other.stop()
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    assert takeover < 5, f"the other runner took {takeover:.2f} s"
    with engine.connect() as connection:
        carts = connection.execute(sa.select(receipts.c.cart_id)).scalars().all()
    assert sorted(carts) == sorted(f"cart-k{n}" for n in range(total))  # once each
    emit.close()
