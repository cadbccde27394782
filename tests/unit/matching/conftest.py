"""Shared fixtures: a small customer world with roles, seen by two source systems, and a
small product catalogue (sizes of product families), listed by a shop and by a feed."""

from __future__ import annotations

import random
from typing import Any

import pytest

import matching as m

_STREETS = ["Main Street", "Harbour Road", "Mill Lane", "Kingsway", "Station Road", "Elm Avenue"]
_CITIES = [
    ("Berlin", "10115", "DE"),
    ("Hamburg", "20095", "DE"),
    ("London", "SW1A 1AA", "GB"),
    ("Leeds", "LS1 4AP", "GB"),
    ("Lyon", "69001", "FR"),
    ("Paris", "75001", "FR"),
]
_WORDS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Massive",
    "Dynamic",
    "Oceanic",
    "Nakatomi",
    "Gringotts",
    "Monarch",
    "Prestige",
    "Sirius",
    "Virtucon",
    "Zorg",
    "Aperture",
    "Black Mesa",
]
_SECOND = ["Tools", "Logistics", "Foods", "Systems", "Chemicals", "Textiles", "Motors", "Energy"]


def _typo(text: str, rng: random.Random) -> str:
    if len(text) < 4:
        return text
    i = rng.randrange(1, len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def customer_world(n_companies: int = 80, seed: int = 7) -> list[dict[str, Any]]:
    """Each company: one legal entity and two ship-to sites, each seen by two systems."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for c in range(n_companies):
        name = f"{_WORDS[c % len(_WORDS)]} {_SECOND[(c // len(_WORDS)) % len(_SECOND)]} {c}"
        city, postcode, country = _CITIES[c % len(_CITIES)]
        form = {"DE": "GmbH", "GB": "Ltd", "FR": "SARL"}[country]
        sites = [(None, f"{rng.randint(1, 300)} {rng.choice(_STREETS)}", "legal_entity")]
        sites += [(s, f"{rng.randint(1, 300)} {rng.choice(_STREETS)}", "ship_to") for s in (1, 2)]
        for site, street, role in sites:
            entity = f"C{c}-{site or 0}"
            for source in ("ERP", "CRM"):
                noisy = source == "CRM" and rng.random() < 0.5
                records.append(
                    {
                        "id": f"{source}-{entity}",
                        "entity_id": entity,
                        "source": source,
                        "role": role,
                        "name": (_typo(name, rng) if noisy else name)
                        + (" " + form if source == "ERP" else " " + form.upper()),
                        "address": street if source == "ERP" else street.replace("Street", "St"),
                        "city": city,
                        "postal_code": postcode,
                        "country": country
                        if source == "ERP"
                        else {"DE": "Germany", "GB": "UK", "FR": "FRA"}[country],
                        "phones": [f"+49 30 {1000000 + c * 10 + (site or 0)}"],
                        "emails": [
                            f"orders{site or 0}@{name.split(maxsplit=1)[0].lower()}{c}.example"
                        ],
                        "website": f"www.{name.split(maxsplit=1)[0].lower()}{c}.example",
                        "tax_ids": [],
                    }
                )
    return records


@pytest.fixture(scope="session")
def customers() -> list[dict[str, Any]]:
    return customer_world()


@pytest.fixture(scope="session")
def customer_model(customers: list[dict[str, Any]]) -> m.MatchModel:
    spec = m.default_customer_spec()
    return m.train(m.standardise(customers, spec), spec, seed=1)


_BRANDS = ["Sony", "Bosch", "Makita", "Philips", "Kronmark", "Harvo", "Apple", "Logitech"]
_PRODUCTS = [
    ("Wireless Headphones", "audio"),
    ("Cordless Drill", "tools"),
    ("Ring Spanner", "tools"),
    ("Hex Nut", "fasteners"),
    ("USB-C Cable", "cables"),
    ("Desk Lamp", "lighting"),
    ("Keyboard", "computing"),
    ("Coffee Grinder", "kitchen"),
]


def _gtin(number: int) -> str:
    """A valid GTIN-13 (the check digit computed) from a running number."""
    body = f"400{number:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def product_world(n_families: int = 24, seed: int = 11) -> list[dict[str, Any]]:
    """Three sizes of each product family, each listed by a shop and by a feed."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for p in range(3 * n_families):
        family = p // 3
        brand = _BRANDS[family % len(_BRANDS)]
        product, category = _PRODUCTS[(family // len(_BRANDS) + family) % len(_PRODUCTS)]
        size = (10, 13, 19)[p % 3]
        mpn = f"{brand[:2].upper()}{1000 + family}-{size}"
        title = f"{brand} {product} {size} mm {rng.choice(['black', 'silver', 'blue'])}"
        price = float(rng.randint(5, 400))
        gtin = _gtin(p) if p % 3 else None
        for source in ("shop", "feed"):
            noisy = source == "feed"
            records.append(
                {
                    "id": f"{source}-{p}",
                    "product_id": str(p),
                    "brand": brand.upper() if noisy else brand,
                    "name": _typo(title, rng) if noisy and rng.random() < 0.4 else title,
                    "mpn": mpn.replace("-", "/") if noisy else mpn,
                    "gtin": ("0" + gtin if noisy else gtin) if gtin else None,
                    "price": round(price * (1.03 if noisy else 1.0), 2),
                    "category": None if noisy and rng.random() < 0.3 else category,
                }
            )
    return records


@pytest.fixture(scope="session")
def products() -> list[dict[str, Any]]:
    return product_world()


@pytest.fixture(scope="session")
def product_model(products: list[dict[str, Any]]) -> m.MatchModel:
    spec = m.default_product_spec()
    return m.train(m.standardise(products, spec), spec, seed=1)
