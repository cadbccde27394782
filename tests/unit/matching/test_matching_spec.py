"""Specs are validated data and survive a JSON round trip."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

import matching as m
from matching.spec import Comparison, Level


@pytest.mark.parametrize(
    "factory", [m.default_customer_spec, m.default_product_spec, m.person_spec]
)
def test_shipped_specs_round_trip(factory) -> None:
    spec = factory()
    assert m.MatchSpec.model_validate_json(spec.model_dump_json()) == spec


def test_levels_must_start_with_null_and_end_with_else() -> None:
    with pytest.raises(ValidationError):
        Comparison(
            name="x",
            column="x",
            levels=(Level(label="e", kind="exact"), Level(label="else", kind="else")),
        )
    with pytest.raises(ValidationError):
        Level(label="f", kind="fuzzy", threshold=0.9)  # no scorer


def test_thresholds_are_ordered() -> None:
    with pytest.raises(ValidationError):
        m.Thresholds(match=0.5, review=0.9)


def test_person_spec_uses_only_given_fields() -> None:
    spec = m.person_spec(fields=("given_name", "surname", "date_of_birth"))
    columns = {c for comp in spec.comparisons for c in comp.columns}
    assert columns <= {"given_name", "surname", "date_of_birth"}
    assert all(r.columns <= columns for r in spec.blocking_rules)
