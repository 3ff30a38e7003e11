"""Projections: read models written inside the transaction that appends the events.

A projection is a name, the tables it owns, and `handle(connection, event)`, which writes to
those tables through `connection` (SQLAlchemy Core). `Emit(projections=[...])` runs every
projection on every event it appends, inside the append's transaction:

- **Exactly once.** A projection's rows and its checkpoint commit with the events, or nothing
  does. If `handle` raises, the command fails with `ProjectionError` and none of its events are
  stored; commands that shared its group commit are not affected (the store retries each alone).
- **No gaps.** The checkpoint says up to which position a read model is built. If another
  process appended without this projection (an older deploy, a script), the next append here
  first replays the events it missed, in the same transaction.
- **New and changed projections.** When `Emit` starts, a projection behind the head is brought
  up to it from the log; one whose `revision` differs from the revision its tables were built by
  has its tables dropped, created again (for a changed schema) and rebuilt from position 0.
- **Rebuild without a half-built model.** `rebuild` empties and refills the tables inside one
  transaction that no append can overtake (`TransactionalStore.transaction`). Readers keep seeing
  the old read model until the new one commits, on SQLite (WAL snapshots) as on PostgreSQL
  (MVCC). Appends wait meanwhile, so a rebuild pauses writing for as long as it runs.

Projections need a `TransactionalStore` (emit/store.py), such as `SqlEventStore`: their tables
live in the same database as the events, so one transaction can hold both. (For a unit test,
a SQLite file in a temporary folder will do.) A projection's `handle` must write only through
the connection it is given: it must not send commands, and it should not do slow work, since it
runs inside the append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from emit.errors import ProjectionError, ProjectionOutOfDate, UnknownSubscriber
from emit.recorded import RecordedEvent
from emit.sql import MAX_ID_LENGTH, create_schema, is_driver_error
from emit.store import EventStore, StoredEvent, TransactionalStore, need_transactional_store
from emit.subscribers.checkpoints import PROJECTION, Checkpoints

E = TypeVar("E")

# Progress of a rebuild: (events replayed so far, events to replay).
Progress = Callable[[int, int], None]

_PAGE = 500  # events read from the log at a time when replaying


@dataclass(frozen=True, eq=False)
class Projection(Generic[E]):
    """A read model: `handle(connection, event)` applies one recorded event to `tables`.

    - `name` identifies it (its checkpoint, the CLI's `rebuild <name>`); unique per database.
    - `tables` are the SQLAlchemy tables it owns: created with the schema, emptied by a rebuild.
    - `handle` sees every event of the store, decoded, in position order; it ignores those it
      has no use for. It runs inside the append's transaction: write through `connection` only.
    - `revision`: bump it when `handle` or the tables change; emit then rebuilds the read model
      from scratch when it next starts.
    - `reset(connection)`: empties the read model before a rebuild; by default every row of
      `tables` is deleted.
    - `renamed_from`: names it had before. Installing it takes over the checkpoint of the first
      one found (if it has none of its own yet), so the read model carries on where it was
      instead of being built again over its own rows.
    """

    name: str
    tables: Sequence[sa.Table]
    handle: Callable[[sa.Connection, RecordedEvent[E]], None]
    revision: int = 1
    reset: Callable[[sa.Connection], None] | None = None
    renamed_from: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or len(self.name) > MAX_ID_LENGTH:
            raise ValueError(f"A projection needs a name of 1 to {MAX_ID_LENGTH} characters.")
        if isinstance(self.revision, bool) or not isinstance(self.revision, int):
            raise ValueError(f"Projection {self.name!r}: revision must be an int.")
        if self.revision < 1:
            raise ValueError(f"Projection {self.name!r}: revision must be 1 or more.")


Decode = Callable[[StoredEvent], RecordedEvent[Any]]


class Projections:
    """The projections of one `Emit`: run inline on each append, caught up at start, rebuilt on
    request. `Emit` makes it; reach it as `emit.projections`."""

    def __init__(
        self, projections: Sequence[Projection[Any]], *, store: EventStore, decode: Decode
    ) -> None:
        self._projections = tuple(projections)
        names = [p.name for p in self._projections]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Projection names must be unique; repeated: {duplicates}.")
        self._decode = decode
        self._store: TransactionalStore | None = None
        self._checkpoints: Checkpoints | None = None
        if self._projections:
            self._store = need_transactional_store(
                store,
                "Projections write their read models to SQL tables in the append's transaction",
                " For a test, a SQLite file in a temporary folder will do.",
            )
            self._checkpoints = Checkpoints(self._store.engine)

    def __bool__(self) -> bool:
        return bool(self._projections)

    def __iter__(self) -> Iterator[Projection[Any]]:
        return iter(self._projections)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self._projections]

    @property
    def install_on_open(self) -> bool:
        """Whether `Emit` installs them when it is made: unless the store was opened with
        `create=False`, whose owner makes the schema (and installs these) itself."""
        return self._store is not None and self._store.creates_schema

    def get(self, name: str) -> Projection[Any]:
        """The projection called `name`; raises `UnknownSubscriber`."""
        for projection in self._projections:
            if projection.name == name:
                return projection
        raise UnknownSubscriber("projection", name, self.names)

    # --- at start ------------------------------------------------------------------------------

    def install(self) -> None:
        """Create the read models' tables, and bring each one up to the head: from where it
        was, or from scratch if its revision changed. Idempotent; run by `Emit` when it is made
        (see `install_on_open`), else call it before the first append (a deploy step)."""
        if not self._projections:
            return
        store, checkpoints = self._sql()
        tables = [table for projection in self._projections for table in projection.tables]
        create_schema(store.engine, tables=tables)
        with store.transaction() as connection:
            last = store.head_position_in(connection)
            for projection in self._projections:
                checkpoints.take_over(connection, projection.name, projection.renamed_from)
                checkpoints.ensure(
                    connection, projection.name, PROJECTION, revision=projection.revision
                )
                checkpoint = checkpoints.read(connection, projection.name)
                assert checkpoint is not None  # ensured just above, in this transaction
                if checkpoint.revision != projection.revision:
                    _recreate(connection, projection.tables)
                    self._replay(connection, projection, 0, last)
                elif checkpoint.position < last:
                    self._replay(connection, projection, checkpoint.position, last)
                else:
                    continue
                checkpoints.move(connection, projection.name, last, projection.revision)

    # --- inline, in the append's transaction ---------------------------------------------------

    def apply(self, connection: sa.Connection, events: Sequence[RecordedEvent[Any]]) -> None:
        """Run every projection on `events`, the events one append stores, in the append's
        transaction; raises `ProjectionError`."""
        _, checkpoints = self._sql()
        first, last = events[0].position, events[-1].position
        for projection in self._projections:
            if not checkpoints.advance_projection(
                connection, projection.name, projection.revision, first - 1, last
            ):
                self._fill_gap(connection, projection, first - 1)
                checkpoints.move(connection, projection.name, last, projection.revision)
            for event in events:
                _handle(connection, projection, event)

    def _fill_gap(self, connection: sa.Connection, projection: Projection[Any], up_to: int) -> None:
        """Replay what another process appended without this projection."""
        _, checkpoints = self._sql()
        checkpoint = checkpoints.read(connection, projection.name)
        if checkpoint is None:
            raise ProjectionOutOfDate(projection.name, installed=False)
        if checkpoint.revision != projection.revision or checkpoint.position > up_to:
            raise ProjectionOutOfDate(projection.name)
        self._replay(connection, projection, checkpoint.position, up_to)

    # --- rebuild -------------------------------------------------------------------------------

    def rebuild(self, name: str, *, progress: Progress | None = None) -> int:
        """Empty projection `name`'s read model and replay the whole log into it, in one
        transaction; the number of events replayed.

        Readers see the old read model until the new one is complete; appends wait until it
        is. `progress(done, total)` is called as it goes. Raises `UnknownSubscriber`,
        `ProjectionError` (nothing changes), `EventDecodeError`, `StorageError`.
        """
        projection = self.get(name)
        store, checkpoints = self._sql()
        with store.transaction() as connection:
            last = store.head_position_in(connection)
            if projection.reset is not None:
                projection.reset(connection)
            else:
                for table in reversed(sa.schema.sort_tables(projection.tables)):
                    connection.execute(sa.delete(table))
            replayed = self._replay(connection, projection, 0, last, progress)
            checkpoints.ensure(connection, name, PROJECTION, revision=projection.revision)
            checkpoints.move(connection, name, last, projection.revision)
        return replayed

    def _replay(
        self,
        connection: sa.Connection,
        projection: Projection[Any],
        after: int,
        up_to: int,
        progress: Progress | None = None,
    ) -> int:
        store, _ = self._sql()
        total = up_to - after
        done = 0
        if progress is not None:
            progress(0, total)
        position = after
        while position < up_to:
            page = store.read_all_in(connection, after=position, limit=min(_PAGE, up_to - position))
            if not page:
                break
            for stored in page:
                _handle(connection, projection, self._decode(stored))
            position = page[-1].position
            done += len(page)
            if progress is not None:
                progress(done, total)
        return done

    def _sql(self) -> tuple[TransactionalStore, Checkpoints]:
        assert self._store is not None, "there are no projections"
        assert self._checkpoints is not None
        return self._store, self._checkpoints


def _handle(
    connection: sa.Connection, projection: Projection[Any], event: RecordedEvent[Any]
) -> None:
    try:
        projection.handle(connection, event)
    except Exception as error:
        if is_driver_error(error):
            raise  # the database failed, not the projection: the store says so (StorageError)
        raise ProjectionError(
            projection.name, event.aggregate_id, event.version, event.position, event.type, error
        ) from error


def _recreate(connection: sa.Connection, tables: Sequence[sa.Table]) -> None:
    ordered = sa.schema.sort_tables(tables)
    for table in reversed(ordered):
        table.drop(connection, checkfirst=True)
    for table in ordered:
        table.create(connection)
