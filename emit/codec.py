"""Events and snapshots as JSON text and back, by msgspec, guided by the dataclasses' type hints.

msgspec (a C library) builds a decoder once per type from its annotations and checks every value
against them as it reads. Field types: whatever msgspec supports, among them `str`, `int`,
`float`, `bool`, `None`, `Decimal`, `datetime`, `date`, `UUID`, `Enum`, `Literal`, `Any`, nested
dataclasses, `tuple[X, ...]`, `tuple[X, Y]`, `list[X]`, `set[X]`, `frozenset[X]`, `dict[str, X]`
and `X | None`.

What a caller may rely on:
- Data that does not fit its type raises `CodecError` saying which field and why, and so does a
  key the dataclass has no field for (msgspec ignores those: `_keys` refuses them, as emit
  always did, so that a renamed field is never silently read as its default).
- Decoding builds an instance as msgspec does, without calling `__init__`, then runs its
  `__post_init__`; an exception that raises comes out as it was raised. An event or state that
  is not frozen and has a `__setattr__` of its own is built by its constructor, so its checks
  run (a dataclass nested in one is built by msgspec).
- What emit stored before msgspec decodes to the same objects (tests/runtime/test_codec.py).
  The text written is the same but for a UTC time, now ending "Z" rather than "+00:00", and a
  float's exponent ("1e-7", not "1e-07").
- A float that is not finite (NaN, infinity) is refused with `CodecError` when it is encoded:
  JSON has no such numbers, and msgspec would write `null`, which would then never decode as a
  float again. What emit stored before with `NaN` or `Infinity` in it still decodes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from functools import cache, partial
from typing import Any

import msgspec
import msgspec.inspect

Convert = Callable[[Any], Any]


class CodecError(TypeError):
    """A type emit cannot store, or data that does not fit the type it should decode to."""


_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def to_json(value: Any) -> str:
    """Compact JSON text for a value of a storable type or JSON-ready data, as emit stores it
    (non-ASCII text as it is). Raises `TypeError` for a value msgspec cannot encode, and
    `CodecError` (a `TypeError`) for a float that is not finite."""
    try:
        text = _encoder.encode(value)
    except msgspec.EncodeError as error:  # a number out of range, say
        raise TypeError(str(error)) from None
    if b"null" in text:  # None, or a NaN or infinity msgspec wrote as null: look closer
        _check_finite(value)
    return text.decode()


def check_plain_json(value: Any) -> None:
    """Raise `TypeError` unless `value` is what Python's json module writes: a dict, a list or
    tuple, a string, a finite number, a bool or None, all the way down (a dict's keys strings,
    numbers, bools or None, written as strings). msgspec would also write a datetime, a UUID or
    a set, which come back as strings and lists: metadata, which has no type to decode to, must
    not change type on the way."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        _check_finite(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not (key is None or isinstance(key, str | int | float)):
                raise TypeError(f"keys must be str, int, float, bool or None, not {key!r}")
            check_plain_json(item)
    elif isinstance(value, list | tuple):
        for item in value:
            check_plain_json(item)
    else:
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def to_typed_json(value: Any) -> str:
    """`to_json` of a value of a storable type (an event, a state) as emit stores it. Raises
    `CodecError` if it would not read back as it is: a field typed `Any` that holds what JSON
    keeps as another type (a datetime as text, a set or a tuple as a list)."""
    text = to_json(value)
    kind: Any = type(value)
    if holds_any(kind) and json_decoder(kind)(text) != value:
        raise CodecError(
            f"{kind.__qualname__} would not read back as it is: a field typed Any holds a value "
            "JSON keeps as another type (give the field its type, or keep plain JSON data in it)."
        )
    return text


