"""Chores as `flask --app webapp <command>`: create the event store's tables, seed demo carts,
make operators; and the `emit` group: a cart's history (webapp/history_cli.py), the log and
what caused an event (webapp/explorer_cli.py) and the operators' commands on the subscribers
(webapp/operations_cli.py)."""

from __future__ import annotations

from typing import TextIO

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from webapp import explorer_cli, history_cli, operations_cli, operators
from webapp.db import get_emit, get_engine, init_db, store_url
from webapp.demo import DEMO_CARTS, seed


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


@click.command("create-operator")
@click.argument("name")
@click.option(
    "--password-file",
    type=click.File("r"),
    help="Read the password from the first line of this file ('-' for standard input) "
    "instead of asking for it twice: for scripts.",
)
@click.option("--reset", is_flag=True, help="Give an existing operator a new password.")
@with_appcontext
def create_operator_command(name: str, password_file: TextIO | None, reset: bool) -> None:
    """Make an operator NAME, who can sign in to the operations page. Refuses a name that
    exists, unless --reset (which also signs that operator out everywhere)."""
    engine = get_engine()
    operators.install(engine)
    try:
        # Refuse the name before anyone types a password for it.
        operators.check_new(engine, name, reset=reset)
        if password_file is not None:
            password = password_file.readline().rstrip("\r\n")
        else:
            password = click.prompt(
                f"Password for {name}", hide_input=True, confirmation_prompt="Repeat it"
            )
        operators.create(engine, name, password, reset=reset)
    except operators.OperatorError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Operator {name} {'has a new password' if reset else 'created'}.")


@click.command("create-demo-operator")
@with_appcontext
def create_demo_operator_command() -> None:
    """For the demo (`make run`): when there is no operator yet, make one named "demo" and
    print its generated password, this once; when there is, say nothing."""
    operators.install(get_engine())
    first = operators.create_first(get_engine())
    if first is None:
        return
    operator, password = first
    click.echo(
        f"Operator {operator.name!r} created for the demo; its password, shown only now: "
        f"{password}\nSign in at /sign-in to use the operations page. Lost it? "
        f"flask --app webapp create-operator {operator.name} --reset"
    )


emit_group = AppGroup(
    "emit",
    help="The event store: a cart's history, replays and exports; the log and what caused "
    "an event; the subscribers (projections and policies).",
)
for _command in (*history_cli.COMMANDS, *explorer_cli.COMMANDS, *operations_cli.COMMANDS):
    emit_group.add_command(_command)


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_operator_command)
    app.cli.add_command(create_demo_operator_command)
    app.cli.add_command(emit_group)
