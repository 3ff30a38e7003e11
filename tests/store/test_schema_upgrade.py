"""A store made by an earlier emit (the schema of 2026-12-03, kept in tests/store/fixtures) picks up
today's schema when a store opens it: idempotency keys work, the old events are still there,
dead letters' ids are never reused, their `subscriber` column is now `policy`, and forks are
recorded in the new `emit_forks`."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import sqlalchemy as sa

from emit import Emit, LogFilter, SqlEventStore
from emit.subscribers.dead_letters import DeadLetters, dead_letters
from tests.account import Deposit, account

FIXTURES = Path(__file__).parent / "fixtures"


def _make_old_store(url: str) -> None:
    """The tables as the code of 2026-12-03 made them, with one account and two dead letters."""
    engine = sa.create_engine(url)
    dialect = engine.dialect.name
    script = (FIXTURES / f"schema-2026-12-03.{dialect}.sql").read_text()
    now = "2026-12-03T12:00:00.000000+00:00"
    with engine.begin() as connection:
        if dialect == "sqlite":
            connection.connection.driver_connection.executescript(script)  # type: ignore[union-attr]
        else:
            connection.exec_driver_sql(script)
        connection.execute(
            sa.text(
                "INSERT INTO emit_streams (stream_id, version, created_at, updated_at) "
                "VALUES ('acc', 1, :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            sa.text(
                "INSERT INTO emit_events (position, stream_id, version, event_id, type, "
                "schema_version, data, metadata, recorded_at) VALUES "
                "(1, 'acc', 1, :id, 'Opened', 1, :data, '{}', :now)"
            ),
            {"id": str(uuid.uuid4()), "data": json.dumps({"account_id": "acc"}), "now": now},
        )
        if dialect == "postgresql":
            connection.exec_driver_sql("UPDATE emit_head SET position = 1")
        for id_, position in ((1, 1), (2, 2)):
            connection.execute(
                sa.text(
                    "INSERT INTO emit_dead_letters (id, subscriber, position, aggregate_id, "
                    "version, event_type, error, traceback, attempts, failed_at) VALUES "
                    "(:id, 'mailer', :position, 'acc', 1, 'Opened', 'boom', '', 3, :now)"
                ),
                {"id": id_, "position": position, "now": now},
            )
        if dialect == "postgresql":  # as if the two rows had taken their ids from it
            connection.exec_driver_sql(
                "SELECT setval(pg_get_serial_sequence('emit_dead_letters', 'id'), 2)"
            )
    engine.dispose()


def test_an_old_store_takes_keys_and_keeps_its_events(database_url: str) -> None:
    _make_old_store(database_url)
    with Emit(account, store=SqlEventStore(database_url)) as emit:
        assert emit.aggregate("acc").version == 1
        first = emit.handle_command("acc", Deposit(5), idempotency_key="k")
        again = emit.handle_command("acc", Deposit(5), idempotency_key="k")
        assert again.events == first.events
        assert [e.version for e in emit.history("acc")] == [1, 2]


def test_an_old_store_never_reuses_a_dead_letters_id(database_url: str) -> None:
    _make_old_store(database_url)
    store = SqlEventStore(database_url)
    row = {
        "policy": "mailer",
        "aggregate_id": "acc",
        "version": 1,
        "event_type": "Opened",
        "error": "boom",
        "traceback": "",
        "attempts": 3,
        "failed_at": sa.func.now(),
    }
    with store.engine.begin() as connection:
        ids = connection.execute(sa.select(dead_letters.c.id).order_by("id")).scalars().all()
        assert ids == [1, 2]  # the old rows came through the upgrade
        connection.execute(sa.delete(dead_letters).where(dead_letters.c.id == 2))
        third = connection.execute(
            sa.insert(dead_letters).values(position=3, **row).returning(dead_letters.c.id)
        ).scalar_one()
        connection.execute(sa.delete(dead_letters).where(dead_letters.c.id == third))
        fourth = connection.execute(
            sa.insert(dead_letters).values(position=4, **row).returning(dead_letters.c.id)
        ).scalar_one()
    assert third == 3  # not 2, the id of the deleted one
    assert fourth == 4
    store.close()
    SqlEventStore(database_url).close()  # opening it again upgrades nothing twice


def test_an_old_stores_dead_letters_keep_their_policy_under_the_new_column(
    database_url: str,
) -> None:
    _make_old_store(database_url)
    store = SqlEventStore(database_url)
    letters = DeadLetters(store.engine)
    assert [(d.id, d.policy, d.position) for d in letters.read()] == [
        (1, "mailer", 1),
        (2, "mailer", 2),
    ]
    assert letters.counts() == {"mailer": 2}
    inspector = sa.inspect(store.engine)
    assert "subscriber" not in {c["name"] for c in inspector.get_columns("emit_dead_letters")}
    if store.dialect == "postgresql":
        unique = {c["name"] for c in inspector.get_unique_constraints("emit_dead_letters")}
        assert unique == {"emit_dead_letters_policy_position"}
    store.close()
    SqlEventStore(database_url).close()  # opening it again renames nothing twice


def test_an_old_store_gains_the_forks_table_and_forks_its_aggregates(database_url: str) -> None:
    _make_old_store(database_url)
    engine = sa.create_engine(database_url)
    assert "emit_forks" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    with Emit(account, store=SqlEventStore(database_url)) as emit:
        emit.fork("acc", 1, "acc-what-if")
        assert [e.event for e in emit.history("acc-what-if")] == [
            e.event for e in emit.history("acc")
        ]
        fork = emit.fork_of("acc-what-if")
        assert fork is not None
        assert (fork.origin_id, fork.version) == ("acc", 1)
        assert [f.aggregate_id for f in emit.forks_of("acc")] == ["acc-what-if"]


def test_an_old_stores_events_are_found_by_their_correlation_id(database_url: str) -> None:
    _make_old_store(database_url)
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:  # one more event, with a correlation id, the old way
        connection.execute(
            sa.text(
                "INSERT INTO emit_events (position, stream_id, version, event_id, type, "
                "schema_version, data, metadata, recorded_at) VALUES (2, 'acc', 2, :id, "
                "'Deposited', 1, :data, :metadata, '2026-12-03T12:00:01+00:00')"
            ),
            {
                "id": str(uuid.uuid4()),
                "data": json.dumps({"amount": 5, "by": "ana"}),
                "metadata": json.dumps({"correlation_id": "req-7"}),
            },
        )
        connection.exec_driver_sql("UPDATE emit_streams SET version = 2")
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("UPDATE emit_head SET position = 2")
    engine.dispose()

    store = SqlEventStore(database_url)
    found = store.read_log(LogFilter(correlation_id="req-7"))
    assert [(e.position, e.type) for e in found] == [(2, "Deposited")]
    indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("emit_events")}
    assert "emit_events_correlation" in indexes
    with Emit(account, store=store) as emit:  # and new events get theirs as they are appended
        emit.handle_command("acc", Deposit(1), metadata={"correlation_id": "req-8"})
        assert [e.version for e in emit.log(LogFilter(correlation_id="req-8"))] == [3]
    SqlEventStore(database_url).close()  # opening it again adds nothing twice
