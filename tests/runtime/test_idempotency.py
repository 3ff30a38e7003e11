"""Idempotency keys: a command sent again with its key is answered as the first time and stored
once, whoever sends it again (this `Emit`, another, another process, after a restart, after a
commit whose answer was lost)."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    AppendRequest,
    CommandKey,
    CommandRejected,
    CommandResult,
    Emit,
    IdempotencyKeyReused,
    InMemoryEventStore,
    InvalidIdempotencyKey,
    NewEvent,
    SqlEventStore,
    StorageError,
    StoredCommand,
    WrongExpectedVersion,
    fingerprint,
    idempotency,
)
from emit.ids import new_id
from tests.account import Account, Deposit, Deposited, Withdraw, account
from tests.conftest import AccountEmit, Factory, fail_after_commits
from tests.threads import start_and_join


def same_result(first: CommandResult[Any, Any], again: CommandResult[Any, Any]) -> None:
    assert again.version == first.version
    assert again.state == first.state
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert [e.position for e in again.events] == [e.position for e in first.events]
    assert [e.event for e in again.events] == [e.event for e in first.events]


def test_a_repeated_key_answers_the_first_result_and_stores_nothing(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    first = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    again = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    same_result(first, again)
    assert len(emit.history("acc")) == 2
    assert emit.aggregate("acc").state.balance == 10


def test_a_repeat_after_the_aggregate_moved_on_is_still_the_first_answer(
    make_emit: Factory,
) -> None:
    """Not decided again: by now the account is closed and would refuse a deposit."""
    emit = make_emit()
    emit.create("acc")
    first = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    emit.handle_command("acc", Withdraw(10))
    emit.handle_command("acc", Deposit(3))
    again = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    same_result(first, again)
    assert again.state.balance == 10  # the state right after the first command
    assert len(emit.history("acc")) == 4


def test_a_key_repeated_through_another_emit_is_found(make_emit: Factory) -> None:
    ours, theirs = make_emit(), make_emit()
    ours.create("acc")
    first = ours.handle_command("acc", Deposit(10), idempotency_key="k1")
    same_result(first, theirs.handle_command("acc", Deposit(10), idempotency_key="k1"))
    assert len(theirs.history("acc")) == 2


def test_keys_belong_to_one_aggregate(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("a")
    emit.create("b")
    emit.handle_command("a", Deposit(1), idempotency_key="same")
    emit.handle_command("b", Deposit(1), idempotency_key="same")
    assert emit.aggregate("a").version == emit.aggregate("b").version == 2


def test_the_same_key_with_another_command_is_refused(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    with pytest.raises(IdempotencyKeyReused, match="k1") as caught:
        emit.handle_command("acc", Deposit(11), idempotency_key="k1")
    assert "Deposit(amount=11" in str(caught.value)
    with pytest.raises(IdempotencyKeyReused):
        emit.handle_command("acc", Withdraw(10), idempotency_key="k1")
    assert len(emit.history("acc")) == 2


def test_a_rejected_command_records_no_key(make_emit: Factory) -> None:
    emit = make_emit()
    emit.create("acc")
    with pytest.raises(CommandRejected):
        emit.handle_command("acc", Withdraw(5), idempotency_key="w")
    emit.handle_command("acc", Deposit(5))
    result = emit.handle_command("acc", Withdraw(5), idempotency_key="w")  # decided again
    assert result.state.balance == 0


@pytest.mark.parametrize("bad", ["", "k" * 201, 7, None])
def test_a_key_that_is_no_key_is_refused(make_emit: Factory, bad: Any) -> None:
    emit = make_emit()
    emit.create("acc")
    if bad is None:
        emit.handle_command("acc", Deposit(1), idempotency_key=None)  # no key: allowed
        return
    with pytest.raises(InvalidIdempotencyKey):
        emit.handle_command("acc", Deposit(1), idempotency_key=bad)
    assert len(emit.history("acc")) == 1


def test_a_key_and_an_expected_version_together(make_emit: Factory) -> None:
    """A repeat of a command that expected version 1 comes when the aggregate is at 2: it is
    the first answer, not a stale version."""
    emit = make_emit()
    emit.create("acc")
    first = emit.handle_command("acc", Deposit(5), expected_version=1, idempotency_key="pay")
    same_result(
        first, emit.handle_command("acc", Deposit(5), expected_version=1, idempotency_key="pay")
    )


def test_keys_survive_a_restart(database_url: str) -> None:
    with Emit(account, store=SqlEventStore(database_url)) as before:
        before.create("acc")
        first = before.handle_command("acc", Deposit(10), idempotency_key="k1")
    with Emit(account, store=SqlEventStore(database_url)) as after:
        same_result(first, after.handle_command("acc", Deposit(10), idempotency_key="k1"))
        assert len(after.history("acc")) == 2


def _repeat_in_another_process(url: str, queue: Any) -> None:
    with Emit(account, store=SqlEventStore(url)) as emit:
        result = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
        queue.put((result.version, [str(e.event_id) for e in result.events]))


def test_a_key_repeated_from_another_process_is_found(database_url: str) -> None:
    with Emit(account, store=SqlEventStore(database_url)) as emit:
        emit.create("acc")
        first = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        child = context.Process(target=_repeat_in_another_process, args=(database_url, queue))
        child.start()
        version, event_ids = queue.get(timeout=60)
        child.join(timeout=60)
        assert child.exitcode == 0
        assert version == first.version
        assert event_ids == [str(e.event_id) for e in first.events]
        assert len(emit.history("acc")) == 2


def test_a_commit_whose_answer_was_lost_is_maybe_stored_and_safe_to_send_again(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The commit reaches the disk, then the driver fails: the caller cannot know. The error
    says so, and sending the command again with its key stores nothing more. (On PostgreSQL,
    tests/web/test_lost_commit.py loses a real COMMIT's answer through a proxy.)"""
    store = SqlEventStore(sqlite_url)
    emit: AccountEmit = Emit(account, store=store)
    emit.create("acc")
    fail_after_commits(store, monkeypatch)
    with pytest.raises(StorageError) as caught:
        emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    monkeypatch.undo()
    assert caught.value.maybe_stored
    again = emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    assert again.version == 2
    assert [e.event for e in emit.history("acc")][1:] == [Deposited(10, "teller")]
    emit.close()


