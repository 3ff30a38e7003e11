"""Turning frozen dataclasses into JSON-ready values and back, guided by their type hints.

Events and snapshots are stored as JSON objects. A converter is compiled once per type from its
annotations, so encoding and decoding an event costs a few dictionary look-ups, not a walk
through `typing` on every call. Supported field types: `str`, `int`, `float`, `bool`, `None`,
`Decimal`, `datetime`, `date`, `UUID`, `Enum`, `Literal`, `Any`, nested dataclasses,
`tuple[X, ...]`, `tuple[X, Y]`, `list[X]`, `frozenset[X]`, `dict[str, X]` and `X | None`.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any
from uuid import UUID

Convert = Callable[[Any], Any]


class CodecError(TypeError):
    """A type emit cannot store, or data that does not fit the type it should decode to."""


def _identity(value: Any) -> Any:
    return value


def _checked(kinds: tuple[type, ...], name: str) -> Convert:
    def check(value: Any) -> Any:
        # bool is an int in Python, but a JSON true is never a quantity.
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise CodecError(f"expected {name}, got {type(value).__name__} {value!r}")
        return value

    _EXACT[check] = kinds[0]
    return check


# Checks that a value's type is exactly one type: the fast decoder inlines them.
_EXACT: dict[Convert, type] = {}


def _optional(inner: Convert) -> Convert:
    def convert(value: Any) -> Any:
        return None if value is None else inner(value)

    return convert


def _sequence(inner: Convert, build: Callable[[Any], Any], want: type | None = None) -> Convert:
    if inner is _identity:

        def simple(value: Any) -> Any:
            if want is not None and not isinstance(value, list):
                raise CodecError(f"expected a list, got {type(value).__name__}")
            return build(value)

        return simple

    def convert(value: Any) -> Any:
        if want is not None and not isinstance(value, list):
            raise CodecError(f"expected a list, got {type(value).__name__}")
        return build(inner(item) for item in value)

    return convert


def _fixed_tuple(
    inners: tuple[Convert, ...], build: Callable[[Any], Any], decoding: bool
) -> Convert:
    def convert(value: Any) -> Any:
        if decoding and (not isinstance(value, list) or len(value) != len(inners)):
            raise CodecError(f"expected a list of {len(inners)} items, got {value!r}")
        return build(inner(item) for inner, item in zip(inners, value, strict=True))

    return convert


def _mapping(inner: Convert, decoding: bool) -> Convert:
    def convert(value: Any) -> Any:
        if decoding and not isinstance(value, dict):
            raise CodecError(f"expected an object, got {type(value).__name__}")
        return {str(key): inner(item) for key, item in value.items()}

    return convert


def _literal(allowed: tuple[Any, ...]) -> Convert:
    def convert(value: Any) -> Any:
        if value not in allowed:
            raise CodecError(f"expected one of {allowed!r}, got {value!r}")
        return value

    return convert


def _dataclass_encoder(cls: type) -> Convert:
    fields = [(f.name, encoder(hint)) for f, hint in _field_hints(cls)]

    def encode(value: Any) -> Any:
        return {name: convert(getattr(value, name)) for name, convert in fields}

    return encode


def _dataclass_decoder(cls: type) -> Convert:
    fields = [
        (
            f.name,
            decoder(hint),
            f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING,
        )
        for f, hint in _field_hints(cls)
        if f.init
    ]
    positional = {f.name for f in dataclasses.fields(cls) if f.init and not f.kw_only}
    known = {name for name, _, _ in fields}

    def checked_decode(value: Any) -> Any:
        if not isinstance(value, dict):
            raise CodecError(f"expected an object for {cls.__name__}, got {type(value).__name__}")
        kwargs = {}
        for name, convert, required in fields:
            if name in value:
                try:
                    kwargs[name] = convert(value[name])
                except CodecError as error:
                    raise CodecError(f"field {name!r}: {error}") from None
            elif required:
                raise CodecError(f"{cls.__name__} is missing field {name!r}")
        unknown = value.keys() - known
        if unknown:
            raise CodecError(f"{cls.__name__} has no field(s) {sorted(unknown)!r}")
        return cls(**kwargs)

    return _fast_decoder(
        cls,
        [(name, convert, name in positional) for name, convert, _ in fields],
        checked_decode,
        plain=_plain_dataclass(cls, len(fields)),
    )


def _plain_dataclass(cls: type, init_fields: int) -> bool:
    """True if making an instance is only setting its fields in its `__dict__`: an `__init__`
    written by `dataclasses` for exactly the fields, no `__post_init__`, `__new__` or slots,
    no `__setattr__` but the one `dataclasses` writes for frozen classes, and no field that is
    a data descriptor on the class. Then a decoder can fill the instance's `__dict__` from
    checked data in one step, which is what `__init__` would have done field by field (frozen
    classes through `object.__setattr__`, the slow part of decoding an event)."""
    init = cls.__dict__.get("__init__")
    code = getattr(init, "__code__", None)
    return (
        code is not None
        and _generated(init)  # by `dataclasses`, not written by hand
        and code.co_argcount + code.co_kwonlyargcount == init_fields + 1
        and len(dataclasses.fields(cls)) == init_fields
        and not hasattr(cls, "__post_init__")
        and type(cls) is type
        and all(
            "__slots__" not in klass.__dict__
            and "__new__" not in klass.__dict__
            and ("__setattr__" not in klass.__dict__ or _generated(klass.__dict__["__setattr__"]))
            for klass in cls.__mro__[:-1]  # all but `object`
        )
        and not any(
            hasattr(type(inspect.getattr_static(cls, f.name, None)), "__set__")
            for f in dataclasses.fields(cls)
        )
    )


def _generated(function: object) -> bool:
    """True for a function `dataclasses` compiled (its `__init__`, a frozen `__setattr__`)."""
    code = getattr(function, "__code__", None)
    return code is not None and code.co_filename == "<string>"


def _fast_decoder(
    cls: type, fields: list[tuple[str, Convert, bool]], checked: Convert, *, plain: bool
) -> Convert:
    """A decoder for the common case, compiled from source like `dataclasses` compiles
    `__init__`: data with exactly the class's fields, of exactly the right JSON types. Anything
    else goes to `checked`, which decodes it the long way or says precisely what is wrong.
    For a `plain` dataclass whose fields all stay as JSON gives them, the checked data becomes
    the instance's `__dict__` (see `_plain_dataclass`)."""
    namespace: dict[str, Any] = {"cls": cls, "checked": checked, "new": object.__new__}
    plain = plain and all(convert in _EXACT or convert is _identity for _, convert, _ in fields)
    body = []
    arguments = []
    for index, (name, convert, positional) in enumerate(fields):
        local = f"v{index}"
        body.append(f"        {local} = value[{name!r}]")
        if convert in _EXACT:
            namespace[f"t{index}"] = _EXACT[convert]
            body.append(f"        if type({local}) is not t{index}: return checked(value)")
        elif convert is not _identity:
            namespace[f"c{index}"] = convert
            body.append(f"        {local} = c{index}({local})")
        # Fields before any keyword-only one are passed by position: cheaper than by name.
        arguments.append(local if positional else f"{name}={local}")
    source = "\n".join(
        [
            "def decode(value):",
            # As many keys as fields, and each field found: then no key is unknown either.
            f"    if type(value) is not dict or len(value) != {len(fields)}: return checked(value)",
            "    try:",
            *body,
            "    except (KeyError, CodecError): return checked(value)",
            "    instance = new(cls)\n    instance.__dict__.update(value)\n    return instance"
            if plain
            else f"    return cls({', '.join(arguments)})",
        ]
    )
    namespace["CodecError"] = CodecError
    exec(source, namespace)  # the source is built from field names only, never from data
    decode: Convert = namespace["decode"]
    return decode


