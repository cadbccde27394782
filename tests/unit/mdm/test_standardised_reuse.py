"""A bulk run takes the records training standardised, and standardises only the others."""

from __future__ import annotations

from typing import Any, NamedTuple

import pandas as pd
import pytest

from mdm.linkage import service as linkage


class Pending(NamedTuple):
    id: int
    version: int


CUSTOMERS = [
    # Flattened as the hub flattens a customer (`mdm.canonical.flatten`).
    {"name": "Acme Widgets GmbH", "city": "Berlin", "postal_code": "10115", "country": "DE"},
    {"name": "Globex Corporation", "city": "Springfield", "phones": ["+1 555 0100"]},
    {"name": "Initech", "city": "Austin", "country": "US", "emails": ["info@initech.example"]},
    {"name": "Acme Widgets", "city": "Berlin", "country": "DE", "tax_ids": ["DE123456789"]},
    {"name": "Umbrella AG", "city": "Basel", "country": "CH"},
]


def _flat(rid: int, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(rid), "source": "erp", **fields}


def test_a_chunk_takes_kept_records_in_its_order_and_standardises_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = linkage.spec_for("customer")
    flat = [_flat(rid, fields) for rid, fields in enumerate(CUSTOMERS, start=1)]
    reuse = linkage.Standardised()
    # Training's sample: records 1, 2, 3 and 5 at version 1, in another order.
    sample = [flat[4], flat[0], flat[2], flat[1]]
    reuse.keep(linkage.standardise(sample, spec), [5, 1, 3, 2], [1, 1, 1, 1])

    fresh: list[list[str]] = []
    real = linkage.standardise

    def counted(rows: list[dict[str, Any]], *args: Any, **kwargs: Any) -> pd.DataFrame:
        fresh.append([r["id"] for r in rows])
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(linkage, "standardise", counted)
    # Record 3 changed since (version 2), record 4 was not in the sample.
    pending = [Pending(3, 2), Pending(1, 1), Pending(4, 1), Pending(5, 1), Pending(2, 1)]
    chunk = [flat[p.id - 1] for p in pending]
    taken = reuse.take(pending, chunk, spec, 1)
    assert fresh == [["3", "4"]]
    expected = real(chunk, spec)
    # Every record's name and town are standardised values, not blanks the frames agree on.
    assert expected["name"].notna().all()
    assert expected["city"].notna().all()
    assert taken["id"].tolist() == ["3", "1", "4", "5", "2"]
    assert list(taken.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(taken.astype(object), expected.astype(object))
    # The stored features are the same as well.
    assert linkage._frame_records(taken) == linkage._frame_records(expected)

    # Every record kept, at its version: nothing is standardised.
    fresh.clear()
    kept = [Pending(1, 1), Pending(5, 1), Pending(2, 1)]
    again = reuse.take(kept, [flat[p.id - 1] for p in kept], spec, 1)
    assert fresh == []
    assert again["id"].tolist() == ["1", "5", "2"]
    assert again.index.tolist() == [0, 1, 2]


def test_nothing_kept_standardises_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = linkage.spec_for("customer")
    flat = [_flat(rid, fields) for rid, fields in enumerate(CUSTOMERS, start=1)]
    pending = [Pending(i, 1) for i in range(1, 6)]
    taken = linkage.Standardised().take(pending, flat, spec, 1)
    expected = linkage.standardise(flat, spec)
    pd.testing.assert_frame_equal(taken, expected)
