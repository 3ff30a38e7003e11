"""The decider and its codec, without any store: given events, when a command, then events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from emit import AggregateCreated, CodecError, Decider
from emit.testing import given
from tests.account import (
    Account,
    Close,
    Closed,
    Deposit,
    Deposited,
    Opened,
    Withdraw,
    Withdrawn,
    account,
)
from tests.codec_cases import RICH, Colour, Line, Rich


def test_a_deposit_is_recorded() -> None:
    state = given(account, Opened("a")).when(Deposit(10, "ann")).then(Deposited(10, "ann"))
    assert state == Account(balance=10, deposits=(10,), open=True)


def test_a_withdrawal_beyond_the_balance_is_rejected() -> None:
    reason = (
        given(account, Opened("a"), Deposited(5, "x"))
        .when(Withdraw(6))
        .then_rejected("insufficient")
    )
    assert "balance is 5" in reason


def test_closing_empties_the_account_first() -> None:
    given(account, Opened("a"), Deposited(5, "x")).when(Close()).then(Withdrawn(5), Closed(0))


def test_a_closed_account_accepts_nothing() -> None:
    given(account, Opened("a"), Closed(0)).when(Deposit(1)).then_rejected("closed")


def test_the_helpers_fail_loudly() -> None:
    with pytest.raises(AssertionError, match="expected events"):
        given(account, Opened("a")).when(Deposit(1)).then(Deposited(2, "teller"))
    with pytest.raises(AssertionError, match="expected a rejection"):
        given(account, Opened("a")).when(Deposit(1)).then_rejected()
    with pytest.raises(AssertionError, match="matching"):
        given(account, Opened("a")).when(Deposit(0)).then_rejected("nonsense")


def test_events_round_trip_through_their_stored_form() -> None:
    for event in [Opened("a"), Deposited(3, "é"), Withdrawn(1), Closed(0), AggregateCreated("x")]:
        name, version, data = account.encode(event)
        assert (name, version) == (type(event).__name__, 1)
        assert account.decode(name, version, data) == event


def test_the_default_genesis_leaves_the_initial_state() -> None:
    plain = Decider("plain", 0, lambda c, s: [], lambda s, e: s + 1, events=[])
    (event,) = plain.genesis_events("p1")
    assert event == AggregateCreated("p1")
    assert plain.fold(plain.initial_state, [event]) == 0


def test_an_event_type_outside_the_decider_is_refused() -> None:
    @dataclass(frozen=True)
    class Stranger:
        x: int

    with pytest.raises(TypeError, match="not one of the events"):
        account.encode(Stranger(1))


def test_two_event_types_with_one_name_are_refused() -> None:
    def make() -> type:
        @dataclass(frozen=True)
        class Opened:
            x: int

        return Opened

    with pytest.raises(ValueError, match="two event types named 'Opened'"):
        Decider("dup", 0, lambda c, s: [], lambda s, e: s, events=[Opened, make()])


def test_a_field_type_that_cannot_be_stored_is_refused_at_set_up() -> None:
    @dataclass(frozen=True)
    class Odd:
        x: complex

    with pytest.raises(CodecError, match="cannot store"):
        Decider("odd", 0, lambda c, s: [], lambda s, e: s, events=[Odd])


def test_the_codec_handles_the_usual_field_types() -> None:
    decider = Decider("rich", None, lambda c, s: [], lambda s, e: s, events=[Rich])
    name, version, data = decider.encode(RICH)
    assert data["lines"] == [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 2}]
    assert decider.decode(name, version, data) == RICH


@dataclass(frozen=True)
class Plain:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Slotted:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Checked:
    sku: str
    quantity: int

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise ValueError("a quantity is never negative")


def test_decoding_makes_the_same_objects_as_the_constructors() -> None:
    # Plain dataclasses are decoded without calling `__init__`: that must not show.
    decider = Decider("kinds", None, lambda c, s: [], lambda s, e: s, events=[Plain, Slotted])
    for cls in (Plain, Slotted):
        decoded = decider.decode(cls.__name__, 1, {"quantity": 2, "sku": "tea"})
        assert type(decoded) is cls
        assert decoded == cls("tea", 2)
        assert repr(decoded) == repr(cls("tea", 2))
        assert hash(decoded) == hash(cls("tea", 2))
        with pytest.raises(AttributeError):
            decoded.sku = "other"  # type: ignore[misc]


class Upper:
    """A data descriptor that keeps what is set in upper case."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.attribute = f"_{name}"

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return "" if instance is None else str(instance.__dict__[self.attribute])

    def __set__(self, instance: object, value: str) -> None:
        instance.__dict__[self.attribute] = value.upper()


