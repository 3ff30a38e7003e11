"""Signing operators in and out (Flask-Login), and keeping pages for operators to them.

`/sign-in` is a plain form (CSRF-checked like every POST); a wrong name and a wrong password
get the same answer, so the page does not tell which names exist. After signing in it goes to
`next` when that is a path on this site, to the operations page otherwise. `/sign-out` is a POST
(a link could be followed by a crawler or a prefetch).

A blueprint for operators only registers `require_operator` as its `before_request`. Someone
not signed in then gets, for a page, a redirect to the sign-in page that comes back to it; for
an action (a POST) or an htmx request, a 401 with the reason, which htmx shows in the page's
alert area (`webapp.errors`): a redirect would swap the sign-in page into a panel, and a form
posted anonymously should say why it did nothing rather than lose it on the way.
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, make_response, render_template, request, url_for
from flask_login import LoginManager, current_user, login_user, logout_user
from werkzeug.exceptions import Unauthorized
from werkzeug.wrappers import Response

from webapp import operators
from webapp.db import get_engine
from webapp.hypermedia import see_other, wants_fragment

bp = Blueprint("auth", __name__)

login_manager = LoginManager()

NOT_SIGNED_IN = (
    "Only a signed-in operator can do this, and you are not signed in (or your session has "
    "ended). Nothing was changed."
)
WRONG = "That operator name and password do not match. Check both and try again."


def is_operator() -> bool:
    """True when an operator is signed in on this request."""
    return bool(current_user.is_authenticated)


def require_operator() -> Response | None:
    """`before_request` of the operators' blueprints: nothing when an operator is signed in,
    otherwise the redirect or the 401 described above."""
    if is_operator():
        return None
    result: Response = login_manager.unauthorized()
    return result


def _unauthorized() -> Response:
    fragment = wants_fragment()
    if request.method in ("GET", "HEAD") and not fragment:
        here = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
        # 303, not 302: the browser is to GET the sign-in page whatever brought it here.
        return see_other(url_for("auth.sign_in", next=here))
    # The error page has a sign-in button; in a page's alert area, reloading gets there.
    then = "Reload the page to sign in." if fragment else "Sign in, then try again."
    raise Unauthorized(f"{NOT_SIGNED_IN} {then}")


def _load(operator_id: str) -> operators.Operator | None:
    if g.get("store_failed"):
        return None  # drawing the 503 page of this request: as if not signed in
    return operators.load(get_engine(), operator_id)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | str:
    """The sign-in form; posted, it signs the operator in and goes on to `next`."""
    target = safe_next(request.values.get("next", ""))
    if request.method == "GET":
        if is_operator():
            return see_other(target or url_for("ops.index"))
        signed_out = request.args.get("signed_out") == "1"
        return render_template(
            "auth/sign_in.html", next=target, name="", error=None, signed_out=signed_out
        )
    name = request.form.get("name", "")
    password = request.form.get("password", "")
    if not name or not password:
        return _form_again(name, target, "Enter both your operator name and your password.", 400)
    operator = operators.authenticate(get_engine(), name, password)
    if operator is None:
        return _form_again(name, target, WRONG, 401)
    login_user(operator)
    return see_other(target or url_for("ops.index"))


@bp.post("/sign-out")
def sign_out() -> Response:
    logout_user()
    return see_other(url_for("auth.sign_in", signed_out=1))


def _form_again(name: str, target: str, error: str, status: int) -> Response:
    """The form again with what went wrong; the name stays filled in, never the password."""
    body = render_template("auth/sign_in.html", next=target, name=name, error=error)
    return make_response(body, status)


def safe_next(value: str) -> str:
    """`value` if it is a path on this site, else "": `next` comes from a URL anyone can write,
    and sending an operator who just signed in on to another site would be a phishing aid.
    Browsers read a backslash as a slash and drop tabs and newlines, so "/\\evil.example" and
    "/\\t/evil.example" are other sites too."""
    if not value.startswith("/") or value.startswith("//"):
        return ""
    if "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return ""
    return value


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(_load)
    login_manager.unauthorized_handler(_unauthorized)
