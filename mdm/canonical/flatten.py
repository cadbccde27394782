"""Flatten canonical records into the plain field → value mappings the matching engine reads.

The matching library knows nothing of the canonical models; this is the one place that decides
which canonical fields it sees and under which names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Which address a customer is matched on, by account role: a ship-to is its shipping site,
# a bill-to its billing address, a legal entity its registered address.
_ADDRESS_PREFERENCE: dict[str, tuple[str, ...]] = {
    "ship_to": ("shipping", "billing", "legal", "mailing", "other"),
    "bill_to": ("billing", "legal", "mailing", "shipping", "other"),
    "sold_to": ("billing", "legal", "mailing", "shipping", "other"),
    "legal_entity": ("legal", "billing", "mailing", "shipping", "other"),
}


def _pick_address(addresses: list[Mapping[str, Any]], role: str) -> Mapping[str, Any]:
    if not addresses:
        return {}
    order = _ADDRESS_PREFERENCE.get(role, _ADDRESS_PREFERENCE["legal_entity"])
    by_type = {a.get("type", "other"): a for a in addresses}
    for kind in order:
        if kind in by_type:
            return by_type[kind]
    return addresses[0]


def flatten_customer(record_id: str, source: str, canonical: Mapping[str, Any]) -> dict[str, Any]:
    """The flat matching view of a canonical customer.

    >>> flatten_customer("erp:1", "erp", {"source_id": "1", "legal_name": "Acme GmbH",
    ...     "account_role": "bill_to", "addresses": [{"type": "billing", "lines": ["Hauptstr. 1"],
    ...     "city": "Berlin", "country": "DE"}]})["address"]
    'Hauptstr. 1'
    """
    role = str(canonical.get("account_role") or "legal_entity")
    person = " ".join(
        str(p) for p in (canonical.get("first_name"), canonical.get("last_name")) if p
    )
    address = _pick_address(list(canonical.get("addresses") or []), role)
    identifiers = list(canonical.get("identifiers") or [])
    duns = next((i.get("value") for i in identifiers if i.get("scheme") == "duns"), None)
    return {
        "id": record_id,
        "source": source,
        "role": role,
        "name": canonical.get("legal_name") or canonical.get("trading_name") or person or None,
        "trading_name": canonical.get("trading_name"),
        "tax_ids": [
            {"scheme": i.get("scheme"), "value": i.get("value"), "country": i.get("country")}
            for i in identifiers
            if i.get("scheme") != "duns"
        ],
        "duns": duns,
        "address": ", ".join(address.get("lines") or []) or None,
        "city": address.get("city"),
        "region": address.get("region"),
        "postal_code": address.get("postal_code"),
        "country": address.get("country"),
        "phones": list(canonical.get("phones") or []),
        "emails": list(canonical.get("emails") or []),
        "website": canonical.get("website"),
    }


def flatten_product(record_id: str, source: str, canonical: Mapping[str, Any]) -> dict[str, Any]:
    """The flat matching view of a canonical product.

    >>> flatten_product("shop:9", "shop", {"source_id": "9", "name": "Drill X1",
    ...     "gtin": "04006381333931", "price": 12.5})["gtin"]
    '04006381333931'
    """
    return {
        "id": record_id,
        "source": source,
        "sku": canonical.get("sku"),
        "gtin": canonical.get("gtin"),
        "mpn": canonical.get("mpn"),
        "brand": canonical.get("brand") or canonical.get("manufacturer"),
        "name": canonical.get("name"),
        "description": canonical.get("description"),
        "category": canonical.get("category"),
        "uom": canonical.get("unit_of_measure"),
        "price": canonical.get("price"),
        "currency": canonical.get("currency"),
    }


def flatten(
    entity_type: str, record_id: str, source: str, canonical: Mapping[str, Any]
) -> dict[str, Any]:
    """The flat matching view of a canonical record of either entity type."""
    if entity_type == "customer":
        return flatten_customer(record_id, source, canonical)
    return flatten_product(record_id, source, canonical)