@dataclass(frozen=True)
class Shouted:
    sku: str = Upper()  # type: ignore[assignment]


class NonNegative:
    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, int) and value < 0:
            raise ValueError("a quantity is never negative")
        object.__setattr__(self, name, value)


@dataclass
class Guarded(NonNegative):
    sku: str
    quantity: int


def test_decoding_goes_through_descriptors_and_a_custom_setattr() -> None:
    decider = Decider("odd", None, lambda c, s: [], lambda s, e: s, events=[Shouted, Guarded])
    assert decider.decode("Shouted", 1, {"sku": "tea"}) == Shouted("tea")
    assert decider.decode("Shouted", 1, {"sku": "tea"}).sku == "TEA"
    assert decider.decode("Guarded", 1, {"sku": "tea", "quantity": 2}) == Guarded("tea", 2)
    with pytest.raises(ValueError, match="never negative"):
        decider.decode("Guarded", 1, {"sku": "tea", "quantity": -1})


def test_decoding_runs_a_post_init() -> None:
    decider = Decider("checked", None, lambda c, s: [], lambda s, e: s, events=[Checked])
    assert decider.decode("Checked", 1, {"sku": "tea", "quantity": 2}) == Checked("tea", 2)
    with pytest.raises(ValueError, match="never negative"):
        decider.decode("Checked", 1, {"sku": "tea", "quantity": -1})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "3", "by": "x"}, "field 'amount': expected int"),
        ({"amount": True, "by": "x"}, "expected int"),
        ({"amount": 2.0, "by": "x"}, "expected int"),
        ({"amount": 2, "by": None}, "field 'by': expected str"),
        ({"by": "x"}, "missing field 'amount'"),
        ({"amount": 1, "by": "x", "bogus": 1}, "no field"),
        ([1, 2], "expected an object"),
    ],
)
def test_data_that_does_not_fit_is_refused_with_a_reason(data: object, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        account.decode("Deposited", 1, data)


def test_nested_data_that_does_not_fit_names_the_field() -> None:
    decider = Decider("lines", None, lambda c, s: [], lambda s, e: s, events=[Line])
    holder = Decider("rich", None, lambda c, s: [], lambda s, e: s, events=[Rich])
    _, _, data = holder.encode(
        Rich(
            datetime.now(UTC),
            date.today(),
            Decimal(1),
            UUID(int=1),
            Colour.RED,
            "a",
            (),
            (1, "x"),
            frozenset(),
            [],
            {},
        )
    )

    with pytest.raises(CodecError, match="field 'lines': field 'quantity': expected int"):
        holder.decode("Rich", 1, {**data, "lines": [{"sku": "a", "quantity": "1"}]})
    assert decider.decode("Line", 1, {"sku": "a", "quantity": 1}) == Line("a", 1)


def test_upcasters_bring_old_data_to_the_current_schema() -> None:
    decider = Decider(
        "v2",
        Account(),
        lambda c, s: [],
        lambda s, e: s,
        events=[Deposited],
        upcasters={("Deposited", 1): lambda d: {**d, "by": "unknown"}},
    )
    assert decider.encode(Deposited(1, "x"))[1] == 2
    assert decider.decode("Deposited", 1, {"amount": 4}) == Deposited(4, "unknown")
    with pytest.raises(CodecError, match="newer than this code"):
        decider.decode("Deposited", 3, {"amount": 4, "by": "x"})
