"""`flask --app webapp emit ...`: the event store and its subscribers from a terminal.

    emit history CART_ID                          a cart's events, as a table
    emit replay CART_ID [--version N | --at TIME] the cart at a version, as JSON
    emit export CART_ID                           its stream as emit.stream/1 JSON
    emit status                                   projections and policies: checkpoint, lag
    emit run-policies [--once]                    run the policies in this process
    emit rebuild PROJECTION                       replay the log into a read model
    emit dead-letters, retry N, skip N            what the policies gave up on

One click group, `emit_group`, registered by `webapp.cli`: commands on the store and what runs
on it join it here. history, replay and export only read: they never change a cart, nor the
live aggregates of a running app.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC
from types import FrameType
from typing import Any, TypeVar

import click
from flask.cli import AppGroup
from werkzeug.exceptions import BadRequest

from emit import (
    AggregateNotFound,
    DeadLetterBusy,
    DeadLetterNotFound,
    EmitError,
    PolicyFailed,
    ProjectionError,
    RecordedEvent,
    UnknownSubscriber,
    VersionOutOfRange,
)
from emit.codec import encoder
from emit.export import export_stream
from shop.cart import Cart, CartEvent, cart_decider
from webapp import forms
from webapp.db import get_emit, get_policies
from webapp.formatting import count, iso, money
from webapp.timeline import CartTimeline, summary

emit_group = AppGroup(
    "emit",
    help="The event store: a cart's history, replays and exports; the subscribers "
    "(projections and policies).",
)

T = TypeVar("T")


# --- a cart's history ---------------------------------------------------------------------------


@emit_group.command("history")
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


@emit_group.command("replay")
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


@emit_group.command("export")
@click.argument("cart_id")
def export_command(cart_id: str) -> None:
    """A cart's events as emit.stream/1 JSON.

    The web app's /carts/CART_ID/events.json, for instance to keep as a test fixture.
    """
    document = export_stream(cart_decider, _history(cart_id))
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


# --- the subscribers: projections and policies -------------------------------------------------


_ONCE = click.option("--once", is_flag=True, help="Catch up to the head position, then exit.")


@emit_group.command("run-policies")
@_ONCE
def run_policies_command(once: bool) -> None:
    """Run the policies (receipts) in this process until Ctrl-C or SIGTERM. Other runners may
    run too: each policy is processed by one at a time."""
    policies = get_policies()
    if once:
        handled = policies.catch_up(timeout=3600)
        click.echo(f"Caught up: {count(handled, 'event')} handled.")
        return
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    policies.start()
    click.echo(f"Running {', '.join(policies.names)} as {policies.owner}; Ctrl-C stops.")
    try:
        stop.wait()
    finally:
        policies.stop()
    click.echo("Stopped.")


@emit_group.command("run-subscribers", hidden=True)
@_ONCE
@click.pass_context
def run_subscribers_command(context: click.Context, once: bool) -> None:
    """Deprecated: the old name of run-policies."""
    click.echo("`emit run-subscribers` is deprecated: call it `emit run-policies`.", err=True)
    context.invoke(run_policies_command, once=once)


@emit_group.command("rebuild")
@click.argument("projection")
def rebuild_command(projection: str) -> None:
    """Empty a read model and replay every event into it. Readers see the old one until it is
    done; appends wait meanwhile."""
    emit = get_emit()
    with click.progressbar(length=0, label=f"Rebuilding {projection}") as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        try:
            replayed = emit.projections.rebuild(projection, progress=progress)
        except (UnknownSubscriber, ProjectionError) as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"Rebuilt {projection} from {count(replayed, 'event')}.")


@emit_group.command("status")
def status_command() -> None:
    """Each projection and policy: checkpoint, lag, state, last error, dead letters."""
    statuses = get_policies().status()
    if not statuses:
        click.echo("No subscribers yet: run `flask --app webapp init-db`.")
    for s in statuses:
        line = (
            f"{s.name} ({s.kind}): {s.state}, at {s.position} of {s.head} (lag {s.lag}), "
            f"{s.dead_letters} dead letters"
        )
        if s.last_error:
            line += f"; attempt {s.attempts} failed: {s.last_error}"
        click.echo(line)


@emit_group.command("dead-letters")
def dead_letters_command() -> None:
    """The events policies gave up on."""
    letters = get_policies().dead_letters(limit=1000)
    if not letters:
        click.echo("No dead letters.")
    for d in letters:
        click.echo(
            f"#{d.id} {d.policy}: {d.event_type} at {d.position} ({d.aggregate_id} "
            f"v{d.version}), {d.attempts} tries, {d.failed_at:%Y-%m-%d %H:%M:%S} UTC: {d.error}"
        )


@emit_group.command("retry")
@click.argument("dead_letter_id", type=int)
def retry_command(dead_letter_id: int) -> None:
    """Handle a dead letter's event once more; on success it is gone."""
    try:
        get_policies().retry_dead_letter(dead_letter_id)
    except (DeadLetterNotFound, DeadLetterBusy, PolicyFailed, UnknownSubscriber) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} was handled, and is gone.")


@emit_group.command("skip")
@click.argument("dead_letter_id", type=int)
def skip_command(dead_letter_id: int) -> None:
    """Drop a dead letter without handling its event."""
    try:
        letter = get_policies().skip_dead_letter(dead_letter_id)
    except EmitError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} ({letter.event_type} at {letter.position}) skipped.")


# --- helpers ---------------------------------------------------------------------------------


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
