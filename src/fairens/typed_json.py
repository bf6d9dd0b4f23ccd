"""Frozen dataclasses to JSON and back, checked against their type hints: one writer and
one reader for every typed file of fairens (fairness.json, the export's compression
report). A field whose metadata holds ``optional`` is left out of the JSON when it is None
and may be absent when read; every other field must be there, and no other key may."""

from __future__ import annotations

import types
import typing
from dataclasses import fields, is_dataclass
from enum import Enum
from typing import Any, Union

OPTIONAL = {"optional": True}


class SchemaMismatch(ValueError):
    """Data that does not fit the dataclass it is read as; the message names the place."""


def encode(value: Any) -> Any:
    """JSON-ready data of a dataclass (fields in declaration order), enum, dict or list."""
    if is_dataclass(value):
        out = {}
        for f in fields(value):
            item = getattr(value, f.name)
            if item is None and f.metadata.get("optional"):
                continue
            out[f.name] = encode(item)
        return out
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {key: encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode(item) for item in value]
    return value


def decode(kind: Any, value: Any, path: str = "") -> Any:
    """``value`` (parsed JSON) read as ``kind``: a dataclass, ``X | None``, ``dict[str, X]``,
    ``list[X]``, an enum, bool, int, float or str. Numbers are kept as they are (an int
    where a float is expected stays an int), so that writing back gives the same text."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        return decode(next(a for a in args if a is not type(None)), value, path)
    if is_dataclass(kind):
        return _decode_dataclass(kind, value, path)
    if origin is dict:
        _expect(isinstance(value, dict), value, "an object", path)
        return {key: decode(args[1], item, f"{path}.{key}") for key, item in value.items()}
    if origin is list:
        _expect(isinstance(value, list), value, "a list", path)
        return [decode(args[0], item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(kind, type) and issubclass(kind, Enum):
        allowed = [m.value for m in kind]
        _expect(value in allowed, value, f"one of {', '.join(allowed)}", path)
        return kind(value)
    check, what = _SCALARS[kind]
    _expect(check(value), value, what, path)
    return value


_SCALARS = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    float: (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}
_HINTS: dict[type, dict[str, Any]] = {}


def _decode_dataclass(cls: type, value: Any, path: str) -> Any:
    _expect(isinstance(value, dict), value, "an object", path)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    unknown = sorted(set(value) - {f.name for f in fields(cls)})
    if unknown:
        raise SchemaMismatch(f"unexpected key {unknown[0]!r} at {path or 'the top'}")
    given = {}
    for f in fields(cls):
        if f.name in value:
            given[f.name] = decode(_HINTS[cls][f.name], value[f.name], f"{path}.{f.name}")
        elif not f.metadata.get("optional"):
            raise SchemaMismatch(f"missing key {f.name!r} at {path or 'the top'}")
    return cls(**given)


def _expect(ok: bool, value: Any, what: str, path: str) -> None:
    if not ok:
        shown = repr(value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise SchemaMismatch(f"{path.lstrip('.') or 'the top'} should be {what}, got {shown}")
