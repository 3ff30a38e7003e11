"""The runners' locks (emit/subscribers/locks.py): one holder per policy and database, gone with the
holder's connection or process, and never shared between schemas of one PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from emit import make_engine
from emit.subscribers.locks import RunnerLocks


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_one_runner_at_a_time_holds_a_policys_lock(engine: sa.Engine) -> None:
    first, second = RunnerLocks(engine), RunnerLocks(engine)
    assert first.try_lock("receipts") is True
    assert first.try_lock("receipts") is True  # held already
    assert second.try_lock("receipts") is False
    assert second.try_lock("mails") is True  # another policy, another lock
    first.unlock("receipts")
    assert second.try_lock("receipts") is True
    assert first.try_lock("receipts") is False
    second.close()
    assert first.try_lock("receipts") is True
    assert first.try_lock("mails") is True
    first.close()


@pytest.mark.postgres
def test_a_lost_session_lets_go_of_its_locks(postgres_url: str) -> None:
    name = f"holder-{uuid.uuid4().hex[:8]}"
    holding = make_engine(postgres_url, connect_args={"application_name": name})
    engine = make_engine(postgres_url)
    holder, other = RunnerLocks(holding), RunnerLocks(engine)
    assert holder.try_lock("receipts") is True
    assert other.try_lock("receipts") is False
    with engine.connect() as admin:  # the holder's session ends, as when its process dies
        # With a timeout it returns once the session has ended (and let go of its locks), not
        # as soon as it was told to: on a busy machine that can be later.
        admin.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
                "WHERE application_name = :n"
            ),
            {"n": name},
        )
    assert other.try_lock("receipts") is True
    other.close()
    holding.dispose()
    engine.dispose()


@pytest.mark.postgres
def test_stores_in_other_schemas_never_share_a_lock(postgres_url: str) -> None:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    elsewhere = make_engine(postgres_url.replace("search_path%3D", f"search_path%3D{schema}%2C", 1))
    try:
        here, there = RunnerLocks(engine), RunnerLocks(elsewhere)
        with elsewhere.connect() as connection:
            assert connection.exec_driver_sql("SELECT current_schema()").scalar() == schema
        assert here.try_lock("receipts") is True
        assert there.try_lock("receipts") is True
        here.close()
        there.close()
    finally:
        elsewhere.dispose()
        with engine.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        engine.dispose()
