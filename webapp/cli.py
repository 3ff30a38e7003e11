"""Chores as `flask --app webapp <command>`: create the event store's tables, seed demo carts;
and the `emit` group of commands on the store and its subscribers (`webapp.emit_cli`)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from webapp.demo import DEMO_CARTS, seed
from webapp.emit_cli import emit_group
from webapp.store import get_emit, init_db, store_url


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


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(emit_group)
