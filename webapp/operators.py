"""Operators: the people who may use the operations page. Each has a name and a password, kept
as a Werkzeug hash (scrypt) in the `operators` table of the app's database, next to the events;
`flask --app webapp init-db` creates it.

This module reads and writes that table and checks passwords; signing in and out of the web
app is `webapp.auth`'s job, and the CLI commands that make operators are in `webapp.cli`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import sqlalchemy as sa
from werkzeug.security import check_password_hash, generate_password_hash

from emit import create_schema
from emit.sql import storage_errors

metadata = sa.MetaData()

operators = sa.Table(
    "operators",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

NAME_LENGTH = 64
MIN_PASSWORD_LENGTH = 12
DEMO_NAME = "demo"


class OperatorError(ValueError):
    """A name or password that cannot be used, or an operator that exists (or does not) when
    the command said otherwise; the message says which, for the person at the terminal."""


@dataclass(frozen=True, slots=True)
class Operator:
    """A signed-in operator as Flask-Login sees it (its `UserMixin`-like protocol).

    `get_id` carries a fingerprint of the password hash: setting a new password
    (`create-operator NAME --reset`) signs out every session signed in with the old one. The
    hash itself stays in the database, out of reach of templates that show `current_user`.
    """

    id: int
    name: str
    password_fingerprint: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.password_fingerprint}"


def fingerprint(password_hash: str) -> str:
    return hashlib.blake2b(password_hash.encode(), digest_size=8).hexdigest()


def check_name(name: str) -> str:
    """The name as stored; `OperatorError` if it cannot be one."""
    if not name or name != name.strip():
        raise OperatorError("An operator's name cannot be empty or start or end with a space.")
    if len(name) > NAME_LENGTH:
        raise OperatorError(f"An operator's name has at most {NAME_LENGTH} characters.")
    if not name.isprintable():
        raise OperatorError("An operator's name cannot hold control characters.")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OperatorError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def install(engine: sa.Engine) -> None:
    """Create the operators' table if it is missing (`init-db` does this too)."""
    create_schema(engine, tables=[operators])


def check_new(engine: sa.Engine, name: str, *, reset: bool = False) -> str:
    """The name, if `create` may make an operator of it (or with `reset`, give it a new
    password); else `OperatorError` saying why. For asking before the password is typed."""
    name = check_name(name)
    with engine.connect() as connection:
        exists = _exists(connection, name)
    if exists and not reset:
        raise OperatorError(f"Operator “{name}” exists already; --reset gives it a new password.")
    if reset and not exists:
        raise OperatorError(f"There is no operator “{name}” whose password to reset.")
    return name


def create(engine: sa.Engine, name: str, password: str, *, reset: bool = False) -> Operator:
    """Store a new operator, or with `reset` a new password for an existing one.

    Raises `OperatorError` for an unusable name or password, a name that exists (without
    `reset`) or one that does not (with it)."""
    name, password = check_new(engine, name, reset=reset), check_password(password)
    password_hash = generate_password_hash(password)
    with engine.begin() as connection:
        if reset:
            changed = connection.execute(
                sa.update(operators)
                .where(operators.c.name == name)
                .values(password_hash=password_hash)
                .returning(operators.c.id)
            ).scalar()
            if changed is None:  # deleted by another process since we looked
                raise OperatorError(f"There is no operator “{name}” whose password to reset.")
            return Operator(changed, name, fingerprint(password_hash))
        try:
            new_id = connection.execute(
                sa.insert(operators)
                .values(name=name, password_hash=password_hash, created_at=datetime.now(UTC))
                .returning(operators.c.id)
            ).scalar_one()
        except sa.exc.IntegrityError:  # made by another process since we looked
            raise OperatorError(f"Operator “{name}” exists already.") from None
    return Operator(new_id, name, fingerprint(password_hash))


def create_first(engine: sa.Engine) -> tuple[Operator, str] | None:
    """For the demo: an operator named "demo" with a generated password, if there is no
    operator at all yet; the operator and the password, which is stored only as its hash.
    None when there are operators already (or another process made the first meanwhile)."""
    if count(engine):
        return None
    password = secrets.token_urlsafe(12)
    try:
        operator = create(engine, DEMO_NAME, password)
    except OperatorError:
        return None
    return operator, password


def authenticate(engine: sa.Engine, name: str, password: str) -> Operator | None:
    """The operator with this name and password; None if either is wrong (the same answer, in
    about the same time, for both)."""
    with storage_errors("look an operator up"), engine.connect() as connection:
        row = connection.execute(sa.select(operators).where(operators.c.name == name)).first()
    if row is None:
        check_password_hash(_unknown_hash(), password)
        return None
    if not check_password_hash(row.password_hash, password):
        return None
    return Operator(row.id, row.name, fingerprint(row.password_hash))


def load(engine: sa.Engine, operator_id: str) -> Operator | None:
    """The operator a session names (`Operator.get_id`); None if it is gone or its password
    changed since that session signed in."""
    number, _, seen = operator_id.partition(":")
    if not number.isdigit() or len(number) > 18:
        return None
    with storage_errors("look an operator up"), engine.connect() as connection:
        row = connection.execute(sa.select(operators).where(operators.c.id == int(number))).first()
    if row is None or not hmac.compare_digest(seen, fingerprint(row.password_hash)):
        return None
    return Operator(row.id, row.name, fingerprint(row.password_hash))


@cache
def _unknown_hash() -> str:
    """Checked against when the name is unknown, so that a wrong name takes as long as a wrong
    password and the answer's timing does not tell which names exist."""
    return generate_password_hash(secrets.token_hex(16))


def count(engine: sa.Engine) -> int:
    with storage_errors("count the operators"), engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(operators)).scalar_one()


def _exists(connection: sa.Connection, name: str) -> bool:
    found = connection.execute(sa.select(operators.c.id).where(operators.c.name == name))
    return found.first() is not None
