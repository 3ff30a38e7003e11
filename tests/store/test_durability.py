"""An acknowledged command survives the process that made it being killed outright."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from typing import Any

import pytest

from emit import Emit, SqlEventStore
from tests.account import Deposit, account


def _write_until_killed(url: str, acknowledged: Any) -> None:
    emit: Emit[Any, Any, Any] = Emit(account, store=SqlEventStore(url))
    emit.create("acc")
    while True:
        result = emit.handle_command("acc", Deposit(1))
        acknowledged.send(result.version)  # only after handle_command returned


@pytest.mark.slow
def test_every_acknowledged_command_survives_a_kill(database_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    receiver, sender = context.Pipe(duplex=False)
    writer = context.Process(target=_write_until_killed, args=(database_url, sender))
    writer.start()
    acknowledged = 0
    deadline = time.monotonic() + 60
    while acknowledged < 200 and time.monotonic() < deadline:
        if receiver.poll(1):
            acknowledged = receiver.recv()
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    writer.join()
    while receiver.poll(0.1):  # acknowledgements already in the pipe
        acknowledged = receiver.recv()

    store = SqlEventStore(database_url)
    stored = store.stream_version("acc")
    versions = [e.version for e in store.read_stream("acc")]
    store.close()

    assert acknowledged >= 200
    assert stored >= acknowledged
    assert versions == list(range(1, stored + 1))
