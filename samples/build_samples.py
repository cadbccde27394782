# ruff: noqa: INP001 - a script beside the data, not a package
"""Rebuild the sample data set: ``python samples/build_samples.py`` (from the repository root).

The bulk of ``samples/data`` comes from :func:`mdm.synthetic.write_dataset` with a fixed seed;
this script then appends the hand-written hard cases and the deliberately bad rows described in
``samples/README.md``, and moves the ground truth to ``samples/truth.csv``. The committed data
files are the artefact; the script is here so that they can be regenerated and reviewed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from mdm.synthetic import CSV_DIALECT, write_dataset

SAMPLES = Path(__file__).resolve().parent
DATA = SAMPLES / "data"
SEED = 16
CUSTOMERS = 50
PRODUCTS = 45

# --------------------------------------------------------------------------------------------
# Hand-written customers. Keys start with "H" so they never clash with generated ones.
# --------------------------------------------------------------------------------------------

ERP_CUSTOMERS: list[tuple[str, ...]] = [
    # KUNNR, PARVW, PARENT_KUNNR, NAME1, NAME2, STRAS, ORT01, PSTLZ, REGIO, LAND1, STCEG,
    # STCD1, TELF1, SMTP_ADDR, LOEVM
    # Müller Präzisionswerkzeuge: legal entity, a ship-to at the head office with the very
    # same name and address, and two more plants (two ship-tos that must stay apart).
    ("0000900001", "AG", "", "Müller Präzisionswerkzeuge GmbH", "", "Carl-Zeiss-Ring 14",
     "Bielefeld", "33609", "NW", "DE", "DE811907980", "", "+49 521 9876540",
     "einkauf@mueller-praezision.de", ""),
    ("0000900002", "WE", "0000900001", "Müller Präzisionswerkzeuge GmbH", "",
     "Carl-Zeiss-Ring 14", "Bielefeld", "33609", "NW", "DE", "DE811907980", "",
     "+49 521 9876540", "", ""),
    ("0000900003", "WE", "0000900001", "Müller Präzisionswerkzeuge GmbH", "Werk Gütersloh",
     "Industriestr. 88", "Gütersloh", "33334", "NW", "DE", "DE811907980", "", "05241 40770", "",
     ""),
    ("0000900004", "WE", "0000900001", "Müller Präzisionswerkzeuge GmbH", "Lager Gütersloh",
     "Industriestr. 112", "Gütersloh", "33334", "NW", "DE", "DE811907980", "", "05241 40790",
     "", ""),
    # A different company with a very similar name in the same city (hard negative).
    ("0000900005", "AG", "", "Müller Präzisionstechnik GmbH", "", "Eckendorfer Str. 3",
     "Bielefeld", "33609", "NW", "DE", "DE814467351", "", "0521 336120", "", ""),
    # Société Générale d'Outillage, legal entity with a bill-to at a shared service centre.
    ("0000900006", "AG", "", "Société Générale d'Outillage", "SARL", "12 rue de l'Industrie",
     "Lyon", "69007", "", "FR", "FR40303265045", "", "+33 4 78 61 22 30", "", ""),
    ("0000900007", "RE", "0000900006", "Société Générale d'Outillage SARL",
     "Comptabilité fournisseurs", "5 avenue Jean Jaurès", "Villeurbanne", "69100", "", "FR",
     "FR40303265045", "", "04 78 61 22 00", "factures@sgo-outillage.fr", ""),
    # The hierarchy disagreement: Keller Antriebstechnik GmbH belongs to Keller Holding AG.
    # The ERP hangs the bill-to under the subsidiary (X = 0000900009), the CRM under the
    # holding (Y).
    ("0000900008", "AG", "", "Keller Holding AG", "", "Königstraße 40", "Stuttgart", "70173",
     "BW", "DE", "DE129274202", "", "0711 2290-0", "", ""),
    ("0000900009", "AG", "0000900008", "Keller Antriebstechnik GmbH", "", "Porschestraße 7",
     "Stuttgart", "70435", "BW", "DE", "DE136695976", "", "0711 8840-0", "", ""),
    ("0000900010", "RE", "0000900009", "Keller Antriebstechnik GmbH", "Kreditorenbuchhaltung",
     "Königstraße 40", "Stuttgart", "70173", "BW", "DE", "DE136695976", "", "0711 2290-310", "",
     ""),
    # A US customer: EIN instead of a VAT number, UPS-style ship-to names.
    ("0000900011", "AG", "", "Brightwater Tool Supply Incorporated", "", "1400 Industrial Pkwy",
     "Cleveland", "44135", "OH", "US", "", "34-1823457", "(216) 555-0142", "", ""),
    ("0000900012", "WE", "0000900011", "Brightwater Tool Supply Inc", "Akron DC",
     "77 Commerce Dr.", "Akron", "44311", "OH", "US", "", "34-1823457", "(330) 555-0199", "", ""),
    # A different company with almost the same name (hard negative).
    ("0000900013", "AG", "", "Brightwater Tools Inc.", "", "18 Main St", "Portland", "97205",
     "OR", "US", "", "93-0647219", "503-555-0117", "", ""),
    # BAD ROW 1: no name at all (NAME1 and NAME2 empty): rejected, "a customer needs a name".
    ("0000900099", "AG", "", "", "", "Hauptstraße 1", "Berlin", "10115", "BE", "DE",
     "DE136695976", "", "", "", ""),
]  # fmt: skip

CRM_ACCOUNTS: list[dict[str, Any]] = [
    {"Id": "0015J00000HkMuLQAV", "Name": "Mueller Praezisionswerkzeuge GmbH", "ParentId": None,
     "Type": "Customer", "BillingStreet": "Carl-Zeiss-Ring 14", "BillingCity": "Bielefeld",
     "BillingPostalCode": "33609", "BillingCountry": "Germany",
     "Website": "https://www.mueller-praezision.de/", "Phone": "0521-9876540",
     "VAT_Number__c": "DE 811 907 980", "DunsNumber": "315279904"},
    {"Id": "0015J00000HkMv2QAF", "Name": "Müller Präzisionswerkzeuge - Werk Gütersloh",
     "ParentId": "0015J00000HkMuLQAV", "Type": "Ship-To", "ShippingStreet": "Industriestraße 88",
     "ShippingCity": "Gütersloh", "ShippingPostalCode": "33334", "ShippingCountry": "Germany",
     "Phone": "+49 5241 40770"},
    {"Id": "0015J00000HkN0aQAF", "Name": "Müller Präzisionstechnik GmbH", "ParentId": None,
     "Type": "Prospect", "BillingStreet": "Eckendorfer Straße 3", "BillingCity": "Bielefeld",
     "BillingPostalCode": "33609", "BillingCountry": "Germany", "Website": "praezitec-mueller.de",
     "VAT_Number__c": "DE814467351"},
    {"Id": "0015J00000HkN7FQAV", "Name": "Societe Generale d'Outillage S.A.R.L.",
     "ParentId": None, "Type": "Customer", "BillingStreet": "12, r. de l'Industrie",
     "BillingCity": "LYON", "BillingPostalCode": "69007", "BillingCountry": "France",
     "Phone": "04 78 61 22 30", "VAT_Number__c": "40303265045", "Website": "www.sgo-outillage.fr"},
    {"Id": "0015J00000HkNBzQAN", "Name": "Keller Holding AG", "ParentId": None,
     "Type": "Customer", "BillingStreet": "Königstr. 40", "BillingCity": "Stuttgart",
     "BillingState": "BW", "BillingPostalCode": "70173", "BillingCountry": "DE",
     "Phone": "+49 711 22900", "VAT_Number__c": "DE129274202", "DunsNumber": "342781653"},
    {"Id": "0015J00000HkNCdQAN", "Name": "Keller Antriebstechnik", "ParentId": "0015J00000HkNBzQAN",
     "Type": "Customer", "BillingStreet": "Porschestr. 7", "BillingCity": "Stuttgart",
     "BillingPostalCode": "70435", "BillingCountry": "DE", "VAT_Number__c": "DE136695976"},
    # The CRM's view of the same bill-to: its parent is the holding, not the subsidiary.
    {"Id": "0015J00000HkNDHQA3", "Name": "Keller Antriebstechnik GmbH (Rechnungsanschrift)",
     "ParentId": "0015J00000HkNBzQAN", "Type": "Bill-To", "BillingStreet": "Königstraße 40",
     "BillingCity": "Stuttgart", "BillingPostalCode": "70173", "BillingCountry": "Germany",
     "Phone": "0711 2290 310"},
    {"Id": "0015J00000HkNE1QAN", "Name": "Brightwater Tool Supply, Inc.", "ParentId": None,
     "Type": "Customer", "BillingStreet": "1400 Industrial Parkway\nSuite 200",
     "BillingCity": "Cleveland", "BillingState": "OH", "BillingPostalCode": "44135-2210",
     "BillingCountry": "United States", "Phone": "+1 216 555 0142",
     "Website": "brightwatertools.com"},
]  # fmt: skip
# BAD ROW 2: a line cut off in the middle of the export (not valid JSON).
CRM_MALFORMED = (
    '{"attributes":{"type":"Account"},"Id":"0015J00000HkNF9QAN","Name":"Hartwig Stahlbau GmbH",'
    '"Type":"Customer","BillingStreet":"Am Hafen 3","BillingCi'
)

DIST_NORTH_CUSTOMERS: list[tuple[str, ...]] = [
    # Kundennummer, Firma, Firma2, Strasse, PLZ, Ort, Land, USt-IdNr, Telefon, E-Mail
    ("K99001", "Müller Präzisionswerkzeuge GmbH", "z. Hd. Einkauf", "Carl-Zeiss-Ring 14",
     "D-33609", "Bielefeld", "Deutschland", "DE811907980", "(0521) 987 6540", ""),
    ("K99002", "Müller Präzisionstechnik", "", "Eckendorfer Straße 3", "33609", "Bielefeld",
     "Deutschland", "", "0521/336120", "info@praezitec-mueller.de"),
    ("K99003", "Société Générale d'Outillage SARL", "", "12 rue de l'Industrie", "69007", "Lyon",
     "Frankreich", "FR 40 303265045", "+33 478612230", ""),
    ("K99004", "Keller Antriebstechnik GmbH", "Wareneingang", "Porschestr. 7", "70435",
     "Stuttgart", "Deutschland", "DE136695976", "", ""),
]  # fmt: skip

DIST_SOUTH_CUSTOMERS: list[tuple[str, ...]] = [
    # account_no, company, street, zip, city, state, country, vat_id, phone, email, website
    ("C-900001", "STE GENERALE D OUTILLAGE", "12 RUE DE L INDUSTRIE", "69007", "LYON", "", "FRA",
     "FR40303265045", "0478612230", "", ""),
    ("C-900002", "Brightwater Tool Supply Inc.", "1400 Industrial Pkwy Ste 200", "44135",
     "Cleveland", "OH", "USA", "", "216.555.0142", "purchasing@brightwatertools.com",
     "http://brightwatertools.com"),
    # BAD ROW 3: "EU" is not an ISO-3166 country code: rejected.
    ("C-900099", "Van Leeuwen Bevestigingstechniek B.V.", "Havenstraat 12", "3011 AB",
     "Rotterdam", "", "EU", "NL004495445B01", "", "", ""),
]  # fmt: skip

MARKETPLACE_BUYERS: list[dict[str, Any]] = [
    {"buyer_id": "B90000001", "account_type": "business",
     "company_name": "Brightwater Tool Supply", "email": "orders@brightwatertools.com",
     "phone": None, "vat_id": None,
     "default_address": {"line1": "77 Commerce Drive", "line2": None, "city": "Akron",
                         "state": "OH", "zip": "44311", "country_code": "US"},
     "registered_at": "2023-04-18"},
    # A private buyer who registered twice (new e-mail, nickname, postcode typed differently)...
    {"buyer_id": "B90000002", "account_type": "private", "company_name": None,
     "first_name": "Katrin", "last_name": "Vogt", "email": "katrin.vogt@web.de",
     "phone": "+49 40 6612874", "vat_id": None,
     "default_address": {"line1": "Eppendorfer Weg 211", "line2": "3. OG", "city": "Hamburg",
                         "state": "HH", "zip": "20253", "country_code": "DE"},
     "registered_at": "2019-11-02"},
    {"buyer_id": "B90000003", "account_type": "private", "company_name": None,
     "first_name": "K.", "last_name": "Vogt", "email": "k.vogt1978@gmail.com",
     "phone": "040 661 2874", "vat_id": None,
     "default_address": {"line1": "Eppendorfer Weg 211", "line2": None, "city": "Hamburg",
                         "state": None, "zip": "D-20253", "country_code": "DE"},
     "registered_at": "2024-07-30"},
    # ...and a namesake who is somebody else (same name, another city): a hard negative.
    {"buyer_id": "B90000004", "account_type": "private", "company_name": None,
     "first_name": "Katrin", "last_name": "Vogt", "email": "katrin.vogt@gmx.de",
     "phone": None, "vat_id": None,
     "default_address": {"line1": "Leopoldstraße 9", "line2": None, "city": "München",
                         "state": "BY", "zip": "80802", "country_code": "DE"},
     "registered_at": "2022-01-15"},
]  # fmt: skip
CUSTOMER_TRUTH = [
    ("erp", "0000900001", "HC-MUELLER"),
    ("crm", "0015J00000HkMuLQAV", "HC-MUELLER"),
    ("dist_north", "K99001", "HC-MUELLER"),
    ("erp", "0000900002", "HC-MUELLER-S-HQ"),
    ("erp", "0000900003", "HC-MUELLER-S-WERK"),
    ("crm", "0015J00000HkMv2QAF", "HC-MUELLER-S-WERK"),
    ("erp", "0000900004", "HC-MUELLER-S-LAGER"),
    ("erp", "0000900005", "HC-MUELLER-TECHNIK"),
    ("crm", "0015J00000HkN0aQAF", "HC-MUELLER-TECHNIK"),
    ("dist_north", "K99002", "HC-MUELLER-TECHNIK"),
    ("erp", "0000900006", "HC-SGO"),
    ("crm", "0015J00000HkN7FQAV", "HC-SGO"),
    ("dist_north", "K99003", "HC-SGO"),
    ("dist_south", "C-900001", "HC-SGO"),
    ("erp", "0000900007", "HC-SGO-B"),
    ("erp", "0000900008", "HC-KELLER-HOLDING"),
    ("crm", "0015J00000HkNBzQAN", "HC-KELLER-HOLDING"),
    ("erp", "0000900009", "HC-KELLER"),
    ("crm", "0015J00000HkNCdQAN", "HC-KELLER"),
    ("dist_north", "K99004", "HC-KELLER"),
    ("erp", "0000900010", "HC-KELLER-B"),
    ("crm", "0015J00000HkNDHQA3", "HC-KELLER-B"),
    ("erp", "0000900011", "HC-BRIGHTWATER"),
    ("crm", "0015J00000HkNE1QAN", "HC-BRIGHTWATER"),
    ("dist_south", "C-900002", "HC-BRIGHTWATER"),
    ("erp", "0000900012", "HC-BRIGHTWATER-S-AKRON"),
    # The marketplace account of the Akron warehouse: it buys as itself, at the DC address.
    ("marketplace", "B90000001", "HC-BRIGHTWATER-S-AKRON"),
    ("erp", "0000900013", "HC-BRIGHTWATER-TOOLS"),
    ("marketplace", "B90000002", "HC-VOGT-HAMBURG"),
    ("marketplace", "B90000003", "HC-VOGT-HAMBURG"),
    ("marketplace", "B90000004", "HC-VOGT-MUENCHEN"),
]

# --------------------------------------------------------------------------------------------
# Hand-written products: a cordless drill and its sibling that differs only in the model.
# GTINs 4053423000115 and 4053423000122 (EAN-13); the siblings share everything else.
# --------------------------------------------------------------------------------------------

ERP_MATERIALS: list[tuple[str, ...]] = [
    # MATNR, MAKTX, EAN11, MFRPN, ZZBRAND, MATKL, MEINS, BRGEW, GEWEI, NETPR, WAERS, LVORM
    ("000000000090000001", "AKKU-BOHRSCHRAUBER KSR 18V-60 C", "4053423000115", "06019K1102",
     "KRONMARK", "POWERTOO", "ST", "1,60", "KG", "189,00", "EUR", ""),
    ("000000000090000002", "AKKU-BOHRSCHRAUBER KSR 18V-55", "4053423000122", "06019K1200",
     "KRONMARK", "POWERTOO", "ST", "1,50", "KG", "149,00", "EUR", ""),
    # BAD ROW 4: the price "189,5O" has a letter O for a zero: rejected, not a number.
    ("000000000090000099", "AKKU-BOHRSCHRAUBER KSR 18V-60 C SET", "4053423000139",
     "06019K1103", "KRONMARK", "POWERTOO", "ST", "3,10", "KG", "189,5O", "EUR", ""),
]  # fmt: skip
MARKETPLACE_LISTINGS: list[dict[str, Any]] = [
    {"listing_id": "L900000001", "seller_sku": "HV-06019K1102",
     "title": "Kronmark Professional KSR 18V-60 C Cordless Drill 06019K1102", "brand": "Kronmark",
     "gtin": None, "item_specifics": {}, "category_path": "Tools > Power Tools",
     "price": {"amount": 199.0, "currency": "EUR"}, "condition": "new"},
    {"listing_id": "L900000002", "seller_sku": "HV-06019K1200",
     "title": "Kronmark Professional KSR 18V-55 Cordless Drill 0 601 9K1 200", "brand": None,
     "gtin": None, "item_specifics": {"MPN": "0 601 9K1 200"},
     "category_path": "Tools > Power Tools", "price": {"amount": 155.0, "currency": "EUR"},
     "condition": "new"},
]  # fmt: skip
DIST_SOUTH_ITEMS: list[tuple[str, ...]] = [
    # item_no, description, brand, mfr_part_no, upc_ean, uom, list_price, currency
    ("9000001", "DRILL DRIVER CORDLESS KSR18V-60C", "KRONMARK", "06019K1102", "04053423000115",
     "EA", "204.50", "EUR"),
]  # fmt: skip
SHOP_PRODUCTS: list[dict[str, Any]] = [
    {"id": 7999999001, "title": "Kronmark KSR 18V Cordless Drill Driver", "vendor": "Kronmark",
     "product_type": "Power Tools", "handle": "kronmark-ksr-18v", "status": "active",
     "tags": ["power tools", "kronmark"],
     "variants": [
         {"id": 49999999001, "product_id": 7999999001, "title": "KSR 18V-60 C",
          "sku": "06019K1102", "barcode": "4053423000115", "price": "224.91",
          "option1": "KSR 18V-60 C", "weight": 1.6, "weight_unit": "kg",
          "inventory_quantity": 12},
         {"id": 49999999002, "product_id": 7999999001, "title": "KSR 18V-55",
          "sku": "06019K1200", "barcode": "", "price": "177.31", "option1": "KSR 18V-55",
          "weight": 1.5, "weight_unit": "kg", "inventory_quantity": 3},
     ]},
]  # fmt: skip
PRODUCT_TRUTH = [
    ("erp", "000000000090000001", "HP-KSR-60C"),
    ("marketplace", "L900000001", "HP-KSR-60C"),
    ("dist_south", "9000001", "HP-KSR-60C"),
    ("shop", "49999999001", "HP-KSR-60C"),
    ("erp", "000000000090000002", "HP-KSR-55"),
    ("marketplace", "L900000002", "HP-KSR-55"),
    ("shop", "49999999002", "HP-KSR-55"),
]


def _append_csv(name: str, rows: list[tuple[str, ...]]) -> None:
    delimiter, encoding = CSV_DIALECT[name]
    with (DATA / name).open("a", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerows(rows)


def _append_jsonl(name: str, documents: list[dict[str, Any]], raw: str | None = None) -> None:
    with (DATA / name).open("a", encoding="utf-8") as handle:
        for document in documents:
            line = document
            if name == "crm_accounts.jsonl":
                line = {"attributes": {"type": "Account"}, **document, "IsDeleted": False}
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        if raw is not None:
            handle.write(raw + "\n")


def main() -> None:
    """Write the generated part, append the hand-written part, move the truth file."""
    DATA.mkdir(parents=True, exist_ok=True)
    write_dataset(DATA, customers=CUSTOMERS, products=PRODUCTS, seed=SEED)
    _append_csv("erp_customers.csv", ERP_CUSTOMERS)
    _append_jsonl("crm_accounts.jsonl", CRM_ACCOUNTS, raw=CRM_MALFORMED)
    _append_csv("dist_north_kunden.csv", DIST_NORTH_CUSTOMERS)
    _append_csv("dist_south_customers.csv", DIST_SOUTH_CUSTOMERS)
    _append_jsonl("marketplace_buyers.jsonl", MARKETPLACE_BUYERS)
    _append_csv("erp_materials.csv", ERP_MATERIALS)
    _append_jsonl("marketplace_listings.jsonl", MARKETPLACE_LISTINGS)
    _append_csv("dist_south_items.csv", DIST_SOUTH_ITEMS)
    _append_jsonl("shop_products.jsonl", SHOP_PRODUCTS)
    truth = (DATA / "truth.csv").read_text(encoding="utf-8")
    extra = [f"customer,{s},{i},{k}" for s, i, k in CUSTOMER_TRUTH]
    extra += [f"product,{s},{i},{k}" for s, i, k in PRODUCT_TRUTH]
    (SAMPLES / "truth.csv").write_text(truth + "\n".join(extra) + "\n", encoding="utf-8")
    (DATA / "truth.csv").unlink()


if __name__ == "__main__":
    main()
