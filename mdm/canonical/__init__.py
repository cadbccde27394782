"""Canonical models: the one shape every source's customers and products are mapped into."""

from mdm.canonical.models import (
    AccountRole,
    Address,
    AddressType,
    CanonicalRecord,
    Customer,
    EntityType,
    Identifier,
    ParentRef,
    Product,
    RecordStatus,
    RelationType,
    model_for,
)

__all__ = [
    "AccountRole",
    "Address",
    "AddressType",
    "CanonicalRecord",
    "Customer",
    "EntityType",
    "Identifier",
    "ParentRef",
    "Product",
    "RecordStatus",
    "RelationType",
    "model_for",
]
