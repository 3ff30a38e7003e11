"""CSRF protection and the security headers every response carries.

CSRF: Flask-WTF's `CSRFProtect` checks every POST for the session's token, sent by plain forms
as the `csrf_token` field (`{{ csrf_field() }}` in a template) and by htmx as the `X-CSRFToken`
header (`hx-headers` on `<body>`).

Content-Security-Policy: scripts and styles come only from our own origin, and nothing inline
is allowed, not even `style=""` attributes. htmx fits: its config (in a `<meta>` tag) turns off
the inline style it would inject and its `eval`-based features.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import Markup

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}

csrf = CSRFProtect()


def csrf_field() -> Markup:
    """The hidden field that carries the CSRF token in a plain form. Made once per request: a
    cart page has four forms per line, and each `generate_csrf` call (or Jinja macro call)
    costs more than the string it returns."""
    field: Markup | None = g.get("csrf_field")
    if field is None:
        field = Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())
        g.csrf_field = field
    return field


def form_key() -> str:
    """A new idempotency key for one form: sent with the command, it makes a resent form, a
    double submission or a retry after a timeout harmless (emit answers the repeat as the first
    time). Every render makes new ones, so a page drawn after a success carries fresh keys."""
    return secrets.token_urlsafe(16)


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Pages show live state: never reuse a stored copy, not even on "back".
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["form_key"] = form_key
    app.after_request(_add_headers)
