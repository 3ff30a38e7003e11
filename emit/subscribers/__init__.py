"""Subscribers: what reads the log after the command side has written it.

A subscriber is a projection or a policy:

- a `Projection` (projections.py) writes a read model inside the transaction that appends the
  events, run by `Emit` itself (`emit.projections`);
- a `Policy` (policies.py) reacts after the commit, run by `Policies` (runner.py), from a
  checkpoint, with retries and dead letters.

Both keep a checkpoint (checkpoints.py) in the store's database, so they need a store with the
`TransactionalStore` capability (emit/store.py). `status.py` shows each one to an operator,
`dead_letters.py` keeps what a policy gave up on and `repair.py` retries or skips it; `leases.py`
and `locks.py` make sure one runner at a time processes a policy.

The names below are imported on first use, so that importing one module of this package (as
`Emit` does for projections) does not load the runner and its threads.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emit.subscribers.checkpoints import Checkpoint
    from emit.subscribers.dead_letters import DeadLetter
    from emit.subscribers.policies import Backoff, Cause, Policy
    from emit.subscribers.projections import Projection, Projections
    from emit.subscribers.runner import Policies, Subscribers
    from emit.subscribers.status import SubscriberStatus

# Public name -> the module of this package that defines it.
_MODULES = {
    "Backoff": "policies",
    "Cause": "policies",
    "Checkpoint": "checkpoints",
    "DeadLetter": "dead_letters",
    "Policies": "runner",
    "Policy": "policies",
    "Projection": "projections",
    "Projections": "projections",
    "SubscriberStatus": "status",
    "Subscribers": "runner",
}

__all__ = [
    "Backoff",
    "Cause",
    "Checkpoint",
    "DeadLetter",
    "Policies",
    "Policy",
    "Projection",
    "Projections",
    "SubscriberStatus",
    "Subscribers",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
