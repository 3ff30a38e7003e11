"""Refused commands as the pages show them: a page of the whole refusal log (for `/events`), and
a cart's refusals as ghost rows among its events (for its history page).

A refusal is not an event (emit/refusals.py): it has no version of its own. It is shown after
the event whose version it was decided on, as "Refused: add 100 × Oat milk, 1 L: a cart holds
at most 99 of one product ...", marked "not an event: nothing changed".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, get_args

from emit import Refusal, StorageError
from emit.codec import json_decoder
from shop.cart import CartCommand
from webapp.db import CartEmit
from webapp.timeline import command_summary

log = logging.getLogger(__name__)

# The cart's commands by the type name a refusal keeps.
_COMMANDS: dict[str, Any] = {kind.__name__: kind for kind in get_args(CartCommand)}

# Refusals a ghost-row lookup reads at a time, newest first.
_BATCH = 200


@dataclass(frozen=True, slots=True)
class RefusalRow:
    """One refusal with what it asked in words ("add 100 × Oat milk, 1 L")."""

    refusal: Refusal
    words: str

    @property
    def sentence(self) -> str:
        """'Refused: add 100 × Oat milk, 1 L: a cart holds at most 99 of one product; ...'"""
        reason = self.refusal.reason
        return f"Refused: {self.words}: {reason[:1].lower()}{reason[1:]}"


@dataclass(frozen=True, slots=True)
class RefusalsPage:
    """One page of the refusal log, newest first. `older` is the `before` of the next page
    (the id of this page's oldest refusal); None when there is none older."""

    rows: tuple[RefusalRow, ...]
    cart_id: str | None
    older: int | None


def row(refusal: Refusal) -> RefusalRow:
    """`refusal` with its command in words; a command the cart no longer has, or fields that
    no longer fit it, are shown by their type name."""
    kind = _COMMANDS.get(refusal.command)
    if kind is not None:
        try:
            return RefusalRow(refusal, command_summary(json_decoder(kind)(refusal.data)))
        except (TypeError, ValueError):  # `CodecError` is a TypeError
            pass
    return RefusalRow(refusal, refusal.command)


def refusals_page(
    emit: CartEmit, *, before: int | None = None, cart_id: str | None = None, limit: int = 50
) -> RefusalsPage:
    """Up to `limit` refusals, newest first, with an id below `before` if given (keyset: no
    offset, no count), of one cart if `cart_id` is given. Raises `StorageError`, and
    `ValueError` for a `limit` below 1."""
    if limit < 1:
        raise ValueError(f"A page holds at least one refusal, not {limit}.")
    refusals = emit.refusals
    if refusals is None:
        return RefusalsPage((), cart_id, None)
    found = refusals.read(before=before, stream_id=cart_id, limit=limit + 1)
    older = found[limit - 1].id if len(found) > limit else None
    return RefusalsPage(tuple(row(r) for r in found[:limit]), cart_id, older)


def ghost_rows(emit: CartEmit, cart_id: str, first: int, last: int) -> dict[int, list[RefusalRow]]:
    """The cart's refusals decided on versions `first` to `last`, by version, oldest first:
    the rows to show after each of those versions' events.

    Asks the log for those versions alone (`read(versions=...)`), a batch at a time. A log
    that cannot be read leaves the history without them, and is logged: the events are what
    the page is for."""
    refusals = emit.refusals
    found: dict[int, list[RefusalRow]] = {}
    if refusals is None:
        return found
    before = None
    try:
        while True:
            batch = refusals.read(
                before=before, stream_id=cart_id, versions=(first, last), limit=_BATCH
            )
            for refusal in batch:
                found.setdefault(refusal.version, []).append(row(refusal))
            if len(batch) < _BATCH:
                break
            before = batch[-1].id
    except StorageError:
        log.warning(
            "Could not read the refusals of cart %r; its history shows none.",
            cart_id,
            exc_info=True,
        )
        return {}
    for rows in found.values():
        rows.reverse()
    return found
