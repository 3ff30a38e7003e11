"""Receipts: when a cart is checked out, a receipt is issued. A policy
(emit/subscribers/policies.py): it runs after the checkout's commit, in the policies' runner, and
writes the `receipts` row in one transaction with its checkpoint, so each checked-out cart gets
exactly one receipt.

Receipts are numbered in their own sequence, R-000001, R-000002, ...: the next number is one
past the highest, and a unique index on it keeps two runners that took the same one from both
storing it (the second fails, is retried after its backoff, and takes the next). The row keeps
the checkout event it answers (its id, position and correlation id: `Cause`), which is how the
event explorer shows the receipt under its checkout.

For the demo it can be made to fail: while the receipt printer is jammed (a switch kept in the
database, so every process sees it, flipped on the operations page), issuing fails, is retried
after a wait that doubles each time, and after `max_attempts` tries the checkout is parked as a
dead letter; fix the printer and press Retry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from emit import Backoff, Policy, RecordedEvent
from emit.causation import Effect
from emit.clock import as_utc
from emit.sql import dialect_insert, storage_errors
from emit.subscribers import Cause
from shop.cart import CartCheckedOut
from webapp.formatting import money

metadata = sa.MetaData()


def _upgrade(connection: sa.Connection) -> None:
    """A `receipts` table made before 2026-12-04 numbered receipts by their checkout's position
    and kept nothing of the checkout: give it the sequence and the checkout's columns. Its
    receipts keep their numbers: the sequence takes them as they are (R-000058 is 58) and goes
    on after the highest, and so does their checkout's position, which was the number."""
    found = {c["name"] for c in sa.inspect(connection).get_columns(receipts.name)}
    if "sequence" in found:
        return
    added = ("sequence", "checkout_event_id", "checkout_position", "correlation_id")
    for name in added:
        column = receipts.c[name]
        type_ = column.type.compile(dialect=connection.dialect)
        connection.exec_driver_sql(f'ALTER TABLE "{receipts.name}" ADD COLUMN "{name}" {type_}')
    old_number = sa.cast(sa.func.substr(receipts.c.number, 3), sa.Integer)
    connection.execute(
        sa.update(receipts).values(sequence=old_number, checkout_position=old_number)
    )
    for index in receipts.indexes:
        index.create(connection, checkfirst=True)


receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("cart_id", sa.String(200), primary_key=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column("total", sa.BigInteger, nullable=False),  # cents
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    # The number's sequence: 1 for R-000001. (Nullable only so that it can be added to a table
    # made before it; every row has one.)
    sa.Column("sequence", sa.Integer),
    # The checkout this receipt answers (null only in rows older than these columns).
    sa.Column("checkout_event_id", sa.String(36)),
    sa.Column("checkout_position", sa.BigInteger),
    sa.Column("correlation_id", sa.Text),
    sa.Index("receipts_sequence", "sequence", unique=True),
    sa.Index("receipts_checkout_event", "checkout_event_id"),
    info={"upgrade": _upgrade},
)

printer = sa.Table(
    "receipt_printer",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("jammed", sa.Boolean, nullable=False),
)


class PrinterJammed(Exception):
    """The demo's failure: the receipt printer is jammed."""


@dataclass(frozen=True, slots=True)
class Receipt:
    cart_id: str
    number: str
    total: int
    item_count: int
    issued_at: datetime
    checkout_position: int | None  # None for receipts issued before it was kept
    correlation_id: str | None


def receipt_number(sequence: int) -> str:
    """'R-000003' for the third receipt."""
    return f"R-{sequence:06d}"


def next_sequence(connection: sa.Connection) -> int:
    """The sequence number the next receipt takes, as `connection` sees the table: another
    runner may take it first, which the unique index refuses."""
    highest = connection.execute(sa.select(sa.func.max(receipts.c.sequence))).scalar()
    return int(highest or 0) + 1


def issue_receipt(connection: sa.Connection, recorded: RecordedEvent[CartCheckedOut]) -> None:
    if _jammed(connection):
        raise PrinterJammed(
            "The receipt printer is jammed (the demo's switch on the operations page)."
        )
    store_receipt(connection, recorded, next_sequence(connection))


