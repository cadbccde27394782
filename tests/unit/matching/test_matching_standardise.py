"""Standardisers: examples that pin behaviour, and idempotence as a property."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import matching.standardisation as s
from matching import default_customer_spec, default_product_spec, standardise, standardise_record

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
ascii_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x17F), max_size=30)


@pytest.mark.parametrize(
    ("raw", "core", "form"),
    [
        ("Acme Inc.", "acme", "inc"),
        ("ACME INCORPORATED", "acme", "inc"),
        ("Acme Corp", "acme", "corp"),
        ("Acme Corporation", "acme", "corp"),
        ("Acme Limited", "acme", "ltd"),
        ("Acme GmbH & Co. KG", "acme", "gmbh co kg"),
        ("Acme Gesellschaft mit beschränkter Haftung", "acme", "gmbh"),
        ("Acme S.A.", "acme", "sa"),
        ("Acme B.V.", "acme", "bv"),
        ("Acme AG", "acme", "ag"),
        ("Acme S.A.R.L.", "acme", "sarl"),
        ("Acme L.L.C.", "acme", "llc"),
        ("Acme plc", "acme", "plc"),
        ("Acme & Sons Company", "acme sons", "co"),
        ("Inc", "inc", None),  # never leaves the core empty
        ("Société Générale", "societe generale", None),
        ("Virtanen Oy u", "virtanen", "oy"),  # a form behind a dropped word: split off too
        ("Stahlflex e.K.", "stahlflex", "ek"),
        ("Stahlflex eingetragener Kaufmann", "stahlflex", "ek"),
        ("Fischer e.Kfm.", "fischer", "ek"),
        ("Acme GmbH & Co. Kommanditgesellschaft", "acme", "gmbh co kg"),
        ("Acme Kommanditgesellschaft auf Aktien", "acme", "kgaa"),
        ("Müller Bau mbH", "muller bau", "gmbh"),
        # Inside the name, before a site or a department: taken out, where never a word.
        ("Koch Fördertechnik KG - Werk Hamburg", "koch fordertechnik werk hamburg", "kg"),
        ("Ferroline GmbH & Co. KG Zentrallager", "ferroline zentrallager", "gmbh co kg"),
        (
            "Ashford Engineering Limited - Accounts Payable",
            "ashford engineering accounts payable",
            "ltd",
        ),
        ("Smith & Co Builders", "smith co builders", None),
        ("A.B.C. Supplies Ltd", "abc supplies", "ltd"),  # initials one word, as "ABC"
        ("Acme Sp. z o.o.", "acme", "sp zoo"),
        ("Arnie Morton's of Chicago", "arnie mortons of chicago", None),  # as "Mortons"
        # What closes up once a form is out may end in a form: read again.
        ("Berhad Ltda Pty", "berhad", "pty ltd"),
        # An article first, or last as catalogues sort ("Steak House, The"), is no part of it.
        ("The Steak House", "steak house", None),
        ("Steak House, The", "steak house", None),
        ("The Boeing Company", "boeing", "co"),
        ("Boeing Co., The", "boeing", "co"),
        ("Bank of the West", "bank of the west", None),
        ("The", "the", None),
    ],
)
def test_company_name_splits_core_and_legal_form(raw: str, core: str, form: str | None) -> None:
    assert s.company_name(raw) == s.CompanyName(core, form)


@given(text)
def test_company_name_is_idempotent(raw: str) -> None:
    once = s.company_name(raw)
    assert s.company_name(once.full) == once


# Names made of the words legal forms are spelled with, and of conjunctions, where taking
# one form out can make another.
form_words = sorted(
    {w for spellings in s._LEGAL_FORMS.values() for v in spellings for w in v.split()}
)
form_names = st.lists(
    st.sampled_from([*form_words, "und", "and", "u", "&", "-", "acme", "werk"]),
    min_size=1,
    max_size=9,
).map(" ".join)


@settings(max_examples=2000)
@given(form_names)
def test_company_name_of_legal_form_words_is_idempotent(raw: str) -> None:
    once = s.company_name(raw)
    assert s.company_name(once.full) == once


@given(text)
def test_fold_text_is_idempotent(raw: str) -> None:
    assert s.fold_text(s.fold_text(raw)) == s.fold_text(raw)


@given(text)
def test_title_numbers_are_idempotent(raw: str) -> None:
    once = s.title_numbers(s.title(raw))
    assert s.title_numbers(once) == once


@given(text)
def test_address_is_idempotent(raw: str) -> None:
    assert s.address(s.address(raw)) == s.address(raw)


@given(ascii_text, st.sampled_from(["GB", "DE", "US", "NL", "CA", "FR", None]))
def test_postal_code_is_idempotent(raw: str, country: str | None) -> None:
    once = s.postal_code(raw, country)
    assert s.postal_code(once, country) == once


@settings(max_examples=60)
@given(st.from_regex(r"\+?[0-9 ()\-]{4,16}", fullmatch=True), st.sampled_from(["DE", "US", "GB"]))
def test_phone_is_idempotent(raw: str, country: str) -> None:
    once = s.phone(raw, country)
    assert s.phone(once, country) == once


@given(st.emails() | text)
def test_email_is_idempotent(raw: str) -> None:
    assert s.email(s.email(raw)) == s.email(raw)


@settings(max_examples=50)
@given(
    st.from_regex(
        r"(https?://)?(www\.)?[a-z]{1,10}\.(com|co\.uk|de|example)(/[a-z]*)?", fullmatch=True
    )
)
def test_website_is_idempotent(raw: str) -> None:
    assert s.website(s.website(raw)) == s.website(raw)


@given(text)
def test_part_number_identifier_code_title_are_idempotent(raw: str) -> None:
    assert s.part_number(s.part_number(raw)) == s.part_number(raw)
    assert s.identifier(s.identifier(raw)) == s.identifier(raw)
    assert s.code(s.code(raw)) == s.code(raw)
    assert s.title(s.title(raw)) == s.title(raw)


@given(st.from_regex(r"[0-9]{12,14}", fullmatch=True))
def test_gtin_is_idempotent(raw: str) -> None:
    assert s.gtin(s.gtin(raw)) == s.gtin(raw)


@given(st.dates())
def test_date_is_idempotent(day: object) -> None:
    once = s.date(day)
    assert once is not None
    assert s.date(once) == once


@given(st.sampled_from(["DE", "deu", "Germany", "Deutschland", "276"]))
def test_country_variants_agree(raw: str) -> None:
    assert s.country(raw) == "DE"
    assert s.country(s.country(raw)) == "DE"


def test_tax_ids_validated_and_namespaced() -> None:
    assert s.tax_id("DE136695976", "vat") == "DE:vat=DE136695976"
    assert s.tax_id("136695976", "vat", "DE") == "DE:vat=DE136695976"
    assert s.tax_id("GB 980 7806 84", "vat") == "GB:vat=GB980780684"
    assert s.tax_id("DE136695977", "vat") is None  # check digit wrong
    assert s.tax_id("04-2103594", "ein", "US") == "US:ein=042103594"


def test_identifiers_that_do_not_validate_are_kept_apart_by_scheme() -> None:
    record = {
        "tax_ids": [
            {"scheme": "vat", "value": "DE 136 695 976"},
            {"scheme": "National ID", "value": "53-04218"},
            {"scheme": "vat", "value": "DE136695977"},  # a check digit wrong: not a tax ID
            "12345",
            {"scheme": "ssn", "value": "000-00-0000"},  # stand-ins for no identifier
            {"scheme": "ssn", "value": "n/a"},
            {"scheme": "ssn", "value": "unknown"},
        ],
        "country": "DE",
    }
    std = standardise_record(record, default_customer_spec())
    assert std["tax_ids"] == ("DE:vat=DE136695976",)
    assert std["tax_ids_other"] == ("national_id=5304218", "vat=DE136695977", "id=12345")
    frame = standardise(pd.DataFrame([{"id": "1", **record}]), default_customer_spec())
    assert frame["tax_ids_other"][0] == std["tax_ids_other"]


def test_phones_of_records_without_a_country_keep_their_digits() -> None:
    spec = default_customer_spec()
    no_country = [
        {"id": "1", "phones": ["310/246-1501"]},
        {"id": "2", "phones": ["(310) 246-1501 ext. 12"]},
        {"id": "3", "phones": ["246-1501"]},  # too short to tell one line from another
    ]
    std = [standardise_record(r, spec) for r in no_country]
    assert [r["phones"] for r in std] == [("3102461501",), ("3102461501",), ()]
    frame = standardise(pd.DataFrame(no_country), spec)
    assert list(frame["phones"]) == [r["phones"] for r in std]
    # With a country the number is E.164, as before; so is one written internationally.
    assert standardise_record({"phones": ["310/246-1501"], "country": "US"}, spec)["phones"] == (
        "+13102461501",
    )
    assert standardise_record({"phones": ["+1 310 246 1501"]}, spec)["phones"] == ("+13102461501",)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("747 Ninth Avenue", "747 9th Ave."),
        ("435 S. La Cienega Blv.", "435 South La Cienega Boulevard"),
        ("1 Trade Centre", "1 Trade Center"),
        ("88 Northeast Loop Freeway", "88 NE Loop Fwy"),
    ],
)
def test_spellings_of_one_street_address_agree(one: str, other: str) -> None:
    assert s.address(one) == s.address(other)


@pytest.mark.parametrize(
    ("raw", "street", "number", "unit"),
    [
        ("Eppendorfer Weg 211, 3. OG", "eppendorfer weg 211", "211", "3"),
        ("Eppendorfer Weg 211", "eppendorfer weg 211", "211", None),
        ("Suite 200, 55 N Main Street", "55 n main st", "55", "200"),
        ("55 North Main St Ste 200", "55 n main st", "55", "200"),
        ("12 Main St, Apt B", "12 main st", "12", "b"),
        ("Hauptstraße 5 EG", "hauptstr 5 eg", "5", None),  # 5 is the house number
    ],
)
def test_the_street_address_is_compared_without_its_suite_or_floor(
    raw: str, street: str, number: str, unit: str | None
) -> None:
    std = standardise_record({"address": raw}, default_customer_spec())
    assert (std["address"], std["address_number"], std["address_unit"]) == (street, number, unit)


def test_gtin_upc_ean_become_one_gtin14() -> None:
    assert s.gtin("036000291452") == s.gtin("0036000291452") == "00036000291452"
    assert s.gtin("036000291453") is None


def test_part_numbers_extracted_from_titles_but_not_units() -> None:
    assert s.extract_part_numbers("Bosch GSR 18V-55 Professional 2x 2.0Ah") == ("18V55",)
    assert s.extract_part_numbers("Dell XPS 13 9310 16GB 512GB 13.4in") == ()
    assert s.extract_part_numbers("Logitech MX Master 3S (910-006559)") == ()
    assert s.extract_part_numbers("HP 304XL N9K08AE black") == ("304XL", "N9K08AE")


def test_free_mail_domain_is_not_evidence() -> None:
    spec = default_customer_spec()
    std = standardise_record({"id": "1", "emails": ["Jane@Gmail.com", "jane@acme.co.uk"]}, spec)
    assert std["emails"] == ("jane@gmail.com", "jane@acme.co.uk")
    assert std["emails_domains"] == ("acme.co.uk",)


def test_person_name_split() -> None:
    # The apostrophe joins: "O'Neil" and "ONeil" are one surname.
    assert s.person_name("Mrs. Mary-Ann O'Neil") == s.PersonName("mary", "oneil")
    assert s.person_name("Garcia, Luis") == s.PersonName("luis", "garcia")


def test_batch_and_single_record_standardisation_agree() -> None:
    spec = default_product_spec()
    records = [
        {
            "id": "p1",
            "gtin": "4006381333931",
            "mpn": "WH-1000XM4",
            "brand": "Sony",
            "name": "Sony WH-1000XM4 Headphones",
            "price": "299.00",
        },
        {"id": "p2", "gtin": None, "mpn": None, "brand": None, "name": None, "price": None},
        {
            "id": "p3",
            "gtin": "4006381333931",
            "mpn": "wh1000xm4",
            "brand": "SONY",
            "name": "WH1000XM4 black",
            "price": 279.0,
        },
    ]
    frame = standardise(records, spec)
    for i, rec in enumerate(records):
        single = standardise_record(rec, spec)
        row = frame.iloc[i].to_dict()
        for key, value in single.items():
            other = row[key]
            if isinstance(other, float) and math.isnan(other):
                other = None  # a numeric frame column holds NaN for missing
            assert value == other, key


def test_batch_standardisation_of_many_tax_id_dicts() -> None:
    # Enough rows to take the pandas path; dict values must stay one value per row.
    records = [
        {
            "id": str(i),
            "country": "DE",
            "tax_ids": [{"scheme": "vat", "value": "DE136695976", "country": None}],
        }
        for i in range(600)
    ]
    frame = standardise(records, default_customer_spec())
    assert set(frame["tax_ids"]) == {("DE:vat=DE136695976",)}


def test_parallel_standardisation_equals_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    # Slices see different values (a name only in the last slice, a tax ID in the first), so
    # each slice's categories differ and have to be united.
    names = ["Acme Inc.", "ACME INCORPORATED", "Globex GmbH", "Initech Ltd", "Umbrella S.A."]
    vat = [{"scheme": "vat", "value": "DE136695976", "country": None}]
    records = [
        {
            "legal_name": names[i % len(names)] if i < 9 else "Soylent Corp",
            "country": ["DE", "US", "GB"][i % 3],
            "city": ["Berlin", "Springfield", "London"][i % 3],
            "phones": [f"030 123 45{i:02d}"] if i % 2 else [],
            "tax_ids": vat if i < 3 else [],
        }
        for i in range(12)
    ]
    spec = default_customer_spec()
    serial = standardise(records, spec)
    monkeypatch.setattr(s, "PARALLEL_FROM", 4)
    parallel = standardise(records, spec, workers=3)
    pd.testing.assert_frame_equal(parallel, serial)
    assert parallel["id"].tolist() == [str(i) for i in range(12)]


def test_postal_codes_lose_their_country_prefix_only_for_their_country() -> None:
    from matching.standardisation import postal_code

    assert postal_code("D-80331", "DE") == postal_code("80331", "DE") == "80331"
    assert postal_code("A-1010", "AT") == "1010"
    assert postal_code("nl-1012 ab", "NL") == "1012 AB"
    # A British postcode starts with letters of its own; an unknown country keeps its letters.
    assert postal_code("DE1 1AA", "GB") == "DE1 1AA"
    assert postal_code("D-80331", None) == "D80331"
    # The prefix of another country is not one.
    assert postal_code("F-75001", "DE") == "F75001"


def test_french_industrial_estates_read_the_same_written_out_or_short() -> None:
    from matching.standardisation import address

    assert address("89 ZI des Prés") == address("89 Zone Industrielle des Pres") == "89 zi des pres"
    assert address("4 Zone d'Activités du Moulin") == "4 za du moulin"
    assert address("12 Bd Voltaire") == address("12 Boulevard Voltaire")
