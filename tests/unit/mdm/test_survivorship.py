"""Survivorship: every strategy on tiny hand-made member sets with hand-worked winners."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mdm.canonical.models import Customer, Product
from mdm.golden.survivorship import (
    OVERRIDE,
    GoldenView,
    Member,
    Provenance,
    SurvivorshipRule,
    SurvivorshipSpec,
    changed_attributes,
    default_customer_survivorship,
    default_product_survivorship,
    survive,
)

CUSTOMER = default_customer_survivorship()
PRODUCT = default_product_survivorship()
NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def day(n: int) -> datetime:
    return datetime(2026, 1, n, tzinfo=UTC)


def member(record_id: int, source: str, rank: int, received: int, **canonical: Any) -> Member:
    return Member(record_id, source, f"{source}-{record_id}", rank, day(received), canonical)


def winner(view: GoldenView, attribute: str) -> tuple[str | None, int | None, str]:
    p = view.provenance[attribute]
    return p.source, p.record_id, p.rule


def spec_of(*rules: SurvivorshipRule, entity_type: str = "customer") -> SurvivorshipSpec:
    return SurvivorshipSpec.model_validate({"entity_type": entity_type, "rules": rules})


# --------------------------------------------------------------------------- source_priority


def test_source_priority_prefers_the_most_trusted_source_over_a_newer_one() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="ACME GmbH")
    crm = member(2, "crm", 5, received=9, legal_name="Acme")
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["legal_name"] == "ACME GmbH"
    assert view.provenance["legal_name"] == Provenance("erp", "erp-1", 1, "source_priority", day(1))


def test_source_order_beats_trust_rank_and_unlisted_sources_fall_back_to_it() -> None:
    spec = spec_of(
        SurvivorshipRule(attribute="legal_name", strategy="source_priority", source_order=["crm"])
    )
    erp = member(1, "erp", 1, received=1, legal_name="From ERP")
    shop = member(2, "shop", 2, received=1, legal_name="From shop")
    crm = member(3, "crm", 9, received=1, legal_name="From CRM")
    assert survive([erp, shop, crm], spec).attributes["legal_name"] == "From CRM"
    crm_without = member(3, "crm", 9, received=1, trading_name="x")
    view = survive([shop, crm_without, erp], spec)
    assert view.attributes["legal_name"] == "From ERP"
    assert winner(view, "legal_name") == ("erp", 1, "source_priority")


def test_source_priority_breaks_an_equal_trust_rank_by_recency() -> None:
    old = member(1, "dist_a", 4, received=2, legal_name="Old")
    new = member(2, "dist_b", 4, received=5, legal_name="New")
    view = survive([old, new], CUSTOMER)
    assert view.attributes["legal_name"] == "New"
    assert winner(view, "legal_name") == ("dist_b", 2, "source_priority")


def test_missing_and_blank_values_never_win() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="   ", first_name=None, last_name="Smith")
    crm = member(2, "crm", 5, received=1, legal_name="Acme", first_name="Jo")
    view = survive([erp, crm], CUSTOMER)
    assert view.attributes["legal_name"] == "Acme"
    assert view.attributes["first_name"] == "Jo"
    assert view.attributes["last_name"] == "Smith"
    assert winner(view, "legal_name") == ("crm", 2, "source_priority")


# --------------------------------------------------------------------------- most_recent


def test_most_recent_takes_the_latest_record() -> None:
    erp = member(1, "erp", 1, received=3, trading_name="Acme", status="active")
    crm = member(2, "crm", 5, received=7, trading_name="Acme Shop", status="blocked")
    shop = member(3, "shop", 3, received=5, trading_name="Acme Online")
    view = survive([erp, crm, shop], CUSTOMER)
    assert view.attributes["trading_name"] == "Acme Shop"
    assert view.attributes["status"] == "blocked"
    assert view.provenance["trading_name"] == Provenance("crm", "crm-2", 2, "most_recent", day(7))


def test_most_recent_ties_go_to_source_priority() -> None:
    erp = member(1, "erp", 1, received=4, trading_name="From ERP")
    crm = member(2, "crm", 5, received=4, trading_name="From CRM")
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["trading_name"] == "From ERP"
    assert winner(view, "trading_name") == ("erp", 1, "most_recent")


# --------------------------------------------------------------------------- most_frequent


def test_most_frequent_counts_normalised_values_and_credits_the_best_holder() -> None:
    erp = member(1, "erp", 1, received=1, account_role="bill_to", website="https://acme.de")
    crm = member(2, "crm", 5, received=1, account_role="sold_to", website="http://www.acme.com/")
    shop = member(3, "shop", 3, received=1, account_role="sold_to", website="ACME.com")
    view = survive([erp, crm, shop], CUSTOMER)
    # sold_to twice beats bill_to once; of the two holders the shop (rank 3) beats the CRM (5).
    assert view.attributes["account_role"] == "sold_to"
    assert winner(view, "account_role") == ("shop", 3, "most_frequent")
    # www.acme.com and ACME.com are one registered domain.
    assert view.attributes["website"] == "ACME.com"
    assert winner(view, "website") == ("shop", 3, "most_frequent")


def test_most_frequent_ties_go_to_source_priority() -> None:
    erp = member(1, "erp", 1, received=1, brand="Sony", name="x")
    shop = member(2, "shop", 3, received=1, brand="Bose", name="x")
    view = survive([shop, erp], PRODUCT)
    assert view.attributes["brand"] == "Sony"
    assert winner(view, "brand") == ("erp", 1, "most_frequent")


# --------------------------------------------------------------------------- most_complete


def test_most_complete_takes_the_longest_text() -> None:
    erp = member(1, "erp", 1, received=1, name="WH-1000XM4", description="Headphones")
    shop = member(2, "shop", 5, received=1, name="Sony WH-1000XM4 Wireless Headphones")
    view = survive([erp, shop], PRODUCT)
    assert view.attributes["name"] == "Sony WH-1000XM4 Wireless Headphones"
    assert winner(view, "name") == ("shop", 2, "most_complete")
    assert winner(view, "description") == ("erp", 1, "most_complete")


def test_most_complete_ties_go_to_source_priority() -> None:
    erp = member(1, "erp", 1, received=1, name="Cable AB")
    shop = member(2, "shop", 5, received=9, name="Cable CD")
    view = survive([shop, erp], PRODUCT)
    assert view.attributes["name"] == "Cable AB"
    assert winner(view, "name") == ("erp", 1, "most_complete")


# --------------------------------------------------------------------------- valid_first


def test_valid_first_prefers_a_valid_gtin_over_a_more_trusted_invalid_one() -> None:
    erp = member(1, "erp", 1, received=1, gtin="4006381333932")  # bad check digit
    shop = member(2, "shop", 5, received=1, gtin="4006381333931")
    view = survive([erp, shop], PRODUCT)
    assert view.attributes["gtin"] == "4006381333931"
    assert winner(view, "gtin") == ("shop", 2, "valid_first")


def test_valid_first_takes_the_most_frequent_valid_gtin_then_source_priority() -> None:
    erp = member(1, "erp", 1, received=1, gtin="036000291452")
    shop = member(2, "shop", 5, received=1, gtin="04006381333931")  # the same GTIN as dist's
    dist = member(3, "dist", 3, received=1, gtin="4006381333931")
    bad = member(4, "mkt", 2, received=1, gtin="123")
    view = survive([erp, shop, dist, bad], PRODUCT)
    assert view.attributes["gtin"] == "4006381333931"
    assert winner(view, "gtin") == ("dist", 3, "valid_first")
    # Without the second holder the two valid GTINs tie and the ERP wins.
    view = survive([erp, dist, bad], PRODUCT)
    assert view.attributes["gtin"] == "036000291452"


def test_valid_first_keeps_an_invalid_value_when_nothing_is_valid() -> None:
    erp = member(1, "erp", 1, received=1, gtin="4006381333932")
    shop = member(2, "shop", 5, received=1, gtin="123")
    assert survive([shop, erp], PRODUCT).attributes["gtin"] == "4006381333932"


# --------------------------------------------------------------------------- union: identifiers


def test_union_identifiers_put_valid_ones_first_and_drop_invalid_ones_of_a_valid_scheme() -> None:
    erp = member(
        1,
        "erp",
        1,
        received=1,
        identifiers=[
            {"scheme": "registration", "value": "HRB 12345", "country": "DE"},
            {"scheme": "vat", "value": "DE136695977", "country": "DE"},  # bad check digit
        ],
    )
    crm = member(
        2,
        "crm",
        5,
        received=1,
        identifiers=[{"scheme": "vat", "value": "136695976", "country": "DE"}],
    )
    shop = member(
        3,
        "shop",
        3,
        received=1,
        identifiers=[{"scheme": "vat", "value": "DE 136 695 976", "country": None}],
    )
    view = survive([crm, erp, shop], CUSTOMER)
    # The two spellings of the valid VAT are one; the shop (rank 3) holds it before the CRM.
    assert view.attributes["identifiers"] == [
        {"scheme": "vat", "value": "DE 136 695 976", "country": None},
        {"scheme": "registration", "value": "HRB 12345", "country": "DE"},
    ]
    prov = view.provenance["identifiers"]
    assert (prov.source, prov.record_id, prov.rule) == ("shop", 3, "union")
    assert prov.contributors == (("erp", "erp-1"), ("shop", "shop-3"), ("crm", "crm-2"))


def test_union_identifiers_keep_an_invalid_tax_id_when_no_valid_one_of_its_scheme_exists() -> None:
    erp = member(1, "erp", 1, received=1, identifiers=[{"scheme": "vat", "value": "DE136695977"}])
    crm = member(
        2,
        "crm",
        5,
        received=1,
        identifiers=[{"scheme": "duns", "value": "15-048-3782"}, {"scheme": "duns", "value": "1"}],
    )
    dist = member(3, "dist", 4, received=1, identifiers=[{"scheme": "duns", "value": "150483782"}])
    view = survive([erp, crm, dist], CUSTOMER)
    assert view.attributes["identifiers"] == [
        {"scheme": "duns", "value": "150483782"},
        {"scheme": "vat", "value": "DE136695977"},
    ]
    assert view.provenance["identifiers"].contributors == (
        ("erp", "erp-1"),
        ("dist", "dist-3"),
        ("crm", "crm-2"),
    )


# --------------------------------------------------------------------------- union: contact data


def test_union_dedupes_phones_written_in_different_formats() -> None:
    berlin = [{"type": "billing", "city": "Berlin", "country": "DE"}]
    erp = member(1, "erp", 1, received=1, addresses=berlin, phones=["(030) 123 45 67"])
    crm = member(2, "crm", 5, received=1, phones=["+49 30 1234567", "+49 30 7654321"])
    shop = member(3, "shop", 3, received=1, phones=["0049 30 1234567", "n/a"])
    view = survive([shop, crm, erp], CUSTOMER)
    assert view.attributes["phones"] == ["+49301234567", "n/a", "+49307654321"]
    prov = view.provenance["phones"]
    assert (prov.source, prov.record_id, prov.rule) == ("erp", 1, "union")
    assert prov.contributors == (("erp", "erp-1"), ("shop", "shop-3"), ("crm", "crm-2"))


def test_union_dedupes_emails_case_insensitively() -> None:
    erp = member(1, "erp", 1, received=1, emails=["Info@Acme.com"])
    crm = member(2, "crm", 5, received=1, emails=["info@acme.com", "sales@acme.com"])
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["emails"] == ["Info@Acme.com", "sales@acme.com"]


def test_union_parents_name_the_member_source_and_dedupe() -> None:
    erp = member(
        1, "erp", 1, received=1, parents=[{"relation": "subsidiary_of", "source_id": "100"}]
    )
    crm = member(
        2,
        "crm",
        5,
        received=1,
        parents=[
            {"relation": "subsidiary_of", "source_id": "100", "source": "erp"},
            {"relation": "subsidiary_of", "source_id": "C7"},
        ],
    )
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["parents"] == [
        {"relation": "subsidiary_of", "source_id": "100", "source": "erp"},
        {"relation": "subsidiary_of", "source_id": "C7", "source": "crm"},
    ]


# --------------------------------------------------------------------------- per address type


def test_addresses_survive_per_type_with_the_erp_owning_the_billing_address() -> None:
    erp_billing = {"type": "billing", "lines": ["Hauptstr. 1"], "city": "Berlin", "country": "DE"}
    crm_billing = {
        "type": "billing",
        "lines": ["Hauptstrasse 1", "Haus B"],
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    crm_shipping = {"type": "shipping", "lines": ["Lagerweg 5"], "city": "Potsdam"}
    empty: dict[str, Any] = {"type": "legal", "lines": [], "city": None}
    erp = member(1, "erp", 1, received=1, addresses=[erp_billing, empty])
    crm = member(2, "crm", 5, received=9, addresses=[crm_billing, crm_shipping])
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["addresses"] == [erp_billing, crm_shipping]
    assert winner(view, "addresses.billing") == ("erp", 1, "source_priority")
    assert winner(view, "addresses.shipping") == ("crm", 2, "source_priority")
    assert "addresses.legal" not in view.provenance
    assert view.provenance["addresses"].contributors == (("erp", "erp-1"), ("crm", "crm-2"))


def test_addresses_of_equally_trusted_sources_go_to_the_most_complete() -> None:
    thin = {"type": "billing", "lines": ["Hauptstr. 1"], "city": "Berlin"}
    full = {"type": "billing", "lines": ["Hauptstr. 1"], "city": "Berlin", "postal_code": "10115"}
    newer_thin = member(1, "dist_a", 4, received=9, addresses=[thin])
    older_full = member(2, "dist_b", 4, received=1, addresses=[full])
    view = survive([newer_thin, older_full], CUSTOMER)
    assert view.attributes["addresses"] == [full]
    assert winner(view, "addresses.billing") == ("dist_b", 2, "source_priority")


# --------------------------------------------------------------------------- product groups


def test_price_and_currency_come_together_from_the_latest_complete_record() -> None:
    erp = member(1, "erp", 1, received=2, name="x", price=10.0, currency="EUR")
    shop = member(2, "shop", 5, received=6, name="x", price=12.5, currency="USD")
    view = survive([erp, shop], PRODUCT)
    assert (view.attributes["price"], view.attributes["currency"]) == (12.5, "USD")
    assert winner(view, "price") == winner(view, "currency") == ("shop", 2, "most_recent")
    # A newer price without its currency does not split the pair.
    mkt = member(3, "mkt", 9, received=8, name="x", price=11.0)
    view = survive([mkt, erp, shop], PRODUCT)
    assert (view.attributes["price"], view.attributes["currency"]) == (12.5, "USD")


def test_price_without_any_currency_still_survives() -> None:
    old = member(1, "erp", 1, received=2, name="x", price=10.0)
    new = member(2, "shop", 5, received=6, name="x", price=12.0)
    view = survive([old, new], PRODUCT)
    assert (view.attributes["price"], view.attributes["currency"]) == (12.0, None)
    assert winner(view, "price") == ("shop", 2, "most_recent")
    assert "currency" not in view.provenance


def test_product_attributes_merge_per_key_by_source_priority() -> None:
    erp = member(1, "erp", 1, received=1, name="x", attributes={"colour": "black", "size": None})
    shop = member(
        2, "shop", 5, received=9, name="x", attributes={"colour": "Black", "size": "L", "w": 250}
    )
    view = survive([shop, erp], PRODUCT)
    assert view.attributes["attributes"] == {"colour": "black", "size": "L", "w": 250}
    assert winner(view, "attributes.colour") == ("erp", 1, "source_priority")
    assert winner(view, "attributes.size") == ("shop", 2, "source_priority")
    assert winner(view, "attributes") == ("erp", 1, "union")
    assert view.provenance["attributes"].contributors == (("erp", "erp-1"), ("shop", "shop-2"))


# --------------------------------------------------------------------------- overrides


def test_overrides_win_over_every_rule_and_carry_override_provenance() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="ACME GmbH", addresses=[{"type": "legal"}])
    crm = member(2, "crm", 5, received=1, addresses=[{"type": "billing", "city": "Bonn"}])
    pinned_address = [{"type": "legal", "lines": ["Pinned 1"], "city": "Berlin"}]
    view = survive(
        [erp, crm],
        CUSTOMER,
        {"legal_name": "Acme AG", "addresses": pinned_address, "website": None},
        now=NOW,
    )
    assert view.attributes["legal_name"] == "Acme AG"
    assert view.attributes["addresses"] == pinned_address
    assert view.attributes["website"] is None
    assert view.provenance["legal_name"] == Provenance(None, None, None, OVERRIDE, NOW)
    assert view.provenance["website"].rule == "override"
    assert not [k for k in view.provenance if k.startswith("addresses.")]
    pinned_address[0]["city"] = "changed"
    assert view.attributes["addresses"][0]["city"] == "Berlin"


def test_an_override_cannot_pin_the_source_id() -> None:
    with pytest.raises(ValueError, match="source_id"):
        survive([member(1, "erp", 1, received=1, legal_name="A")], CUSTOMER, {"source_id": "x"})


# --------------------------------------------------------------------------- shape


def test_every_canonical_attribute_is_present_and_the_result_validates() -> None:
    erp = member(1, "erp", 1, received=1, source_id="E1", entity_type="customer", legal_name="Acme")
    view = survive([erp], CUSTOMER)
    assert view.entity_type == "customer"
    assert set(view.attributes) == set(Customer.model_fields) - {"source_id", "entity_type"}
    assert view.attributes["identifiers"] == []
    assert view.attributes["website"] is None
    assert view.attributes["status"] == "active"
    assert "status" not in view.provenance
    Customer.model_validate({**view.attributes, "source_id": "golden"})
    product = survive([member(1, "erp", 1, received=1, sku="S1")], PRODUCT)
    assert product.attributes["attributes"] == {}
    Product.model_validate({**product.attributes, "source_id": "golden"})


def test_no_members_give_an_empty_record_without_provenance() -> None:
    view = survive([], PRODUCT)
    assert view.provenance == {}
    assert view.attributes["name"] is None
    assert view.attributes["attributes"] == {}


def test_unknown_fields_survive_by_the_default_strategy() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="A", credit_limit=1000)
    crm = member(2, "crm", 5, received=9, legal_name="A", credit_limit=5000, segment="smb")
    view = survive([crm, erp], CUSTOMER)
    assert view.attributes["credit_limit"] == 1000
    assert view.attributes["segment"] == "smb"
    assert winner(view, "credit_limit") == ("erp", 1, "source_priority")


def test_surviving_values_are_copies_of_the_members_data() -> None:
    phones = ["+49 30 1234567"]
    attrs = {"colour": "black"}
    erp = member(1, "erp", 1, received=1, legal_name="A", phones=phones, extra={"a": [1]})
    view = survive([erp], CUSTOMER)
    view.attributes["phones"].append("+1")
    view.attributes["extra"]["a"].append(2)
    assert phones == ["+49 30 1234567"]
    assert erp.canonical["extra"] == {"a": [1]}
    product = survive([member(1, "erp", 1, received=1, name="x", attributes=attrs)], PRODUCT)
    product.attributes["attributes"]["colour"] = "red"
    assert attrs == {"colour": "black"}


def test_provenance_is_json_ready() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="A", emails=["a@b.com"])
    prov = survive([erp], CUSTOMER).provenance
    assert prov["emails"].as_dict() == {
        "source": "erp",
        "source_id": "erp-1",
        "record_id": 1,
        "rule": "union",
        "at": "2026-01-01T00:00:00+00:00",
        "contributors": [["erp", "erp-1"]],
    }


# --------------------------------------------------------------------------- determinism

_CUSTOMERS = [
    member(
        1,
        "erp",
        1,
        received=3,
        legal_name="ACME GmbH",
        account_role="sold_to",
        identifiers=[{"scheme": "vat", "value": "DE136695977"}],
        addresses=[{"type": "billing", "lines": ["Hauptstr. 1"], "country": "DE"}],
        phones=["030 1234567"],
        website="acme.de",
    ),
    member(
        2,
        "crm",
        5,
        received=3,
        legal_name="Acme",
        trading_name="Acme Shop",
        account_role="bill_to",
        identifiers=[{"scheme": "vat", "value": "DE136695976"}],
        addresses=[{"type": "shipping", "lines": ["Lager 1"]}, {"type": "billing", "city": "B"}],
        phones=["+49 30 1234567"],
        emails=["Info@acme.de"],
        website="www.acme.com",
    ),
    member(
        3,
        "dist_a",
        4,
        received=5,
        legal_name="Acme Distribution",
        trading_name="Acme D",
        account_role="bill_to",
        emails=["info@ACME.de"],
        website="acme.com",
    ),
    member(
        4,
        "dist_b",
        4,
        received=5,
        legal_name="Acme B",
        trading_name="Acme B",
        account_role="sold_to",
        addresses=[{"type": "shipping", "lines": ["Lager 2"], "city": "Potsdam"}],
        website="acme.de",
    ),
]

_PRODUCTS = [
    member(1, "erp", 1, received=2, name="Cable", gtin="4006381333932", price=1.0, currency="EUR"),
    member(2, "shop", 4, received=4, name="Cable USB", gtin="036000291452", brand="X", price=2.0),
    member(3, "dist", 4, received=4, name="Cable USB", gtin="4006381333931", brand="Y"),
    member(4, "mkt", 9, received=4, name="Cable ABC", attributes={"len": 1}, currency="USD"),
]


@pytest.mark.parametrize(("members", "spec"), [(_CUSTOMERS, CUSTOMER), (_PRODUCTS, PRODUCT)])
def test_the_result_does_not_depend_on_member_order(members: list[Member], spec: Any) -> None:
    expected = survive(members, spec, now=NOW)
    for order in itertools.permutations(members):
        assert survive(list(order), spec, now=NOW) == expected


def test_the_hand_worked_customer_golden_record() -> None:
    view = survive(_CUSTOMERS, CUSTOMER)
    a = view.attributes
    assert a["legal_name"] == "ACME GmbH"
    # dist_a and dist_b are equally recent and equally trusted: the source code decides.
    assert a["trading_name"] == "Acme D"
    # sold_to (erp, dist_b) and bill_to (crm, dist_a) tie twice each: the ERP holds sold_to.
    assert a["account_role"] == "sold_to"
    assert a["identifiers"] == [{"scheme": "vat", "value": "DE136695976"}]
    assert a["phones"] == ["+49301234567"]
    assert a["emails"] == ["info@ACME.de"]
    assert a["website"] == "acme.de"
    assert [x["lines"] for x in a["addresses"]] == [["Hauptstr. 1"], ["Lager 2"]]


_MEMBER = st.builds(
    lambda rid, source, rank, received, name, phone, role: member(
        rid,
        source,
        rank,
        received,
        legal_name=name,
        trading_name=name,
        account_role=role,
        phones=[phone],
        addresses=[{"type": "billing", "lines": [name]}],
        website=name,
    ),
    st.integers(1, 10_000),
    st.sampled_from(["erp", "crm", "shop"]),
    st.integers(1, 3),
    st.integers(1, 3),
    st.sampled_from(["Acme", "ACME", "Beta", "acme", ""]),
    st.sampled_from(["+49 30 1234567", "030 1234567", "12"]),
    st.sampled_from(["sold_to", "bill_to"]),
)


@settings(max_examples=60, deadline=None)
@given(
    members=st.lists(_MEMBER, min_size=1, max_size=5, unique_by=lambda m: m.record_id),
    data=st.data(),
)
def test_any_permutation_gives_the_same_golden_record(members: list[Member], data: Any) -> None:
    shuffled = data.draw(st.permutations(members))
    assert survive(shuffled, CUSTOMER, now=NOW) == survive(members, CUSTOMER, now=NOW)


# --------------------------------------------------------------------------- specs


def test_a_spec_rejects_two_rules_for_one_attribute() -> None:
    with pytest.raises(ValidationError, match="more than one rule"):
        spec_of(
            SurvivorshipRule(attribute="price", strategy="most_recent", together_with=["currency"]),
            SurvivorshipRule(attribute="currency", strategy="most_frequent"),
            entity_type="product",
        )


def test_a_rule_rejects_valid_first_without_a_validity_check_and_union_as_tie_break() -> None:
    with pytest.raises(ValidationError, match="validity check"):
        SurvivorshipRule(attribute="legal_name", strategy="valid_first")
    with pytest.raises(ValidationError, match="tie"):
        SurvivorshipRule(attribute="legal_name", strategy="most_recent", tie_break="union")


def test_a_copied_spec_with_other_rules_is_compiled_afresh() -> None:
    erp = member(1, "erp", 1, received=1, legal_name="Old")
    crm = member(2, "crm", 5, received=9, legal_name="New")
    spec = spec_of(SurvivorshipRule(attribute="legal_name", strategy="source_priority"))
    assert survive([erp, crm], spec).attributes["legal_name"] == "Old"
    newer = spec.model_copy(
        update={"rules": [SurvivorshipRule(attribute="legal_name", strategy="most_recent")]}
    )
    assert survive([erp, crm], newer).attributes["legal_name"] == "New"
    assert survive([erp, crm], spec).attributes["legal_name"] == "Old"


def test_the_default_strategy_applies_to_attributes_without_a_rule() -> None:
    spec = SurvivorshipSpec(entity_type="customer", rules=[], default="most_recent")
    erp = member(1, "erp", 1, received=1, legal_name="Old", phones=["1"])
    crm = member(2, "crm", 5, received=9, legal_name="New")
    view = survive([erp, crm], spec)
    assert view.attributes["legal_name"] == "New"
    assert winner(view, "legal_name") == ("crm", 2, "most_recent")
    assert view.attributes["phones"] == ["1"]


# --------------------------------------------------------------------------- changed_attributes


def test_changed_attributes_names_the_differences_and_treats_empty_as_missing() -> None:
    before = {"legal_name": "Acme", "phones": ["+1"], "emails": [], "website": None, "x": 1}
    after = {"legal_name": "Acme AG", "phones": ["+1"], "website": "a.com", "x": 1}
    assert changed_attributes(before, after) == ["legal_name", "website"]
    assert changed_attributes(after, after) == []
    assert changed_attributes({}, {"status": "active"}) == ["status"]
