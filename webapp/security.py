"""CSRF protection and the security headers every response carries.

CSRF: Flask-WTF's `CSRFProtect` checks every POST for the session's token, sent by plain forms
as the `csrf_token` field and by htmx as the `X-CSRFToken` header (`hx-headers` on `<body>`).

Content-Security-Policy: scripts and styles come only from our own origin, and nothing inline
is allowed, not even `style=""` attributes. htmx fits: its config (in a `<meta>` tag) turns off
the inline style it would inject and its `eval`-based features.
"""

from __future__ import annotations

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

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


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Pages show live state: never reuse a stored copy, not even on "back".
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.after_request(_add_headers)
