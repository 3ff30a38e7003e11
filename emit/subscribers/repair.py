"""Repairing dead letters: an operator retries one (its policy handles the event once more) or
skips it (it is dropped unhandled). `Policies.retry_dead_letter` and `skip_dead_letter` call
these; the dead letters themselves are kept by emit/subscribers/dead_letters.py."""

from __future__ import annotations

import contextlib
import logging
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from emit.errors import DeadLetterBusy, PolicyFailed, StorageError, StorageErrorKind
from emit.recorded import RecordedEvent
from emit.sql import classify, is_driver_error, storage_error, storage_errors, write_connection
from emit.store import StoredEvent, TransactionalStore
from emit.subscribers.dead_letters import DeadLetter, DeadLetters
from emit.subscribers.policies import Policy, describe_error

log = logging.getLogger("emit.subscribers")


class DeadLetterRepair:
    """Retries and skips the dead letters of `store`'s database. `policy(name)` is the policy
    that parked a dead letter (raising `UnknownSubscriber` if it is not known); `decode` turns
    the stored event back into the policy's; a retry holds its dead letter for at most
    `claim_ttl` seconds."""

    def __init__(
        self,
        store: TransactionalStore,
        dead_letters: DeadLetters,
        *,
        policy: Callable[[str], Policy[Any]],
        decode: Callable[[StoredEvent], RecordedEvent[Any]],
        claim_ttl: float,
    ) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._policy = policy
        self._decode = decode
        self._claim_ttl = claim_ttl

    def retry(self, dead_letter_id: int) -> None:
        """See `Policies.retry_dead_letter`."""
        with storage_errors("claim a dead letter"):
            policy = self._policy(self._dead_letters.get(dead_letter_id).policy)
            token = uuid.uuid4().hex
            letter = self._dead_letters.claim(dead_letter_id, token, self._claim_ttl)
        try:
            (stored,) = self._store.read_all(after=letter.position - 1, limit=1)
            event = self._decode(stored)
            with write_connection(self._store.engine) as connection:
                policy.handle(connection, event)
                self._dead_letters.resolve(connection, dead_letter_id, token)
                connection.commit()
        except DeadLetterBusy:
            raise
        except Exception as error:
            database_failed = isinstance(error, StorageError) or (
                is_driver_error(error) and classify(error) is not StorageErrorKind.OTHER
            )
            if database_failed:
                # Not the policy's failure: no attempt is counted, and the claim is let go (if
                # the database lets us) so that the next Retry can run at once.
                with contextlib.suppress(Exception):
                    self._dead_letters.release(dead_letter_id, token)
                if isinstance(error, StorageError):
                    raise
                raise storage_error("retry a dead letter", None, error) from error
            text = describe_error(error)
            with storage_errors("record a dead letter's failed retry"):
                self._dead_letters.fail(
                    dead_letter_id,
                    token,
                    error=text,
                    traceback="".join(traceback.format_exception(error)),
                )
            log.warning("dead letter retry failed id=%d error=%r", dead_letter_id, text)
            raise PolicyFailed(policy.name, letter.position, text) from error
        log.info("dead letter retried id=%d policy=%s", dead_letter_id, policy.name)

    def skip(self, dead_letter_id: int) -> DeadLetter:
        """See `Policies.skip_dead_letter`."""
        with storage_errors("skip a dead letter"):
            letter = self._dead_letters.skip(dead_letter_id)
        log.info("dead letter skipped id=%d policy=%s", dead_letter_id, letter.policy)
        return letter
