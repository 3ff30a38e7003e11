"""Inline projections: read models written in the append's transaction, caught up, rebuilt."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emit import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    Emit,
    InMemoryEventStore,
    Projection,
    ProjectionError,
    ProjectionOutOfDate,
    RecordedEvent,
    SqlEventStore,
    UnknownSubscriber,
)
from tests.account import Account, Close, Deposit, Deposited, Withdraw, account
from tests.balances import balance_projection, balances, project_balance, read_balances
from tests.threads import start_and_join

AccountEmit = Emit[Any, Any, Account]


def open_emit(url: str, *projections: Projection[Any], **options: Any) -> AccountEmit:
    return Emit(account, store=SqlEventStore(url), projections=projections, **options)


def project_one_account(url: str, *commands: object) -> None:
    """Open acc-1 and handle the commands with the balances projection on, then close: the read
    model as a process that has since stopped left it."""
    emit = open_emit(url, balance_projection)
    emit.create("acc-1")
    for command in commands:
        emit.handle_command("acc-1", command)
    emit.close()


def engine_of(emit: AccountEmit) -> sa.Engine:
    assert isinstance(emit.store, SqlEventStore)
    return emit.store.engine


def model(emit: AccountEmit) -> dict[str, tuple[int, int, bool]]:
    return read_balances(engine_of(emit))


def expected_balances(emit: AccountEmit) -> dict[str, tuple[int, int, bool]]:
    """The read model as the aggregates' own states say it should be."""
    states = {i: emit.get_state(i, catch_up=True) for i in emit.aggregate_ids(limit=1000)}
    return {i: (s.balance, len(s.deposits), s.open) for i, s in states.items()}


def assert_projection_equals_its_rebuild(reader: AccountEmit, rebuilder: AccountEmit) -> None:
    """The read model says what the aggregates' states say, and a rebuild (by `rebuilder`, the
    same process as `reader` or another) leaves it as it was."""
    engine = engine_of(reader)
    projected = read_balances(engine)
    assert projected == expected_balances(reader)
    rebuilder.projections.rebuild("balances")
    assert read_balances(engine) == projected


def test_a_projection_sees_each_event_once_inside_the_append(database_url: str) -> None:
    emit = open_emit(database_url, balance_projection)
    emit.create("acc-1")
    emit.create("acc-2")
    emit.handle_command("acc-1", Deposit(10))
    emit.handle_command("acc-1", Withdraw(4))
    emit.handle_command("acc-2", Close())
    with pytest.raises(CommandRejected):
        emit.handle_command("acc-1", Withdraw(100))

    assert model(emit) == {"acc-1": (6, 1, True), "acc-2": (0, 0, False)}
    emit.close()


