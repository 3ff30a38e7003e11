"""/read-models: each projection of the app explained (what it is for, the event types it
reads, the dashboard figures it keeps and how), its tables' rows a page at a time, its
checkpoint against the head; the policies with theirs; and, for operators, a button that
rebuilds a projection in the background (`webapp.rebuilds`) while the page shows its progress.

Everything is plain links and forms: the rows' pager is a link (htmx swaps the one table and
pushes the URL), the rebuild button a POST answered by `303 See Other` (htmx: the progress part,
which asks for itself again every second while the rebuild runs; without JavaScript the page
reloads itself while one runs). The checkpoints are the same figures /ops shows
(`Policies.status`).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, render_template, request, url_for
from werkzeug.exceptions import BadRequest, Forbidden, NotFound
from werkzeug.wrappers import Response

from emit.subscribers.status import SubscriberStatus
from webapp import shoppers
from webapp.auth import is_operator, require_operator
from webapp.db import get_engine, get_policies
from webapp.hypermedia import fragment_response, see_other, wants_fragment
from webapp.read_models import EXPLAINED, Explained
from webapp.rebuilds import RebuildRunning, get_rebuilds
from webapp.table_pages import TablePage, parse_key, read_page

bp = Blueprint("read_models", __name__, url_prefix="/read-models")

ROWS_PER_PAGE = 25
PROGRESS_EVERY = 1  # seconds between looks at a running rebuild's progress, with htmx
TABLES = {table.name: table for e in EXPLAINED for table in e.projection.tables}


@bp.get("")
def index() -> str:
    """The page; `?table=<name>&after=<key>` (or `before=`) pages that table's rows (a key
    column per `after`, in the primary key's order); for htmx, that table's rows alone."""
    name = request.args.get("table")
    paged: TablePage | None = None
    if name is not None:
        _check_rows_visible()
        table = TABLES.get(name)
        if table is None:
            raise BadRequest(
                f"There is no read model table {name!r}: the tables are {', '.join(TABLES)}."
            )
        after, before = request.args.getlist("after"), request.args.getlist("before")
        if after and before:
            raise BadRequest("Page the rows either after a key or before one, not both.")
        paged = read_page(
            get_engine(),
            table,
            after=parse_key(table, after) if after else None,
            before=parse_key(table, before) if before else None,
            limit=ROWS_PER_PAGE,
        )
        if wants_fragment():
            return render_template("read_models/_rows.html", page=paged)
    return _page(paged)


def _page(paged: TablePage | None = None, alerts: dict[str, str] | None = None) -> str:
    statuses = {status.name: status for status in get_policies().status()}
    rows = (
        {
            table.name: paged
            if paged is not None and paged.table is table
            else read_page(get_engine(), table, limit=ROWS_PER_PAGE)
            for table in TABLES.values()
        }
        if shoppers.sees_every_cart()
        else {}
    )
    rebuilds = get_rebuilds()
    return render_template(
        "read_models/read_models.html",
        explained=EXPLAINED,
        statuses=statuses,
        policies=[s for s in statuses.values() if s.kind != "projection"],
        rows=rows,
        rebuilds={e.projection.name: rebuilds.latest(e.projection.name) for e in EXPLAINED},
        running=any(
            (r := rebuilds.latest(e.projection.name)) and r.state == "running" for e in EXPLAINED
        ),
        alerts=alerts or {},
        operator=is_operator(),
    )


@bp.post("/<name>/rebuild")
def rebuild(name: str) -> Response | tuple[str, int]:
    """Start rebuilding projection `name` (operators only); 409 if it is being rebuilt."""
    refused = require_operator()
    if refused is not None:
        return refused
    _explained(name)
    try:
        get_rebuilds().start(name)
    except RebuildRunning as error:
        if wants_fragment():
            return fragment_response(_rebuild_part(name, alert=str(error)), 409)
        return _page(alerts={name: str(error)}), 409
    if wants_fragment():
        return fragment_response(_rebuild_part(name))
    return see_other(url_for(".index", _anchor=f"rebuild-{name}"))


@bp.get("/<name>/rebuild")
def progress(name: str) -> str:
    """How the latest rebuild of `name` is going: the part htmx polls; a browser gets the
    whole page, which shows it too."""
    _explained(name)
    if not wants_fragment():
        return _page()
    return _rebuild_part(name)


def _rebuild_part(name: str, *, alert: str | None = None) -> str:
    return render_template(
        "read_models/_rebuild.html",
        name=name,
        rebuild=get_rebuilds().latest(name),
        alert=alert,
        operator=is_operator(),
    )


def _check_rows_visible() -> None:
    """403 unless this request may see every cart: the rows name carts, their lines and totals,
    which the dashboard shows only then (webapp/shoppers.py)."""
    if not shoppers.sees_every_cart():
        raise Forbidden(
            "The read models' rows name every cart, its lines and its total: only the shop's "
            "operators may see them. What each projection is and how it computes its figures "
            "is on this page for anyone."
        )


def _explained(name: str) -> Explained:
    """The projection called `name`, explained; 404 if the app has none."""
    for explained in EXPLAINED:
        if explained.projection.name == name:
            return explained
    names = ", ".join(e.projection.name for e in EXPLAINED)
    raise NotFound(f"There is no projection {name!r}: the projections are {names}.")


def lag_in_words(status: SubscriberStatus) -> str:
    """'up to date', or how far behind the head, in events."""
    if status.lag == 0:
        return "up to date: it has read every event up to the head"
    events = f"{status.lag} event{'' if status.lag == 1 else 's'}"
    if status.kind == "projection":
        return f"{events} behind: another process appended without it; the next append catches up"
    return f"{events} still to handle"


def init_app(app: Flask) -> None:
    app.add_template_global(lag_in_words)
    app.jinja_env.globals["progress_every"] = PROGRESS_EVERY
    app.jinja_env.tests["datetime"] = lambda value: isinstance(value, datetime)
