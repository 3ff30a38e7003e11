"""The event explorer's pages: the whole log (`/events`) and one event (`/events/<position>`).

`/events` lists every cart's events, newest first, `PER_PAGE` at a time, keyset-paged by
position: "Older" is `?before=<last position shown>`, "Newer" is `?after=<first position
shown>`, and both keep the filters (type, cart, since, until, correlation). The filter form is
a GET form; with htmx the form and the pager swap the list region (`#log`) and push the URL, so
a filtered page stays shareable; without JavaScript the same links and form load the page.

`?refused=1` lists the refused commands instead (webapp/refusal_log.py): not events, nothing
changed; paged by the refusal log's own ids, and filtered by cart only.

`/events/<position>` shows one event: its payload and metadata, the command that recorded it
and that command's other events, and what it caused (the receipt of a checkout, the dead
letters and retries of that receipt) as a tree, each node a link.

Every cart's events are on these pages, so they are for those who may see every cart (the
demo's public carts, or a signed-in operator: webapp/shoppers.py); others get 403.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request, url_for
from werkzeug.exceptions import Forbidden

from emit.export import event_document
from shop.cart import cart_decider
from webapp import shoppers
from webapp.db import get_emit
from webapp.explorer import (
    FILTER_FIELDS,
    PER_PAGE,
    LogQuery,
    event_types,
    explain_event,
    read_page,
    read_query,
)
from webapp.hypermedia import fragment_response, wants_fragment
from webapp.refusal_log import refusals_page

bp = Blueprint("events", __name__, url_prefix="/events")


@bp.before_request
def _every_cart() -> None:
    if not shoppers.sees_every_cart():
        raise Forbidden(
            "The log holds every cart's events, so only the shop's operators may read it. "
            "Your own carts' events are on their history pages."
        )


@bp.get("")
def index() -> Any:
    """The log; for htmx (the filter form, the pager), the list region alone, with its URL
    pushed."""
    fragment = wants_fragment()
    query = read_query(request.args)
    page = read_page(query) if not query.refused else None
    refused = None
    if query.refused:  # not events: the refusal log beside them
        cart_id = query.log_filter.stream_id
        refused = refusals_page(get_emit(), before=query.before, cart_id=cart_id, limit=PER_PAGE)
    # The newest page follows the log as it grows (webapp/live.py): it knows the head it was
    # read at, and fetches itself again when the head moves past it. Older pages never change.
    following = query.before is None and query.after is None and not query.refused
    context = {
        "query": query,
        "page": page,
        "refused": refused,
        "live_seen": get_emit().store.head_position() if following else None,
        "types": event_types(),
        "link": lambda **bound: _link(query, **bound),
        "per_page": PER_PAGE,
    }
    if fragment:
        html = render_template("events/_log.html", **context)
        if request.headers.get("HX-Trigger") == "log":  # the list following the log: same URL
            return fragment_response(html, push_url=False)
        return fragment_response(
            html, push_url=_link(query, before=query.before, after=query.after)
        )
    return render_template("events/events.html", **context)


@bp.get("/<int:position>")
def show(position: int) -> str:
    """One event, why it was recorded and what it caused."""
    explained = explain_event(position)
    if explained is None:
        abort(404, f"There is no event at position {position}: the log has none there yet.")
    return render_template(
        "events/event.html",
        explained=explained,
        document=event_document(cart_decider, explained.event),
    )


def _link(query: LogQuery, **bound: int | None) -> str:
    """The log's URL with the query's filters and the bound given (`before` or `after`)."""
    names = [*FILTER_FIELDS, "refused"]
    args: dict[str, Any] = {n: query.fields[n] for n in names if n in query.fields}
    args |= {name: value for name, value in bound.items() if value is not None}
    return url_for("events.index", **args)
