"""Deterministic synthetic master data in the formats of the sample source systems.

A fictional maker of industrial tools and fasteners sells in DE, FR, NL, GB and US. Its customers
(legal entities with bill-to and ship-to sites, plus private buyers on a marketplace) and its
products (families that differ only in size, model or colour) are known to several source
systems, each in its own format and each with its own way of getting things slightly wrong:

===============  ========================================  ===================================
source           customers                                 products
===============  ========================================  ===================================
``erp``          ``erp_customers.csv`` (SAP KNA1 style)    ``erp_materials.csv`` (MARA/MAKT)
``crm``          ``crm_accounts.jsonl`` (Salesforce)       --
``dist_north``   ``dist_north_kunden.csv`` (latin-1)       ``dist_north_artikel.csv`` (latin-1)
``dist_south``   ``dist_south_customers.csv``              ``dist_south_items.csv``
``marketplace``  ``marketplace_buyers.jsonl``              ``marketplace_listings.jsonl``
``shop``         --                                        ``shop_products.jsonl`` (variants)
===============  ========================================  ===================================

The files load through the mapping files in ``samples/mappings/``. Next to them ``truth.csv``
(``entity_type,source,source_id,entity_key``) says which records are the same real-world
entity; every site of a company is an entity of its own.

Everything is streamed: each entity is generated, written to the sources that know it and
forgotten, so memory stays flat at a million entities (about 40 MB per process). Large data sets
are cut into shards of 50,000 top-level customers or products, each with its own random stream
and its own number ranges; the shards are written by parallel processes and joined in order, so
the bytes depend on the arguments only, never on the number of CPUs.

Variation functions are table look-ups and slicing only. Check digits come from python-stdnum
(EAN/UPC, the DE and FR VAT numbers) or, for NL and GB VAT numbers, from the same formulas that
stdnum validates; about 2% of GTINs get a wrong check digit on purpose.

From the command line (prints the counts and the speed)::

    python -m mdm.synthetic /tmp/synthetic --customers 100000 --products 100000 --seed 0

:func:`iter_flat_customers` and :func:`iter_flat_products` skip the files and yield the flat
records that :mod:`mdm.canonical.flatten` would produce, each with its ``entity_id``, for the
matching engine's benchmarks.
"""

from __future__ import annotations

import csv
import itertools
import os
import random
import re
import shutil
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from stdnum import ean, luhn
from stdnum.iso7064 import mod_11_10

__all__ = [
    "CUSTOMER_FILES",
    "PRODUCT_FILES",
    "DatasetInfo",
    "iter_flat_customers",
    "iter_flat_products",
    "write_dataset",
]


def _words(text: str) -> tuple[str, ...]:
    """A pool of names written compactly as one "|"-separated string."""
    return tuple(text.split("|"))


# --------------------------------------------------------------------------------------------
# Files and formats
# --------------------------------------------------------------------------------------------

CUSTOMER_FILES: dict[str, str] = {
    "erp": "erp_customers.csv",
    "crm": "crm_accounts.jsonl",
    "dist_north": "dist_north_kunden.csv",
    "dist_south": "dist_south_customers.csv",
    "marketplace": "marketplace_buyers.jsonl",
}
PRODUCT_FILES: dict[str, str] = {
    "erp": "erp_materials.csv",
    "dist_north": "dist_north_artikel.csv",
    "dist_south": "dist_south_items.csv",
    "marketplace": "marketplace_listings.jsonl",
    "shop": "shop_products.jsonl",
}
# (delimiter, encoding) of each CSV file; JSON lines files are UTF-8.
CSV_DIALECT: dict[str, tuple[str, str]] = {
    "erp_customers.csv": (";", "utf-8"),
    "erp_materials.csv": (";", "utf-8"),
    "dist_north_kunden.csv": (";", "latin-1"),
    "dist_north_artikel.csv": (";", "latin-1"),
    "dist_south_customers.csv": (",", "utf-8"),
    "dist_south_items.csv": (",", "utf-8"),
}
ERP_CUSTOMER_COLUMNS = _words(
    "KUNNR|PARVW|PARENT_KUNNR|NAME1|NAME2|STRAS|ORT01|PSTLZ|REGIO|LAND1|STCEG|STCD1|TELF1|SMTP_ADDR|"
    "LOEVM"
)
ERP_MATERIAL_COLUMNS = _words(
    "MATNR|MAKTX|EAN11|MFRPN|ZZBRAND|MATKL|MEINS|BRGEW|GEWEI|NETPR|WAERS|LVORM"
)
DIST_NORTH_CUSTOMER_COLUMNS = _words(
    "Kundennummer|Firma|Firma2|Strasse|PLZ|Ort|Land|USt-IdNr|Telefon|E-Mail"
)
DIST_NORTH_ITEM_COLUMNS = _words(
    "Artikelnummer|Bezeichnung|Hersteller|Hersteller-Artikelnr|EAN|Einheit|Preis|Warengruppe"
)
DIST_SOUTH_CUSTOMER_COLUMNS = _words(
    "account_no|company|street|zip|city|state|country|vat_id|phone|email|website"
)
DIST_SOUTH_ITEM_COLUMNS = _words(
    "item_no|description|brand|mfr_part_no|upc_ean|uom|list_price|currency"
)
TRUTH_COLUMNS = ("entity_type", "source", "source_id", "entity_key")
_CSV_HEADERS = {
    CUSTOMER_FILES["erp"]: ERP_CUSTOMER_COLUMNS,
    PRODUCT_FILES["erp"]: ERP_MATERIAL_COLUMNS,
    CUSTOMER_FILES["dist_north"]: DIST_NORTH_CUSTOMER_COLUMNS,
    PRODUCT_FILES["dist_north"]: DIST_NORTH_ITEM_COLUMNS,
    CUSTOMER_FILES["dist_south"]: DIST_SOUTH_CUSTOMER_COLUMNS,
    PRODUCT_FILES["dist_south"]: DIST_SOUTH_ITEM_COLUMNS,
}
# Data sets are written in shards of this many top-level customers or products (each with its
# own random stream and numbering), in parallel processes from _PARALLEL_FROM entities on.
_SHARD_SIZE = 50_000
_PARALLEL_FROM = 40_000


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What :func:`write_dataset` wrote: paths, and counts of entities and records."""

    out_dir: Path
    customer_files: dict[str, Path]
    product_files: dict[str, Path]
    truth: Path
    entities: dict[str, int]
    records: dict[str, int]
    records_by_file: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Source records written, over all files (exploded shop variants counted each)."""
        return sum(self.records.values())


# --------------------------------------------------------------------------------------------
# Pools
# --------------------------------------------------------------------------------------------

PhoneFormat = Callable[[str, str], str]


@dataclass(frozen=True, slots=True)
class _Country:
    code: str
    dial: str
    surnames: tuple[str, ...]
    trades: tuple[str, ...]
    forms: tuple[tuple[str, str], ...]  # (short, long) legal forms
    streets: tuple[tuple[str, ...], ...]  # each street with its spelling variants
    cities: tuple[tuple[str, str, str, str], ...]  # city, postal prefix, area code, region
    site_labels: tuple[str, ...]  # "{city}" is replaced
    billing_labels: tuple[str, ...]
    phone_formats: tuple[PhoneFormat, ...]
    tld: str
    number_first: bool  # "12 Station Road" rather than "Hauptstraße 12"
    names_de: str  # the country's name as a German distributor writes it
    names_en: tuple[str, ...]  # how English-speaking systems write it


def _translation(pairs: str) -> dict[int, str]:
    """A str.translate table written as "from=to|from=to"."""
    return str.maketrans(dict(p.split("=") for p in pairs.split("|")))


_FOLD = _translation(
    "ä=ae|ö=oe|ü=ue|ß=ss|Ä=Ae|Ö=Oe|Ü=Ue|é=e|è=e|ê=e|ë=e|à=a|â=a|ç=c|ô=o|î=i|ï=i|û=u|ù=u|É=E|È=E|Ê=E"
)
_STRIP = _translation(
    "ä=a|ö=o|ü=u|ß=ss|Ä=A|Ö=O|Ü=U|é=e|è=e|ê=e|ë=e|à=a|â=a|ç=c|ô=o|î=i|ï=i|û=u|ù=u|É=E|È=E|Ê=E"
)


def _variants(name: str, *pairs: tuple[str, str]) -> tuple[str, ...]:
    """A street's spellings: as is, each abbreviation applied, upper case and accent-free."""
    out = [name]
    for long, short in pairs:
        if long in name:
            out.append(name.replace(long, short))
    out.append(name.upper())
    out.append(name.translate(_FOLD))
    return tuple(dict.fromkeys(out))


def _de_street(name: str) -> tuple[str, ...]:
    return _variants(
        name, ("straße", "str."), ("Straße", "Str."), ("straße", "strasse"), ("Straße", "Strasse")
    )


def _fr_street(name: str) -> tuple[str, ...]:
    return _variants(
        name, ("avenue", "av."), ("boulevard", "bd"), ("rue", "r."), ("Zone industrielle", "ZI")
    )


def _nl_street(name: str) -> tuple[str, ...]:
    return _variants(name, ("straat", "str."), ("weg", "wg."), ("laan", "ln."))


def _gb_street(name: str) -> tuple[str, ...]:
    return _variants(
        name, ("Road", "Rd"), ("Street", "St"), ("Lane", "Ln"), ("Industrial Estate", "Ind Est")
    )


def _us_street(name: str) -> tuple[str, ...]:
    return _variants(
        name,
        ("Street", "St"),
        ("Avenue", "Ave"),
        ("Drive", "Dr."),
        ("Parkway", "Pkwy"),
        ("Boulevard", "Blvd"),
        ("Road", "Rd."),
    )