def failing_on(amount: int) -> Projection[Any]:
    def handle(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        if isinstance(recorded.event, Deposited) and recorded.event.amount == amount:
            raise ValueError(f"cannot project {amount}")
        project_balance(connection, recorded)

    return Projection("balances", [balances], handle)


def test_a_failing_projection_fails_its_command_and_stores_nothing_of_it(
    database_url: str,
) -> None:
    emit = open_emit(database_url, failing_on(13))
    emit.create("acc-1")

    with pytest.raises(
        ProjectionError, match=r"'balances' failed on Deposited .*cannot project 13"
    ):
        emit.handle_command("acc-1", Deposit(13))

    assert emit.store.stream_version("acc-1") == 1
    assert emit.handle_command("acc-1", Deposit(5)).version == 2
    assert model(emit) == {"acc-1": (5, 1, True)}
    emit.close()


def test_in_a_shared_commit_only_the_command_whose_projection_fails_is_lost(
    database_url: str,
) -> None:
    emit = open_emit(database_url, failing_on(13))
    accounts = [f"acc-{n}" for n in range(8)]
    for account_id in accounts:
        emit.create(account_id)
    failures: list[str] = []
    start = threading.Barrier(len(accounts))

    def work(account_id: str) -> None:
        start.wait()
        for n in range(20):
            try:
                emit.handle_command(account_id, Deposit(13 if n % 5 == 0 else 1))
            except ProjectionError:
                failures.append(account_id)

    threads = [threading.Thread(target=work, args=(a,)) for a in accounts]
    start_and_join(threads)

    assert len(failures) == 4 * len(accounts)
    assert model(emit) == dict.fromkeys(accounts, (16, 16, True))
    assert expected_balances(emit) == model(emit)
    emit.close()


def test_a_new_projection_is_built_from_the_whole_log_when_emit_starts(database_url: str) -> None:
    plain = open_emit(database_url)
    plain.create("acc-1")
    plain.handle_command("acc-1", Deposit(7))

    projected = open_emit(database_url, balance_projection)

    assert model(projected) == {"acc-1": (7, 1, True)}
    plain.close()
    projected.close()


def test_events_appended_without_the_projection_are_replayed_by_the_next_append(
    database_url: str,
) -> None:
    projected = open_emit(database_url, balance_projection)
    plain = open_emit(database_url)  # say, an older deploy, still running
    projected.create("acc-1")
    plain.handle_command("acc-1", Deposit(3))
    plain.create("acc-2")

    projected.handle_command("acc-1", Deposit(4))

    assert model(projected) == {
        "acc-1": (7, 2, True),
        "acc-2": (0, 0, True),
    }
    plain.close()
    projected.close()


def test_a_new_revision_gets_new_tables_and_is_rebuilt(database_url: str) -> None:
    project_one_account(database_url, Deposit(5), Withdraw(2))

    counts = sa.Table(
        "test_balances",  # the same table, with a new column and without an old one
        sa.MetaData(),
        sa.Column("account_id", sa.String(200), primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
    )

    def count(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
        if recorded.version == 1:
            connection.execute(sa.insert(counts).values(account_id=recorded.aggregate_id, events=0))
        connection.execute(
            sa.update(counts)
            .where(counts.c.account_id == recorded.aggregate_id)
            .values(events=counts.c.events + 1)
        )

    second = open_emit(database_url, Projection("balances", [counts], count, revision=2))

    with engine_of(second).connect() as connection:
        assert connection.execute(sa.select(counts)).all() == [("acc-1", 3)]
    second.close()


def test_a_process_with_another_revision_cannot_write_to_the_read_model(
    database_url: str,
) -> None:
    old = open_emit(database_url, balance_projection)
    old.create("acc-1")
    new = open_emit(database_url, Projection("balances", [balances], project_balance, revision=2))
    new.handle_command("acc-1", Deposit(1))

    with pytest.raises(ProjectionOutOfDate, match="'balances'"):
        old.handle_command("acc-1", Deposit(1))

    assert new.store.stream_version("acc-1") == 2
    old.close()
    new.close()


def test_rebuild_replays_the_log_into_an_emptied_read_model(database_url: str) -> None:
    emit = open_emit(database_url, balance_projection)
    for n in range(3):
        emit.create(f"acc-{n}")
        emit.handle_command(f"acc-{n}", Deposit(n + 1))
    engine = engine_of(emit)
    before = read_balances(engine)
    with engine.begin() as connection:  # spoil it
        connection.execute(sa.update(balances).values(balance=-1))
    progress: list[tuple[int, int]] = []

    replayed = emit.projections.rebuild("balances", progress=lambda *p: progress.append(p))

    assert replayed == 6
    assert read_balances(engine) == before
    assert progress[0] == (0, 6)
    assert progress[-1] == (6, 6)
    emit.close()


def test_readers_see_the_old_read_model_until_the_rebuild_commits(database_url: str) -> None:
    emit = open_emit(database_url, balance_projection)
    for n in range(40):
        emit.create(f"acc-{n}")
        for _ in range(15):
            emit.handle_command(f"acc-{n}", Deposit(1))
    reader = sa.create_engine(engine_of(emit).url)
    before = read_balances(reader)
    seen: list[dict[str, tuple[int, int, bool]]] = []

    emit.projections.rebuild("balances", progress=lambda *_: seen.append(read_balances(reader)))

    assert len(seen) >= 3  # the rebuild went in pages; each time a reader looked...
    assert all(view == before for view in seen)  # ...it saw the whole old read model
    assert read_balances(reader) == before
    reader.dispose()
    emit.close()


def test_appends_wait_for_a_rebuild_and_are_projected_after_it(database_url: str) -> None:
    emit = open_emit(database_url, balance_projection)
    other = open_emit(database_url, balance_projection)  # another process, as far as SQL goes
    emit.create("acc-1")
    other_done = threading.Event()
    during: list[bool] = []

    def deposit() -> None:
        other.handle_command("acc-1", Deposit(5))
        other_done.set()

    writer = threading.Thread(target=deposit)

    def progress(done: int, total: int) -> None:
        if done == 0:
            writer.start()
        else:
            during.append(other_done.wait(0.3))

    emit.projections.rebuild("balances", progress=progress)
    writer.join()

    assert during == [False]  # the append waited for the rebuild
    assert model(emit) == {"acc-1": (5, 1, True)}
    emit.close()
    other.close()


def test_a_failing_rebuild_leaves_the_read_model_as_it_was(database_url: str) -> None:
    project_one_account(database_url, Deposit(13))
    broken = open_emit(database_url, failing_on(13))  # caught up already: no failure yet

    with pytest.raises(ProjectionError, match="cannot project 13"):
        broken.projections.rebuild("balances")

    assert model(broken) == {"acc-1": (13, 1, True)}
    broken.close()


def test_on_a_store_opened_without_creating_the_schema_projections_wait_for_install(
    sqlite_url: str,
) -> None:
    plain = open_emit(sqlite_url)
    plain.create("acc-1")
    emit: AccountEmit = Emit(
        account, store=SqlEventStore(sqlite_url, create=False), projections=[balance_projection]
    )
    assert not sa.inspect(engine_of(emit)).has_table("test_balances")
    with pytest.raises(ProjectionOutOfDate, match=r"not installed .*`flask init-db`"):
        emit.handle_command("acc-1", Deposit(1))

    emit.projections.install()
    emit.handle_command("acc-1", Deposit(1))

    assert model(emit) == {"acc-1": (1, 1, True)}
    plain.close()
    emit.close()


def test_projections_are_refused_on_a_store_without_sql() -> None:
    with pytest.raises(TypeError, match="need a SqlEventStore, not InMemoryEventStore"):
        Emit(account, store=InMemoryEventStore(), projections=[balance_projection])


def test_a_renamed_projection_takes_its_old_checkpoint_over(database_url: str) -> None:
    project_one_account(database_url, Deposit(10))
    renamed = Projection(
        "account_balances", [balances], project_balance, renamed_from=["old", "balances"]
    )

    emit = open_emit(database_url, renamed)  # installs it: no replay over its own rows
    emit.handle_command("acc-1", Deposit(5))

    assert model(emit) == {"acc-1": (15, 2, True)}
    head = emit.store.head_position()
    assert emit.metrics().subscriber_lag == {"account_balances": 0}
    assert emit.projections.rebuild("account_balances") == head
    assert model(emit) == {"acc-1": (15, 2, True)}
    emit.close()


def test_projections_need_unique_names_and_known_names_to_rebuild(sqlite_url: str) -> None:
    with pytest.raises(ValueError, match="unique"):
        open_emit(sqlite_url, balance_projection, balance_projection)
    emit = open_emit(sqlite_url, balance_projection)
    with pytest.raises(UnknownSubscriber, match="no projection named 'nope'; known: 'balances'"):
        emit.projections.rebuild("nope")
    emit.close()


def run_workload(emits: list[AccountEmit], steps: list[tuple[int, str, int, int]]) -> None:
    """Each step: (which emit, operation, account number, amount)."""
    for which, operation, number, amount in steps:
        emit = emits[which]
        account_id = f"acc-{number}"
        try:
            match operation:
                case "create":
                    emit.create(account_id)
                case "deposit":
                    emit.handle_command(account_id, Deposit(amount))
                case "withdraw":
                    emit.handle_command(account_id, Withdraw(amount))
                case "close":
                    emit.handle_command(account_id, Close())
        except (CommandRejected, AggregateNotFound, AggregateAlreadyExists):
            pass  # part of the game


steps = st.lists(
    st.tuples(
        st.integers(0, 2),  # two emits with the projection, and one without
        st.sampled_from(["create", "deposit", "deposit", "withdraw", "close"]),
        st.integers(0, 3),
        st.integers(1, 30),
    ),
    max_size=40,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=steps)
def test_after_any_workload_the_projection_equals_its_rebuild(
    tmp_path: Path, steps: list[tuple[int, str, int, int]]
) -> None:
    url = f"sqlite:///{tmp_path / uuid.uuid4().hex}.sqlite3"
    emits = [open_emit(url, balance_projection), open_emit(url, balance_projection), open_emit(url)]

    run_workload(emits, steps)
    emits[0].create("last")  # the plain emit's events reach the read model by the next append

    assert_projection_equals_its_rebuild(emits[0], emits[0])
    for emit in emits:
        emit.close()


def test_after_a_concurrent_workload_the_projection_equals_its_rebuild(database_url: str) -> None:
    emits = [open_emit(database_url, balance_projection) for _ in range(2)]
    rng = random.Random(5)
    all_steps = [
        (
            rng.randrange(2),
            rng.choice(["deposit", "deposit", "withdraw", "close"]),
            n % 6,
            n % 9 + 1,
        )
        for n in range(240)
    ]
    for number in range(6):
        emits[0].create(f"acc-{number}")
    threads = [
        threading.Thread(target=run_workload, args=(emits, all_steps[i::4])) for i in range(4)
    ]
    start_and_join(threads)

    assert_projection_equals_its_rebuild(emits[0], emits[1])
    for emit in emits:
        emit.close()
