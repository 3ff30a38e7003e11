"""Event ids: random version 4 UUIDs, never repeated, not even across a fork. Command ids:
version 7 UUIDs, which grow with time (the correlation index stays compact)."""

from __future__ import annotations

import multiprocessing
import time
from uuid import UUID

from emit.ids import new_command_id, new_id
from emit.recorded import new_metadata


def test_ids_are_random_version_4_uuids() -> None:
    ids = [new_id() for _ in range(3000)]  # several refills of the buffer

    assert len(set(ids)) == len(ids)
    assert {(i.version, i.variant) for i in ids} == {(4, "specified in RFC 4122")}
    assert UUID(str(ids[0])) == ids[0]


def _ids_in_child(queue: multiprocessing.Queue[list[UUID]]) -> None:
    queue.put([new_id() for _ in range(10)])


def test_a_forked_child_does_not_reuse_the_parents_ids() -> None:
    new_id()  # the parent's buffer is now full of ids it has yet to hand out
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[UUID]] = context.Queue()
    child = context.Process(target=_ids_in_child, args=(queue,))
    child.start()
    from_child = queue.get(timeout=30)
    child.join(timeout=30)

    assert not set(from_child) & {new_id() for _ in range(10)}


def test_command_ids_are_version_7_uuids_that_grow_with_time() -> None:
    before = time.time_ns() // 1_000_000
    first = [new_command_id() for _ in range(3000)]
    time.sleep(0.002)  # the next millisecond, at least
    later = new_command_id()
    after = time.time_ns() // 1_000_000

    assert len(set(first)) == len(first)
    assert {(i.version, i.variant) for i in first} == {(7, "specified in RFC 4122")}
    assert all(before <= i.int >> 80 <= after for i in [*first, later])
    assert later > max(first)  # by the milliseconds in their first 48 bits
    assert len({i.int & ((1 << 62) - 1) for i in first}) == len(first)  # random below


def test_a_commands_metadata_is_correlated_by_its_time_ordered_id() -> None:
    document, _ = new_metadata("AddItem", None)
    command_id = UUID(document["correlation_id"])
    assert command_id.version == 7
    assert document["causation_id"] == document["correlation_id"]