_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        code="DE",
        dial="49",
        surnames=_words(
            "Müller|Schmidt|Schneider|Fischer|Weber|Meyer|Wagner|Becker|Schulz|Hoffmann|Koch|"
            "Richter|Klein|Wolf|Schröder|Neumann|Schwarz|Zimmermann|Braun|Krüger|Hofmann|Hartmann|"
            "Lange|Schmitt|Werner|Krause|Meier|Lehmann|Köhler|Huber|Kaiser|Fuchs|Peters|Lang|Scholz|"
            "Möller|Weiß|Jung|Hahn|Vogel"
        ),
        trades=_words(
            "Metallbau|Präzisionswerkzeuge|Maschinenbau|Industriebedarf|Befestigungstechnik|"
            "Werkzeughandel|Stahlbau|Antriebstechnik|Elektrotechnik|Anlagenbau|Schraubenhandel|"
            "Montagetechnik|Blechbearbeitung|Fördertechnik|Hydraulik"
        ),
        forms=(
            ("GmbH", "Gesellschaft mit beschränkter Haftung"),
            ("GmbH", "GmbH"),
            ("GmbH & Co. KG", "GmbH & Co. Kommanditgesellschaft"),
            ("AG", "Aktiengesellschaft"),
            ("KG", "Kommanditgesellschaft"),
            ("e.K.", "eingetragener Kaufmann"),
        ),
        streets=tuple(
            _de_street(s)
            for s in _words(
                "Hauptstraße|Industriestraße|Bahnhofstraße|Gewerbestraße|Am Hafen|Werkstraße|"
                "Schillerstraße|Max-Planck-Straße|Carl-Zeiss-Ring|Siemensstraße|Robert-Bosch-Straße|"
                "Lindenallee|Gutenbergstraße|Im Gewerbepark|Daimlerstraße|Kanalstraße"
            )
        ),
        cities=(
            ("Berlin", "10", "30", "BE"),
            ("Hamburg", "20", "40", "HH"),
            ("München", "80", "89", "BY"),
            ("Köln", "50", "221", "NW"),
            ("Stuttgart", "70", "711", "BW"),
            ("Düsseldorf", "40", "211", "NW"),
            ("Nürnberg", "90", "911", "BY"),
            ("Bielefeld", "33", "521", "NW"),
            ("Dortmund", "44", "231", "NW"),
            ("Leipzig", "04", "341", "SN"),
            ("Hannover", "30", "511", "NI"),
            ("Mannheim", "68", "621", "BW"),
            ("Augsburg", "86", "821", "BY"),
            ("Kassel", "34", "561", "HE"),
        ),
        site_labels=("Werk {city}", "Lager {city}", "Niederlassung {city}", "Zentrallager"),
        billing_labels=("Rechnungswesen", "Kreditorenbuchhaltung", "Buchhaltung"),
        phone_formats=(
            lambda a, s: f"+49 {a} {s}",
            lambda a, s: f"0{a}-{s}",
            lambda a, s: f"(0{a}) {s[:3]} {s[3:]}",
            lambda a, s: f"+49 (0){a} {s[:-2]}-{s[-2:]}",
            lambda a, s: f"0049{a}{s}",
        ),
        tld="de",
        number_first=False,
        names_de="Deutschland",
        names_en=("Germany", "DE", "DEU"),
    ),
    _Country(
        code="FR",
        dial="33",
        surnames=_words(
            "Martin|Bernard|Dubois|Thomas|Robert|Richard|Petit|Durand|Leroy|Moreau|Simon|Laurent|"
            "Lefèvre|Michel|Garcia|David|Bertrand|Roux|Vincent|Fournier|Morel|Girard|André|Mercier|"
            "Dupont|Lambert|Bonnet|François|Martinez|Legrand|Garnier|Faure|Rousseau|Blanc|Guérin|"
            "Muller|Henry|Roussel|Nicolas"
        ),
        trades=_words(
            "Outillage|Fixations|Mécanique|Industrie|Métallurgie|Équipements Industriels|Visserie|"
            "Maintenance|Usinage|Chaudronnerie|Hydraulique|Manutention"
        ),
        forms=(("SARL", "SARL"), ("SAS", "S.A.S."), ("SA", "S.A."), ("EURL", "EURL")),
        streets=tuple(
            _fr_street(s)
            for s in _words(
                "rue de la République|avenue Jean Jaurès|boulevard Voltaire|rue du Commerce|"
                "Zone industrielle des Près|rue Pasteur|avenue de la Gare|rue Victor Hugo|"
                "rue de l'Industrie|boulevard de Strasbourg|rue des Artisans|"
                "avenue du Général de Gaulle"
            )
        ),
        cities=(
            ("Paris", "75", "1", ""),
            ("Lyon", "69", "4", ""),
            ("Marseille", "13", "4", ""),
            ("Toulouse", "31", "5", ""),
            ("Lille", "59", "3", ""),
            ("Nantes", "44", "2", ""),
            ("Strasbourg", "67", "3", ""),
            ("Bordeaux", "33", "5", ""),
            ("Grenoble", "38", "4", ""),
            ("Rouen", "76", "2", ""),
            ("Saint-Étienne", "42", "4", ""),
            ("Mulhouse", "68", "3", ""),
        ),
        site_labels=("Usine de {city}", "Dépôt {city}", "Entrepôt {city}", "Site de {city}"),
        billing_labels=("Service comptabilité", "Comptabilité fournisseurs"),
        phone_formats=(
            lambda a, s: f"+33 {a} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}",
            lambda a, s: f"0{a} {s[:2]} {s[2:4]} {s[4:6]} {s[6:]}",
            lambda a, s: f"0{a}.{s[:2]}.{s[2:4]}.{s[4:6]}.{s[6:]}",
            lambda a, s: f"0{a}{s}",
            lambda a, s: f"+33 (0){a}{s}",
        ),
        tld="fr",
        number_first=True,
        names_de="Frankreich",
        names_en=("France", "FR", "FRA"),
    ),
    _Country(
        code="NL",
        dial="31",
        surnames=_words(
            "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|"
            "de Boer|Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|de Wit|"
            "Dijkstra|Smits|de Graaf|van der Meer|Kok|Jacobs|van der Linden"
        ),
        trades=_words(
            "Techniek|Bevestigingsmiddelen|Gereedschappen|Metaalbewerking|Machinebouw|Industrie|"
            "Installatietechniek|Staalbouw|Aandrijftechniek|Hydrauliek"
        ),
        forms=(
            ("B.V.", "Besloten Vennootschap"),
            ("BV", "B.V."),
            ("N.V.", "Naamloze Vennootschap"),
        ),
        streets=tuple(
            _nl_street(s)
            for s in _words(
                "Industrieweg|Stationsstraat|Havenstraat|Kerkstraat|Energieweg|Nijverheidsweg|"
                "Ambachtsweg|Handelsweg|Dorpsstraat|Marconilaan|Edisonstraat|Celsiusweg"
            )
        ),
        cities=(
            ("Amsterdam", "10", "20", ""),
            ("Rotterdam", "30", "10", ""),
            ("Utrecht", "35", "30", ""),
            ("Eindhoven", "56", "40", ""),
            ("Den Haag", "25", "70", ""),
            ("Tilburg", "50", "13", ""),
            ("Groningen", "97", "50", ""),
            ("Breda", "48", "76", ""),
            ("Nijmegen", "65", "24", ""),
            ("Venlo", "59", "77", ""),
        ),
        site_labels=("Magazijn {city}", "Vestiging {city}", "Distributiecentrum {city}"),
        billing_labels=("Crediteurenadministratie", "Financiële administratie"),
        phone_formats=(
            lambda a, s: f"+31 {a} {s[:3]} {s[3:]}",
            lambda a, s: f"0{a}-{s}",
            lambda a, s: f"0{a} {s[:3]} {s[3:5]} {s[5:]}",
            lambda a, s: f"+31{a}{s}",
        ),
        tld="nl",
        number_first=False,
        names_de="Niederlande",
        names_en=("Netherlands", "NL", "NLD"),
    ),
    _Country(
        code="GB",
        dial="44",
        surnames=_words(
            "Smith|Jones|Taylor|Brown|Williams|Wilson|Johnson|Davies|Robinson|Wright|Thompson|Evans|"
            "Walker|White|Roberts|Green|Hall|Wood|Jackson|Clarke|Whitfield|Ashford|Brennan|Hughes|"
            "Harrison|Marshall|Fletcher|Barker|Cooper|Turner|Kendall"
        ),
        trades=_words(
            "Engineering|Fasteners|Tool Supply|Industrial Supplies|Precision|Fabrications|"
            "Hydraulics|Machining|Metalworks|Bolt & Nut|Power Transmission|Maintenance Services"
        ),
        forms=(
            ("Ltd", "Limited"),
            ("Ltd.", "Limited"),
            ("PLC", "Public Limited Company"),
        ),
        streets=tuple(
            _gb_street(s)
            for s in _words(
                "Station Road|High Street|Mill Lane|Church Street|Victoria Road|Park Road|"
                "Trafford Park Road|Canal Street|Queens Road|Brunel Industrial Estate|"
                "Albert Street|Kings Lane"
            )
        ),
        cities=(
            ("London", "EC1", "20", ""),
            ("Manchester", "M1", "161", ""),
            ("Birmingham", "B6", "121", ""),
            ("Leeds", "LS1", "113", ""),
            ("Glasgow", "G2", "141", ""),
            ("Bristol", "BS1", "117", ""),
            ("Sheffield", "S3", "114", ""),
            ("Coventry", "CV1", "24", ""),
            ("Leicester", "LE1", "116", ""),
            ("Newcastle upon Tyne", "NE1", "191", ""),
        ),
        site_labels=("{city} Depot", "{city} Works", "Warehouse {city}", "{city} Branch"),
        billing_labels=("Accounts Payable", "Finance Department"),
        phone_formats=(
            lambda a, s: f"+44 {a} {s[:3]} {s[3:]}",
            lambda a, s: f"0{a} {s[:3]} {s[3:]}",
            lambda a, s: f"(0{a}) {s}",
            lambda a, s: f"+44 (0){a} {s}",
        ),
        tld="co.uk",
        number_first=True,
        names_de="Großbritannien",
        names_en=("United Kingdom", "GB", "GBR"),
    ),
    _Country(
        code="US",
        dial="1",
        surnames=_words(
            "Miller|Davis|Anderson|Clark|Lewis|Young|Allen|King|Scott|Baker|Nelson|Carter|Mitchell|"
            "Campbell|Parker|Collins|Stewart|Morris|Murphy|Cook|Rogers|Morgan|Bennett|Reed|Bailey|"
            "Hayes|Sullivan|Foster|Bryant|Harper"
        ),
        trades=_words(
            "Manufacturing|Industrial Supply|Tool & Die|Fastener|Machine Works|Metal Products|"
            "Equipment|Hardware|Precision Parts|Fabrication"
        ),
        forms=(
            ("Inc.", "Incorporated"),
            ("Inc", "Inc."),
            ("Corp.", "Corporation"),
            ("LLC", "L.L.C."),
            ("Co.", "Company"),
        ),
        streets=tuple(
            _us_street(s)
            for s in _words(
                "Main Street|Industrial Parkway|Commerce Drive|Oak Avenue|Lake Shore Boulevard|"
                "Technology Drive|Elm Street|Airport Road|Enterprise Avenue|Washington Street|"
                "Mill Road|Factory Street"
            )
        ),
        cities=(
            ("Chicago", "606", "312", "IL"),
            ("Houston", "770", "713", "TX"),
            ("Cleveland", "441", "216", "OH"),
            ("Detroit", "482", "313", "MI"),
            ("Charlotte", "282", "704", "NC"),
            ("Pittsburgh", "152", "412", "PA"),
            ("Milwaukee", "532", "414", "WI"),
            ("Columbus", "432", "614", "OH"),
            ("Indianapolis", "462", "317", "IN"),
            ("Atlanta", "303", "404", "GA"),
            ("Dallas", "752", "214", "TX"),
            ("Minneapolis", "554", "612", "MN"),
        ),
        site_labels=("{city} Plant", "{city} Distribution Center", "Warehouse {city}"),
        billing_labels=("Accounts Payable", "AP Department"),
        phone_formats=(
            lambda a, s: f"+1 {a} {s[:3]} {s[3:]}",
            lambda a, s: f"({a}) {s[:3]}-{s[3:]}",
            lambda a, s: f"{a}.{s[:3]}.{s[3:]}",
            lambda a, s: f"1-{a}-{s[:3]}-{s[3:]}",
            lambda a, s: f"{a}-{s[:3]}-{s[3:]}",
        ),
        tld="com",
        number_first=True,
        names_de="USA",
        names_en=("United States", "US", "USA"),
    ),
)
_COUNTRY_WEIGHTS = (40, 18, 12, 15, 15)  # the maker is German: most customers are too
_T = TypeVar("_T")
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_STEMS_A = _words(
    "Nord|Süd|West|Ost|Tec|Pro|Inter|Euro|Multi|Uni|Alpha|Delta|Terra|Ferro|Stahl|Metall|Hansa|"
    "Rhein|Elb|Atlas"
)
_STEMS_B = _words(
    "stahl|tec|fix|mont|tool|bau|form|line|tek|werk|con|trade|met|quip|serv|mech|flex|press|drive|"
    "max"
)
_FIRST_NAMES = {
    "DE": ("Anna", "Jonas", "Lena", "Lukas", "Katrin", "Stefan", "Jürgen", "Sabine", "Uwe"),
    "FR": ("Camille", "Louis", "Léa", "Hugo", "Chloé", "Julien", "Élodie", "Nicolas"),
    "NL": ("Sanne", "Daan", "Lotte", "Bram", "Femke", "Joris", "Eva", "Thijs"),
    "GB": ("Oliver", "Amelia", "Harry", "Isla", "George", "Emily", "Jack", "Sophie"),
    "US": ("James", "Mary", "Robert", "Jennifer", "Michael", "Linda", "David", "Ashley"),
}
_NICKNAMES = {"Robert": "Bob", "Michael": "Mike", "James": "Jim", "Jennifer": "Jen"}
_REGIONAL = {
    "DE": ("Nord", "Süd", "Ost", "West", "International"),
    "FR": ("Nord", "Sud", "Est", "Ouest", "International"),
    "NL": ("Noord", "Zuid", "Oost", "International"),
    "GB": ("North", "South", "Midlands", "International"),
    "US": ("East", "West", "Midwest", "International"),
}
_AND = {
    "DE": (" und ", " u. ", " + "),
    "FR": (" et ", " + "),
    "NL": (" en ", " + "),
    "GB": (" and ", " + "),
    "US": (" and ", " + "),
}
_EMAIL_LOCALS = ("info", "purchasing", "accounts", "orders", "contact", "ap")
_LOCAL_EMAIL = {"DE": ("einkauf", "info"), "FR": ("achats", "contact"), "NL": ("inkoop", "info")}
_MAIL_DOMAINS = ("gmail.com", "web.de", "gmx.de", "outlook.com", "yahoo.com", "orange.fr")


