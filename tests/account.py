"""A small example domain for emit's own tests: a bank account, as a decider."""

from __future__ import annotations

from dataclasses import dataclass, replace

from emit import CommandRejected, Decider

# --- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deposit:
    amount: int
    by: str = "teller"


@dataclass(frozen=True)
class Withdraw:
    amount: int


@dataclass(frozen=True)
class Close:
    pass


# --- events --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opened:
    account_id: str


@dataclass(frozen=True)
class Deposited:
    amount: int
    by: str


@dataclass(frozen=True)
class Withdrawn:
    amount: int


@dataclass(frozen=True)
class Closed:
    final_balance: int


# --- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    balance: int = 0
    deposits: tuple[int, ...] = ()
    open: bool = False


def decide(command: object, state: Account) -> list[object]:
    if not state.open:
        raise CommandRejected("the account is closed")
    match command:
        case Deposit(amount, by):
            if amount <= 0:
                raise CommandRejected("a deposit must be positive")
            return [Deposited(amount, by)]
        case Withdraw(amount):
            if amount > state.balance:
                raise CommandRejected(f"insufficient funds: balance is {state.balance}")
            return [Withdrawn(amount)]
        case Close():
            return [Withdrawn(state.balance), Closed(0)] if state.balance else [Closed(0)]
    raise TypeError(f"unknown command {command!r}")


def evolve(state: Account, event: object) -> Account:
    match event:
        case Opened():
            return replace(state, open=True)
        case Deposited(amount):
            return replace(
                state, balance=state.balance + amount, deposits=(*state.deposits, amount)
            )
        case Withdrawn(amount):
            return replace(state, balance=state.balance - amount)
        case Closed():
            return replace(state, open=False)
    raise TypeError(f"unknown event {event!r}")


account = Decider(
    name="account",
    initial_state=Account(),
    decide=decide,
    evolve=evolve,
    events=[Opened, Deposited, Withdrawn, Closed],
    genesis=lambda account_id: [Opened(account_id)],
)
