"""Receipts: when a cart is checked out, a receipt is issued. A policy
(emit/subscribers/policies.py): it runs after the checkout's commit, in the policies' runner, and
writes the `receipts` row in one transaction with its checkpoint, so each checked-out cart gets
exactly one receipt.

For the demo it can be made to fail: while the receipt printer is jammed (a switch kept in the
database, so every process sees it, flipped on the operations page), issuing fails, is retried
after a wait that doubles each time, and after `max_attempts` tries the checkout is parked as a
dead letter; fix the printer and press Retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from emit import Backoff, Policy, RecordedEvent
from emit.clock import as_utc
from emit.sql import dialect_insert, storage_errors
from shop.cart import CartCheckedOut

metadata = sa.MetaData()

receipts = sa.Table(
    "receipts",
    metadata,
    sa.Column("cart_id", sa.String(200), primary_key=True),
    sa.Column("number", sa.String(20), nullable=False, unique=True),
    sa.Column("total", sa.BigInteger, nullable=False),  # cents
    sa.Column("item_count", sa.Integer, nullable=False),
    sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
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


def issue_receipt(connection: sa.Connection, recorded: RecordedEvent[CartCheckedOut]) -> None:
    if _jammed(connection):
        raise PrinterJammed(
            "The receipt printer is jammed (the demo's switch on the operations page)."
        )
    checkout = recorded.event
    connection.execute(
        sa.insert(receipts).values(
            cart_id=recorded.aggregate_id,
            number=f"R-{recorded.position:06d}",  # the checkout's place in the log: unique
            total=checkout.total,
            item_count=checkout.item_count,
            issued_at=datetime.now(UTC),
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
    if row is None:
        return None
    issued_at = as_utc(row.issued_at)
    return Receipt(row.cart_id, row.number, row.total, row.item_count, issued_at)


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