# --------------------------------------------------------------------------------------------
# Cheap variation functions
# --------------------------------------------------------------------------------------------


def _pick(rng: random.Random, seq: Sequence[_T]) -> _T:
    """A uniform choice, three times cheaper than ``Random.choice``."""
    return seq[int(rng.random() * len(seq))]


def _int(rng: random.Random, low: int, high: int) -> int:
    """A uniform integer in ``[low, high)``, cheaper than ``Random.randrange``."""
    return low + int(rng.random() * (high - low))


def _cumulative(weights: Sequence[float]) -> tuple[float, ...]:
    total = sum(weights)
    # The last bound is exactly 1.0 so that bisect never runs past the end.
    return (*accumulate(w / total for w in weights[:-1]), 1.0)


def _typo(rng: random.Random, text: str) -> str:
    """One keyboard slip: two letters swapped, one dropped or one doubled."""
    n = len(text)
    if n < 5:
        return text
    i = _int(rng, 1, n - 2)
    r = rng.random()
    if r < 0.4:
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    if r < 0.7:
        return text[:i] + text[i + 1 :]
    return text[:i] + text[i] + text[i:]


def _ean13(body12: str) -> str:
    return body12 + ean.calc_check_digit(body12)


def _break_check_digit(code: str) -> str:
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def _de_vat(rng: random.Random) -> str:
    body = str(_int(rng, 10_000_000, 99_999_999))
    return "DE" + body + mod_11_10.calc_check_digit(body)


def _fr_vat(rng: random.Random) -> str:
    body = str(_int(rng, 10_000_000, 99_999_999))
    siren = body + luhn.calc_check_digit(body)
    key = (12 + 3 * (int(siren) % 97)) % 97
    return f"FR{key:02d}{siren}"


def _nl_vat(rng: random.Random) -> str:
    while True:
        body = str(_int(rng, 10_000_000, 99_999_999))
        check = sum((9 - i) * int(d) for i, d in enumerate(body)) % 11
        if check < 10:
            return f"NL{body}{check}B01"


def _gb_vat(rng: random.Random) -> str:
    body = str(_int(rng, 1_000_000, 9_999_999))
    total = sum(w * int(d) for w, d in zip((8, 7, 6, 5, 4, 3, 2), body, strict=True))
    return f"GB{body}{(-total) % 97:02d}"


def _us_ein(rng: random.Random) -> str:
    return (
        f"{_pick(rng, ('20', '26', '36', '38', '45', '46', '81', '84'))}-{_int(rng, 10**6, 10**7)}"
    )


_TAX_ID = {"DE": _de_vat, "FR": _fr_vat, "NL": _nl_vat, "GB": _gb_vat, "US": _us_ein}


def _vat_variant(rng: random.Random, vat: str) -> str:
    """The same VAT number as another system keys it in."""
    r = rng.random()
    if r < 0.55:
        return vat
    if r < 0.7:
        return vat[:2] + " " + " ".join(vat[i : i + 3] for i in range(2, len(vat), 3))
    if r < 0.85:
        return vat[2:]  # without the country prefix
    if r < 0.95:
        return vat.lower()
    return vat[:2] + "-" + vat[2:]


@lru_cache(maxsize=65536)
def _slug(text: str) -> str:
    return _NOT_SLUG.sub("-", text.translate(_FOLD).lower().replace("&", "")).strip("-")


def _website_variant(rng: random.Random, domain: str) -> str:
    r = rng.random()
    if r < 0.4:
        return "www." + domain
    if r < 0.6:
        return f"https://www.{domain}/"
    if r < 0.8:
        return "http://" + domain
    return domain


def _postal_variant(rng: random.Random, country: str, postal: str) -> str:
    r = rng.random()
    if r > 0.25:
        return postal
    if country == "DE":
        return "D-" + postal
    if country in {"NL", "GB"}:
        return postal.replace(" ", "") if r < 0.15 else postal.lower()
    if country == "US":
        return f"{postal}-{_int(rng, 1000, 9999)}"
    return postal


# --------------------------------------------------------------------------------------------
# Customers
# --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Address:
    street: tuple[str, ...]  # spellings of one street
    number: str
    postal: str
    city: str
    region: str
    area: str  # phone area code


@dataclass(slots=True)
class _Party:
    """One real-world customer entity: a legal entity, one of its sites, or a person."""

    key: str
    role: str  # legal_entity | bill_to | ship_to | person
    country: _Country
    core: str  # the name without legal form (a person: "First Last")
    form: tuple[str, str]
    address: _Address
    phone: str  # subscriber digits
    tax_id: str
    domain: str
    label: str = ""  # a site's descriptor ("Werk Hamburg")
    stale: _Address | None = None  # a former address some sources still carry
    first: str = ""
    last: str = ""
    duns: str = ""
    mailbox: str = ""  # a person's own e-mail address


