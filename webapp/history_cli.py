"""`flask --app webapp emit history|replay|export`: a cart's history from a terminal.

    emit history CART_ID                          a cart's events, as a table
    emit replay CART_ID [--version N | --at TIME] the cart at a version, as JSON
    emit export CART_ID                           its stream as emit.stream/1 JSON

They only read: they never change a cart, nor the live aggregates of a running app.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any, TypeVar

import click
from flask.cli import with_appcontext
from werkzeug.exceptions import BadRequest

from emit import AggregateNotFound, RecordedEvent, VersionOutOfRange
from emit.codec import encoder
from emit.export import export_stream
from shop.cart import Cart, CartEvent, cart_decider
from webapp import forms
from webapp.db import get_emit
from webapp.formatting import count, iso, money
from webapp.timeline import CartTimeline, summary

T = TypeVar("T")


@click.command("history")
@with_appcontext
@click.argument("cart_id")
def history_command(cart_id: str) -> None:
    """A cart's events, as a table.

    One event a line: version, position, time, type, what happened, and the cart's total after.
    """
    timeline = CartTimeline(_history(cart_id))
    cart = timeline.states[-1]
    status = {"open": "open", "checked_out": "checked out"}.get(cart.status, cart.status)
    events = count(timeline.latest, "event")
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


@click.command("replay")
@with_appcontext
@click.argument("cart_id")
@click.option("--version", "version", type=click.IntRange(min=0), help="The version to replay to.")
@click.option("--at", "at", help="A time in ISO 8601: replay to the last version at or before it.")
def replay_command(cart_id: str, version: int | None, at: str | None) -> None:
    """A cart as it was at a version, as JSON.

    The latest version unless --version or --at says otherwise.
    """
    if version is not None and at is not None:
        raise click.UsageError("Give --version or --at, not both.")
    timeline = CartTimeline(_history(cart_id))
    if at is not None:
        version = timeline.version_at(parsed(forms.moment, at, "--at"))
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


@click.command("export")
@with_appcontext
@click.argument("cart_id")
def export_command(cart_id: str) -> None:
    """A cart's events as emit.stream/1 JSON.

    The web app's /carts/CART_ID/events.json, for instance to keep as a test fixture.
    """
    document = export_stream(cart_decider, _history(cart_id))
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _history(cart_id: str) -> list[RecordedEvent[CartEvent]]:
    cart_id = parsed(forms.cart_id, cart_id, "CART_ID")
    try:
        return get_emit().history(cart_id)
    except AggregateNotFound:
        raise click.ClickException(f"There is no cart {cart_id!r}.") from None


def parsed(parse: Callable[[str], T], value: str, hint: str) -> T:
    """`parse(value)`, with the web's 400 for malformed input turned into a usage error."""
    try:
        return parse(value)
    except BadRequest as error:
        raise click.BadParameter(str(error.description), param_hint=hint) from None


COMMANDS = (history_command, replay_command, export_command)
