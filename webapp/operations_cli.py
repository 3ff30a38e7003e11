"""`flask --app webapp emit ...` for operators: the subscribers (projections and policies),
what the policies gave up on, and the commands the carts refused.

    emit status                                   projections and policies: checkpoint, lag
    emit run-policies [--once]                    run the policies in this process
    emit rebuild PROJECTION                       replay the log into a read model
    emit dead-letters, retry N, skip N            what the policies gave up on
    emit refusals [--cart C] [--limit N]          the commands refused, newest first
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext

from emit import (
    DeadLetterBusy,
    DeadLetterNotFound,
    EmitError,
    PolicyFailed,
    ProjectionError,
    UnknownSubscriber,
)
from webapp import forms
from webapp.db import get_emit, get_policies
from webapp.formatting import count, utc
from webapp.history_cli import parsed
from webapp.refusal_log import refusals_page

_ONCE = click.option("--once", is_flag=True, help="Catch up to the head position, then exit.")


@click.command("run-policies")
@with_appcontext
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


@click.command("run-subscribers", hidden=True)
@with_appcontext
@_ONCE
@click.pass_context
def run_subscribers_command(context: click.Context, once: bool) -> None:
    """Deprecated: the old name of run-policies."""
    click.echo("`emit run-subscribers` is deprecated: call it `emit run-policies`.", err=True)
    context.invoke(run_policies_command, once=once)


@click.command("rebuild")
@with_appcontext
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


@click.command("status")
@with_appcontext
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


@click.command("dead-letters")
@with_appcontext
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


@click.command("retry")
@with_appcontext
@click.argument("dead_letter_id", type=int)
def retry_command(dead_letter_id: int) -> None:
    """Handle a dead letter's event once more; on success it is gone."""
    try:
        get_policies().retry_dead_letter(dead_letter_id)
    except (DeadLetterNotFound, DeadLetterBusy, PolicyFailed, UnknownSubscriber) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} was handled, and is gone.")


@click.command("skip")
@with_appcontext
@click.argument("dead_letter_id", type=int)
def skip_command(dead_letter_id: int) -> None:
    """Drop a dead letter without handling its event."""
    try:
        letter = get_policies().skip_dead_letter(dead_letter_id)
    except EmitError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Dead letter {dead_letter_id} ({letter.event_type} at {letter.position}) skipped.")


@click.command("refusals")
@with_appcontext
@click.option("--cart", "cart_id", help="Only this cart's refused commands.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True, help="How many."
)
def refusals_command(cart_id: str | None, limit: int) -> None:
    """The commands the carts refused, newest first: not events, nothing changed. The store
    keeps the newest EMIT_REFUSAL_RETENTION of them."""
    if cart_id is not None:
        cart_id = parsed(forms.cart_id, cart_id, "--cart")
    page = refusals_page(get_emit(), cart_id=cart_id, limit=limit)
    if not page.rows:
        click.echo("No refused commands" + (f" for cart {cart_id}." if cart_id else "."))
    for row in page.rows:
        r = row.refusal
        click.echo(
            f"#{r.id} {utc(r.refused_at, seconds=True)} {r.stream_id} v{r.version}: {row.sentence}"
        )


COMMANDS = (
    status_command,
    run_policies_command,
    run_subscribers_command,
    rebuild_command,
    dead_letters_command,
    retry_command,
    skip_command,
    refusals_command,
)
