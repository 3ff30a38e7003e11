"""The dashboard: every cart, newest activity first, a page at a time, filtered by status and
searched by id; the shop's totals and its best sellers, each linked to how /read-models says it
is computed.

It reads only through `webapp.queries`, so the way those reads are answered can change (from
replaying events to read-model tables) without touching this view. When the carts are not
public (`CARTS_PUBLIC` off, see `webapp.shoppers`) only operators get it; a shopper gets the
carts their browser session opened, read from emit (a few, and in its pool).
"""

from __future__ import annotations

import unicodedata

from flask import Blueprint, current_app, render_template, request
from werkzeug.exceptions import BadRequest

from emit import Aggregate, AggregateNotFound
from emit.ids import MAX_ID_LENGTH
from shop.cart import Cart
from webapp import forms, shoppers
from webapp.db import get_emit
from webapp.hypermedia import wants_fragment
from webapp.queries import CartCursor, CartFilter, get_queries

bp = Blueprint("dashboard", __name__)

# What the status filter offers: its value in the URL, and its label.
STATUSES = {"all": "All", "open": "Open", "checked_out": "Checked out"}


@bp.get("/")
def index() -> str:
    """The dashboard; for htmx (the filter and the pager), the cart table alone.

    `?status=open|checked_out|all` and `?search=<part of a cart id>` choose the carts;
    `?after=<cart id>&after_activity=<ISO time>` starts the page after that cart (keyset
    paging: stable while carts change). Anything else malformed is a 400 saying what."""
    fragment = wants_fragment()
    if not shoppers.sees_every_cart():
        return render_template("dashboard/dashboard.html", own_carts=_opened_here())
    only = _filter()
    after = _cursor()
    queries = get_queries()
    page = queries.cart_page(after=after, limit=current_app.config["CARTS_PER_PAGE"], only=only)
    shown = {"page": page, "after": after, "only": only, "statuses": STATUSES}
    if fragment:
        return render_template("dashboard/_cart_table.html", **shown)
    return render_template(
        "dashboard/dashboard.html",
        **shown,
        totals=queries.totals(),
        best_sellers=queries.best_sellers(limit=current_app.config["BEST_SELLERS"]),
        best_sellers_limit=current_app.config["BEST_SELLERS"],
        demo=shoppers.carts_public(),
    )


def _filter() -> CartFilter:
    status = request.args.get("status", "all") or "all"
    if status not in STATUSES:
        raise BadRequest(
            f"{status[:40]!r} is not a status to filter by: choose {', '.join(STATUSES)}."
        )
    search = request.args.get("search", "").strip()
    if len(search) > MAX_ID_LENGTH:
        raise BadRequest(
            f"A search is part of a cart id, at most {MAX_ID_LENGTH} characters; this one "
            f"has {len(search)}."
        )
    if any(unicodedata.category(ch).startswith("C") for ch in search):
        # Such a search can match nothing, and PostgreSQL cannot even take a NUL as text.
        raise BadRequest(
            "A search is part of a cart id, and cart ids have no control characters: "
            f"{search[:40]!r} has one."
        )
    return CartFilter(None if status == "all" else status, search)  # type: ignore[arg-type]


def _cursor() -> CartCursor | None:
    after = request.args.get("after") or None
    activity = request.args.get("after_activity") or None
    if after is not None:
        after = forms.cart_id(after)  # a bad id says so first, whatever else is missing
    if after is None and activity is None:
        return None
    if after is None or activity is None:
        raise BadRequest(
            "A page of carts starts after a cart and its last activity: send both `after` "
            "and `after_activity` (the pager's links do), or neither."
        )
    return CartCursor(forms.moment(activity), after)


def _opened_here() -> list[Aggregate[Cart]]:
    carts = []
    for cart_id in shoppers.opened_here():
        try:
            carts.append(get_emit().aggregate(cart_id, catch_up=True))
        except AggregateNotFound:  # a session from another store (the demo's was reset)
            continue
    return carts
