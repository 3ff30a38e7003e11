"""Chores as `flask --app webapp <command>`: create the event store's tables, seed demo carts,
and the subscribers' commands under `flask --app webapp emit ...`."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from emit import DeadLetterBusy, DeadLetterNotFound, EmitError, PolicyFailed, UnknownSubscriber
from webapp.demo import DEMO_CARTS, seed
from webapp.store import get_emit, get_subscribers, init_db, store_url


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the event store's tables if they are missing (never deletes events), and
    install the read models and the policies' tables."""
    init_db()
    click.echo(f"Event store ready: {store_url()}")


@click.command("seed-demo")
@with_appcontext
def seed_demo_command() -> None:
    """Add a few demo carts with a history; running it again adds nothing."""
    init_db()
    report = seed(get_emit())
    if report.created:
        click.echo(f"Seeded {len(report.created)} demo carts: {', '.join(report.created)}")
    else:
        click.echo(f"The {len(DEMO_CARTS)} demo carts are already there; nothing to do.")


emit_group = AppGroup("emit", help="The event store's subscribers: projections and policies.")


@emit_group.command("run-subscribers")
@click.option("--once", is_flag=True, help="Catch up to the head position, then exit.")
def run_subscribers_command(once: bool) -> None:
    """Run the policies (receipts) in this process until Ctrl-C or SIGTERM. Other runners may
    run too: each policy is processed by one at a time."""
    subscribers = get_subscribers()
    if once:
        handled = subscribers.catch_up(timeout=3600)
        click.echo(f"Caught up: {handled} events handled.")
        return
    stop = threading.Event()

    def on_signal(_number: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    subscribers.start()
    click.echo(f"Running {', '.join(subscribers.names)} as {subscribers.owner}; Ctrl-C stops.")
    try:
        stop.wait()
    finally:
        subscribers.stop()
    click.echo("Stopped.")


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
        except UnknownSubscriber as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"Rebuilt {projection} from {replayed} events.")


@emit_group.command("status")
def status_command() -> None:
    """Each projection and policy: checkpoint, lag, state, last error, dead letters."""
    statuses = get_subscribers().status()
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
    letters = get_subscribers().dead_letters(limit=1000)
    if not letters:
        click.echo("No dead letters.")
    for d in letters:
        click.echo(
            f"#{d.id} {d.subscriber}: {d.event_type} at {d.position} ({d.aggregate_id} "
            f"v{d.version}), {d.attempts} tries, {d.failed_at:%Y-%m-%d %H:%M:%S} UTC: {d.error}"
        )


@emit_group.command("retry")
@click.argument("dead_letter_id", type=int)
def retry_command(dead_letter_id: int) -> None:
    """Handle a dead letter's event once more; on success it is gone."""
    try:
        get_subscribers().retry_dead_letter(dead_letter_id)
    except (DeadLetterNotFound, DeadLetterBusy, PolicyFailed, UnknownSubscriber) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} was handled, and is gone.")


@emit_group.command("skip")
@click.argument("dead_letter_id", type=int)
def skip_command(dead_letter_id: int) -> None:
    """Drop a dead letter without handling its event."""
    try:
        letter = get_subscribers().skip_dead_letter(dead_letter_id)
    except EmitError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} ({letter.event_type} at {letter.position}) skipped.")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(emit_group)
