"""Reading what a browser sent (form fields, URL parts, query strings) into cart ids, cart
commands, versions and moments.

Two kinds of "no", kept apart on purpose:

- Malformed input, which our pages cannot send (a quantity that is not a number or is huge, an
  unknown product code, an overlong or unprintable id): `BadRequest`, a 400 whose message says
  what was wrong. Nothing reaches the cart.
- A well-formed command the cart refuses (a quantity of 100, checking out an empty cart): that is
  the domain's rule to apply, so it goes through and comes back as `CommandRejected` (422),
  shown next to the action.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from werkzeug.exceptions import BadRequest

from emit import InvalidAggregateId, check_aggregate_id
from emit.clock import as_utc
from shop.cart import MAX_QUANTITY, AddItem, ChangeQuantity, ChangeQuantityBy
from shop.catalog import find_product

# Up to three digits: enough for every quantity the cart could discuss (its limit is 99), and
# the line past which a number is not a quantity but noise.
_QUANTITY = re.compile(r"-?[0-9]{1,3}")
_SKU = re.compile(r"[A-Z0-9][A-Z0-9-]{0,39}")
# What `form_key()` makes (see webapp/security.py), with room for other clients' own keys.
_KEY = re.compile(r"[A-Za-z0-9_-]{8,200}")
# Nine digits: a billion versions is more than any cart will see.
_VERSION = re.compile(r"[0-9]{1,9}")
_SHOWN = 40  # how much of a bad value a message repeats


def cart_id(value: str) -> str:
    """A cart id from the URL or a query string; `BadRequest` if it cannot name a cart."""
    try:
        return check_aggregate_id(value)
    except InvalidAggregateId as error:
        raise BadRequest(f"{_shown(value)} is not a cart id: {error.reason}.") from None


def sku(value: str) -> str:
    """A product code (it need not be in the catalog: a cart keeps lines of products the
    catalog may have dropped since)."""
    if not _SKU.fullmatch(value):
        raise BadRequest(
            f"{_shown(value)} is not a product code: codes are capital letters, digits and "
            "dashes, like BEAN-250."
        )
    return value


def quantity(form: Mapping[str, str], *, default: int | None = None) -> int:
    raw = form.get("quantity", "").strip()
    if not raw and default is not None:
        return default
    if not raw:
        raise BadRequest("The quantity is missing.")
    if not _QUANTITY.fullmatch(raw):
        if re.fullmatch(r"-?[0-9]+", raw):
            raise BadRequest(f"A quantity of {_shown(raw)} is far too large.")
        raise BadRequest(f"{_shown(raw)} is not a quantity: enter a whole number, like 2.")
    return int(raw)


def add_item(form: Mapping[str, str]) -> AddItem:
    code = sku(form.get("sku", ""))
    if find_product(code) is None:
        raise BadRequest(f"There is no product {code} in the catalog.")
    return AddItem(code, quantity(form, default=1))


def change_quantity(line_sku: str, form: Mapping[str, str]) -> ChangeQuantity:
    return ChangeQuantity(sku(line_sku), quantity(form))


def change_quantity_by(line_sku: str, form: Mapping[str, str]) -> ChangeQuantityBy:
    """One more or one fewer (the stepper's "+" and "−"): `by` is a whole number from -99 to
    99 other than 0."""
    raw = form.get("by", "").strip()
    if not _QUANTITY.fullmatch(raw) or not 0 < abs(int(raw)) <= MAX_QUANTITY:
        raise BadRequest(
            f"{_shown(raw)} is not a change of quantity: send a whole number from -99 to 99, "
            "like 1 or -1."
        )
    return ChangeQuantityBy(sku(line_sku), int(raw))


def command_key(form: Mapping[str, str]) -> str | None:
    """The idempotency key the page made for this form (None if the form has none: a page
    from before keys, or a client of its own). A resent form carries the same key, and so is
    done once."""
    raw = form.get("key", "")
    if not raw:
        return None
    if not _KEY.fullmatch(raw):
        raise BadRequest(
            f"{_shown(raw)} is not a form key: 8 to 200 letters, digits, dashes or underscores."
        )
    return raw


def version(value: str, *, what: str = "a version") -> int:
    """A version from a query string or a form: a whole number from 0. Whether the cart has
    that version is the view's question (a 404); this only refuses what cannot be a version (a
    400)."""
    if not _VERSION.fullmatch(value):
        if re.fullmatch(r"[0-9]+", value):
            raise BadRequest(f"{_shown(value)} is far too large to be {what}.")
        raise BadRequest(
            f"{_shown(value)} is not {what}: versions are whole numbers counted from 0, like 3."
        )
    return int(value)


def shown_version(form: Mapping[str, str]) -> int | None:
    """The version of the cart that the page sending `form` showed; None if the form does not
    say (a page rendered before the field existed, or a client of its own)."""
    raw = form.get("version", "").strip()
    return version(raw, what="the version of a cart") if raw else None


def moment(value: str) -> datetime:
    """A moment from a query string, in ISO 8601 ("2025-11-27T09:45:00Z"; without an offset it
    is UTC), as a UTC time."""
    parsed = _iso_time(value)
    if parsed is None and " " in value:
        # An unencoded "+01:00" in a URL arrives as " 01:00".
        before, _, after = value.rpartition(" ")
        parsed = _iso_time(f"{before}+{after}")
    if parsed is None:
        raise BadRequest(
            f"{_shown(value)} is not a time: write it in ISO 8601, like 2025-11-27T09:45:00Z."
        )
    return parsed


def _iso_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    parsed = as_utc(parsed)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise BadRequest(
            f"{_shown(value)} falls outside the years 1 to 9999 once turned into UTC."
        ) from None


def _shown(value: str) -> str:
    """A bad value quoted back to its sender: cut short, unprintable characters replaced (the
    page escapes the rest)."""
    cut = value if len(value) <= _SHOWN else value[:_SHOWN] + "…"
    return (
        "“" + "".join(ch if ch.isprintable() else "\N{REPLACEMENT CHARACTER}" for ch in cut) + "”"
    )
