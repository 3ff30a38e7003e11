"""Event and command ids: random version 4 UUIDs, never repeated, not even across a fork."""

from __future__ import annotations

import multiprocessing
from uuid import UUID

from emit.ids import new_id


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