def test_a_failure_before_the_commit_is_not_maybe_stored(sqlite_url: str) -> None:
    store = SqlEventStore(sqlite_url)
    emit: AccountEmit = Emit(account, store=store)
    emit.create("acc")
    with store.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE emit_commands")
    with pytest.raises(StorageError) as caught:
        emit.handle_command("acc", Deposit(10), idempotency_key="k1")
    assert not caught.value.maybe_stored
    assert len(emit.history("acc")) == 1
    emit.close()


def test_keys_under_eight_threads_each_sent_twice_at_once(make_emit: Factory) -> None:
    """Eight threads on two `Emit`s, 200 keyed commands each; threads pair up and send the same
    keys at the same moment, like a retry racing the original. Every key is stored once, and
    both senders get the same answer."""
    emits = [make_emit(observers=[]), make_emit(observers=[])]
    emits[0].create("acc")
    per_thread = 200
    answers: dict[int, list[dict[str, tuple[int, list[Any]]]]] = {}
    errors: list[BaseException] = []

    def send(thread: int) -> None:
        pair = thread % 4
        emit = emits[thread % 2 if thread < 4 else (thread + 1) % 2]  # partners use other Emits
        mine: dict[str, tuple[int, list[Any]]] = {}
        try:
            for n in range(per_thread):
                key = f"p{pair}-{n}"
                result = emit.handle_command("acc", Deposit(1, key), idempotency_key=key)
                mine[key] = (result.version, [e.event_id for e in result.events])
        except BaseException as error:
            errors.append(error)
        answers.setdefault(pair, []).append(mine)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(8)]
    start_and_join(threads)
    assert not errors
    history = emits[0].history("acc")
    by = [e.event.by for e in history[1:]]
    assert sorted(by) == sorted(f"p{p}-{n}" for p in range(4) for n in range(per_thread))
    assert emits[0].aggregate("acc", catch_up=True).state == Account(
        balance=4 * per_thread, deposits=(1,) * (4 * per_thread), open=True
    )
    for pair, (one, other) in answers.items():
        assert one == other, f"pair {pair} got different answers for one key"


def test_a_fingerprint_is_the_same_in_every_process() -> None:
    """Sets iterate in an order that depends on PYTHONHASHSEED, and dicts in the order they
    were built: a repeat sent through another worker must still match."""
    script = (
        "from emit import fingerprint; "
        "print(fingerprint(frozenset({'oat', 'mug', 'bean', 'kettle', 'filter', 'scale'})))"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3", "4")
    }
    assert len(digests) == 1
    assert fingerprint({"b": 1, "a": 2}) == fingerprint({"a": 2, "b": 1})
    assert fingerprint(Deposit(1)) != fingerprint(Deposit(2))
    assert fingerprint(Deposit(1)) != fingerprint(Withdraw(1))


class OvertakingStore(InMemoryEventStore):
    """A store on which, right after a key is first looked up and not found, `overtake` runs:
    another process sends the same command with the same key at that very moment."""

    def __init__(self) -> None:
        super().__init__()
        self.overtake: Callable[[], object] | None = None

    def find_command(self, stream_id: str, key: str) -> StoredCommand | None:
        found = super().find_command(stream_id, key)
        overtake, self.overtake = self.overtake, None
        if found is None and overtake is not None:
            overtake()
        return found


