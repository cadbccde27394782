"""The rules are data: the shipped default, loading from plain data, and what is refused."""

import pydantic
import pytest

from hierarchy import DEFAULT_RULES, HierarchyRules, RelationRule


def test_default_rules_declare_the_distribution_hierarchy() -> None:
    relations = DEFAULT_RULES.relations
    assert DEFAULT_RULES.roles == {"legal_entity", "sold_to", "bill_to", "ship_to"}
    assert set(relations) == {"subsidiary_of", "sold_to_of", "bill_to_of", "ship_to_of"}
    assert relations["subsidiary_of"].child_roles == {"legal_entity"}
    assert relations["subsidiary_of"].parent_roles == {"legal_entity"}
    assert relations["sold_to_of"].child_roles == {"sold_to"}
    assert relations["sold_to_of"].parent_roles == {"legal_entity"}
    assert relations["bill_to_of"].child_roles == {"bill_to"}
    assert relations["bill_to_of"].parent_roles == {"legal_entity", "sold_to"}
    assert relations["ship_to_of"].child_roles == {"ship_to"}
    assert relations["ship_to_of"].parent_roles == {"bill_to", "sold_to", "legal_entity"}
    assert relations["subsidiary_of"].max_depth == 10
    assert DEFAULT_RULES.required_parent_roles == {
        "ship_to": {"bill_to", "sold_to"},
        "bill_to": {"legal_entity", "sold_to"},
    }


def test_rules_round_trip_through_json() -> None:
    dumped = DEFAULT_RULES.model_dump_json()
    assert HierarchyRules.model_validate_json(dumped) == DEFAULT_RULES


def test_a_relation_naming_an_undeclared_role_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="undeclared roles: \\['payer'\\]"):
        HierarchyRules(
            roles=frozenset({"bill_to"}),
            relations={
                "pays_for": RelationRule(
                    child_roles=frozenset({"bill_to"}), parent_roles=frozenset({"payer"})
                )
            },
        )


def test_a_required_parent_naming_an_undeclared_role_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="undeclared roles: \\['payer'\\]"):
        HierarchyRules(
            roles=frozenset({"bill_to"}),
            relations={},
            required_parent_roles={"bill_to": frozenset({"payer"})},
        )


def test_a_depth_limit_below_one_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 1"):
        RelationRule(child_roles=frozenset({"a"}), parent_roles=frozenset({"a"}), max_depth=0)


def test_an_unknown_setting_is_refused_rather_than_ignored() -> None:
    with pytest.raises(pydantic.ValidationError, match="max_dept"):
        RelationRule.model_validate({"child_roles": ["a"], "parent_roles": ["a"], "max_dept": 3})


def test_rules_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        DEFAULT_RULES.roles = frozenset()  # type: ignore[misc]
