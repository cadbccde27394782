"""The rules of a hierarchy, declared as data.

Roles and relation types are plain strings so that a deployment can add its own (a payer, a
buying group) in configuration, without code. `DEFAULT_RULES` is the distribution hierarchy
the hub ships with: corporate groups of legal entities, and under a legal entity its sold-to,
bill-to and ship-to accounts. Edges point from the child to the parent.
"""

from collections.abc import Mapping
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Role(StrEnum):
    """The node roles of the default rules."""

    LEGAL_ENTITY = "legal_entity"
    SOLD_TO = "sold_to"
    BILL_TO = "bill_to"
    SHIP_TO = "ship_to"


class Relation(StrEnum):
    """The relation types of the default rules; each reads "child <relation> parent"."""

    SUBSIDIARY_OF = "subsidiary_of"
    SOLD_TO_OF = "sold_to_of"
    BILL_TO_OF = "bill_to_of"
    SHIP_TO_OF = "ship_to_of"


class RelationRule(BaseModel):
    """Which roles one relation type may connect, and how long a chain of it may grow.

    `max_depth` counts edges of this relation on one chain: with 2, a legal entity may have a
    parent and a grandparent by `subsidiary_of`, but not a great-grandparent.

    >>> rule = RelationRule(child_roles=frozenset({"ship_to"}), parent_roles=frozenset({"bill_to"}))
    >>> rule.max_depth
    1
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    child_roles: frozenset[str]
    parent_roles: frozenset[str]
    max_depth: int = Field(default=1, ge=1)


class HierarchyRules(BaseModel):
    """Every role, every relation type and its rule, and which roles must have a parent.

    `required_parent_roles` maps a role to the parent roles one of which it needs; a node of
    that role without such a parent is reported as an orphan (a warning, not an error: the
    parent is often simply not loaded yet).

    Rules load from plain data, such as a JSON or TOML configuration file:

    >>> rules = HierarchyRules.model_validate({
    ...     "roles": ["group", "member"],
    ...     "relations": {"member_of": {"child_roles": ["member"], "parent_roles": ["group"]}},
    ...     "required_parent_roles": {"member": ["group"]},
    ... })
    >>> rules.relations["member_of"].max_depth
    1
    >>> HierarchyRules(roles={"group"}, relations=rules.relations)
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for HierarchyRules
      Value error, relation 'member_of' names undeclared roles: ['member'] ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    roles: frozenset[str]
    relations: Mapping[str, RelationRule]
    required_parent_roles: Mapping[str, frozenset[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _roles_are_declared(self) -> Self:
        # A typo in a role name would otherwise silently turn every edge into a mismatch.
        for name, rule in self.relations.items():
            undeclared = (rule.child_roles | rule.parent_roles) - self.roles
            if undeclared:
                raise ValueError(f"relation {name!r} names undeclared roles: {sorted(undeclared)}")
        for role, parent_roles in self.required_parent_roles.items():
            unknown = ({role} | parent_roles) - self.roles
            if unknown:
                raise ValueError(
                    f"required parent of {role!r} names undeclared roles: {sorted(unknown)}"
                )
        return self


DEFAULT_RULES = HierarchyRules(
    roles=frozenset(Role),
    relations={
        Relation.SUBSIDIARY_OF: RelationRule(
            child_roles=frozenset({Role.LEGAL_ENTITY}),
            parent_roles=frozenset({Role.LEGAL_ENTITY}),
            # Real corporate trees rarely pass ten levels; deeper is almost always a loop
            # broken by hand or a mis-keyed parent.
            max_depth=10,
        ),
        Relation.SOLD_TO_OF: RelationRule(
            child_roles=frozenset({Role.SOLD_TO}), parent_roles=frozenset({Role.LEGAL_ENTITY})
        ),
        Relation.BILL_TO_OF: RelationRule(
            child_roles=frozenset({Role.BILL_TO}),
            parent_roles=frozenset({Role.LEGAL_ENTITY, Role.SOLD_TO}),
        ),
        Relation.SHIP_TO_OF: RelationRule(
            child_roles=frozenset({Role.SHIP_TO}),
            parent_roles=frozenset({Role.BILL_TO, Role.SOLD_TO, Role.LEGAL_ENTITY}),
        ),
    },
    required_parent_roles={
        # A ship-to hung directly on a legal entity is allowed, but nobody can invoice it.
        Role.SHIP_TO: frozenset({Role.BILL_TO, Role.SOLD_TO}),
        Role.BILL_TO: frozenset({Role.LEGAL_ENTITY, Role.SOLD_TO}),
    },
)
"""The distribution hierarchy the hub ships with."""