@pytest.mark.parametrize("expected_version", [None, 2])
def test_a_repeat_that_overtakes_its_original_gets_the_same_answer_without_retries(
    expected_version: int | None,
) -> None:
    """Even with no retries left (`max_retries=0`), a command whose key another process
    recorded between our look-up and our append is answered as that first one, not with a
    conflict or a stale version."""
    store = OvertakingStore()
    ours: AccountEmit = Emit(account, store=store, max_retries=0, observers=[])
    theirs: AccountEmit = Emit(account, store=store, observers=[])
    ours.create("acc")
    ours.handle_command("acc", Deposit(1))  # ours holds version 2
    first: list[CommandResult[Any, Any]] = []
    store.overtake = lambda: first.append(
        theirs.handle_command("acc", Deposit(5), expected_version=2, idempotency_key="k")
    )
    again = ours.handle_command(
        "acc", Deposit(5), expected_version=expected_version, idempotency_key="k"
    )
    same_result(first[0], again)
    assert len(ours.history("acc")) == 3


def test_a_stale_expected_version_with_no_retries_left_is_still_a_stale_version() -> None:
    store = InMemoryEventStore()
    ours: AccountEmit = Emit(account, store=store, max_retries=0, observers=[])
    theirs: AccountEmit = Emit(account, store=store, observers=[])
    ours.create("acc")
    ours.handle_command("acc", Deposit(1))  # ours holds version 2
    theirs.handle_command("acc", Deposit(1))  # the store is at 3
    with pytest.raises(WrongExpectedVersion) as caught:
        ours.handle_command("acc", Deposit(5), expected_version=2)
    assert (caught.value.expected_version, caught.value.actual_version) == (2, 3)


@pytest.mark.postgres
def test_a_writer_connection_the_server_closed_while_idle_is_replaced_not_maybe_stored(
    postgres_url: str,
) -> None:
    """The server ends the idle session of the store's writer (a restart, an operator): the
    next command finds out before it sends anything, so it is stored on a new connection,
    once, rather than answered "may have been stored"."""
    store = SqlEventStore(postgres_url)
    emit: AccountEmit = Emit(account, store=store, observers=[])
    emit.create("acc")
    writer = store._writer
    assert writer is not None
    backend = writer.connection.dbapi_connection.info.backend_pid  # type: ignore[union-attr]
    admin = sa.create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(sa.select(sa.func.pg_terminate_backend(backend)))
    # Terminating is asynchronous: wait until the session is gone, as a restart would be.
    deadline = time.monotonic() + 10
    gone = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
    while time.monotonic() < deadline:
        with admin.connect() as connection:
            if connection.execute(gone, {"pid": backend}).scalar_one() == 0:
                break
        time.sleep(0.01)
    admin.dispose()
    result = emit.handle_command("acc", Deposit(5), idempotency_key="after-restart")
    assert result.version == 2
    assert [e.version for e in emit.history("acc")] == [1, 2]
    emit.close()


def test_a_command_recorded_before_its_type_moved_module_is_still_a_repeat(
    make_emit: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A form sent before a deploy that moved the command's type (webapp.cart to shop.cart, in
    2026-12) and sent again after it: once the move is said, it is answered as the repeat."""
    fields = [("amount", int), ("by", str, dataclasses.field(default="teller"))]
    before = dataclasses.make_dataclass("Deposit", fields, frozen=True)
    before.__module__ = "tests.old_bank"  # where `Deposit` was when the key was recorded
    emit = make_emit()
    emit.create("acc-1")
    old_key = CommandKey("form-1", fingerprint(before(5)))
    event = NewEvent(new_id(), *account.encode_json(Deposited(5, "ana")), "{}")
    (stored,) = emit.store.append_many([AppendRequest("acc-1", 1, [event], command_key=old_key)])
    assert not isinstance(stored, Exception)

    with pytest.raises(IdempotencyKeyReused):  # the move not said: to emit, another command
        emit.handle_command("acc-1", Deposit(5), idempotency_key="form-1")
    monkeypatch.setitem(idempotency._FORMER_MODULES, "tests.account", "tests.old_bank")
    again = emit.handle_command("acc-1", Deposit(5), idempotency_key="form-1")
    assert again.version == 2  # the first answer; nothing more stored
    assert [e.version for e in emit.history("acc-1")] == [1, 2]
    with pytest.raises(IdempotencyKeyReused):  # other fields are still another command
        emit.handle_command("acc-1", Deposit(6), idempotency_key="form-1")