def _address(rng: random.Random, country: _Country) -> _Address:
    city, prefix, area, region = _pick(rng, country.cities)
    code = country.code
    if code == "NL":
        letters = _pick(rng, "ABCDEGHJKLMNPRST") + _pick(rng, "ABCDEFHJKLMNRSTVWXZ")
        postal = f"{prefix}{_int(rng, 10, 99)} {letters}"
    elif code == "GB":
        letters = _pick(rng, "ABDEFGHJLNPQRSTUWXYZ") + _pick(rng, "ABDEFGHJLNPQRSTUWXYZ")
        postal = f"{prefix} {_int(rng, 1, 9)}{letters}"
    elif code == "US":
        postal = f"{prefix}{_int(rng, 1, 99):02d}"
    else:
        postal = f"{prefix}{_int(rng, 100, 999)}"
    number = (
        str(100 + 2 * _int(rng, 0, 4850))
        if code == "US"
        else str(_int(rng, 1, 180)) + ("a" if rng.random() < 0.05 else "")
    )
    return _Address(_pick(rng, country.streets), number, postal, city, region, area)


class _Domains:
    """The web domains and mailboxes handed out so far in one stream: none is shared.

    Two companies may bear the same name in different towns, but a domain has one owner: the
    first takes the name's slug, the next the slug with its head-office town, then with a
    number. A shard other than the first, written apart from the others, never takes the bare
    slug and tags the town form with its shard number, so no two shards hand out the same one.
    """

    def __init__(self, shard: int = 0) -> None:
        self.shard = shard
        self.taken: set[str] = set()

    def _first_free(self, names: Iterable[str]) -> str:
        name = next(n for n in names if n not in self.taken)
        self.taken.add(name)
        return name

    def claim(self, core: str, city: str, tld: str) -> str:
        """A company's web domain."""
        base = _slug(core)
        town = f"{base}-{_slug(city)}{self.shard or ''}"
        bare = [base] if self.shard == 0 else []
        numbered = (f"{town}-{n}" for n in itertools.count(2))
        return f"{self._first_free(itertools.chain(bare, [town], numbered))}.{tld}"

    def mailbox(self, first: str, last: str, domain: str) -> str:
        """A person's address at a free mail provider: first.last, else with a number."""
        local = f"{first}.{last}".lower().replace(" ", "").translate(_FOLD)
        local += f".{self.shard}" if self.shard else ""
        numbered = (f"{local}{n}@{domain}" for n in itertools.count(2))
        return self._first_free(itertools.chain([f"{local}@{domain}"], numbered))


def _company(rng: random.Random, key: str, domains: _Domains | None) -> _Party:
    """A company; ``domains`` hands out its web domain (``None``: the caller claims one)."""
    country = _COUNTRIES[bisect(_COUNTRY_CUM, rng.random())]
    r = rng.random()
    surname = _pick(rng, country.surnames)
    trade = _pick(rng, country.trades)
    if r < 0.45:
        core = f"{surname} {trade}"
    elif r < 0.6:
        core = f"{surname} & {_pick(rng, country.surnames)} {trade}"
    elif r < 0.85:
        core = f"{_pick(rng, _STEMS_A)}{_pick(rng, _STEMS_B)} {trade}"
    elif country.code == "FR":
        core = f"{_pick(rng, ('Ateliers', 'Établissements', 'Société'))} {surname}"
    else:
        core = f"{_pick(rng, _STEMS_A)}{_pick(rng, _STEMS_B)}"
    form = _pick(rng, country.forms)
    address = _address(rng, country)
    return _Party(
        key=key,
        role="legal_entity",
        country=country,
        core=core,
        form=form,
        address=address,
        phone=str(_int(rng, 1_000_000, 9_999_999))
        + (str(_int(rng, 0, 9)) if country.code == "FR" else ""),
        tax_id=_TAX_ID[country.code](rng),
        domain=domains.claim(core, address.city, country.tld) if domains else "",
        stale=_address(rng, country) if rng.random() < 0.15 else None,
        duns=str(_int(rng, 10**8, 10**9)) if rng.random() < 0.3 else "",
    )


def _lookalike(rng: random.Random, of: _Party, key: str, domains: _Domains) -> _Party:
    """A different company whose name is nearly the same (a hard negative)."""
    other = _company(rng, key, None)
    other.country = of.country
    other.tax_id = _TAX_ID[of.country.code](rng)
    other.address = _address(rng, of.country)
    r = rng.random()
    words = of.core.split(" ")
    if r < 0.4 or len(words) < 2:
        other.core = of.core
        forms = [f for f in of.country.forms if f[0] != of.form[0]] or list(of.country.forms)
        other.form = _pick(rng, forms)
    elif r < 0.7:
        other.core = " ".join([*words[:-1], _pick(rng, of.country.trades)])
        other.form = of.form
    else:  # the same name with a regional suffix
        other.core = f"{of.core} {_pick(rng, _REGIONAL[of.country.code])}"
        other.form = of.form
    other.domain = domains.claim(other.core, other.address.city, of.country.tld)
    return other


def _sites(rng: random.Random, company: _Party) -> Iterator[_Party]:
    country = company.country
    if rng.random() < 0.4:
        same_address = rng.random() < 0.5
        yield _Party(
            key=company.key + "-B",
            role="bill_to",
            country=country,
            core=company.core,
            form=company.form,
            address=company.address if same_address else _address(rng, country),
            phone=company.phone,
            tax_id=company.tax_id,
            domain=company.domain,
            label=_pick(rng, country.billing_labels),
        )
    r = rng.random()
    count = 0 if r < 0.3 else 1 if r < 0.65 else 2 if r < 0.9 else 3
    for i in range(count):
        # The first ship-to is often the head office itself: same name, same address.
        at_home = i == 0 and rng.random() < 0.3
        address = company.address if at_home else _address(rng, country)
        label = _pick(rng, country.site_labels).replace("{city}", address.city)
        yield _Party(
            key=f"{company.key}-S{i + 1}",
            role="ship_to",
            country=country,
            core=company.core,
            form=company.form,
            address=address,
            phone=str(_int(rng, 1_000_000, 9_999_999))
            + (str(_int(rng, 0, 9)) if country.code == "FR" else ""),
            tax_id=company.tax_id,
            domain=company.domain,
            label="" if at_home else label,
        )


def _person(rng: random.Random, key: str, domains: _Domains) -> _Party:
    country = _COUNTRIES[bisect(_COUNTRY_CUM, rng.random())]
    first = _pick(rng, _FIRST_NAMES[country.code])
    last = _pick(rng, country.surnames)
    domain = _pick(rng, _MAIL_DOMAINS)
    return _Party(
        key=key,
        role="person",
        country=country,
        core=f"{first} {last}",
        form=("", ""),
        address=_address(rng, country),
        phone=str(_int(rng, 1_000_000, 9_999_999))
        + (str(_int(rng, 0, 9)) if country.code == "FR" else ""),
        tax_id="",
        domain=domain,
        first=first,
        last=last,
        mailbox=domains.mailbox(first, last, domain),
    )


def _company_name(rng: random.Random, party: _Party) -> str:
    """The company's name as one source keyed it in."""
    core = party.core
    r = rng.random()
    if r < 0.08:
        core = _typo(rng, core)
    elif r < 0.16:
        core = core.translate(_FOLD if rng.random() < 0.6 else _STRIP)
    elif r < 0.21 and " " in core and "&" not in core:
        head, _, tail = core.partition(" ")
        core = f"{tail} {head}"
    elif r < 0.26 and " & " in core:
        core = core.replace(" & ", _pick(rng, _AND[party.country.code]))
    elif r < 0.3:
        core = core.upper()
    r = rng.random()
    if r < 0.7:
        form = party.form[0]
    elif r < 0.88:
        form = party.form[1]
    else:
        form = ""
    return f"{core} {form}" if form else core


def _street_line(rng: random.Random, country: _Country, address: _Address) -> str:
    street = address.street[0] if rng.random() < 0.55 else _pick(rng, address.street)
    if country.number_first:
        sep = ", " if country.code == "FR" and rng.random() < 0.2 else " "
        return f"{address.number}{sep}{street}"
    return f"{street} {address.number}"


def _phone(rng: random.Random, party: _Party) -> str:
    return _pick(rng, party.country.phone_formats)(party.address.area, party.phone)


def _email(rng: random.Random, party: _Party) -> str:
    if party.mailbox:
        return party.mailbox
    local = _LOCAL_EMAIL.get(party.country.code, _EMAIL_LOCALS)
    return f"{_pick(rng, local if rng.random() < 0.5 else _EMAIL_LOCALS)}@{party.domain}"


def _where(rng: random.Random, party: _Party, stale_ok: bool) -> _Address:
    if stale_ok and party.stale is not None and rng.random() < 0.6:
        return party.stale
    return party.address


