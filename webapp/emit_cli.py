"""`flask --app webapp emit ...`: the event store from a terminal.

    flask --app webapp emit history CART_ID                   the events, as a table
    flask --app webapp emit replay CART_ID [--version N | --at TIME]
                                                              the cart at a version, as JSON
    flask --app webapp emit export CART_ID                    the stream as emit.stream/1 JSON

One click group, `emit_cli`, registered by `webapp.cli`: commands for the store and what runs on
it join it here. Like the history page, these commands only read: they never change a cart or
the live aggregates of a running app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from werkzeug.exceptions import BadRequest

from emit import AggregateNotFound, RecordedEvent, VersionOutOfRange
from emit.codec import encoder
from emit.export import export_stream
from webapp import forms
from webapp.cart import Cart, CartEvent, cart_decider
from webapp.formatting import iso, money
from webapp.store import get_emit
from webapp.timeline import CartTimeline, summary

emit_cli = AppGroup("emit", help="Read the event store: a cart's history, replays, exports.")

T = TypeVar("T")


@emit_cli.command("history")
@click.argument("cart_id")
def history_command(cart_id: str) -> None:
    """A cart's events, one a line, with the cart's total after each."""
    timeline = CartTimeline(_history(cart_id))
    cart = timeline.states[-1]
    status = {"open": "open", "checked_out": "checked out"}.get(cart.status, cart.status)
    events = "1 event" if timeline.latest == 1 else f"{timeline.latest} events"
    click.echo(f"Cart {timeline.cart_id}: {events}, {status}, total {money(cart.total)}\n")
    rows = [("version", "position", "recorded (UTC)", "type", "what happened", "total")]
    rows += [
        (
            str(recorded.version),
            str(recorded.position),
            f"{recorded.recorded_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}",
            recorded.type,
            summary(recorded.event),
            money(timeline.states[recorded.version].total),
        )
        for recorded in timeline.events
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    numeric = {0, 1, 5}
    for row in rows:
        cells = [
            cell.rjust(width) if column in numeric else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())


@emit_cli.command("replay")
@click.argument("cart_id")
@click.option("--version", "version", type=click.IntRange(min=0), help="The version to replay to.")
@click.option("--at", "at", help="A time in ISO 8601: replay to the last version at or before it.")
def replay_command(cart_id: str, version: int | None, at: str | None) -> None:
    """The cart as it was at a version (the latest by default), as JSON."""
    if version is not None and at is not None:
        raise click.UsageError("Give --version or --at, not both.")
    timeline = CartTimeline(_history(cart_id))
    if at is not None:
        version = timeline.version_at(_parsed(forms.moment, at, "--at"))
    elif version is None:
        version = timeline.latest
    try:
        state = timeline.state(version)
    except VersionOutOfRange as error:
        raise click.BadParameter(
            f"cart {error.aggregate_id} has versions 0 to {error.latest}.",
            param_hint="--version",
        ) from None
    event = timeline.event(version)
    document: dict[str, Any] = {
        "aggregate_id": timeline.cart_id,
        "version": version,
        "recorded_at": iso(event.recorded_at) if event else None,
        "state": encoder(Cart)(state),
    }
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@emit_cli.command("export")
@click.argument("cart_id")
def export_command(cart_id: str) -> None:
    """A cart's stream as emit.stream/1 JSON, say to keep as a test fixture.

    The same document as the web app's /carts/CART_ID/events.json.
    """
    document = export_stream(cart_decider, _history(cart_id))
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _history(cart_id: str) -> list[RecordedEvent[CartEvent]]:
    cart_id = _parsed(forms.cart_id, cart_id, "CART_ID")
    try:
        return get_emit().history(cart_id)
    except AggregateNotFound:
        raise click.ClickException(f"There is no cart {cart_id!r}.") from None


def _parsed(parse: Callable[[str], T], value: str, hint: str) -> T:
    """`parse(value)`, with the web's 400 for malformed input turned into a usage error."""
    try:
        return parse(value)
    except BadRequest as error:
        raise click.BadParameter(str(error.description), param_hint=hint) from None
