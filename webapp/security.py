"""CSRF protection and the security headers every response carries.

CSRF: Flask-WTF's `CSRFProtect` checks every POST for the session's token, sent by plain forms
as the `csrf_token` field (`{{ csrf_field() }}` in a template) and by htmx as the `X-CSRFToken`
header (`hx-headers` on `<body>`).

Content-Security-Policy: scripts and styles come only from our own origin, and nothing inline
is allowed, not even `style=""` attributes. htmx fits: its config (in a `<meta>` tag) turns off
the inline style it would inject and its `eval`-based features.

What the app trusts of a request:
- Its Host: only the names in `TRUSTED_HOSTS` (Flask checks them); any other is a plain 400,
  before routing, so nothing, not even a redirect's Location, is built from it.
- Its body: at most MAX_CONTENT_LENGTH, or for an endpoint of `LARGE_BODIES` its own limit
  (larger than the form's, too late for CSRF's check, which reads the form first): over it, a
  400 saying how large it was and what is taken.
- Its body: only with a Content-Length. A body sent in chunks gets 411: Werkzeug would read
  it only up to MAX_CONTENT_LENGTH and silently drop the rest (a quantity of 12 became 1).
  Browsers and htmx always send the length.
- Its proxies: `TRUSTED_PROXY_COUNT` proxies in front may say, in X-Forwarded-For and
  X-Forwarded-Proto, who the client is (the rate limits count per client) and whether it
  came over HTTPS.
- `HTTPS_ONLY`: the site is reached over HTTPS only, so the session cookie is `Secure` and
  every answer carries Strict-Transport-Security.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, g, request
from flask_wtf.csrf import CSRFProtect, generate_csrf
from markupsafe import Markup
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from emit.ids import new_id

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

# Endpoints that take more than MAX_CONTENT_LENGTH: the setting that bounds each, and what its
# body is, for the message.
LARGE_BODIES = {"imports.open_export": ("IMPORT_MAX_BYTES", "export to open")}


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
    time). Every render makes new ones, so a page drawn after a success carries fresh keys.

    122 random bits, as emit's event ids, and drawn as they are: from the OS a few thousand
    bytes at a time, not in one call per form (each call lets go of the GIL, and on a busy
    server the thread then waits to get it back)."""
    return new_id().hex


def _add_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        # Pages show live state: never reuse a stored copy, not even on "back".
        response.headers.setdefault("Cache-Control", "no-store")
    if current_app.config["HTTPS_ONLY"]:
        response.headers.setdefault(
            "Strict-Transport-Security", f"max-age={current_app.config['HSTS_MAX_AGE']}"
        )
    return response


def _refuse_chunked_body() -> None:
    if "Transfer-Encoding" in request.headers:
        abort(
            411,
            "This site takes a request's data only with its length (a Content-Length header), "
            "not sent in chunks. Nothing was changed.",
        )


def _allow_large_body() -> None:
    large = LARGE_BODIES.get(request.endpoint or "")
    if large is None:
        return
    setting, what = large
    limit = int(current_app.config[setting])
    if request.content_length is not None and request.content_length > limit:
        abort(
            400,
            f"This {what} is {_size(request.content_length)}; at most {_size(limit)} is taken. "
            "Nothing was read.",
        )
    request.max_content_length = limit
    request.max_form_memory_size = limit


def _size(count: int) -> str:
    """'812 bytes', '96 KB', '1.5 MB'."""
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.0f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def _untrusted_host(error: SecurityError) -> Response:
    """A request for a host name this site is not served at. No page: with no trusted host
    there is no URL to build one with, and the visitor is not ours."""
    current_app.logger.warning(
        "Refused a request for host %r; if the site is served there, add it to TRUSTED_HOSTS.",
        request.headers.get("Host", ""),
    )
    return current_app.response_class(
        "Bad Request: this site is not served at that host name.\n",
        400,
        mimetype="text/plain",
    )


def init_app(app: Flask) -> None:
    proxies = app.config["TRUSTED_PROXY_COUNT"]
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    if app.config["HTTPS_ONLY"]:
        app.config["SESSION_COOKIE_SECURE"] = True
        app.config["PREFERRED_URL_SCHEME"] = "https"
    app.register_error_handler(SecurityError, _untrusted_host)
    # Before CSRFProtect's check, which reads the form.
    app.before_request(_refuse_chunked_body)
    app.before_request(_allow_large_body)
    csrf.init_app(app)
    app.jinja_env.globals["csrf_field"] = csrf_field
    app.jinja_env.globals["form_key"] = form_key
    app.after_request(_add_headers)
