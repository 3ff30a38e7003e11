"""The dashboard's read models equal what replaying the events says, after any workload, and
after a rebuild from position 0."""

from __future__ import annotations

import random
import threading
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emit import (
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    Emit,
    Projection,
    SqlEventStore,
)
from shop.cart import AddItem, CartCommand, ChangeQuantity, CheckOut, RemoveLine, cart_decider
from shop.catalog import CATALOG
from tests.threads import start_and_join
from webapp.db import CartEmit
from webapp.queries import ProjectedCartQueries, ReplayedCartQueries
from webapp.read_models import PROJECTIONS, best_sellers, carts, project_carts

SKUS = [p.sku for p in CATALOG[:4]]

commands = st.one_of(
    st.builds(AddItem, st.sampled_from(SKUS), st.integers(1, 60)),
    st.builds(ChangeQuantity, st.sampled_from(SKUS), st.integers(0, 60)),
    st.builds(RemoveLine, st.sampled_from(SKUS)),
    st.just(CheckOut()),
)
steps = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), commands), max_size=40)


def open_emit(url: str) -> CartEmit:
    return Emit(cart_decider, store=SqlEventStore(url), projections=PROJECTIONS, observers=[])


def run(emits: list[CartEmit], workload: list[tuple[int, int, CartCommand]]) -> None:
    """Each step: (which emit, which cart, command); a cart is opened by its first step."""
    for which, number, command in workload:
        emit, cart_id = emits[which], f"cart-{number}"
        try:
            if not emit.exists(cart_id):
                emit.create(cart_id)
            emit.handle_command(cart_id, command)
        except (CommandRejected, AggregateNotFound, AggregateAlreadyExists):
            pass  # the cart's rules at work, or another emit opened the cart in between


def assert_read_models_match_the_events(emit: CartEmit) -> None:
    assert isinstance(emit.store, SqlEventStore)
    projected = ProjectedCartQueries(emit.store.engine)
    replayed = ReplayedCartQueries(emit)
    for _ in range(2):  # as kept by the appends, then as rebuilt from position 0
        carts = projected.cart_page(limit=100)
        assert carts == replayed.cart_page(limit=100)
        assert projected.totals() == replayed.totals()
        assert projected.best_sellers(limit=100) == replayed.best_sellers(limit=100)
        for projection in PROJECTIONS:
            emit.projections.rebuild(projection.name)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(workload=steps)
def test_after_any_workload_the_read_models_match_the_events(
    tmp_path: Path, workload: list[tuple[int, int, CartCommand]]
) -> None:
    url = f"sqlite:///{tmp_path / uuid.uuid4().hex}.sqlite3"
    emits = [open_emit(url) for _ in range(3)]  # three processes, each with a stale pool

    run(emits, workload)

    assert_read_models_match_the_events(emits[0])
    for emit in emits:
        emit.close()


def test_after_concurrent_shoppers_the_read_models_match_the_events(database_url: str) -> None:
    emits = [open_emit(database_url) for _ in range(2)]
    rng = random.Random(7)
    workload: list[tuple[int, int, CartCommand]] = []
    for _ in range(200):
        sku = rng.choice(SKUS)
        command: CartCommand = rng.choice(
            [AddItem(sku, rng.randint(1, 5))] * 6
            + [ChangeQuantity(sku, rng.randint(0, 9)), RemoveLine(sku), CheckOut()]
        )
        workload.append((rng.randrange(2), rng.randrange(8), command))
    threads = [threading.Thread(target=run, args=(emits, workload[i::4])) for i in range(4)]
    start_and_join(threads)

    assert_read_models_match_the_events(emits[1])
    for emit in emits:
        emit.close()


def test_a_store_whose_carts_projection_was_cart_list_carries_on_under_the_new_name(
    sqlite_url: str,
) -> None:
    before = Projection("cart_list", [carts], project_carts)  # as it was called until 2026-12-03
    old: CartEmit = Emit(
        cart_decider, store=SqlEventStore(sqlite_url), projections=[before, best_sellers]
    )
    run([old], [(0, 1, AddItem(SKUS[0], 2)), (0, 2, AddItem(SKUS[1], 1)), (0, 1, CheckOut())])
    old.close()

    emit = open_emit(sqlite_url)  # installs `carts`: it takes `cart_list`'s checkpoint over
    run([emit], [(0, 2, AddItem(SKUS[2], 3))])

    assert emit.metrics().subscriber_lag == {"best_sellers": 0, "carts": 0}  # no `cart_list`
    assert_read_models_match_the_events(emit)
    emit.close()
