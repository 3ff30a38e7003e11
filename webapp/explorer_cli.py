"""`flask --app webapp emit log|why`: the event explorer from a terminal.

    emit log [--type T] [--cart C] [--after P] [--limit N]   the log, a line per event
    emit why POSITION                                       what caused an event, and what it caused

They only read. Their filters are the `/events` page's, checked the same way (webapp/explorer.py).
"""

from __future__ import annotations

from datetime import UTC

import click
from flask.cli import with_appcontext

from emit import RecordedEvent
from emit.causation import CausationNode, Effect
from shop.cart import CartEvent
from webapp.db import get_emit
from webapp.explorer import MAX_PAGE, BadFilter, explain_event, read_query
from webapp.timeline import summary


@click.command("log")
@with_appcontext
@click.option(
    "--type", "type_", metavar="TYPE", help="Only events of this type (CartCheckedOut …)."
)
@click.option("--cart", metavar="CART_ID", help="Only this cart's events.")
@click.option(
    "--after",
    metavar="POSITION",
    help="The events after this position, oldest first (to follow the log: pass the last "
    "position shown). Without it: the newest events, newest first.",
)
@click.option("--limit", type=click.IntRange(1, MAX_PAGE), default=20, show_default=True)
def log_command(type_: str | None, cart: str | None, after: str | None, limit: int) -> None:
    """The log of every cart's events, one a line: position, cart@version, type, what
    happened, and when (UTC)."""
    args = {"type": type_ or "", "cart": cart or "", "after": after or ""}
    try:
        query = read_query(args)
    except BadFilter as error:
        raise click.BadParameter(str(error.description), param_hint=f"--{error.field}") from None
    events = get_emit().log(query.log_filter, after=query.after, limit=limit)
    if query.after is not None:
        events.reverse()  # following the log: in the order it was written
    if not events:
        click.echo("No events.")
    for recorded in events:
        click.echo(_line(recorded))


@click.command("why")
@with_appcontext
@click.argument("position", type=click.IntRange(min=1))
def why_command(position: int) -> None:
    """What recorded the event at POSITION, the other events of its command, and what it
    caused (events, a receipt, dead letters and retries), as an indented tree."""
    explained = explain_event(position)
    if explained is None:
        raise click.ClickException(f"There is no event at position {position}.")
    click.echo(_line(explained.event))
    if explained.cause is not None:
        click.echo(f"  caused by event {explained.cause.position} (a policy reacting to it)")
    if explained.command:
        click.echo(f"  recorded by command {explained.command}")
    others = [e for e in explained.same_command if e.position != position]
    for other in others:
        click.echo(f"  with {_line(other)}")
    click.echo("What it caused:")
    for line in _tree(explained.tree, 1):
        click.echo(line)
    if explained.truncated:
        click.echo("(its correlation holds more events than are shown)")


def _line(recorded: RecordedEvent[CartEvent]) -> str:
    moment = recorded.recorded_at.astimezone(UTC)
    return (
        f"{recorded.position:>8}  {recorded.aggregate_id}@{recorded.version}  {recorded.type}  "
        f"{summary(recorded.event)}  {moment:%Y-%m-%d %H:%M:%S}"
    )


def _tree(node: CausationNode, depth: int) -> list[str]:
    indent = "  " * depth
    lines = [f"{indent}- event {_line(node.event).lstrip()}"]
    for effect in node.effects:
        lines += _effect(effect, depth + 1)
    for child in node.caused:
        lines += _tree(child, depth + 1)
    return lines


def _effect(effect: Effect, depth: int) -> list[str]:
    indent = "  " * depth
    lines = [f"{indent}- {effect.kind}: {effect.label}"]
    lines += [f"{indent}    {detail}" for detail in effect.details if detail]
    for inner in effect.caused:
        lines += _effect(inner, depth + 1)
    return lines


COMMANDS = (log_command, why_command)