def store_receipt(
    connection: sa.Connection, recorded: RecordedEvent[CartCheckedOut], sequence: int
) -> None:
    """Write the checkout's receipt, numbered `sequence`. Raises the driver's error if another
    receipt has that number (the unique index), or the cart has one already."""
    checkout = recorded.event
    cause = Cause.of(recorded)
    connection.execute(
        sa.insert(receipts).values(
            cart_id=recorded.aggregate_id,
            number=receipt_number(sequence),
            sequence=sequence,
            total=checkout.total,
            item_count=checkout.item_count,
            issued_at=datetime.now(UTC),
            checkout_event_id=str(cause.event_id),
            checkout_position=cause.position,
            correlation_id=cause.correlation_id,
        )
    )


RECEIPTS = "receipts"  # the policy's name


def receipt_policy(*, max_attempts: int = 4, first_wait: float = 1.0) -> Policy[CartCheckedOut]:
    """The policy: tries `max_attempts` times, waiting `first_wait` seconds after the first
    failure and twice as long after each next one (1 s, 2 s, 4 s: a dead letter in 7 s)."""
    return Policy(
        RECEIPTS,
        issue_receipt,
        types=[CartCheckedOut],
        tables=[receipts, printer],
        max_attempts=max_attempts,
        backoff=Backoff(first=first_wait, factor=2.0, longest=max(first_wait, 60.0)),
    )


def find_receipt(engine: sa.Engine, cart_id: str) -> Receipt | None:
    """The cart's receipt; None until the policy has issued it. Raises `StorageError`."""
    with storage_errors("read a receipt", cart_id), engine.connect() as connection:
        row = connection.execute(sa.select(receipts).where(receipts.c.cart_id == cart_id)).first()
    return None if row is None else _receipt(row)


def receipt_effects(engine: sa.Engine) -> Callable[[RecordedEvent[Any]], list[Effect]]:
    """For a causation tree (`emit.causation.explain`): the receipt an event caused, if it is
    a checkout whose receipt is issued (kind "receipt", key the cart's id)."""

    def effects(event: RecordedEvent[Any]) -> list[Effect]:
        if not isinstance(event.event, CartCheckedOut):
            return []
        query = sa.select(receipts).where(
            sa.or_(
                receipts.c.checkout_event_id == str(event.event_id),
                # Receipts issued before the event's id was kept: the number was its position.
                sa.and_(
                    receipts.c.checkout_event_id.is_(None),
                    receipts.c.checkout_position == event.position,
                ),
            )
        )
        with storage_errors("read a receipt", event.aggregate_id), engine.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return []
        receipt = _receipt(row)
        issued = receipt.issued_at.strftime("%Y-%m-%d %H:%M:%S UTC")
        return [
            Effect(
                "receipt",
                f"Receipt {receipt.number} issued",
                receipt.cart_id,
                (f"{money(receipt.total)} for {receipt.item_count} item(s), {issued}",),
            )
        ]

    return effects


def _receipt(row: Any) -> Receipt:
    return Receipt(
        row.cart_id,
        row.number,
        row.total,
        row.item_count,
        as_utc(row.issued_at),
        row.checkout_position,
        row.correlation_id,
    )


def printer_jammed(engine: sa.Engine) -> bool:
    with storage_errors("read the receipt printer's switch"), engine.connect() as connection:
        return _jammed(connection)


def jam_printer(engine: sa.Engine, jammed: bool) -> None:
    """Flip the demo's failure switch, for every process that issues receipts."""
    upsert = dialect_insert(engine)(printer).values(id=1, jammed=jammed)
    upsert = upsert.on_conflict_do_update(index_elements=[printer.c.id], set_={"jammed": jammed})
    # One statement: two processes flipping it cannot clash.
    with storage_errors("flip the receipt printer's switch"), engine.begin() as connection:
        connection.execute(upsert)


def _jammed(connection: sa.Connection) -> bool:
    return bool(connection.execute(sa.select(printer.c.jammed).where(printer.c.id == 1)).scalar())
