"""A read model of the test accounts: one row per account, kept by a projection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from emit import Projection, RecordedEvent
from tests.account import Closed, Deposited, Opened, Withdrawn

metadata = sa.MetaData()

balances = sa.Table(
    "test_balances",
    metadata,
    sa.Column("account_id", sa.String(200), primary_key=True),
    sa.Column("balance", sa.Integer, nullable=False),
    sa.Column("deposits", sa.Integer, nullable=False),
    sa.Column("open", sa.Boolean, nullable=False),
)


def project_balance(connection: sa.Connection, recorded: RecordedEvent[Any]) -> None:
    row = balances.c
    where = row.account_id == recorded.aggregate_id
    match recorded.event:
        case Opened():
            connection.execute(
                sa.insert(balances).values(
                    account_id=recorded.aggregate_id, balance=0, deposits=0, open=True
                )
            )
        case Deposited(amount):
            connection.execute(
                sa.update(balances)
                .where(where)
                .values(balance=row.balance + amount, deposits=row.deposits + 1)
            )
        case Withdrawn(amount):
            connection.execute(
                sa.update(balances).where(where).values(balance=row.balance - amount)
            )
        case Closed():
            connection.execute(sa.update(balances).where(where).values(open=False))


balance_projection: Projection[Any] = Projection("balances", [balances], project_balance)


def read_balances(engine: sa.Engine) -> dict[str, tuple[int, int, bool]]:
    """The read model as {account: (balance, deposits, open)}."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(balances)).all()
    return {r.account_id: (r.balance, r.deposits, r.open) for r in rows}
