"""A version of a cart written as a given/when/then test (`emit.testing.given`), to paste into
a test file: the events up to that version, the cart they make, and the next command with the
event it recorded. Pure Python: no Flask, no store.

The command is told from the next event and the name its metadata gives (`command`), as
shop/cart.py's `decide` maps commands to events; where the event does not tell the command's
fields, the text says so in a comment and leaves the `when` out rather than guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from emit import RecordedEvent
from shop.cart import (
    AddItem,
    CartCheckedOut,
    CartCommand,
    CartEvent,
    ChangeQuantity,
    ChangeQuantityBy,
    CheckOut,
    ItemAdded,
    LineRemoved,
    QuantityChanged,
    RemoveLine,
    cart_decider,
)

# The most events a test writes out: past it the text would be too long to read or paste.
MAX_EVENTS = 500


def command_of(recorded: RecordedEvent[CartEvent]) -> CartCommand | None:
    """The command that recorded this event, told from the event and its metadata's command
    name; None when they do not tell it (the genesis, another name, or a mismatch)."""
    match recorded.metadata.command, recorded.event:
        case "AddItem", ItemAdded(sku, quantity=quantity):
            return AddItem(sku, quantity)
        case "ChangeQuantity", QuantityChanged(sku, to_quantity=to_quantity):
            return ChangeQuantity(sku, to_quantity)
        case "ChangeQuantity", LineRemoved(sku):
            return ChangeQuantity(sku, 0)
        case "ChangeQuantityBy", QuantityChanged(sku, _, _, from_quantity, to_quantity):
            return ChangeQuantityBy(sku, to_quantity - from_quantity)
        case "ChangeQuantityBy", LineRemoved(sku, quantity=quantity):
            return ChangeQuantityBy(sku, -quantity)
        case "RemoveLine", LineRemoved(sku):
            return RemoveLine(sku)
        case "CheckOut", CartCheckedOut():
            return CheckOut()
    return None


def too_long(cart_id: str, version: int) -> str:
    """What stands in for the test of a version with more than `MAX_EVENTS` events."""
    return (
        f"# Version {version} of {cart_id} has {version} events: more than {MAX_EVENTS}, too\n"
        "# many to write out as a test. Export the stream instead, and read it in a test with\n"
        "# emit.export.read_export.\n"
    )


def scenario(
    cart_id: str,
    version: int,
    events: Sequence[RecordedEvent[CartEvent]],
    next_event: RecordedEvent[CartEvent] | None,
) -> str:
    """The test, as Python source: `events` are versions 1 to `version` of the cart,
    `next_event` the one after (None at the latest version)."""
    state = cart_decider.fold(cart_decider.initial_state, (r.event for r in events))
    names = {"Cart", "Line"} if state.lines else {"Cart"}
    names.update(type(recorded.event).__name__ for recorded in events)
    body = [f"    scenario = given({_arguments(events)})"]
    body.append(f"    assert scenario.state == {state!r}")
    if next_event is None:
        body.append(f"    # Version {version} is the cart's latest: no command came after it.")
    elif version == 0:
        names.add(type(next_event.event).__name__)
        body.append(
            "    # The next event was recorded by Emit.create (the decider's genesis), not by"
        )
        body.append("    # a command that `decide` decides: it is checked against the genesis.")
        body.append(
            f"    assert list(cart_decider.genesis_events({cart_id!r})) == [{next_event.event!r}]"
        )
    else:
        command = command_of(next_event)
        names.add(type(next_event.event).__name__)
        if command is None:
            body.append(
                f"    # The next event, {next_event.type}, was recorded by the command "
                f"{next_event.metadata.command!r};"
            )
            body.append("    # what that command held cannot be told from the event, so there is")
            body.append("    # no `when` here: write it by hand.")
        else:
            names.add(type(command).__name__)
            body.append(f"    scenario.when({command!r}).then({next_event.event!r})")
    imports = ", ".join([*sorted(names, key=str.lower), "cart_decider"])
    return "\n".join(
        [
            "from emit.testing import given",
            f"from shop.cart import {imports}",
            "",
            "",
            f"def test_{_identifier(cart_id)}_at_version_{version}() -> None:",
            *body,
            "",
        ]
    )


def _arguments(events: Sequence[RecordedEvent[CartEvent]]) -> str:
    if not events:
        return "cart_decider"
    lines = ["cart_decider", *(repr(recorded.event) for recorded in events)]
    return "\n" + "".join(f"        {line},\n" for line in lines) + "    "


def _identifier(cart_id: str) -> str:
    """The cart id as part of a function name: 'cart-5eed0001' -> 'cart_5eed0001'."""
    return re.sub(r"\W", "_", cart_id.lower(), flags=re.ASCII).strip("_") or "cart"
