"""Idempotency keys: what tells a repeated command from a new one.

A caller may send a command with a key; the store records the key with a fingerprint of the
command in the same transaction as its events. The same key again with the same fingerprint is
the same command, answered as the first time; with another fingerprint, a mistake
(`IdempotencyKeyReused`).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping

from emit.errors import InvalidIdempotencyKey
from emit.ids import MAX_ID_LENGTH
from emit.store import CommandKey


def command_key(idempotency_key: object, command: object) -> CommandKey:
    """The key to record with `command`; raises `InvalidIdempotencyKey` for a key that is not
    a string of 1 to 200 characters."""
    kind = type(command)
    former = _FORMER_MODULES.get(kind.__module__)
    return CommandKey(
        _checked(idempotency_key),
        fingerprint(command),
        () if former is None else (_fingerprint(f"{former}.{kind.__qualname__}", command),),
    )


def module_moved(module: str, *, was: str) -> None:
    """Say that the command types of `module` were in module `was` before. A command recorded
    under a key before the move and sent again after it is then answered as the repeat it is,
    not refused as another command (a fingerprint names the type's module)."""
    _FORMER_MODULES[module] = was


# module -> the module its command types were in before (`module_moved`).
_FORMER_MODULES: dict[str, str] = {}


def creation_key(idempotency_key: object, aggregate_id: str) -> CommandKey:
    """The key `Emit.create` records: the command is "create this aggregate"."""
    # Named as in the keys recorded before `create` moved out of emit/emit.py.
    text = _digest_text("emit.emit._Create", {"aggregate_id": aggregate_id})
    return CommandKey(_checked(idempotency_key), hashlib.sha256(text.encode()).hexdigest())


def _checked(idempotency_key: object) -> str:
    if not isinstance(idempotency_key, str):
        raise InvalidIdempotencyKey(idempotency_key, "it must be a string")
    if not idempotency_key or len(idempotency_key) > MAX_ID_LENGTH:
        raise InvalidIdempotencyKey(
            idempotency_key, f"it must have 1 to {MAX_ID_LENGTH} characters"
        )
    return idempotency_key


def fingerprint(command: object) -> str:
    """A digest of a command's type and fields: what tells a repeated command (same key, same
    fingerprint) from a key reused for another one. The same in every process: sets are
    sorted and mappings written with sorted keys, whatever order they were built in or
    `PYTHONHASHSEED` iterates them in. The type is named by module and qualified name."""
    kind = type(command)
    return _fingerprint(f"{kind.__module__}.{kind.__qualname__}", command)


def _fingerprint(type_name: str, command: object) -> str:
    text = _digest_text(type_name, _canonical(command))
    return hashlib.sha256(text.encode()).hexdigest()


def _digest_text(type_name: str, fields: object) -> str:
    return json.dumps([type_name, fields], sort_keys=True, separators=(",", ":"))


def describe(command: object) -> str:
    """A command in a line, for messages."""
    text = repr(command)
    return text if len(text) <= 80 else text[:79] + "…"


def _canonical(value: object) -> object:
    """`value` as JSON-ready data that equal values share, built in any order."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=repr))
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, enum.Enum):
        return _canonical(value.value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)  # datetimes, decimals, UUIDs: their repr says all that tells them apart
