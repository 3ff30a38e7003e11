"""The dashboard: every cart, a page at a time, the shop's totals and its best sellers.

It reads only through `webapp.queries`, so the way those reads are answered can change (from
replaying events to read-model tables) without touching this view. When the carts are not
public (`CARTS_PUBLIC` off, see `webapp.shoppers`) only operators get it; a shopper gets the
carts their browser session opened, read from emit (a few, and in its pool).
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from emit import Aggregate, AggregateNotFound
from shop.cart import Cart
from webapp import forms, shoppers
from webapp.db import get_emit
from webapp.hypermedia import wants_fragment
from webapp.queries import get_queries

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> str:
    """The dashboard; for htmx (the pager's links), the cart table alone. `?after=<cart id>`
    starts the page after that cart (keyset paging: stable while carts are added)."""
    fragment = wants_fragment()
    if not shoppers.sees_every_cart():
        return render_template("dashboard/dashboard.html", own_carts=_opened_here())
    after = request.args.get("after") or None
    if after is not None:
        after = forms.cart_id(after)
    queries = get_queries()
    page = queries.cart_page(after=after, limit=current_app.config["CARTS_PER_PAGE"])
    if fragment:
        return render_template("dashboard/_cart_table.html", page=page, after=after)
    return render_template(
        "dashboard/dashboard.html",
        page=page,
        after=after,
        totals=queries.totals(),
        best_sellers=queries.best_sellers(limit=current_app.config["BEST_SELLERS"]),
        best_sellers_limit=current_app.config["BEST_SELLERS"],
        demo=shoppers.carts_public(),
    )


def _opened_here() -> list[Aggregate[Cart]]:
    carts = []
    for cart_id in shoppers.opened_here():
        try:
            carts.append(get_emit().aggregate(cart_id, catch_up=True))
        except AggregateNotFound:  # a session from another store (the demo's was reset)
            continue
    return carts
