"""The dashboard: every cart, a page at a time, the shop's totals and its best sellers.

It reads only through `webapp.queries`, so the way those reads are answered can change (from
replaying events to read-model tables) without touching this view.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from webapp import forms
from webapp.hypermedia import wants_fragment
from webapp.queries import get_queries

bp = Blueprint("dashboard", __name__)


@bp.get("/")
def index() -> str:
    """The dashboard; for htmx (the pager's links), the cart table alone. `?after=<cart id>`
    starts the page after that cart (keyset paging: stable while carts are added)."""
    fragment = wants_fragment()
    after = request.args.get("after") or None
    if after is not None:
        after = forms.cart_id(after)
    queries = get_queries()
    page = queries.cart_page(after=after, limit=current_app.config["CARTS_PER_PAGE"])
    if fragment:
        return render_template("_cart_table.html", page=page, after=after)
    return render_template(
        "dashboard.html",
        page=page,
        after=after,
        totals=queries.totals(),
        best_sellers=queries.best_sellers(limit=current_app.config["BEST_SELLERS"]),
    )
