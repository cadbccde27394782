"""What the database cannot store, found in a JSON value before a write fails on it.

PostgreSQL's text and jsonb refuse NUL (U+0000), and JSON columns hold integers of 64 bits: a
record that breaks either is invalid input, named by field, never a failed write. File loads
and the API check alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_NUL = "\x00"
_INT64 = range(-(2**63), 2**63)


def _field(parent: str, key: object) -> str:
    # Named without the NUL a key may hold: field names are shown, and kept with rejections.
    name = str(key).replace(_NUL, "\\u0000")
    return f"{parent}.{name}" if parent else name


def unstorable_fields(value: Any, field: str = "") -> list[dict[str, str]]:
    r"""Where a JSON value holds what the database cannot store, as ``{field, message}``.

    PostgreSQL's text and jsonb refuse NUL (U+0000) and JSON columns hold integers of 64 bits:
    a body that breaks either is invalid input, never a failed write.

    >>> [e["field"] for e in unstorable_fields({"name": "A\x00B", "ids": [7, 2**64]})]
    ['name', 'ids.1']
    """
    errors: list[dict[str, str]] = []
    if isinstance(value, str) and _NUL in value:
        errors.append({"field": field, "message": "text must not contain NUL (U+0000)"})
    elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        errors.append({"field": field, "message": "integers must fit in 64 bits"})
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = _field(field, key)
            if _NUL in str(key):
                errors.append({"field": name, "message": "names must not contain NUL (U+0000)"})
            errors.extend(unstorable_fields(item, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.extend(unstorable_fields(item, _field(field, index)))
    return errors


# In serialised JSON: an escaped NUL, or a number long enough to overflow 64 bits. Both are
# substring tests, run on every record of a load: digit runs are found in the text's bytes
# with every digit mapped to "1" and everything else to "0" (a table look-up a byte in C, a
# fifth of the time of a regex for 19 digits; UTF-8 puts no ASCII byte inside a wider
# character).
_ESCAPED_NUL = "\\u0000"
_DIGIT_MARKS = bytes(0x31 if 0x30 <= b <= 0x39 else 0x30 for b in range(256))
_LONG_DIGIT_RUN = b"1" * 19


def unstorable_json(text: str) -> list[dict[str, str]]:
    r"""`unstorable_fields` of a serialised record; a cheap text search first, a walk if needed.

    >>> unstorable_json('{"name": "Acme", "n": 12}')
    []
    >>> [e["field"] for e in unstorable_json('{"name": "A\\u0000B", "n": 123456789012345678901}')]
    ['name', 'n']
    """
    if _ESCAPED_NUL not in text and _LONG_DIGIT_RUN not in text.encode().translate(_DIGIT_MARKS):
        return []
    # The standard library's parser: it reads integers of any size (orjson refuses them).
    return unstorable_fields(json.loads(text))
