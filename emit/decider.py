"""The decider: a domain written as an initial state and two pure functions.

    decide(command, state) -> events      (or raise CommandRejected)
    evolve(state, event)   -> state

Commands, events and state are plain frozen dataclasses of your own; emit needs no base class
and no decorator. `Decider` only bundles them with a name and the list of event types, so stored
events can be decoded again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from emit.codec import (
    CodecError,
    Convert,
    check_storable,
    decoder,
    encoder,
    from_json,
    json_decoder,
    to_typed_json,
)

C = TypeVar("C")
E = TypeVar("E")
S = TypeVar("S")

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AggregateCreated:
    """The genesis event emit records when a decider has no `genesis` of its own.

    `evolve` never sees it: the state right after creation is the decider's `initial_state`.
    """

    aggregate_id: str


BUILTIN_EVENTS: tuple[type, ...] = (AggregateCreated,)


@dataclass(frozen=True, eq=False)
class Decider(Generic[C, E, S]):
    """A domain: `initial_state`, `decide(command, state)` and `evolve(state, event)`.

    - `decide` returns a sequence of events (possibly empty: nothing happens) or raises
      `CommandRejected(reason)`. It must not mutate `state`.
    - `evolve` returns the state after one event.
    - `events` lists every event dataclass `decide` and `genesis` can return.
    - `genesis(aggregate_id)` returns the events that create an aggregate; without it emit
      records a built-in `AggregateCreated` that leaves the state at `initial_state`.
    - `upcasters` maps `(type name, schema version)` to a function that rewrites stored data of
      that version into the next one. An event type's current schema version is one more than
      the highest version it has an upcaster for (1 without upcasters).
    """

    name: str
    initial_state: S
    decide: Callable[[C, S], Sequence[E]]
    evolve: Callable[[S, E], S]
    events: Sequence[type]
    genesis: Callable[[str], Sequence[E]] | None = None
    upcasters: Mapping[tuple[str, int], Upcaster] = field(default_factory=dict)
    _by_name: dict[str, type] = field(init=False, repr=False)
    _schema: dict[str, int] = field(init=False, repr=False)
    _encoders: dict[str, Convert] = field(init=False, repr=False)
    _decoders: dict[str, Convert] = field(init=False, repr=False)
    _current: dict[tuple[str, int], Convert] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        by_name: dict[str, type] = {}
        for cls in (*self.events, *BUILTIN_EVENTS):
            check_storable(cls)
            other = by_name.setdefault(cls.__name__, cls)
            if other is not cls:
                raise ValueError(
                    f"Decider {self.name!r} has two event types named {cls.__name__!r}: "
                    "stored events are decoded by type name, so names must be unique."
                )
        schema = dict.fromkeys(by_name, 1)
        for type_name, version in self.upcasters:
            if type_name not in by_name:
                raise ValueError(f"Upcaster for unknown event type {type_name!r}.")
            schema[type_name] = max(schema[type_name], version + 1)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_encoders", {n: encoder(c) for n, c in by_name.items()})
        object.__setattr__(self, "_decoders", {n: decoder(c) for n, c in by_name.items()})
        current = {(n, schema[n]): json_decoder(c) for n, c in by_name.items()}
        object.__setattr__(self, "_current", current)

    @property
    def current_decoders(self) -> Mapping[tuple[str, int], Convert]:
        """The decoder of each event type's stored JSON text at its current schema version,
        keyed by (type name, schema version): a replay's inner loop looks each event up here,
        and hands `decode_json` only what needs upcasting or does not exist."""
        return self._current

    @property
    def schema_versions(self) -> Mapping[str, int]:
        """Each event type's name and current schema version."""
        return dict(self._schema)

    def genesis_events(self, aggregate_id: str) -> Sequence[object]:
        events = (
            self.genesis(aggregate_id)
            if self.genesis is not None
            else [AggregateCreated(aggregate_id)]
        )
        if not events:
            raise ValueError(
                f"Decider {self.name!r}: genesis({aggregate_id!r}) returned no events."
            )
        return events

    def fold(self, state: S, events: Iterable[object]) -> S:
        """The state after `events`, starting from `state`."""
        evolve = self.evolve
        for event in events:
            if type(event) is not AggregateCreated:
                state = evolve(state, event)  # type: ignore[arg-type]
        return state

    def type_name(self, event: object) -> str:
        name = type(event).__name__
        if self._by_name.get(name) is not type(event):
            raise TypeError(
                f"{type(event).__qualname__} is not one of the events of decider {self.name!r}; "
                "add it to Decider(events=...)."
            )
        return name

    def encode(self, event: object) -> tuple[str, int, dict[str, Any]]:
        """`(type name, schema version, JSON-ready data)` for a new event."""
        name = self.type_name(event)
        data: dict[str, Any] = self._encoders[name](event)
        return name, self._schema[name], data

    def encode_json(self, event: object) -> tuple[str, int, str]:
        """`(type name, schema version, JSON text)` for a new event, as it is stored. Raises
        `CodecError` for an event that would not read back as it is (a field typed `Any`
        holding a value JSON keeps as another type, such as a datetime)."""
        name = self.type_name(event)
        return name, self._schema[name], to_typed_json(event)

    def decode_json(self, type_name: str, schema_version: int, text: str) -> object:
        """The event object for stored JSON text; raises `CodecError` saying what does not
        fit, `ValueError` for text that is not JSON."""
        convert = self._current.get((type_name, schema_version))
        if convert is not None:
            return convert(text)
        return self.decode(type_name, schema_version, from_json(text))

    def decode(self, type_name: str, schema_version: int, data: Any) -> object:
        """The event object for stored data; raises `CodecError` saying what does not fit."""
        current = self._schema.get(type_name)
        if current == schema_version:  # the usual case, in one look-up: nothing to upcast
            return self._decoders[type_name](data)
        if current is None:
            raise CodecError(f"decider {self.name!r} has no event type {type_name!r}")
        if schema_version > current:
            raise CodecError(
                f"stored with schema version {schema_version}, newer than this code's {current}"
            )
        while schema_version < current:
            upcast = self.upcasters.get((type_name, schema_version))
            if upcast is None:
                raise CodecError(f"no upcaster from schema version {schema_version}")
            data = upcast(dict(data))
            schema_version += 1
        return self._decoders[type_name](data)
