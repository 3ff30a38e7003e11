"""The words of event sourcing, a sentence each: the one place they are written.

The "what am I looking at" notes (templates/partials/_explain.html) say them on every page, and
the README's "Event sourcing in one screen" says them too (tests/web/test_explain.py checks the
two agree). A page names the terms it shows and where on the page each one is; the sentence
comes from here, so the same words appear everywhere.
"""

from __future__ import annotations

from flask import Flask

# term -> (the word as the note shows it, what it is in one sentence), in the order the README
# lists them; a note lists the terms in the order its page passes them.
TERMS: dict[str, tuple[str, str]] = {
    "event": (
        "Event",
        "A fact that happened to a cart, such as “ItemAdded”, stored for good and never changed; "
        "the cart is whatever its events add up to.",
    ),
    "command": (
        "Command",
        "A request to change a cart, such as “add 2 bags of beans”; the cart's rules decide it "
        "against its current state, and it either records new events or is refused with a "
        "reason.",
    ),
    "version": (
        "Version",
        "How many events one cart has recorded: version 3 is that cart after its third event.",
    ),
    "position": (
        "Position",
        "Where an event sits in the whole store's log, across every cart: 1, 2, 3, … in the "
        "order they were committed, so one cart's version 3 may be position 58.",
    ),
    "projection": (
        "Projection",
        "Code that reads every event and keeps a table up to date for fast reading (a read "
        "model), in the same transaction that stores the events; it can be rebuilt from the log "
        "at any time.",
    ),
    "policy": (
        "Policy",
        "Code that reacts after events are committed, such as printing a receipt after a "
        "checkout; it keeps a checkpoint, and retries when it fails.",
    ),
    "dead letter": (
        "Dead letter",
        "An event a policy gave up on after its retries; it waits for an operator to retry or "
        "skip it.",
    ),
    "correlation": (
        "Correlation and causation",
        "Ids every event carries: the correlation id is shared by everything one request set "
        "off, and the causation id names the command or event that directly caused this one.",
    ),
}


def sentence(term: str) -> str:
    """The sentence for `term` (a key of `TERMS`); KeyError for a term not defined here."""
    return TERMS[term][1]


def init_app(app: Flask) -> None:
    app.jinja_env.globals["glossary"] = TERMS
