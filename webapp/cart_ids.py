"""Ids of new carts (opened, or started from another's version): named by the form's key when
it has one, so that the same form sent twice names the same cart, else drawn at random."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable

from emit import AggregateAlreadyExists

_ATTEMPTS = 5


def new_cart(
    make: Callable[[str], object],
    key: str | None,
    *,
    made_by_this_form: Callable[[str], bool] = lambda _: False,
    purpose: str = "",
) -> str:
    """Make a cart with `make(cart_id)` (which raises `AggregateAlreadyExists` for a taken id)
    and return its id. With a form `key`, the id comes from it: if that id is taken and
    `made_by_this_form(cart_id)` says this form made it before, that is the answer; another
    cart's id (rare) falls back to random ids. `purpose` tells keys of different actions apart."""
    if key is not None:
        cart_id = f"cart-{hashlib.sha256((purpose + key).encode()).hexdigest()[:8]}"
        try:
            make(cart_id)
        except AggregateAlreadyExists:
            if made_by_this_form(cart_id):
                return cart_id
        else:
            return cart_id
    for _ in range(_ATTEMPTS):
        cart_id = f"cart-{secrets.token_hex(4)}"
        try:
            make(cart_id)
        except AggregateAlreadyExists:
            continue
        return cart_id
    raise RuntimeError(f"No free cart id after {_ATTEMPTS} random tries.")