def _sf_id(serial: int) -> str:
    """An 18-character Salesforce account ID with its case-safe suffix.

    The serial is scrambled by a multiplier prime to 62, a bijection on 62**6 numbers, so IDs
    look random yet never repeat.
    """
    n = (serial * 2654435761 + 104729) % 56800235584  # 62**6
    pairs = _BASE62_PAIRS
    id15 = "0015J0000" + pairs[n // 14776336] + pairs[n // 3844 % 3844] + pairs[n % 3844]
    bits = id15.translate(_UPPER_BIT)
    return (
        id15
        + _SF_SUFFIX[int(bits[4::-1], 2)]
        + _SF_SUFFIX[int(bits[9:4:-1], 2)]
        + _SF_SUFFIX[int(bits[14:9:-1], 2)]
    )


_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SF_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62_PAIRS = tuple(a + b for a in _BASE62 for b in _BASE62)
_UPPER_BIT = str.maketrans({c: ("1" if c.isupper() else "0") for c in _BASE62})


# --------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    code: str  # series prefix of the part number
    category: str
    name_en: str
    name_de: str
    variants: tuple[tuple[str, str], ...]  # (label, part-number suffix)
    unit: str  # ERP unit: ST piece, PAK pack, PAA pair
    price: float
    weight: float
    # Spellings computed once rather than per record.
    erp_name: str = ""  # upper-case German, as the ERP's MAKTX
    erp_group: str = ""  # MATKL
    en_words: tuple[str, ...] = ()  # upper-case English words, as the distributor writes
    weight_de: str = ""  # with a decimal comma


def _template(
    names: tuple[str, str, str, str], variants: str, unit: str, price: float, weight: float
) -> _Template:
    """A template whose variants are written "label=part-number suffix|..."."""
    split = (v.partition("=") for v in variants.split("|"))
    pairs = tuple((label, suffix) for label, _, suffix in split)
    code, category, name_en, name_de = names
    return _Template(
        code,
        category,
        name_en,
        name_de,
        pairs,
        unit,
        price,
        weight,
        erp_name=name_de.upper(),
        erp_group=category[:9].upper().replace(" ", ""),
        en_words=tuple(name_en.upper().replace("(", "").replace(")", "").split()),
        weight_de=f"{weight:.2f}".replace(".", ","),
    )


_TEMPLATES: tuple[_Template, ...] = (
    _template(("CD", "Power Tools", "Cordless Drill Driver 18V",
               "Akku-Bohrschrauber 18V"),
              "45 Nm=45|60 Nm=60|80 Nm=80", "ST", 129.0, 1.6),
    _template(("CID", "Power Tools", "Cordless Impact Driver 18V",
               "Akku-Schlagschrauber 18V"),
              "180 Nm=180|250 Nm=250", "ST", 159.0, 1.4),
    _template(("AG", "Power Tools", "Angle Grinder",
               "Winkelschleifer"),
              "115 mm=115|125 mm=125|230 mm=230", "ST", 89.0, 2.1),
    _template(("HB", "Fasteners", "Hex Head Bolt DIN 933 A2-70 (100 pcs)",
               "Sechskantschraube DIN 933 A2-70"),
              "M6x20=M6X20|M8x30=M8X30|M8x40=M8X40|M10x50=M10X50|M12x60=M12X60",
              "PAK", 18.5, 1.0),
    _template(("HN", "Fasteners", "Hex Nut DIN 934 zinc plated (200 pcs)",
               "Sechskantmutter DIN 934 verzinkt"),
              "M6=M6|M8=M8|M10=M10|M12=M12", "PAK", 9.9, 0.8),
    _template(("WS", "Fasteners", "Wood Screw Torx countersunk (500 pcs)",
               "Holzschraube Torx Senkkopf"),
              "4x40=4X40|5x60=5X60|6x80=6X80", "PAK", 14.9, 1.2),
    _template(("AN", "Fasteners", "Nylon Wall Plug (100 pcs)",
               "Nylondübel"),
              "6 mm=6|8 mm=8|10 mm=10", "PAK", 6.5, 0.2),
    _template(("CW", "Hand Tools", "Combination Wrench",
               "Ring-Maulschlüssel"),
              "10 mm=10|13 mm=13|17 mm=17|19 mm=19", "ST", 8.9, 0.15),
    _template(("TW", "Hand Tools", "Torque Wrench 1/2 inch",
               "Drehmomentschlüssel 1/2 Zoll"),
              "40-200 Nm=200|60-340 Nm=340", "ST", 119.0, 1.7),
    _template(("SD", "Hand Tools", "Screwdriver Set VDE",
               "Schraubendreher-Satz VDE"),
              "6 pcs=6|8 pcs=8", "ST", 34.9, 0.6),
    _template(("TD", "Drilling", "HSS-G Twist Drill Bit DIN 338",
               "HSS-G Spiralbohrer DIN 338"),
              "3.0 mm=030|5.0 mm=050|8.0 mm=080|10.0 mm=100", "ST", 3.9, 0.02),
    _template(("SDS", "Drilling", "SDS-plus Hammer Drill Bit",
               "SDS-plus Hammerbohrer"),
              "6x160=6160|8x160=8160|10x210=10210", "ST", 5.9, 0.08),
    _template(("CDI", "Abrasives", "Cutting Disc INOX (25 pcs)",
               "Trennscheibe INOX"),
              "115x1.0 mm=1151|125x1.0 mm=1251|230x1.9 mm=2302", "PAK", 24.9, 1.5),
    _template(("FD", "Abrasives", "Flap Disc Zirconia",
               "Fächerschleifscheibe Zirkon"),
              "P40=40|P60=60|P80=80|P120=120", "ST", 3.5, 0.1),
    _template(("SG", "Safety", "Cut Protection Gloves Level C",
               "Schnittschutzhandschuh Stufe C"),
              "size 8=08|size 9=09|size 10=10", "PAA", 7.9, 0.1),
    _template(("WJ", "Workwear", "Softshell Work Jacket",
               "Softshell-Arbeitsjacke"),
              "black M=BK-M|black L=BK-L|grey L=GY-L|navy XL=NV-XL", "ST", 59.0, 0.9),
    _template(("SH", "Safety", "Safety Helmet EN 397",
               "Schutzhelm EN 397"),
              "white=WH|yellow=YE|red=RD", "ST", 12.9, 0.4),
    _template(("TB", "Storage", "Tool Trolley 7 drawers",
               "Werkstattwagen 7 Schubladen"),
              "red=RD|blue=BL|anthracite=AN", "ST", 399.0, 48.0),
    _template(("LV", "Measuring", "Spirit Level aluminium",
               "Wasserwaage Aluminium"),
              "60 cm=60|100 cm=100|120 cm=120", "ST", 24.9, 0.7),
    _template(("TM", "Measuring", "Tape Measure",
               "Bandmaß"),
              "5 m=5|8 m=8", "ST", 11.9, 0.3),
)  # fmt: skip
# Brand, GS1 prefix for EAN-13 (None: a US brand with UPC-12), own brand?
_BRANDS: tuple[tuple[str, str | None, bool], ...] = (
    ("HARVO", "426", True),
    ("HARVO Pro", "426", True),
    ("Kronmark", "400", False),
    ("Steelgrip", "401", False),
    ("Boltex", "402", False),
    ("Vireo Tools", None, False),
    ("Ironbridge", None, False),
    ("Fixolux", "541", False),
    ("Tornavis", "300", False),
)
_BRAND_WEIGHTS = (30, 10, 12, 12, 10, 8, 6, 6, 6)
_BRAND_CUM = _cumulative(_BRAND_WEIGHTS)
_COUNTRY_CUM = _cumulative(_COUNTRY_WEIGHTS)
_UOM_DIST_NORTH = {"ST": "Stk", "PAK": "Pack", "PAA": "Paar"}
_UOM_DIST_SOUTH = {"ST": "EA", "PAK": "PK", "PAA": "PR"}


@dataclass(slots=True)
class _Item:
    key: str
    template: _Template
    brand: str
    variant: tuple[str, str]
    mpn: str
    gtin: str  # EAN-13, or UPC-12 for a US brand
    price: float
    bad_gtin: bool


def _family(rng: random.Random, family_no: int) -> tuple[_Template, list[_Item]]:
    template = _pick(rng, _TEMPLATES)
    brand, gs1, _own = _BRANDS[bisect(_BRAND_CUM, rng.random())]
    series = f"{template.code}{1000 + family_no}"
    # A family carries a run of neighbouring sizes (or models, or colours) of its template.
    start = _int(rng, 0, len(template.variants))
    variants = template.variants[start : start + 1 + _int(rng, 0, len(template.variants) - start)]
    price = round(template.price * rng.uniform(0.8, 1.3), 2)
    items = []
    for i, variant in enumerate(variants):
        serial = family_no * 8 + i
        if gs1 is None:
            upc11 = f"0{(serial * 7654321 + 13579) % 10**10:010d}"
            gtin = upc11 + ean.calc_check_digit(upc11)
        else:
            # A bijective scramble of the serial: unique, but not visibly sequential.
            gtin = _ean13(f"{gs1}{(serial * 7654321 + 1234567) % 10**9:09d}")
        items.append(
            _Item(
                key=f"P{serial:09d}",
                template=template,
                brand=brand,
                variant=variant,
                mpn=f"{series}-{variant[1]}",
                gtin=gtin,
                price=round(price * (1 + 0.15 * i), 2),
                bad_gtin=rng.random() < 0.02,
            )
        )
    return template, items


def _gtin_variant(rng: random.Random, item: _Item, source: str) -> str:
    gtin = _break_check_digit(item.gtin) if item.bad_gtin else item.gtin
    r = rng.random()
    if source in {"erp", "dist_north"}:
        if len(gtin) == 12:
            return "0" + gtin
        return "0" + gtin if r < 0.1 else gtin
    if r < 0.3:
        return gtin.zfill(14)
    if r < 0.4 and gtin.startswith("0") and len(gtin) == 13:
        return gtin[1:]
    return gtin


def _mpn_variant(rng: random.Random, mpn: str) -> str:
    r = rng.random()
    if r < 0.5:
        return mpn
    if r < 0.62:
        return mpn.replace("-", "")
    if r < 0.74:
        return mpn.replace("-", " ")
    if r < 0.84:
        return mpn.lower()
    if r < 0.92:
        return mpn.replace("-", "/")
    # a space between the letters and the digits of the series, as a catalogue prints it
    i = next((k for k, c in enumerate(mpn) if c.isdigit()), 0)
    return f"{mpn[:i]} {mpn[i:]}"


def _de_price(value: float) -> str:
    return f"{value:.2f}".replace(".", ",")


# --------------------------------------------------------------------------------------------
# Writing the sources
# --------------------------------------------------------------------------------------------


class _Writers:
    """The open part files of one shard, and its record counts."""

    def __init__(self, stack: ExitStack, out_dir: Path, entity_type: str, shard: int) -> None:
        files = CUSTOMER_FILES if entity_type == "customer" else PRODUCT_FILES
        self.csv: dict[str, Any] = {}
        self.jsonl: dict[str, IO[bytes]] = {}
        self.records: dict[str, int] = dict.fromkeys(files.values(), 0)
        for name in files.values():
            path = out_dir / _part_name(name, shard)
            if name.endswith(".jsonl"):
                self.jsonl[name] = stack.enter_context(path.open("wb"))
                continue
            delimiter, encoding = CSV_DIALECT[name]
            handle = stack.enter_context(
                path.open("w", encoding=encoding, errors="replace", newline="")
            )
            writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
            if shard == 0:
                writer.writerow(_CSV_HEADERS[name])
            self.csv[name] = writer
        truth_part = out_dir / _part_name(f"truth-{entity_type}.csv", shard)
        truth = stack.enter_context(truth_part.open("w", encoding="utf-8"))
        # IDs and keys never hold a comma or quote, so a plain write is valid CSV (and faster).
        self._truth_write = truth.write
        self._prefix = {name: f"{entity_type},{src}," for src, name in files.items()}

    def row(self, name: str, values: tuple[Any, ...], source_id: str, key: str) -> None:
        """Write one CSV record and its truth row."""
        self.csv[name].writerow(values)
        self.records[name] += 1
        self._truth_write(f"{self._prefix[name]}{source_id},{key}\n")

    def line(self, name: str, document: dict[str, Any], source_id: str, key: str) -> None:
        """Write one JSON lines record and its truth row."""
        self.jsonl[name].write(orjson.dumps(document) + b"\n")
        self.records[name] += 1
        self._truth_write(f"{self._prefix[name]}{source_id},{key}\n")

    def block(self, name: str, document: dict[str, Any], records: int) -> None:
        """Write a JSON line that holds several records (their truth rows go separately)."""
        self.jsonl[name].write(orjson.dumps(document) + b"\n")
        self.records[name] += records

    def truth_row(self, entity_type: str, source: str, source_id: str, key: str) -> None:
        self._truth_write(f"{entity_type},{source},{source_id},{key}\n")


@dataclass(slots=True)
class _Counters:
    """Source numbering of one shard; shard k starts its numbers k million higher."""

    kunnr: int = 100_000
    crm: int = 0
    dist_north: int = 20_000
    dist_south: int = 0
    buyer: int = 0
    matnr: int = 10_000_000
    listing: int = 0
    shop: int = 0


@dataclass(slots=True)
class _CustomerSources:
    erp: bool
    crm: bool
    dist_north: bool
    dist_south: bool
    marketplace: bool


def _pick_sources(rng: random.Random, company: _Party) -> _CustomerSources:
    code = company.country.code
    north = 0.35 if code in {"DE", "NL", "GB"} else 0.05
    south = 0.35 if code in {"FR", "DE", "US"} else 0.05
    chosen = _CustomerSources(
        erp=rng.random() < 0.85,
        crm=rng.random() < 0.7,
        dist_north=rng.random() < north,
        dist_south=rng.random() < south,
        marketplace=rng.random() < 0.08,
    )
    if not (chosen.erp or chosen.crm):
        chosen.erp = True
    return chosen


def _erp_row(
    rng: random.Random, party: _Party, kunnr: str, parvw: str, parent: str, *, deleted: bool
) -> tuple[str, ...]:
    country = party.country
    name = _company_name(rng, party)
    name2 = ""
    if party.label:
        name2 = party.label
    elif len(name) > 35:
        name, _, name2 = name.rpartition(" ")
    address = party.address
    us = country.code == "US"
    return (
        kunnr,
        parvw,
        parent,
        name,
        name2,
        _street_line(rng, country, address),
        address.city,
        address.postal,
        address.region,
        country.code,
        "" if us or rng.random() < 0.05 else party.tax_id,
        party.tax_id if us else "",
        _phone(rng, party) if rng.random() < 0.9 else "",
        _email(rng, party) if rng.random() < 0.4 else "",
        "X" if deleted else "",
    )


def _crm_doc(
    rng: random.Random, party: _Party, sf_id: str, parent: str | None, *, deleted: bool
) -> dict[str, Any]:
    country = party.country
    address = _where(rng, party, stale_ok=False)
    street = _street_line(rng, country, address)
    country_name = _pick(rng, country.names_en)
    name = _company_name(rng, party)
    if party.label:
        name = f"{name} - {party.label}" if rng.random() < 0.7 else f"{name} ({party.label})"
    kind = {"legal_entity": "Customer", "bill_to": "Bill-To", "ship_to": "Ship-To"}[party.role]
    if party.role == "legal_entity" and rng.random() < 0.1:
        kind = "Prospect"
    billing = party.role != "ship_to"
    doc: dict[str, Any] = {
        "attributes": {"type": "Account"},
        "Id": sf_id,
        "Name": name,
        "ParentId": parent,
        "Type": kind,
        "BillingStreet": street if billing else None,
        "BillingCity": address.city if billing else None,
        "BillingState": (address.region or None) if billing else None,
        "BillingPostalCode": _postal_variant(rng, country.code, address.postal)
        if billing
        else None,
        "BillingCountry": country_name if billing else None,
        "ShippingStreet": None if billing else street,
        "ShippingCity": None if billing else address.city,
        "ShippingState": None if billing else (address.region or None),
        "ShippingPostalCode": None
        if billing
        else _postal_variant(rng, country.code, address.postal),
        "ShippingCountry": None if billing else country_name,
        "Website": _website_variant(rng, party.domain) if rng.random() < 0.6 else None,
        "Phone": _phone(rng, party) if rng.random() < 0.8 else None,
        "VAT_Number__c": None,
        "DunsNumber": party.duns or None,
        "IsDeleted": deleted,
    }
    if country.code != "US" and party.role != "ship_to" and rng.random() < 0.75:
        doc["VAT_Number__c"] = _vat_variant(rng, party.tax_id)
    return doc


def _dist_north_row(rng: random.Random, party: _Party, number: str) -> tuple[str, ...]:
    country = party.country
    address = _where(rng, party, stale_ok=True)
    name = _company_name(rng, party)
    # The second name line is an attention line, not part of the name.
    name2 = _pick(rng, ("z. Hd. Einkauf", "Wareneingang", "Tor 3")) if rng.random() < 0.2 else ""
    return (
        number,
        name,
        name2,
        _street_line(rng, country, address),
        _postal_variant(rng, country.code, address.postal),
        address.city,
        country.names_de if rng.random() < 0.8 else country.code,
        _vat_variant(rng, party.tax_id) if country.code != "US" and rng.random() < 0.6 else "",
        _phone(rng, party) if rng.random() < 0.85 else "",
        _email(rng, party) if rng.random() < 0.5 else "",
    )


def _dist_south_row(rng: random.Random, party: _Party, number: str) -> tuple[str, ...]:
    country = party.country
    address = _where(rng, party, stale_ok=True)
    name = _company_name(rng, party)
    return (
        number,
        name,
        _street_line(rng, country, address),
        _postal_variant(rng, country.code, address.postal),
        address.city.upper() if rng.random() < 0.3 else address.city,
        address.region,
        _pick(rng, country.names_en[1:]),
        _vat_variant(rng, party.tax_id) if rng.random() < 0.5 else "",
        _phone(rng, party) if rng.random() < 0.7 else "",
        _email(rng, party) if rng.random() < 0.3 else "",
        _website_variant(rng, party.domain) if rng.random() < 0.4 else "",
    )


def _buyer_doc(rng: random.Random, party: _Party, buyer_id: str, copy: int) -> dict[str, Any]:
    country = party.country
    address = _where(rng, party, stale_ok=True)
    line1 = _street_line(rng, country, address)
    doc: dict[str, Any] = {
        "buyer_id": buyer_id,
        "account_type": "private" if party.role == "person" else "business",
        "company_name": None,
        "first_name": None,
        "last_name": None,
        "email": None,
        "phone": _phone(rng, party) if rng.random() < 0.6 else None,
        "vat_id": None,
        "default_address": {
            "line1": line1,
            "line2": None,
            "city": address.city,
            "state": address.region or None,
            "zip": _postal_variant(rng, country.code, address.postal),
            "country_code": country.code,
        },
        "registered_at": f"20{_int(rng, 15, 26)}-{_int(rng, 1, 13):02d}-{_int(rng, 1, 29):02d}",
    }
    if party.role == "person":
        first = party.first
        if rng.random() < 0.15:
            first = _NICKNAMES.get(first, first[0] + ".")
        last = party.last.upper() if rng.random() < 0.1 else party.last
        doc["first_name"] = first
        doc["last_name"] = _typo(rng, last) if rng.random() < 0.08 else last
        # A second account of the same person: another address of the same mailbox name (an
        # underscore, which no other person's mailbox has).
        local, _, domain = party.mailbox.partition("@")
        doc["email"] = party.mailbox if copy == 0 else f"{local}_{copy + _int(rng, 1, 99)}@{domain}"
    else:
        doc["company_name"] = _company_name(rng, party)
        doc["email"] = _email(rng, party)
        if country.code != "US" and rng.random() < 0.5:
            doc["vat_id"] = _vat_variant(rng, party.tax_id)
    return doc


def _emit_customer_group(
    rng: random.Random, out: _Writers, n: _Counters, company: _Party, group_parent: dict[str, str]
) -> int:
    """Write one company and its sites to the sources that know them; return entities."""
    chosen = _pick_sources(rng, company)
    entities = 1
    erp_id = crm_id = ""
    erp_file, crm_file = CUSTOMER_FILES["erp"], CUSTOMER_FILES["crm"]
    if chosen.erp:
        n.kunnr += 1
        erp_id = f"{n.kunnr:010d}"
        deleted = rng.random() < 0.01
        out.row(
            erp_file,
            _erp_row(rng, company, erp_id, "AG", group_parent.get("erp", ""), deleted=deleted),
            erp_id,
            company.key,
        )
    if chosen.crm:
        n.crm += 1
        crm_id = _sf_id(n.crm)
        deleted = rng.random() < 0.01
        out.line(
            crm_file,
            _crm_doc(rng, company, crm_id, group_parent.get("crm"), deleted=deleted),
            crm_id,
            company.key,
        )
    if chosen.dist_north:
        n.dist_north += 1
        number = f"K{n.dist_north}"
        out.row(
            CUSTOMER_FILES["dist_north"], _dist_north_row(rng, company, number), number, company.key
        )
    if chosen.dist_south:
        n.dist_south += 1
        number = f"C-{n.dist_south:06d}"
        out.row(
            CUSTOMER_FILES["dist_south"], _dist_south_row(rng, company, number), number, company.key
        )
    if chosen.marketplace:
        n.buyer += 1
        buyer = f"B{n.buyer:08d}"
        out.line(
            CUSTOMER_FILES["marketplace"], _buyer_doc(rng, company, buyer, 0), buyer, company.key
        )
    bill_erp = bill_crm = ""
    for site in _sites(rng, company):
        entities += 1
        in_erp = bool(erp_id) and rng.random() < 0.95
        in_crm = bool(crm_id) and rng.random() < (0.5 if site.role == "bill_to" else 0.35)
        if not (in_erp or in_crm):
            in_erp = bool(erp_id)
            in_crm = not erp_id
        if in_erp:
            n.kunnr += 1
            kunnr = f"{n.kunnr:010d}"
            parvw = "RE" if site.role == "bill_to" else "WE"
            parent = erp_id if site.role == "bill_to" else (bill_erp or erp_id)
            out.row(
                erp_file, _erp_row(rng, site, kunnr, parvw, parent, deleted=False), kunnr, site.key
            )
            if site.role == "bill_to":
                bill_erp = kunnr
        if in_crm:
            n.crm += 1
            sf_id = _sf_id(n.crm)
            parent = crm_id if site.role == "bill_to" else (bill_crm or crm_id)
            if site.role == "bill_to" and group_parent.get("crm"):
                # The CRM hangs the bill-to under the group, the ERP under the subsidiary.
                parent = group_parent["crm"]
            out.line(
                crm_file, _crm_doc(rng, site, sf_id, parent or None, deleted=False), sf_id, site.key
            )
            if site.role == "bill_to":
                bill_crm = sf_id
    group_parent["erp_last"] = erp_id
    group_parent["crm_last"] = crm_id
    return entities


def _emit_person(rng: random.Random, out: _Writers, n: _Counters, person: _Party) -> None:
    copies = 2 if rng.random() < 0.3 else 1
    for copy in range(copies):
        n.buyer += 1
        buyer = f"B{n.buyer:08d}"
        out.line(
            CUSTOMER_FILES["marketplace"], _buyer_doc(rng, person, buyer, copy), buyer, person.key
        )


def _shard_counters(shard: int) -> _Counters:
    offset = shard * 1_000_000
    return _Counters(
        kunnr=100_000 + offset,
        crm=offset,
        dist_north=20_000 + offset,
        dist_south=offset,
        buyer=offset,
        matnr=10_000_000 + offset,
        listing=offset,
        shop=offset,
    )


def _write_customers(rng: random.Random, out: _Writers, count: int, shard: int) -> int:
    """Write ``count`` top-level customers (companies and persons); return entities."""
    n = _shard_counters(shard)
    entities = 0
    made = shard * _SHARD_SIZE
    end = made + count
    domains = _Domains(shard)
    while made < end:
        made += 1
        key = f"C{made:08d}"
        if rng.random() < 0.15:
            _emit_person(rng, out, n, _person(rng, key, domains))
            entities += 1
            continue
        company = _company(rng, key, domains)
        links: dict[str, str] = {}
        entities += _emit_customer_group(rng, out, n, company, links)
        r = rng.random()
        if made < end and r < 0.06:
            made += 1
            other = _lookalike(rng, company, f"C{made:08d}", domains)
            entities += _emit_customer_group(rng, out, n, other, {})
        elif made < end and r < 0.1:
            made += 1
            child = _company(rng, f"C{made:08d}", domains)
            group = {"erp": links["erp_last"], "crm": links["crm_last"]}
            entities += _emit_customer_group(
                rng, out, n, child, {k: v for k, v in group.items() if v}
            )
    return entities


def _write_products(rng: random.Random, out: _Writers, count: int, shard: int) -> int:
    n = _shard_counters(shard)
    made = 0
    family_no = shard * _SHARD_SIZE
    while made < count:
        family_no += 1
        template, items = _family(rng, family_no)
        items = items[: count - made]
        made += len(items)
        shop_items = []
        in_shop = rng.random() < 0.45
        for item in items:
            _emit_item(rng, out, n, item)
            if in_shop and rng.random() < 0.85:
                shop_items.append(item)
        if in_shop and not shop_items:
            shop_items.append(items[0])
        if in_shop:
            _emit_shop_product(rng, out, n, template, shop_items)
    return made


def _emit_item(rng: random.Random, out: _Writers, n: _Counters, item: _Item) -> None:
    template = item.template
    label = item.variant[0]
    sources = 0
    if rng.random() < 0.85:
        sources += 1
        n.matnr += 1
        matnr = f"{n.matnr:018d}"
        out.row(
            PRODUCT_FILES["erp"],
            (
                matnr,
                f"{template.erp_name} {label.upper()}"[:40],
                _gtin_variant(rng, item, "erp") if rng.random() < 0.95 else "",
                item.mpn,
                item.brand.upper(),
                template.erp_group,
                template.unit,
                template.weight_de,
                "KG",
                _de_price(item.price),
                "EUR",
                "X" if rng.random() < 0.01 else "",
            ),
            matnr,
            item.key,
        )
    if rng.random() < 0.45:
        sources += 1
        n.dist_north += 1
        number = f"A{n.dist_north:07d}"
        out.row(
            PRODUCT_FILES["dist_north"],
            (
                number,
                f"{template.name_de}, {label}"
                if rng.random() < 0.5
                else f"{item.brand} {template.name_de} {label}",
                item.brand if rng.random() < 0.9 else item.brand.upper(),
                _mpn_variant(rng, item.mpn),
                _gtin_variant(rng, item, "dist_north") if rng.random() < 0.8 else "",
                _UOM_DIST_NORTH[template.unit],
                _de_price(round(item.price * 1.12, 2)),
                template.category,
            ),
            number,
            item.key,
        )
    if rng.random() < 0.4 or sources < 2:  # nearly every item is in two sources or more
        sources += 1
        n.dist_south += 1
        number = f"{n.dist_south:07d}"
        words = template.en_words
        desc = " ".join(words[1:] + words[:1]) if rng.random() < 0.4 else " ".join(words)
        out.row(
            PRODUCT_FILES["dist_south"],
            (
                number,
                f"{desc} {label.upper()}",
                item.brand.upper() if rng.random() < 0.5 else item.brand,
                _mpn_variant(rng, item.mpn) if rng.random() < 0.9 else "",
                _gtin_variant(rng, item, "dist_south") if rng.random() < 0.85 else "",
                _UOM_DIST_SOUTH[template.unit],
                f"{item.price * 1.1:.2f}",
                "EUR",
            ),
            number,
            item.key,
        )
    if rng.random() < 0.35:
        n.listing += 1
        listing = f"L{n.listing:09d}"
        mpn = _mpn_variant(rng, item.mpn)
        r = rng.random()
        if r < 0.4:
            title = f"{item.brand} {template.name_en} {label} {mpn}"
        elif r < 0.7:
            title = f"{item.brand} {mpn} {template.name_en}, {label}"
        else:
            title = f"{template.name_en} {label} - {item.brand} {mpn} - NEW"
        doc = {
            "listing_id": listing,
            "seller_sku": f"HV-{item.mpn}",
            "title": title,
            "brand": item.brand if rng.random() < 0.8 else None,
            "gtin": _gtin_variant(rng, item, "marketplace") if rng.random() < 0.6 else None,
            "item_specifics": {"MPN": mpn} if rng.random() < 0.5 else {},
            "category_path": f"Tools > {template.category}",
            "price": {"amount": round(item.price * rng.uniform(0.9, 1.2), 2), "currency": "EUR"},
            "condition": "new",
        }
        out.line(PRODUCT_FILES["marketplace"], doc, listing, item.key)


def _emit_shop_product(
    rng: random.Random, out: _Writers, n: _Counters, template: _Template, items: list[_Item]
) -> None:
    n.shop += 1
    product_id = 7_000_000_000 + n.shop * 13
    brand = items[0].brand
    variants = []
    for i, item in enumerate(items):
        variant_id = 40_000_000_000 + n.shop * 16 + i
        variants.append(
            {
                "id": variant_id,
                "product_id": product_id,
                "title": item.variant[0],
                "sku": _mpn_variant(rng, item.mpn) if rng.random() < 0.7 else f"SH-{variant_id}",
                "barcode": _gtin_variant(rng, item, "shop") if rng.random() < 0.9 else "",
                "price": f"{item.price * 1.19:.2f}",
                "option1": item.variant[0],
                "weight": template.weight,
                "weight_unit": "kg",
                "inventory_quantity": _int(rng, 0, 500),
            }
        )
        out.truth_row("product", "shop", str(variant_id), item.key)
    doc = {
        "id": product_id,
        "title": f"{brand} {template.name_en}",
        "vendor": brand,
        "product_type": template.category,
        "handle": _slug(f"{brand} {template.name_en}"),
        "status": "active",
        "tags": [template.category.lower(), brand.lower()],
        "variants": variants,
    }
    out.block(PRODUCT_FILES["shop"], doc, records=len(variants))


def write_dataset(out_dir: Path, *, customers: int, products: int, seed: int = 0) -> DatasetInfo:
    """Write a multi-source data set with its ground truth into ``out_dir``.

    ``customers`` counts top-level customers (companies and private buyers); each company
    brings its bill-to and ship-to sites as further entities. ``products`` counts product
    entities (members of product families). The same arguments always give the same bytes.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     info = write_dataset(Path(tmp), customers=20, products=20, seed=1)
    ...     lines = sum(1 for _ in info.truth.open()) - 1
    >>> info.entities["product"], lines == info.rows
    (20, True)
    >>> sorted(info.customer_files)
    ['crm', 'dist_north', 'dist_south', 'erp', 'marketplace']
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        (entity_type, min(_SHARD_SIZE, count - shard * _SHARD_SIZE), seed, out_dir, shard)
        for entity_type, count in (("customer", customers), ("product", products))
        for shard in range(max(1, -(-count // _SHARD_SIZE)))
    ]
    workers = min(len(jobs), os.cpu_count() or 1)
    if customers + products >= _PARALLEL_FROM and workers > 1:
        # Each shard has its own random stream and its own numbering, so the shards can be
        # written side by side and joined in order, byte-identical to writing them in turn.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            parts = list(pool.map(_write_part, *zip(*jobs, strict=True)))
    else:
        parts = [_write_part(*job) for job in jobs]
    shards = {"customer": 0, "product": 0}
    for entity_type, *_ in jobs:
        shards[entity_type] += 1
    for entity_type, files in (("customer", CUSTOMER_FILES), ("product", PRODUCT_FILES)):
        for name in files.values():
            _join_parts(out_dir, name, shards[entity_type])
    truth = out_dir / "truth.csv"
    truth.write_text(",".join(TRUTH_COLUMNS) + "\n", encoding="utf-8")
    _join_parts(out_dir, "truth-customer.csv", shards["customer"], into=truth)
    _join_parts(out_dir, "truth-product.csv", shards["product"], into=truth)
    entities = {"customer": 0, "product": 0}
    records = {"customer": 0, "product": 0}
    by_file = dict.fromkeys((*CUSTOMER_FILES.values(), *PRODUCT_FILES.values()), 0)
    for entity_type, made, counts in parts:
        entities[entity_type] += made
        records[entity_type] += sum(counts.values())
        for name, count in counts.items():
            by_file[name] += count
    return DatasetInfo(
        out_dir=out_dir,
        customer_files={s: out_dir / name for s, name in CUSTOMER_FILES.items()},
        product_files={s: out_dir / name for s, name in PRODUCT_FILES.items()},
        truth=truth,
        entities=entities,
        records=records,
        records_by_file=by_file,
    )


def _part_name(name: str, shard: int) -> str:
    return f".{name}.{shard}.part"


def _join_parts(out_dir: Path, name: str, shards: int, into: Path | None = None) -> None:
    """Append the shards' part files, in order, to ``into`` (default: a new ``name``)."""
    target = into or out_dir / name
    with target.open("ab" if into else "wb") as handle:
        for shard in range(shards):
            part = out_dir / _part_name(name, shard)
            with part.open("rb") as chunk:
                shutil.copyfileobj(chunk, handle, 1 << 20)
            part.unlink()


def _write_part(
    entity_type: str, count: int, seed: int, out_dir: Path, shard: int
) -> tuple[str, int, dict[str, int]]:
    """Write one shard of one entity type (files and truth); return its counts."""
    # Shard 0 keeps the plain seed so that small data sets read as before sharding existed.
    suffix = "" if shard == 0 else f":{shard}"
    rng = random.Random(f"{entity_type}s:{seed}{suffix}")
    with ExitStack() as stack:
        out = _Writers(stack, out_dir, entity_type, shard)
        if entity_type == "customer":
            entities = _write_customers(rng, out, count, shard)
        else:
            entities = _write_products(rng, out, count, shard)
    return entity_type, entities, out.records


# --------------------------------------------------------------------------------------------
# Flat records for the matching engine
# --------------------------------------------------------------------------------------------


def _flat_customer(
    rng: random.Random, party: _Party, source: str, source_id: str
) -> dict[str, Any]:
    country = party.country
    code = country.code
    random_ = rng.random
    address = _where(rng, party, stale_ok=source in _STALE_SOURCES)
    person = party.role == "person"
    name = party.core if person else _company_name(rng, party)
    if party.label:
        name = f"{name} {party.label}" if source == "erp" else f"{name} - {party.label}"
    tax_ids: list[dict[str, Any]] = []
    if party.tax_id and random_() < 0.7:
        if code == "US":
            tax_ids.append({"scheme": "ein", "value": party.tax_id, "country": None})
        else:
            value = _vat_variant(rng, party.tax_id)
            tax_ids.append({"scheme": "vat", "value": value, "country": None})
    phones = [_phone(rng, party)] if random_() < 0.75 else []
    emails = [_email(rng, party)] if random_() < 0.3 else []
    website = None
    if not person and random_() < 0.4:
        website = _website_variant(rng, party.domain)
    return {
        "id": f"{source}:{source_id}",
        "source": source,
        "role": "legal_entity" if person else party.role,
        "name": name,
        "trading_name": None,
        "tax_ids": tax_ids,
        "duns": (party.duns or None) if source == "crm" else None,
        "address": _street_line(rng, country, address),
        "city": address.city,
        "region": address.region or None,
        "postal_code": _postal_variant(rng, code, address.postal),
        "country": code,
        "phones": phones,
        "emails": emails,
        "website": website,
        "entity_id": party.key,
    }


_STALE_SOURCES = frozenset(("dist_north", "dist_south", "marketplace"))


def _flat_party_sources(rng: random.Random, party: _Party) -> list[str]:
    if party.role == "person":
        return ["marketplace", "marketplace"] if rng.random() < 0.3 else ["marketplace"]
    if party.role != "legal_entity":
        chosen = ["erp"]
        if rng.random() < 0.25:
            chosen.append("crm")
        return chosen
    picked = _pick_sources(rng, party)
    return [
        s for s in ("erp", "crm", "dist_north", "dist_south", "marketplace") if getattr(picked, s)
    ]


def iter_flat_customers(n_records: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield ``n_records`` flat customer records, each with its ground-truth ``entity_id``.

    The records have the shape of :func:`mdm.canonical.flatten.flatten_customer` and the same
    kinds of variation as the source files: typos, abbreviations, legal forms spelled out or
    dropped, reformatted phones and VAT numbers, stale addresses, lookalike companies and the
    sites of one company as entities of their own.

    >>> records = list(iter_flat_customers(5, seed=3))
    >>> len(records), sorted(records[0])[:4]
    (5, ['address', 'city', 'country', 'duns'])
    >>> records == list(iter_flat_customers(5, seed=3))
    True
    """
    rng = random.Random(f"flat-customers:{seed}")
    domains = _Domains()
    yielded = 0
    made = 0
    serial = 0
    while True:
        made += 1
        key = f"C{made:08d}"
        if rng.random() < 0.15:
            parties: list[_Party] = [_person(rng, key, domains)]
        else:
            company = _company(rng, key, domains)
            parties = [company, *_sites(rng, company)]
            if rng.random() < 0.06:
                made += 1
                parties.append(_lookalike(rng, company, f"C{made:08d}", domains))
        for party in parties:
            for source in _flat_party_sources(rng, party):
                serial += 1
                yield _flat_customer(rng, party, source, str(serial))
                yielded += 1
                if yielded >= n_records:
                    return


def iter_flat_products(n_records: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Yield ``n_records`` flat product records, each with its ground-truth ``entity_id``.

    The shape is that of :func:`mdm.canonical.flatten.flatten_product`; GTINs come as EAN-13,
    GTIN-14 or UPC-12 or are missing, part numbers with varied separators, and members of one
    family differ only in size, model or colour.

    >>> records = list(iter_flat_products(4, seed=2))
    >>> len(records), "entity_id" in records[0]
    (4, True)
    """
    rng = random.Random(f"flat-products:{seed}")
    yielded = 0
    family_no = 0
    serial = 0
    sources = ("erp", "dist_north", "dist_south", "marketplace", "shop")
    weights = (0.85, 0.45, 0.4, 0.35, 0.4)
    while True:
        family_no += 1
        template, items = _family(rng, family_no)
        for item in items:
            chosen = [s for s, w in zip(sources, weights, strict=True) if rng.random() < w]
            for source in chosen or ["erp"]:
                serial += 1
                label = item.variant[0]
                if source == "erp":
                    name = f"{template.name_de} {label}".upper()[:40]
                elif source == "marketplace":
                    name = f"{item.brand} {template.name_en} {label} {_mpn_variant(rng, item.mpn)}"
                else:
                    name = f"{template.name_en} {label}"
                yield {
                    "id": f"{source}:{serial}",
                    "source": source,
                    "sku": None,
                    "gtin": _gtin_variant(rng, item, source) if rng.random() < 0.8 else None,
                    "mpn": None if source == "marketplace" else _mpn_variant(rng, item.mpn),
                    "brand": item.brand,
                    "name": name,
                    "description": None,
                    "category": template.category,
                    "uom": template.unit,
                    "price": item.price,
                    "currency": "EUR",
                    "entity_id": item.key,
                }
                yielded += 1
                if yielded >= n_records:
                    return


def _main(argv: Sequence[str] | None = None) -> None:
    """Write a data set from the command line and print its counts and speed."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m mdm.synthetic", description=__doc__)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    info = write_dataset(
        args.out_dir, customers=args.customers, products=args.products, seed=args.seed
    )
    elapsed = time.perf_counter() - started
    print(f"entities {info.entities}, records {info.records}")
    print(f"{info.rows:,} source records in {elapsed:.1f} s: {info.rows / elapsed:,.0f} rows/s")


if __name__ == "__main__":
    _main()
