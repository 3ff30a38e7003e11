"""The cart's history told for people (webapp/timeline.py), without a store or a web request:
summaries in words, diffs between two versions, and the states of a whole stream folded once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from emit import Metadata, RecordedEvent, VersionOutOfRange
from shop import cart as domain
from shop.cart import CartCheckedOut, CartOpened, ItemAdded, Line, LineRemoved, QuantityChanged
from webapp.timeline import CartTimeline, command_summary, diff, kind, summary

BEANS = Line("BEAN-250", "Coffee beans, 250 g", 1290, 2)
MUG = Line("MUG-TRVL", "Travel mug", 2200, 1)
TEA = Line("TEA-CHAI", "Chai tea, 20 bags", 890, 3)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (domain.AddItem("MILK-OAT", 100), "add 100 × Oat milk, 1 L"),
        (domain.AddItem("GONE-1", 2), "add 2 × GONE-1"),
        (domain.ChangeQuantity("MUG-TRVL", 3), "change Travel mug to 3"),
        (domain.ChangeQuantity("MUG-TRVL", 0), "remove Travel mug"),
        (domain.ChangeQuantityBy("MUG-TRVL", -1), "change Travel mug by -1"),
        (domain.ChangeQuantityBy("MUG-TRVL", 2), "change Travel mug by +2"),
        (domain.RemoveLine("TEA-CHAI"), "remove Chai tea, 20 bags"),
        (domain.CheckOut(), "check out"),
    ],
)
def test_a_command_in_words(command: domain.CartCommand, words: str) -> None:
    assert command_summary(command) == words


@pytest.mark.parametrize(
    ("event", "words", "event_kind"),
    [
        (CartOpened("c1"), "Opened the cart", "opened"),
        (
            ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 2, 2),
            "Added 2 × Coffee beans, 250 g",
            "added",
        ),
        (
            ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 1, 3),
            "Added 1 × Coffee beans, 250 g (3 in the cart)",
            "added",
        ),
        (
            QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 3),
            "Changed Coffee beans, 250 g from 2 to 3",
            "changed",
        ),
        (LineRemoved("MUG-TRVL", "Travel mug", 2200, 1), "Removed 1 × Travel mug", "removed"),
        (CartCheckedOut(6450, 5, 2), "Checked out 5 items for €64.50", "checked-out"),
        (CartCheckedOut(2200, 1, 1), "Checked out 1 item for €22.00", "checked-out"),
    ],
)
def test_every_event_has_a_summary_and_a_kind(
    event: domain.CartEvent, words: str, event_kind: str
) -> None:
    assert summary(event) == words
    assert kind(event) == event_kind


def test_something_else_is_not_a_cart_event() -> None:
    with pytest.raises(TypeError, match="Not a cart event"):
        summary("ItemAdded")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Not a cart event"):
        kind(object())  # type: ignore[arg-type]


def cart(*lines: Line, status: str = "open") -> domain.Cart:
    return domain.Cart("c1", lines, status)  # type: ignore[arg-type]


def test_a_diff_marks_each_line_added_removed_changed_or_unchanged() -> None:
    before = cart(BEANS, MUG)
    after = cart(Line("BEAN-250", BEANS.name, BEANS.unit_price, 5), TEA)
    changes = diff(before, after)
    assert [(c.line.sku, c.kind) for c in changes.lines] == [
        ("BEAN-250", "changed"),
        ("MUG-TRVL", "removed"),  # where it used to be
        ("TEA-CHAI", "added"),
    ]
    beans, mug, tea = changes.lines
    assert (beans.quantity_change, beans.subtotal_change) == (3, 3 * 1290)
    assert (mug.quantity_change, mug.subtotal_change, mug.line) == (-1, -2200, MUG)
    assert (tea.quantity_change, tea.subtotal_change) == (3, 3 * 890)
    assert changes.total_change == after.total - before.total == 3 * 1290 - 2200 + 3 * 890
    assert changes.changed_lines == changes.lines
    assert not changes.status_changed
    assert not changes.is_empty


def test_a_diff_keeps_unchanged_lines_in_their_place() -> None:
    changes = diff(cart(BEANS, MUG), cart(BEANS, MUG, TEA))
    assert [(c.line.sku, c.kind) for c in changes.lines] == [
        ("BEAN-250", "unchanged"),
        ("MUG-TRVL", "unchanged"),
        ("TEA-CHAI", "added"),
    ]
    assert [c.line.sku for c in changes.changed_lines] == ["TEA-CHAI"]


def test_a_diff_sees_a_status_change_alone() -> None:
    changes = diff(cart(BEANS), cart(BEANS, status="checked_out"))
    assert changes.status_changed
    assert not changes.changed_lines
    assert changes.total_change == 0
    assert not changes.is_empty


def test_a_diff_of_a_cart_with_itself_is_empty() -> None:
    assert diff(cart(BEANS, MUG), cart(BEANS, MUG)).is_empty


def test_a_diff_can_look_backwards() -> None:
    later, earlier = cart(BEANS, MUG, status="checked_out"), cart(BEANS)
    changes = diff(later, earlier)
    assert [(c.line.sku, c.kind) for c in changes.lines] == [
        ("BEAN-250", "unchanged"),
        ("MUG-TRVL", "removed"),
    ]
    assert changes.total_change == -2200
    assert (changes.before.status, changes.after.status) == ("checked_out", "open")


START = datetime(2025, 11, 27, 9, 0, tzinfo=UTC)
EVENTS: list[domain.CartEvent] = [
    CartOpened("c1"),
    ItemAdded("BEAN-250", "Coffee beans, 250 g", 1290, 2, 2),
    ItemAdded("MUG-TRVL", "Travel mug", 2200, 1, 1),
    QuantityChanged("BEAN-250", "Coffee beans, 250 g", 1290, 2, 3),
    LineRemoved("MUG-TRVL", "Travel mug", 2200, 1),
    CartCheckedOut(3870, 3, 1),
]


def recorded(events: list[domain.CartEvent]) -> list[RecordedEvent[domain.CartEvent]]:
    """The events as if recorded a minute apart from START."""
    return [
        RecordedEvent(
            "c1",
            version,
            100 + version,
            uuid.uuid4(),
            type(event).__name__,
            1,
            event,
            Metadata(START + timedelta(minutes=version), "corr", "cause", "Command"),
        )
        for version, event in enumerate(events, start=1)
    ]


@pytest.fixture
def timeline() -> CartTimeline:
    return CartTimeline(recorded(EVENTS))


def test_a_timeline_holds_the_cart_at_every_version(timeline: CartTimeline) -> None:
    assert (timeline.cart_id, timeline.latest) == ("c1", 6)
    assert timeline.state(0) == domain.Cart()
    assert timeline.state(1) == domain.Cart("c1", (), "open")
    assert timeline.state(3).lines == (BEANS, MUG)
    assert timeline.state(5).lines == (Line(BEANS.sku, BEANS.name, BEANS.unit_price, 3),)
    assert timeline.state(6).status == "checked_out"
    assert [state.total for state in timeline.states] == [0, 0, 2580, 4780, 6070, 3870, 3870]


def test_a_timeline_gives_the_event_behind_each_version(timeline: CartTimeline) -> None:
    assert timeline.event(0) is None
    event = timeline.event(4)
    assert event is not None
    assert (event.version, event.event) == (4, EVENTS[3])


def test_a_timeline_refuses_versions_it_does_not_have(timeline: CartTimeline) -> None:
    for version in (-1, 7):
        with pytest.raises(VersionOutOfRange) as error:
            timeline.state(version)
        assert (error.value.version, error.value.latest) == (version, 6)
        with pytest.raises(VersionOutOfRange):
            timeline.event(version)


def test_a_timeline_finds_the_version_at_a_moment(timeline: CartTimeline) -> None:
    assert timeline.version_at(START) == 0  # before the first event
    assert timeline.version_at(START + timedelta(minutes=1)) == 1  # at an event: it counts
    assert timeline.version_at(START + timedelta(minutes=3, seconds=59)) == 3
    assert timeline.version_at(START + timedelta(days=1)) == 6
    naive = (START + timedelta(minutes=2)).replace(tzinfo=None)
    assert timeline.version_at(naive) == 2  # taken as UTC
    elsewhere = (START + timedelta(minutes=2)).astimezone(datetime.now().astimezone().tzinfo or UTC)
    assert timeline.version_at(elsewhere) == 2


def test_a_timeline_diffs_any_two_versions(timeline: CartTimeline) -> None:
    changes = timeline.diff(5, 2)
    assert [(c.line.sku, c.kind) for c in changes.lines] == [("BEAN-250", "changed")]
    assert changes.total_change == 3870 - 2580
    assert timeline.diff(2, 5).total_change == 2580 - 3870


def test_a_timeline_needs_one_carts_events_in_order() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        CartTimeline([])
    events = recorded(EVENTS)
    with pytest.raises(ValueError, match="version order"):
        CartTimeline([events[1], events[0]])
    with pytest.raises(ValueError, match="version order"):
        CartTimeline(events[1:])