def _check_finite(value: Any) -> None:
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CodecError(f"{value} cannot be stored: JSON has no NaN or infinity.")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            _check_finite(getattr(value, field.name))
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_finite(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _check_finite(item)


def from_json(text: str) -> Any:
    """The value of JSON text; raises `ValueError` if it is not one JSON value."""
    try:
        return _decoder.decode(text)
    except msgspec.DecodeError as error:
        if _OLD_NUMBERS.search(text):
            return _old_json(text)
        raise _not_json(error) from None


# Before msgspec, emit stored a float that is not finite as Python's json module writes it:
# `NaN`, `Infinity`, `-Infinity`. JSON has no such numbers and msgspec reads none, so text that
# holds one, and only such text, is read as that module reads it (a slow path, never taken for
# what emit writes now: it refuses such floats).
_OLD_NUMBERS = re.compile(r"NaN|Infinity")


def _old_json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ValueError(f"not one JSON value: {error}") from None


@cache
def encoder(hint: Any) -> Convert:
    """A function turning a value of type `hint` into JSON-ready data: what `from_json` gives
    for the text `to_json` writes."""
    _builder(hint)
    return lambda value: _decoder.decode(_encoder.encode(value))


@cache
def decoder(hint: Any) -> Convert:
    """A function turning JSON-ready data back into a value of type `hint`; raises
    `CodecError` for data that does not fit."""
    build, keys = _builder(hint), _keys(hint)
    check = None if keys is None else partial(msgspec.convert, type=keys)
    return _checked(hint, build, partial(msgspec.convert, type=build), check)


@cache
def json_decoder(hint: Any) -> Convert:
    """A function turning JSON text back into a value of type `hint`: `decoder(hint)` of its
    `from_json`, in one step. Raises `CodecError` for data that does not fit, `ValueError` for
    text that is not JSON."""
    build, keys = _builder(hint), _keys(hint)
    check = None if keys is None else msgspec.json.Decoder(keys).decode
    from_text = _checked(hint, build, msgspec.json.Decoder(build).decode, check)
    from_data = decoder(hint)

    def decode(text: str) -> Any:
        try:
            return from_text(text)
        except _NotJson:
            if not _OLD_NUMBERS.search(text):
                raise
            return from_data(_old_json(text))

    return decode


def _checked(hint: Any, build: Any, read: Convert, check: Convert | None) -> Convert:
    """`read` (msgspec decoding as `build`), then `check` of the same input for unknown keys,
    with msgspec's errors made emit's."""

    def decode(data: Any) -> Any:
        try:
            value = read(data)
            if check is not None:
                check(data)
        except msgspec.ValidationError as error:
            raise _not_fitting(error) from None
        except msgspec.DecodeError as error:
            raise _not_json(error) from None
        return value if build is hint else _construct(hint, value)

    return decode


@cache
def holds_any(hint: Any) -> bool:
    """True if a value of type `hint` may hold a value of any type somewhere (a field typed
    `Any`, or a container of it): msgspec writes a datetime or a set there as a string or a
    list, which would read back as that, not as what was stored."""
    if hint is Any:
        return True
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return any(holds_any(type_) for _, type_ in _fields(hint))
    return any(holds_any(arg) for arg in typing.get_args(hint) if arg is not Ellipsis)


def check_storable(cls: Any) -> None:
    """Raise `CodecError` now, at set-up, if a dataclass has a field emit cannot store."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise CodecError(f"{cls!r} is not a dataclass")
    _builder(cls)


# --- what msgspec does not do for a dataclass ----------------------------------------------------


@cache
def _keys(hint: Any) -> Any:
    """A type that reads only the objects' keys in data of type `hint`, refusing a key without
    a field (a msgspec `Struct` can, a dataclass cannot); None if `hint` holds no dataclass."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        fields = [(f.name, _keys(type_) or Any, None) for f, type_ in _fields(hint)]
        return msgspec.defstruct(f"{hint.__name__}Keys", fields, forbid_unknown_fields=True)
    args = typing.get_args(hint)
    inner = [None if arg is Ellipsis else _keys(arg) for arg in args]
    if all(key is None for key in inner):
        return None
    mirrored = tuple(arg if key is None else key for arg, key in zip(args, inner, strict=True))
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[mirrored]  # noqa: UP007 (built from a tuple)
    if origin is tuple:
        return types.GenericAlias(tuple, mirrored)
    if origin in (dict, Mapping):
        return types.GenericAlias(dict, mirrored)
    return types.GenericAlias(list, mirrored[:1])  # list, set, frozenset: a JSON array


@cache
def _builder(hint: Any) -> Any:
    """The type msgspec decodes `hint` as: `hint` itself, or for a dataclass with a
    `__setattr__` of its own, a `Struct` of its fields that `_construct` hands to it."""
    try:
        unknown = _custom(msgspec.inspect.type_info(hint))
    except TypeError as error:
        raise CodecError(f"emit cannot store values of type {hint!r}: {error}") from None
    if unknown is not None:
        raise CodecError(f"emit cannot store values of type {unknown!r} (in {hint!r})")
    if not _guarded(hint):
        return hint
    fields = [(f.name, type_, _default(f)) for f, type_ in _fields(hint) if f.init]
    return msgspec.defstruct(f"{hint.__name__}Fields", fields, forbid_unknown_fields=True)


def _custom(info: msgspec.inspect.Type) -> Any:
    """The first type in `info` that msgspec would need hooks for (it calls them "custom"), or
    None: emit stores only what msgspec reads and writes by itself."""
    if isinstance(info, msgspec.inspect.CustomType):
        return info.cls
    inner: list[Any] = [getattr(info, name, None) for name in _ONE_INNER]
    inner.extend(item for name in _INNERS for item in getattr(info, name, ()))
    inner.extend(f.type for f in getattr(info, "fields", ()))
    for child in inner:
        found = None if child is None else _custom(child)
        if found is not None:
            return found
    return None


_ONE_INNER = ("type", "item_type", "key_type", "value_type")
_INNERS = ("types", "item_types")


def _guarded(hint: Any) -> bool:
    """True for a dataclass whose fields are set through a `__setattr__` of its own."""
    return (
        isinstance(hint, type)
        and dataclasses.is_dataclass(hint)
        and not hint.__dataclass_params__.frozen  # type: ignore[attr-defined]
        and hint.__setattr__ is not object.__setattr__
    )


def _construct(cls: Any, fields: msgspec.Struct) -> Any:
    return cls(**msgspec.structs.asdict(fields))


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return msgspec.field(default_factory=f.default_factory)
    return msgspec.NODEFAULT


def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """Each field of a dataclass, with its type hint resolved."""
    try:
        hints = typing.get_type_hints(cls)
    except NameError as error:
        raise CodecError(f"cannot resolve the type hints of {cls.__name__}: {error}") from None
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


# msgspec says "Expected `int`, got `str` - at `$.lines[0].quantity`"; emit always said
# "field 'lines': field 'quantity': expected int, got str", a message for the person who reads
# an `EventDecodeError`.
_WHERE = re.compile(r" - at `\$(.*)`$")
_FIELD = re.compile(r"\.(\w+)")
_SAYINGS = [
    (re.compile(r"^Object missing required field `(\w+)`"), r"missing field '\1'"),
    (re.compile(r"^Object contains unknown field `(\w+)`"), r"no field '\1'"),
    (re.compile(r"^Expected `([^`]+)`, got `([^`]+)`"), r"expected \1, got \2"),
    (re.compile(r"^expected object"), "expected an object"),
]


class _NotJson(ValueError):
    """Text msgspec does not read as JSON (as opposed to a `ValueError` of `__post_init__`)."""


def _not_json(error: msgspec.DecodeError) -> ValueError:
    return _NotJson(f"not one JSON value: {error}")


def _not_fitting(error: msgspec.ValidationError) -> Exception:
    """The `CodecError` for msgspec's error, or what `__post_init__` raised."""
    if isinstance(error.__cause__, ValueError | TypeError):
        return error.__cause__
    text = str(error)
    where = _WHERE.search(text)
    if where is not None:
        text = text[: where.start()]
    for pattern, saying in _SAYINGS:
        text = pattern.sub(saying, text)
    fields = [] if where is None else _FIELD.findall(where.group(1))
    return CodecError("".join(f"field {name!r}: " for name in fields) + text)
