"""Small named transforms that a mapping applies to source values, in order.

A transform is written in TOML either as a bare name (``"trim"``) or as a one-key table whose
key is the name and whose value is its argument, optionally with further options
(``{ split = ",", index = 0 }``). Each one is compiled once, when the mapping loads, so that
a mistake in a mapping file fails at load with the field named, never halfway through a file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

Value = Any
Transform = Callable[[Value], Value]


class TransformError(ValueError):
    """A transform could not be applied to a value."""


def _each(fn: Callable[[Any], Any]) -> Transform:
    """Apply a scalar function to a value or to every item of a list, keeping None as None."""

    def apply(value: Value) -> Value:
        if value is None:
            return None
        if isinstance(value, list):
            return [fn(v) for v in value if v is not None]
        return fn(value)

    return apply


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _empty_to_none(value: Value) -> Value:
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, list):
        kept = [v for v in value if not (v is None or (isinstance(v, str) and not v.strip()))]
        return kept or None
    return value


def _number(decimal: str) -> Transform:
    def convert(value: Any) -> float | None:
        if isinstance(value, int | float):
            return float(value)
        text = _text(value).strip().replace(" ", "")
        if not text:
            return None
        # The thousands separator is whichever of "." and "," is not the decimal mark.
        text = text.replace(".", "").replace(",", ".") if decimal == "," else text.replace(",", "")
        try:
            return float(text)
        except ValueError as exc:
            raise TransformError(f"'{value}' is not a number") from exc

    return _each(convert)


def _date(fmt: str) -> Transform:
    def convert(value: Any) -> str | None:
        text = _text(value).strip()
        if not text:
            return None
        try:
            return datetime.strptime(text, fmt).date().isoformat()  # noqa: DTZ007 - a date
        except ValueError as exc:
            raise TransformError(f"'{value}' does not match the date format '{fmt}'") from exc

    return _each(convert)


def _split(sep: str, options: Mapping[str, Any]) -> Transform:
    index = options.get("index")

    def convert(value: Any) -> Any:
        parts = [p.strip() for p in _text(value).split(sep)]
        parts = [p for p in parts if p]
        if index is None:
            return parts
        return parts[index] if -len(parts) <= index < len(parts) else None

    def apply(value: Value) -> Value:
        if value is None:
            return None
        if isinstance(value, list):
            if index is not None:
                return [picked for v in value if (picked := convert(v)) is not None]
            return [part for v in value for part in (convert(v) or [])]
        return convert(value)

    return apply


def _join(sep: str) -> Transform:
    def apply(value: Value) -> Value:
        if isinstance(value, list):
            parts = [_text(v).strip() for v in value if v is not None and _text(v).strip()]
            return sep.join(parts) or None
        return value

    return apply


def _lookup(table: Mapping[str, Any], options: Mapping[str, Any]) -> Transform:
    has_default = "default" in options
    default = options.get("default")
    folded = {str(k).strip().casefold(): v for k, v in table.items()}

    def convert(value: Any) -> Any:
        key = _text(value).strip().casefold()
        if key in folded:
            return folded[key]
        if has_default:
            return default
        raise TransformError(f"'{value}' is not in the lookup table ({', '.join(table)})")

    return _each(convert)


def _regex(pattern: str, options: Mapping[str, Any]) -> Transform:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
    group = options.get("group", 0)

    def convert(value: Any) -> Any:
        match = compiled.search(_text(value))
        return match.group(group) if match else None

    return _each(convert)


def _replace(args: Any) -> Transform:
    if not (isinstance(args, list) and len(args) == 2):
        raise ValueError("replace takes [old, new]")
    old, new = str(args[0]), str(args[1])
    return _each(lambda v: _text(v).replace(old, new))


def _default(default: Any) -> Transform:
    return lambda value: default if _empty_to_none(value) is None else value


def _prefix(prefix: str) -> Transform:
    return _each(lambda v: prefix + _text(v))


def _bool(value: Any) -> bool | None:
    text = _text(value).strip().casefold()
    if text in {"1", "true", "yes", "y", "x", "t"}:
        return True
    if text in {"0", "false", "no", "n", "", "f"}:
        return False
    raise TransformError(f"'{value}' is not a yes/no value")


SIMPLE: dict[str, Transform] = {
    "trim": _each(lambda v: _text(v).strip()),
    "upper": _each(lambda v: _text(v).upper()),
    "lower": _each(lambda v: _text(v).lower()),
    "title": _each(lambda v: _text(v).title()),
    "digits": _each(lambda v: re.sub(r"\D", "", _text(v))),
    "strip_leading_zeros": _each(lambda v: _text(v).lstrip("0") or "0"),
    "none_if_empty": _empty_to_none,
    "number": _number("."),
    "bool": _each(_bool),
    "text": _each(_text),
}

WITH_ARGUMENT: dict[str, Callable[[Any, Mapping[str, Any]], Transform]] = {
    "split": lambda arg, opts: _split(str(arg), opts),
    "join": lambda arg, _opts: _join(str(arg)),
    "lookup": _lookup,
    "date": lambda arg, _opts: _date(str(arg)),
    "regex": lambda arg, opts: _regex(str(arg), opts),
    "replace": lambda arg, _opts: _replace(arg),
    "default": lambda arg, _opts: _default(arg),
    "prefix": lambda arg, _opts: _prefix(str(arg)),
    "number": lambda arg, _opts: _number(str(arg)),
}
OPTIONS = {"index", "default", "group"}


def compile_transform(spec: Any, tables: Mapping[str, Mapping[str, Any]]) -> Transform:
    """Compile one transform as written in a mapping file.

    ``tables`` holds the mapping's named lookup tables, so ``{ lookup = "roles" }`` can name one.

    >>> compile_transform({"split": ",", "index": 1}, {})("a, b, c")
    'b'
    >>> compile_transform("upper", {})(["de", "fr"])
    ['DE', 'FR']
    """
    if isinstance(spec, str):
        if spec not in SIMPLE:
            raise ValueError(f"unknown transform '{spec}' (known: {', '.join(sorted(SIMPLE))})")
        return SIMPLE[spec]
    if not isinstance(spec, Mapping):
        raise TypeError(f"a transform is a name or a table, not {spec!r}")
    # The first key names the transform; the rest are its options ("default" is both a
    # transform of its own and an option of lookup).
    name = next(iter(spec), None)
    unknown = [k for k in list(spec)[1:] if k not in OPTIONS]
    if name not in WITH_ARGUMENT or unknown:
        known = ", ".join(sorted(WITH_ARGUMENT))
        raise ValueError(
            f"transform {dict(spec)!r} must start with one of: {known}; options: "
            f"{', '.join(sorted(OPTIONS))}"
        )
    options = {k: v for k, v in spec.items() if k != name}
    arg = spec[name]
    if name == "lookup" and isinstance(arg, str):
        if arg not in tables:
            raise ValueError(f"lookup table '{arg}' is not defined under [tables]")
        arg = tables[arg]
    if name == "lookup" and not isinstance(arg, Mapping):
        raise ValueError("lookup takes a table or the name of one under [tables]")
    return WITH_ARGUMENT[name](arg, options)