def _field_hints(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    try:
        hints = typing.get_type_hints(cls)
    except NameError as error:
        raise CodecError(f"cannot resolve the type hints of {cls.__name__}: {error}") from None
    return [(f, hints[f.name]) for f in dataclasses.fields(cls)]


@cache
def encoder(hint: Any) -> Convert:
    """A function turning a value of type `hint` into JSON-ready data."""
    return _compile(hint, decoding=False)


@cache
def decoder(hint: Any) -> Convert:
    """A function turning JSON data back into a value of type `hint`; raises `CodecError`."""
    return _compile(hint, decoding=True)


def _compile(hint: Any, *, decoding: bool) -> Convert:
    convert = decoder if decoding else encoder
    if hint is Any or hint is object:
        return _identity
    if hint is type(None) or hint is None:
        return _literal((None,))
    if hint in (str, int, bool):
        return _checked((hint,), hint.__name__) if decoding else _identity
    if hint is float:
        if not decoding:
            return _identity
        number = _checked((int, float), "a number")
        return lambda value: float(number(value))
    if hint is Decimal:
        return Decimal if decoding else str
    if hint is datetime:
        return datetime.fromisoformat if decoding else datetime.isoformat
    if hint is date:
        return date.fromisoformat if decoding else date.isoformat
    if hint is UUID:
        return UUID if decoding else str
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint if decoding else (lambda v: v.value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint) if decoding else _dataclass_encoder(hint)

    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Literal:
        return _literal(args)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            return _optional(convert(rest[0]))
        raise CodecError(f"only `X | None` unions can be stored, not {hint!r}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _sequence(
                convert(args[0]), tuple if decoding else list, list if decoding else None
            )
        if args == ((),) or not args:
            return _sequence(_identity, tuple if decoding else list)
        inners = tuple(convert(a) for a in args)
        return _fixed_tuple(inners, tuple if decoding else list, decoding)
    if origin in (list, frozenset, set):
        (item,) = args
        build: Callable[[Any], Any] = origin if decoding else list
        return _sequence(convert(item), build, list if decoding else None)
    if origin in (dict, Mapping):
        key, value = args
        if key is not str:
            raise CodecError(f"only str keys can be stored in a mapping, not {hint!r}")
        return _mapping(convert(value), decoding)
    raise CodecError(f"emit cannot store values of type {hint!r}")


def to_json(value: Any) -> str:
    """Compact JSON text for JSON-ready data, as emit stores it (readable non-ASCII text)."""
    return _json_encoder.encode(value)


def from_json(text: str) -> Any:
    """The value of JSON text; raises `ValueError` if it is not one JSON value.

    Text as `to_json` writes it (no surrounding space) takes the decoder's shortest path, less
    than half the cost of `json.loads` for an event: it adds up when a long stream is replayed.
    """
    try:
        value, end = _scan_once(text, 0)  # what `raw_decode` calls, without its Python frame
    except (ValueError, StopIteration):
        end = -1
    return value if end == len(text) else json.loads(text)


_json_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_json_decoder = json.JSONDecoder()
_scan_once: Callable[[str, int], tuple[Any, int]] = _json_decoder.scan_once  # type: ignore[attr-defined]


def check_storable(cls: type) -> None:
    """Raise `CodecError` now, at set-up, if a dataclass has a field emit cannot store."""
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise CodecError(f"{cls!r} is not a dataclass")
    encoder(cls)
    decoder(cls)
