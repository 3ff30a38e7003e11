"""`Emit.fork`: a new aggregate that starts as a copy of another one's first N events. On every
store emit ships (in memory, a SQLite file, PostgreSQL): the fork's state at each version up to
N is the origin's, the two go their own ways afterwards, the store knows which aggregate came
from which, and a fork that cannot be made writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from emit import (
    AggregateAlreadyExists,
    AggregateNotFound,
    Emit,
    EventStore,
    Projection,
    ProjectionError,
    RecordedEvent,
    SqlEventStore,
    VersionOutOfRange,
)
from emit.forks import ForkRecords
from shop.cart import AddItem, Cart, CartCommand, CartEvent, ChangeQuantity, CheckOut, cart_decider

CartEmit = Emit[CartCommand, CartEvent, Cart]

COMMANDS: list[CartCommand] = [
    AddItem("BEAN-250", 2),
    AddItem("MUG-TRVL"),
    ChangeQuantity("BEAN-250", 5),
    AddItem("TEA-CHAI", 3),
    ChangeQuantity("MUG-TRVL", 0),
    CheckOut(),
]


@pytest.fixture
def emit(any_store: EventStore) -> CartEmit:
    emit: CartEmit = Emit(cart_decider, store=any_store)
    emit.create("cart-origin", metadata={"shopper": "ada"})
    for command in COMMANDS:
        emit.handle_command("cart-origin", command)
    return emit


def test_the_fork_is_the_origin_at_every_version_up_to_n(emit: CartEmit) -> None:
    latest = len(COMMANDS) + 1
    for n in range(1, latest + 1):
        fork = emit.fork("cart-origin", n, f"cart-fork-{n}")
        assert (fork.id, fork.version) == (f"cart-fork-{n}", n)
        assert fork.state == emit.state_at("cart-origin", n)
        assert emit.store.stream_version(f"cart-fork-{n}") == n
        for version in range(n + 1):
            assert emit.state_at(f"cart-fork-{n}", version) == emit.state_at("cart-origin", version)
        origin_events = emit.history("cart-origin", up_to=n)
        fork_events = emit.history(f"cart-fork-{n}")
        assert [r.event for r in fork_events] == [r.event for r in origin_events]
        assert [r.type for r in fork_events] == [r.type for r in origin_events]


def test_each_copy_says_where_it_came_from(emit: CartEmit) -> None:
    emit.fork("cart-origin", 3, "cart-fork", metadata={"reason": "what if"})
    origin = emit.history("cart-origin", up_to=3)
    copies = emit.history("cart-fork")
    assert len({r.metadata.correlation_id for r in copies}) == 1
    for original, copy in zip(origin, copies, strict=True):
        assert copy.event_id != original.event_id
        assert copy.position > emit.history("cart-origin")[-1].position
        assert copy.metadata.causation_id == str(original.event_id)
        assert copy.metadata.command == original.metadata.command
        own = original.metadata.extra  # the genesis's {"shopper": "ada"}, the others' {}
        assert copy.metadata.extra == own | {
            "reason": "what if",
            "forked_from": {"aggregate_id": "cart-origin", "version": 3},
        }
    genesis = copies[0]
    assert genesis.metadata.extra["forked_from"] == {"aggregate_id": "cart-origin", "version": 3}
    assert genesis.metadata.extra["shopper"] == "ada"


def test_the_store_knows_a_forks_origin_and_an_origins_forks(emit: CartEmit) -> None:
    assert isinstance(emit.store, ForkRecords)
    emit.fork("cart-origin", 2, "cart-a")
    emit.fork("cart-origin", 4, "cart-b")
    emit.fork("cart-a", 2, "cart-a-a")
    fork = emit.fork_of("cart-a")
    assert fork is not None
    assert (fork.aggregate_id, fork.origin_id, fork.version) == ("cart-a", "cart-origin", 2)
    assert fork.forked_at == emit.history("cart-a", up_to=1)[0].recorded_at
    assert emit.fork_of("cart-origin") is None
    assert emit.fork_of("cart-nowhere") is None
    assert [(f.aggregate_id, f.version) for f in emit.forks_of("cart-origin")] == [
        ("cart-a", 2),
        ("cart-b", 4),
    ]
    assert [f.aggregate_id for f in emit.forks_of("cart-a")] == ["cart-a-a"]
    assert emit.forks_of("cart-b") == []


def test_fork_and_origin_go_their_own_ways(emit: CartEmit) -> None:
    emit.fork("cart-origin", 3, "cart-fork")
    origin_before = emit.history("cart-origin")
    emit.handle_command("cart-fork", AddItem("MILK-OAT", 4))
    emit.handle_command("cart-fork", CheckOut())
    assert emit.history("cart-origin") == origin_before
    assert emit.get_state("cart-origin").line("MILK-OAT") is None

    emit.fork("cart-origin", 2, "cart-other")
    emit.handle_command("cart-other", AddItem("TEA-CHAI", 9))
    fork_state = emit.get_state("cart-fork", catch_up=True)
    assert fork_state.line("TEA-CHAI") is None
    assert fork_state.status == "checked_out"
    assert emit.store.stream_version("cart-fork") == 5


def test_a_forks_commands_start_from_the_copied_state(emit: CartEmit) -> None:
    emit.fork("cart-origin", 3, "cart-fork")
    emit.evict("cart-fork")  # rebuilt from the store, not from what `fork` put in the pool
    result = emit.handle_command("cart-fork", ChangeQuantity("BEAN-250", 1))
    assert result.version == 4
    line = result.state.line("BEAN-250")
    assert line is not None
    assert line.quantity == 1


def _everything(emit: CartEmit) -> tuple[int, int, object]:
    return (emit.store.head_position(), emit.count_aggregates(), emit.forks_of("cart-origin"))


def test_a_fork_of_a_missing_aggregate_writes_nothing(emit: CartEmit) -> None:
    before = _everything(emit)
    with pytest.raises(AggregateNotFound, match="cart-nowhere"):
        emit.fork("cart-nowhere", 1, "cart-fork")
    assert _everything(emit) == before
    assert emit.fork_of("cart-fork") is None


@pytest.mark.parametrize("version", [0, -1, 8, 100])
def test_a_fork_at_a_version_the_origin_lacks_writes_nothing(emit: CartEmit, version: int) -> None:
    before = _everything(emit)
    with pytest.raises(VersionOutOfRange, match=r"versions 1 to 7 to fork from"):
        emit.fork("cart-origin", version, "cart-fork")
    assert _everything(emit) == before
    assert not emit.exists("cart-fork")


def test_a_fork_onto_an_existing_id_writes_nothing(emit: CartEmit) -> None:
    emit.create("cart-taken")
    before = _everything(emit)
    with pytest.raises(AggregateAlreadyExists, match="cart-taken"):
        emit.fork("cart-origin", 3, "cart-taken")
    with pytest.raises(AggregateAlreadyExists):
        emit.fork("cart-origin", 3, "cart-origin")
    assert _everything(emit) == before
    assert emit.fork_of("cart-taken") is None
    assert emit.store.stream_version("cart-taken") == 1


def test_metadata_that_emit_sets_itself_is_refused(emit: CartEmit) -> None:
    with pytest.raises(ValueError, match="forked_from"):
        emit.fork("cart-origin", 3, "cart-fork", metadata={"forked_from": "elsewhere"})
    assert not emit.exists("cart-fork")


# A read model that refuses the copies of a fork: the fork's append must then store nothing.
_lines = sa.Table("fork_test_lines", sa.MetaData(), sa.Column("cart_id", sa.String(80)))


def _refusing_copies(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
    if "forked_from" in recorded.metadata.extra and recorded.version == 3:
        raise ValueError("this read model takes no third copy")
    connection.execute(sa.insert(_lines).values(cart_id=recorded.aggregate_id))


def test_a_fork_whose_projection_fails_stores_none_of_it(database_url: str) -> None:
    projection = Projection("fork_test_lines", [_lines], _refusing_copies)
    with Emit(cart_decider, store=SqlEventStore(database_url), projections=[projection]) as emit:
        emit.create("cart-origin")
        for command in COMMANDS[:4]:
            emit.handle_command("cart-origin", command)
        before = _everything(emit)
        with pytest.raises(ProjectionError):
            emit.fork("cart-origin", 4, "cart-fork")
        assert _everything(emit) == before
        assert emit.fork_of("cart-fork") is None
        assert not emit.exists("cart-fork")
        with emit.store.engine.connect() as connection:
            rows = connection.execute(sa.select(_lines.c.cart_id)).scalars().all()
        assert set(rows) == {"cart-origin"}
        # Up to the second copy it is taken: the fork is made, and projected.
        emit.fork("cart-origin", 2, "cart-fork")
        with emit.store.engine.connect() as connection:
            rows = connection.execute(sa.select(_lines.c.cart_id)).scalars().all()
        assert rows.count("cart-fork") == 2
