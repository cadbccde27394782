"""What the database cannot store, found in a record's serialised JSON before a write fails."""

from __future__ import annotations

import pytest

from mdm.canonical.storable import unstorable_json


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        ('{"n": 9223372036854775807}', []),  # 2**63 - 1: fits
        ('{"n": 9223372036854775808}', ["n"]),  # 2**63, the first 19-digit number too big
        ('{"n": -9223372036854775809}', ["n"]),
        ('{"n": 999999999999999999}', []),  # 18 digits never overflow
        ('{"ids": [1, 123456789012345678901]}', ["ids.1"]),
        ('{"sku": "1234567890123456789012"}', []),  # a long run of digits in text is text
        ('{"name": "Zürich 9223372036854775808"}', []),
        ('{"name": "Zürich", "n": 18446744073709551616}', ["n"]),
        ('{"name": "A\\u0000B"}', ["name"]),
        ('{"name": "Acme", "n": 12}', []),
    ],
)
def test_unstorable_json_finds_long_numbers_and_nul_and_nothing_else(
    text: str, fields: list[str]
) -> None:
    assert [e["field"] for e in unstorable_json(text)] == fields
