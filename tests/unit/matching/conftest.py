"""Shared fixtures: a small customer world with roles, seen by two source systems."""

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
