"""Per-field standardisers and the batch/single-record standardisation stage.

Every scalar standardiser is idempotent (``f(f(x)) == f(x)``), returns ``None`` for values that
carry no information, and is cached on unique values: at a million records most fields repeat,
and libraries such as phonenumbers and pycountry are slow per call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import union_categoricals

from matching.comparisons import factorize
from matching.parallel import can_fork, fork_map, shared
from matching.spec import MatchSpec, Standardiser

_CACHE = 1 << 20
IntArray = npt.NDArray[np.int64]
_NON_WORD = re.compile(r"[\W_]+")
_EXTRA_FOLD = str.maketrans(
    {
        "æ": "ae",
        "Æ": "AE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ł": "l",
        "Ł": "L",
        "œ": "oe",
        "Œ": "OE",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
    }
)


def _is_missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # noqa: PLR0124 - NaN is the only value unequal to itself
    return bool(isinstance(value, str) and not value.strip())


@lru_cache(maxsize=_CACHE)
def fold_text(value: str | None) -> str | None:
    """Case-fold, strip accents, turn punctuation into spaces and collapse whitespace.

    >>> fold_text("  Müller-Lüdenscheidt & Søn ")
    'muller ludenscheidt and son'
    >>> fold_text("Arnie Morton's"), fold_text("O\u2019Brien")
    ('arnie mortons', 'obrien')
    >>> fold_text("...") is None
    True
    """
    if value is None or _is_missing(value):
        return None
    text = str(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLD))
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    text = text.replace("&", " and ")
    if "'" in text or "\u2019" in text:
        # An apostrophe joins ("Morton's" / "Mortons", "O'Brien" / "OBrien"): sources that
        # drop it write the word whole, not in two.
        text = text.replace("'", "").replace("\u2019", "")
    text = _NON_WORD.sub(" ", text).strip()
    return " ".join(text.split()) or None


def code(value: object) -> str | None:
    """Standardise a short code (role, state, currency): folded, underscores for spaces.

    >>> code(" Ship To ")
    'ship_to'
    """
    if _is_missing(value):
        return None
    folded = fold_text(str(value))
    return folded.replace(" ", "_") if folded else None


# --------------------------------------------------------------------------- company names

# Legal forms by canonical form, with the spellings they take once folded ("e.K." -> "e k").
_LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "inc": ("inc", "incorporated"),
    "corp": ("corp", "corporation"),
    "ltd": ("ltd", "limited", "ltda"),
    "llc": ("llc", "l l c", "limited liability company"),
    "llp": ("llp", "l l p", "limited liability partnership"),
    "lp": ("lp", "l p", "limited partnership"),
    "plc": ("plc", "p l c", "public limited company"),
    "pllc": ("pllc", "p l l c", "professional limited liability company"),
    "co": ("co", "company"),
    "gmbh": (
        "gmbh",
        "g m b h",
        "gesellschaft mit beschrankter haftung",
        "ges m b h",
        "gesmbh",
        "mbh",
        "m b h",
    ),
    "gmbh co kg": (
        "gmbh co kg",
        "gmbh and co kg",
        "gmbh und co kg",
        "gmbh cokg",
        "gmbh co kommanditgesellschaft",
        "gesellschaft mit beschrankter haftung co kg",
        "gesellschaft mit beschrankter haftung co kommanditgesellschaft",
    ),
    "ag": ("ag", "a g", "aktiengesellschaft"),
    "kg": ("kg", "k g", "kommanditgesellschaft"),
    "kgaa": ("kgaa", "kommanditgesellschaft auf aktien"),
    "ohg": ("ohg", "o h g", "offene handelsgesellschaft"),
    "ek": (
        "ek",
        "e k",
        "e kfm",
        "e kfr",
        "eingetragener kaufmann",
        "eingetragene kauffrau",
    ),
    "gbr": ("gbr", "gesellschaft burgerlichen rechts"),
    "se": ("se", "societas europaea"),
    "ug": (
        "ug",
        "ug haftungsbeschrankt",
        "unternehmergesellschaft",
        "unternehmergesellschaft haftungsbeschrankt",
    ),
    "ev": ("ev", "e v", "eingetragener verein"),
    "sa": ("sa", "s a", "s a u", "societe anonyme", "sociedad anonima", "spolka akcyjna"),
    "sa de cv": ("sa de cv", "s a de c v", "sociedad anonima de capital variable"),
    "sarl": ("sarl", "s a r l", "s a r l u", "sarlu", "societe a responsabilite limitee"),
    "eurl": ("eurl", "e u r l", "entreprise unipersonnelle a responsabilite limitee"),
    "sas": ("sas", "s a s", "sasu", "societe par actions simplifiee"),
    "snc": ("snc", "s n c", "societe en nom collectif"),
    "srl": ("srl", "s r l", "societa a responsabilita limitata"),
    "spa": ("spa", "s p a", "societa per azioni"),
    "sl": ("sl", "s l", "slu", "s l u", "sociedad limitada", "sociedad limitada unipersonal"),
    "lda": ("lda",),
    "bv": ("bv", "b v", "besloten vennootschap"),
    "nv": ("nv", "n v", "naamloze vennootschap"),
    "bvba": ("bvba", "b v b a"),
    "vof": ("vof", "v o f", "vennootschap onder firma"),
    "oy": ("oy", "oyj"),
    "ab": ("ab", "aktiebolag", "publ ab", "ab publ"),
    "as": ("as", "a s", "asa"),
    "aps": ("aps", "ap s"),
    "kk": ("kk", "kabushiki kaisha"),
    "kft": ("kft",),
    "zrt": ("zrt", "nyrt"),
    "doo": ("doo", "d o o"),
    "pty ltd": ("pty ltd", "pty limited", "proprietary limited"),
    "pvt ltd": ("pvt ltd", "private limited"),
    "pte ltd": ("pte ltd", "pte limited"),
    "sdn bhd": ("sdn bhd", "sendirian berhad"),
    "bhd": ("bhd", "berhad"),
    "sp zoo": ("sp z o o", "spolka z ograniczona odpowiedzialnoscia"),
    "sro": ("sro", "s r o"),
    "ooo": ("ooo",),
}


def _join_initials(tokens: list[str]) -> list[str]:
    """Letters written one by one ("A.B.C.", "G.m.b.H.") joined into one word ("abc", "gmbh")."""
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if run:
            out.extend(["".join(run)] if len(run) > 1 else run)
            run = []
        if token:
            out.append(token)
    return out


_LEGAL_VARIANTS: tuple[tuple[tuple[str, ...], str], ...] = tuple(
    sorted(
        dict.fromkeys(
            (tuple(_join_initials(v.split())), canon)
            for canon, vs in _LEGAL_FORMS.items()
            for v in vs
        ),
        key=lambda item: -len(item[0]),
    )
)
# Variants by their last token, longest first: one dict look-up per step, not a scan.
_LEGAL_BY_LAST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _variant, _canon in _LEGAL_VARIANTS:
    _LEGAL_BY_LAST.setdefault(_variant[-1], []).append((_variant, _canon))
# Inside a name, before the words that name a site or a department ("Koch KG - Werk
# Hamburg", "Acme Ltd Accounts Payable"), only forms that are never ordinary words of a name
# are taken for legal forms: not "co", "sa", "as", "spa" or "se".
_INNER_FORMS = frozenset(
    {
        "inc",
        "corp",
        "ltd",
        "llc",
        "llp",
        "plc",
        "pllc",
        "gmbh",
        "gmbh co kg",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "ek",
        "gbr",
        "sarl",
        "eurl",
        "srl",
        "bv",
        "nv",
        "bvba",
        "vof",
        "oy",
        "aps",
        "kft",
        "zrt",
        "pty ltd",
        "pvt ltd",
        "pte ltd",
        "sdn bhd",
        "sp zoo",
        "sro",
    }
)
# "mbH" alone inside a name is the end of a longer one ("Gesellschaft für Bau mbH").
_INNER_NOT = frozenset({("mbh",)})
_LEGAL_BY_FIRST: dict[str, list[tuple[tuple[str, ...], str]]] = {}
for _variant, _canon in _LEGAL_VARIANTS:
    if _canon in _INNER_FORMS and _variant not in _INNER_NOT:
        _LEGAL_BY_FIRST.setdefault(_variant[0], []).append((_variant, _canon))


@dataclass(frozen=True, slots=True)
class CompanyName:
    """A company name split into its core and its canonical legal form."""

    core: str | None
    legal_form: str | None

    @property
    def full(self) -> str | None:
        """Core and legal form joined again (the canonical full name)."""
        parts = [p for p in (self.core, self.legal_form) if p]
        return " ".join(parts) or None


_CONJUNCTIONS = frozenset({"and", "und", "u", "et", "en", "y"})


def _without_article(tokens: list[str]) -> list[str]:
    """The tokens without an English article first or last, never all of them.

    "The Steak House" and "Steak House, The" (as catalogues sort it) are one name.

    >>> _without_article(["the", "steak", "house"]), _without_article(["steak", "house", "the"])
    (['steak', 'house'], ['steak', 'house'])
    >>> _without_article(["bank", "of", "the", "west"]), _without_article(["the"])
    (['bank', 'of', 'the', 'west'], ['the'])
    """
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    if len(tokens) > 1 and tokens[-1] == "the":
        tokens = tokens[:-1]
    return tokens


@lru_cache(maxsize=_CACHE)
def company_name(value: str | None) -> CompanyName:
    """Split a company name into a folded core name and a canonical legal form.

    Legal forms are stripped from the end, longest variant first, and never leave the core
    empty. A legal form inside the name, before words that name a site or a department, is
    taken out too, when it is one that is never an ordinary word of a name.

    >>> company_name("ACME Widgets, Incorporated")
    CompanyName(core='acme widgets', legal_form='inc')
    >>> company_name("Müller Maschinenbau Gesellschaft mit beschränkter Haftung")
    CompanyName(core='muller maschinenbau', legal_form='gmbh')
    >>> company_name("Bolt & Nut Co. Ltd.").full
    'bolt nut co ltd'
    >>> company_name("Lehmann u. Lehmann").core == company_name("Lehmann & Lehmann").core
    True
    >>> company_name("Koch Fördertechnik KG - Werk Hamburg")
    CompanyName(core='koch fordertechnik werk hamburg', legal_form='kg')
    """
    folded = fold_text(value)
    if folded is None:
        return CompanyName(None, None)
    name = _split_company(folded)
    # The canonical full name must read the same when standardised again. What closes up
    # where a form was taken out, or a form's canonical spelling, can make a new one ("Berhad
    # Ltda Pty" -> "berhad pty ltd" -> core "berhad", form "pty ltd"): read until it holds.
    for _ in range(_MAX_REREADS):
        if name.legal_form is None:  # nothing was taken out: it reads the same
            break
        again = _split_company(name.full or "")
        if again == name:
            break
        name = again
    return name


_MAX_REREADS = 8


def _split_company(folded: str) -> CompanyName:
    """`company_name` of a folded name, read once."""
    tokens = _without_article(_join_initials(folded.split()))
    forms: list[str] = []
    while True:
        changed = True
        while changed:
            changed = False
            for variant, canon in _LEGAL_BY_LAST.get(tokens[-1], ()):
                n = len(variant)
                if len(tokens) > n and tuple(tokens[-n:]) == variant:
                    tokens = tokens[:-n]
                    forms.insert(0, canon)
                    changed = True
                    break
        # "&", "and", "und", "u.", "et", "en", "y" join two names the same way in every
        # language: dropped from the core (after the legal form, which may hold one: "GmbH &
        # Co. KG"), so the spellings of one name agree, and block together.
        core = [t for t in tokens if t not in _CONJUNCTIONS] or tokens
        if core == tokens:
            kept, inner = _inner_forms(core)
            return CompanyName(" ".join(kept), " ".join(inner + forms) or None)
        # A legal form the dropped word hid ("X Oy u") is split off too, and letters it stood
        # between are one word again.
        tokens = _join_initials(core)


def _inner_forms(tokens: list[str]) -> tuple[list[str], list[str]]:
    """The tokens without the legal forms inside them (not first, not last), and those forms."""
    kept, forms = tokens[:1], []
    i = 1
    while i < len(tokens):
        for variant, canon in _LEGAL_BY_FIRST.get(tokens[i], ()):
            n = len(variant)
            if i + n < len(tokens) and tuple(tokens[i : i + n]) == variant:
                forms.append(canon)
                i += n
                break
        else:
            kept.append(tokens[i])
            i += 1
    return kept, forms


# --------------------------------------------------------------------------- person names

_TITLES = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "dr",
        "prof",
        "sir",
        "herr",
        "frau",
        "mme",
        "mlle",
        "m",
        "sr",
        "sra",
        "jr",
        "ii",
        "iii",
    }
)


@dataclass(frozen=True, slots=True)
class PersonName:
    """A person's name split into given name and surname."""

    given: str | None
    surname: str | None


@lru_cache(maxsize=_CACHE)
def person_name(value: str | None) -> PersonName:
    """Split a full name into given name and surname ("Surname, Given" is understood).

    >>> person_name("Dr. Anna-Lena Schmidt")
    PersonName(given='anna', surname='schmidt')
    >>> person_name("Smith, John")
    PersonName(given='john', surname='smith')
    """
    if value is None or _is_missing(value):
        return PersonName(None, None)
    raw = str(value)
    if raw.count(",") == 1:
        last, first = raw.split(",")
        raw = f"{first} {last}"
    folded = fold_text(raw)
    tokens = [t for t in (folded or "").split() if t not in _TITLES]
    if not tokens:
        return PersonName(None, None)
    if len(tokens) == 1:
        return PersonName(None, tokens[0])
    return PersonName(tokens[0], tokens[-1])


# --------------------------------------------------------------------------- addresses

_ADDRESS_WORDS = {
    "street": "st",
    "str": "str",
    "strasse": "str",
    "avenue": "ave",
    "av": "ave",
    "road": "rd",
    "suite": "ste",
    "boulevard": "blvd",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "square": "sq",
    "highway": "hwy",
    "parkway": "pkwy",
    "apartment": "apt",
    "unit": "unit",
    "floor": "fl",
    "building": "bldg",
    "terrace": "tce",
    "crescent": "cres",
    "circle": "cir",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
    "weg": "weg",
    "platz": "pl",
    "allee": "allee",
    "rue": "rue",
    "chemin": "ch",
    "po": "po",
    "box": "box",
    "postfach": "po box",
    "number": "no",
    "nr": "no",
    "bd": "blvd",
    "bld": "blvd",
    "blv": "blvd",
    "center": "ctr",
    "centre": "ctr",
    "expressway": "expy",
    "freeway": "fwy",
    "heights": "hts",
    "route": "rte",
    "trail": "trl",
    "northeast": "ne",
    "northwest": "nw",
    "southeast": "se",
    "southwest": "sw",
    # Ordinals written out ("Ninth Avenue" / "9th Ave"): the digits of an address tell one
    # building from another, so both spellings must carry them.
    "first": "1st",
    "second": "2nd",
    "third": "3rd",
    "fourth": "4th",
    "fifth": "5th",
    "sixth": "6th",
    "seventh": "7th",
    "eighth": "8th",
    "ninth": "9th",
    "tenth": "10th",
    "eleventh": "11th",
    "twelfth": "12th",
    "thirteenth": "13th",
    "fourteenth": "14th",
    "fifteenth": "15th",
    "sixteenth": "16th",
    "seventeenth": "17th",
    "eighteenth": "18th",
    "nineteenth": "19th",
    "twentieth": "20th",
}
# Names of a kind of area that sources write out or abbreviate (French industrial estates).
_ADDRESS_PHRASES = (
    (re.compile(r"\bzone industrielle\b"), "zi"),
    (re.compile(r"\bzone artisanale\b"), "za"),
    (re.compile(r"\bzone d ?activites?\b"), "za"),
)
_STREET_SUFFIX = re.compile(r"(?<=\w)(strasse|str)$")
# Where an address names a suite, an apartment or a floor: the words before its number ("ste
# 400", "apt 5", "unit 3", "fl 2") and the floor words after it ("3 og", "2 etage", "3rd fl").
_UNIT_BEFORE = frozenset({"ste", "apt", "unit", "fl", "rm"})
_FLOOR_AFTER = frozenset({"fl", "og", "eg", "ug", "etage", "stock"})


@lru_cache(maxsize=_CACHE)
def address(value: str | None) -> str | None:
    """Standardise a street address: folded, common words abbreviated one way.

    >>> address("12 Main Street, Suite 400")
    '12 main st ste 400'
    >>> address("Hauptstraße 5")
    'hauptstr 5'
    >>> address("43 Zone Industrielle des Prés"), address("12 bd Voltaire")
    ('43 zi des pres', '12 blvd voltaire')
    """
    folded = fold_text(value)
    if folded is None:
        return None
    if "zone" in folded:
        for pattern, short in _ADDRESS_PHRASES:
            folded = pattern.sub(short, folded)
    out: list[str] = []
    for token in folded.split():
        token = _ADDRESS_WORDS.get(token, token)  # noqa: PLW2901
        out.append(_STREET_SUFFIX.sub("str", token) if len(token) > 6 else token)
    return " ".join(" ".join(out).split())


def street_and_unit(value: str | None) -> tuple[str | None, str | None]:
    """Split a standardised address into the street address and its unit (suite, floor).

    One source writes the suite or the floor, another leaves it out: the street address alone
    is what tells one building from another (its digits are the house number's).

    >>> street_and_unit("12 main st ste 400"), street_and_unit("ste 400 12 main st")
    (('12 main st', '400'), ('12 main st', '400'))
    >>> street_and_unit("eppendorfer weg 211 3 og"), street_and_unit("hauptstr 5 eg")
    (('eppendorfer weg 211', '3'), ('hauptstr 5 eg', None))
    """
    if not value:
        return value, None
    tokens = value.split()
    kept: list[str] = []
    numbers = 0  # tokens kept that start with a digit
    unit = None
    i = 0
    while i < len(tokens):
        token = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else ""
        if token in _UNIT_BEFORE and (following[:1].isdigit() or len(following) == 1):
            unit = following
            i += 2
            continue
        # A number before a floor word is the floor's only where a house number came first
        # ("hauptstr 5 eg" is number 5, on the ground floor).
        if token in _FLOOR_AFTER and numbers >= 2 and kept[-1][:1].isdigit():
            unit = kept.pop()
            numbers -= 1
            i += 1
            continue
        kept.append(token)
        numbers += token[:1].isdigit()
        i += 1
    return " ".join(kept) or value, unit


def house_number(street: str | None) -> str | None:
    """The house number of a street address (as `street_and_unit` leaves it): its first number.

    >>> house_number("12 main st"), house_number("main st")
    ('12', None)
    """
    return next((t for t in street.split() if t[:1].isdigit()), None) if street else None


# --------------------------------------------------------------------------- countries

_COUNTRY_ALIASES = {
    "uk": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "great britain": "GB",
    "usa": "US",
    "u s a": "US",
    "united states of america": "US",
    "america": "US",
    "deutschland": "DE",
    "allemagne": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "nederland": "NL",
    "espana": "ES",
    "italia": "IT",
    "schweiz": "CH",
    "suisse": "CH",
    "osterreich": "AT",
    "belgique": "BE",
    "belgie": "BE",
    "russia": "RU",
    "south korea": "KR",
    "korea": "KR",
    "czech republic": "CZ",
    "turkey": "TR",
    "vietnam": "VN",
    "iran": "IR",
}


@lru_cache(maxsize=4096)
def country(value: str | None) -> str | None:
    """Return the ISO 3166-1 alpha-2 code for a code, alpha-3 code or country name.

    >>> country("deu"), country("United Kingdom"), country("Deutschland"), country("xx")
    ('DE', 'GB', 'DE', None)
    """
    if value is None or _is_missing(value):
        return None
    import pycountry

    raw = str(value).strip()
    folded = fold_text(raw) or ""
    if folded in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[folded]
    try:
        found = pycountry.countries.lookup(raw)
    except LookupError:
        try:
            found = pycountry.countries.lookup(folded)
        except LookupError:
            return None
    return str(found.alpha_2)


# --------------------------------------------------------------------------- postal codes

_POSTAL_DIGITS = {
    "US": 5,
    "DE": 5,
    "FR": 5,
    "IT": 5,
    "ES": 5,
    "AT": 4,
    "CH": 4,
    "BE": 4,
    "DK": 4,
    "NO": 4,
    "AU": 4,
    "FI": 5,
    "MX": 5,
}


# What a postal code may be prefixed with to name its country ("D-80331", "F-75001",
# "NL-1012 AB"): the ISO code or the country's international vehicle registration code.
_POSTAL_PREFIXES = {
    "DE": ("DE", "D"),
    "FR": ("FR", "F"),
    "AT": ("AT", "A"),
    "CH": ("CH",),
    "IT": ("IT", "I"),
    "ES": ("ES", "E"),
    "PT": ("PT", "P"),
    "BE": ("BE", "B"),
    "LU": ("LU", "L"),
    "NL": ("NL",),
    "DK": ("DK",),
    "SE": ("SE", "S"),
    "NO": ("NO", "N"),
    "FI": ("FIN", "FI"),
    "PL": ("PL",),
    "CZ": ("CZ",),
    "SK": ("SK",),
    "HU": ("HU", "H"),
    "SI": ("SLO", "SI"),
    "HR": ("HR",),
    "GR": ("GR",),
}


@lru_cache(maxsize=_CACHE)
def postal_code(value: str | None, country_code: str | None = None) -> str | None:
    """Standardise a postal code according to the record's country.

    >>> postal_code("sw1a1aa", "GB"), postal_code("10115", "DE"), postal_code("02134-1234", "US")
    ('SW1A 1AA', '10115', '02134')
    >>> postal_code("1012ab", "NL")
    '1012 AB'
    >>> postal_code("D-80331", "DE"), postal_code("F-75001", "FR"), postal_code("NL-1012ab", "NL")
    ('80331', '75001', '1012 AB')
    """
    if value is None or _is_missing(value):
        return None
    compact = re.sub(r"[^0-9A-Za-z]", "", str(value)).upper()
    if not compact:
        return None
    cc = country(country_code) if country_code else None
    for prefix in _POSTAL_PREFIXES.get(cc or "", ()):
        if compact.startswith(prefix) and compact[len(prefix) : len(prefix) + 1].isdigit():
            compact = compact[len(prefix) :]
            break
    if cc in {"GB", "CA"} and len(compact) > 3:
        return f"{compact[:-3]} {compact[-3:]}"
    if cc == "NL" and len(compact) == 6:
        return f"{compact[:4]} {compact[4:]}"
    if cc in _POSTAL_DIGITS and compact.isdigit():
        width = _POSTAL_DIGITS[cc]
        if cc == "US" and len(compact) == 9:
            return compact[:5]
        return compact.zfill(width) if len(compact) < width else compact
    return compact


# --------------------------------------------------------------------------- phones, e-mail, web


_PHONE_JUNK = re.compile(r"[\s().\-/]")
_EXTENSION = re.compile(r"(?:ext\.?|x|#)\s*\d+\s*$", re.IGNORECASE)


@cache
def _region_dialling(region: str) -> tuple[str, str, bool] | None:
    """Country calling code, national (trunk) prefix, and whether a simple rule applies."""
    import phonenumbers
    from phonenumbers.phonemetadata import PhoneMetadata

    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None:
        return None
    simple = meta.national_prefix_for_parsing is None or meta.national_prefix_for_parsing == (
        meta.national_prefix
    )
    return (
        str(phonenumbers.country_code_for_region(region)),
        meta.national_prefix or "",
        simple and meta.national_prefix_transform_rule is None,
    )


def _phone_compact(raw: str) -> str:
    """A written number without its extension, a "(0)" and the spaces and signs between."""
    return _PHONE_JUNK.sub("", _EXTENSION.sub("", raw.strip()).replace("(0)", ""))


@lru_cache(maxsize=_CACHE)
def _phone_fast(raw: str, region: str | None) -> str | None:
    """E.164 by string rules for plainly written numbers; ``None`` means "ask phonenumbers".

    Unusual lengths are left to phonenumbers too. Parsing every distinct number with
    phonenumbers costs ~50 us; at a million records that dominates standardisation.
    """
    compact = _phone_compact(raw)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+"):
        digits = compact[1:]
        if not digits.isdigit():
            return None
        return "+" + digits if 8 <= len(digits) <= 15 else None
    if not compact.isdigit() or region is None:
        return None
    dialling = _region_dialling(region)
    if dialling is None or not dialling[2]:
        return None
    calling, trunk, _ = dialling
    national = compact[len(trunk) :] if trunk and compact.startswith(trunk) else compact
    full = calling + national
    return "+" + full if 8 <= len(full) <= 15 else None


@lru_cache(maxsize=_CACHE)
def phone(value: str | None, country_code: str | None = None) -> str | None:
    """Return a phone number in E.164, with the record's country as the default region.

    >>> phone("030 1234567", "DE"), phone("+1 (650) 253-0000")
    ('+49301234567', '+16502530000')
    >>> phone("12") is None
    True
    """
    if value is None or _is_missing(value):
        return None
    region = country(country_code) if country_code else None
    fast = _phone_fast(str(value), region)
    if fast is not None:
        return fast
    import phonenumbers

    try:
        parsed = phonenumbers.parse(str(value), region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    e164 = str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
    # Junk such as "000000" parses to a form that parses to yet another form: a number that
    # does not survive its own round trip is no number (and idempotence holds).
    try:
        again = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.format_number(again, phonenumbers.PhoneNumberFormat.E164) != e164:
        return None
    return e164


@lru_cache(maxsize=_CACHE)
def phone_key(value: str | None, country_code: str | None = None) -> str | None:
    """A phone number as matching compares it: E.164, or its digits where no country is known.

    Without the record's country a number written nationally ("310/246-1501") has no E.164
    form, but two records of a source that never gives countries still share its digits.

    >>> phone_key("310/246-1501", "US"), phone_key("310/246-1501"), phone_key("(310) 246 1501")
    ('+13102461501', '3102461501', '3102461501')
    >>> phone_key("246-1501") is None  # too short to tell one line from another
    True
    """
    found = phone(value, country_code)
    if found is not None or value is None or _is_missing(value) or country_code:
        return found
    digits = _phone_compact(str(value))
    return digits if digits.isdigit() and 8 <= len(digits) <= 15 else None


@cache
def free_email_domains() -> frozenset[str]:
    """Return the bundled set of consumer e-mail domains (shared ones are no evidence).

    >>> "gmail.com" in free_email_domains()
    True
    """
    text = resources.files("matching").joinpath("data/free_email_domains.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@lru_cache(maxsize=_CACHE)
def email(value: str | None) -> str | None:
    """Standardise an e-mail address: trimmed, lower case, Gmail dots and tags removed.

    >>> email(" John.Smith+news@GoogleMail.com "), email("not-an-email")
    ('johnsmith@gmail.com', None)
    """
    if value is None or _is_missing(value):
        return None
    text = str(value).strip().lower().removeprefix("mailto:")
    if text.count("@") != 1:
        return None
    local, domain = text.split("@")
    domain = domain.strip(".")
    if not local or "." not in domain:
        return None
    if domain in {"gmail.com", "googlemail.com"}:
        domain = "gmail.com"
        local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{domain}"


def email_domain(standard_email: str | None) -> str | None:
    """Return the domain of a standardised e-mail unless it is a free-mail provider.

    >>> email_domain("a@acme.com"), email_domain("a@gmail.com")
    ('acme.com', None)
    """
    if not standard_email:
        return None
    domain = standard_email.rsplit("@", 1)[-1]
    return None if domain in free_email_domains() else domain


@cache
def _tld_extractor() -> Any:
    import tldextract

    # An empty URL list makes tldextract use its bundled suffix snapshot: no network access.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def warm_up() -> None:
    """Build now what the standardisers load on first use, so that no single record pays it.

    The public-suffix trie behind `website` takes 0.1-0.2 s to build; the tax-ID validators
    and the country table about 10 ms. A server calls this at start-up: otherwise its first
    request with a website waits for the trie.

    >>> warm_up()
    >>> _tld_extractor.cache_info().currsize
    1
    """
    _tld_extractor()("example.com")
    free_email_domains()
    country("DE")
    tax_id("DE136695976", "vat")


@lru_cache(maxsize=_CACHE)
def website(value: str | None) -> str | None:
    """Return the registered domain of a website or URL.

    >>> website("https://WWW.Shop.Example.co.uk/about"), website("acme.com")
    ('example.co.uk', 'acme.com')
    """
    if value is None or _is_missing(value):
        return None
    text = str(value).strip().lower()
    result = _tld_extractor()(text)
    domain = result.top_domain_under_public_suffix
    if domain:
        return str(domain)
    return None


# --------------------------------------------------------------------------- identifiers


_EU_VAT_PREFIX = re.compile(r"^(?:[A-Z]{2})")


@lru_cache(maxsize=_CACHE)
def tax_id(
    value: str | None, scheme: str | None = None, country_code: str | None = None
) -> str | None:
    """Validate and compact a tax ID; return ``"CC:scheme=COMPACT"`` or ``None`` if invalid.

    The namespace (country and scheme) lets rules tell "two different valid IDs of the same
    scheme" (strong evidence against) from "IDs of different schemes" (no evidence).

    >>> tax_id("DE 136 695 976", "vat")
    'DE:vat=DE136695976'
    >>> tax_id("136695976", "vat", "DE")
    'DE:vat=DE136695976'
    >>> tax_id("GB 980 7806 84", "vat")
    'GB:vat=GB980780684'
    >>> tax_id("DE 136 695 977", "vat") is None  # bad check digit
    True
    """
    if value is None or _is_missing(value):
        return None
    raw = str(value).strip().upper()
    scheme_code = (scheme or "tax_id").strip().lower()
    cc = country(country_code) if country_code else None
    compact = re.sub(r"[^0-9A-Z]", "", raw)
    if not compact:
        return None
    # Validation (stdnum, ~100 us) is cached on the compact form: spellings of one number
    # ("DE 136 695 976", "de136695976") are validated once.
    return _validated_tax_id(compact, scheme_code, cc)


@lru_cache(maxsize=_CACHE)
def _validated_tax_id(compact: str, scheme_code: str, cc: str | None) -> str | None:
    modules: list[tuple[str, str]] = []
    if scheme_code in {"vat", "tax_id", "vatin", "ust_idnr", "tva", "mwst", "iva", "btw"}:
        if _EU_VAT_PREFIX.match(compact):
            prefix = compact[:2]
            modules.append(("GR" if prefix == "EL" else prefix, "vat"))
        if cc:
            modules.append((cc, "vat"))
    if cc:
        names = [] if scheme_code in {"tax_id", "vat"} else [scheme_code]
        modules += [(cc, name) for name in [*names, "vat", "tin", "ein"]]
    for module_cc, name in dict.fromkeys(modules):
        found = _validate_tax_id(module_cc, name, compact)
        if found:
            return found
    return None


@lru_cache(maxsize=1024)
def _tax_module(cc: str, name: str) -> Any:
    from stdnum import get_cc_module

    try:
        return get_cc_module(cc.lower(), name)
    except (ImportError, ValueError):
        return None


def _validate_tax_id(cc: str, name: str, compact: str) -> str | None:
    from stdnum.exceptions import ValidationError

    module = _tax_module(cc, name)
    if module is None:
        return None
    vat_prefix = "EL" if cc == "GR" else cc
    candidates = [compact]
    if name == "vat" and not compact.startswith(vat_prefix):
        candidates.append(vat_prefix + compact)
    for candidate in candidates:
        try:
            valid = str(module.compact(module.validate(candidate)))
        except (ValidationError, ValueError, KeyError):
            continue
        if name == "vat":
            # One canonical form per number: the VAT country prefix, then the digits.
            return f"{cc}:vat={vat_prefix}{valid.removeprefix(vat_prefix)}"
        return f"{cc}:{name}={valid}"
    return None


@lru_cache(maxsize=_CACHE)
def duns(value: str | None) -> str | None:
    """Return a DUNS number as its 9 digits (DUNS has no public check digit).

    >>> duns("15-048-3782"), duns("123")
    ('150483782', None)
    """
    if value is None or _is_missing(value):
        return None
    digits = re.sub(r"\D", "", str(value))
    return digits if len(digits) == 9 else None


@lru_cache(maxsize=_CACHE)
def gtin(value: str | None) -> str | None:
    """Return a GTIN-8/12/13/14 (EAN, UPC) as a check-digit-verified GTIN-14.

    >>> gtin("4006381333931"), gtin("036000291452"), gtin("4006381333932")
    ('04006381333931', '00036000291452', None)
    """
    if value is None or _is_missing(value):
        return None
    from stdnum import ean

    digits = re.sub(r"\D", "", str(value).split(".")[0] if isinstance(value, float) else str(value))
    if len(digits) not in {8, 12, 13, 14}:
        return None
    return digits.zfill(14) if ean.is_valid(digits) else None


@lru_cache(maxsize=_CACHE)
def part_number(value: str | None) -> str | None:
    """Normalise a manufacturer part number: upper case, separators removed.

    >>> part_number("wh-1000 xm4"), part_number(" SM_G991B/DS ")
    ('WH1000XM4', 'SMG991BDS')
    """
    if value is None or _is_missing(value):
        return None
    compact = re.sub(r"[\W_]+", "", str(value)).upper()
    return compact or None


_CODE_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-_/.]*[A-Za-z0-9]")
_MEASURE = re.compile(
    r"^\d+(?:[.,]\d+)?(?:gb|tb|mb|kb|mm|cm|m|km|kg|g|mg|ml|l|in|inch|ft|w|kw|v|mah|wh|hz|khz|"
    r"ghz|mhz|k|p|x|pcs|pc|pack|oz|lb|lbs|cl|dl|mp|fps|bit|core|gen|th|st|nd|rd)$",
    re.IGNORECASE,
)


@lru_cache(maxsize=_CACHE)
def extract_part_numbers(title: str | None) -> tuple[str, ...]:
    """Find model / part numbers inside a product title (mixed letters and digits, not units).

    >>> extract_part_numbers("Sony WH-1000XM4 Wireless Headphones, 30h, 250g")
    ('WH1000XM4',)
    >>> extract_part_numbers("Samsung Galaxy S21 SM-G991B 128GB")
    ('SMG991B',)
    """
    if title is None or _is_missing(title):
        return ()
    found: list[str] = []
    for match in _CODE_TOKEN.finditer(str(title)):
        token = match.group(0)
        has_digit = any(ch.isdigit() for ch in token)
        has_alpha = any(ch.isalpha() for ch in token)
        if not (has_digit and has_alpha) or _MEASURE.match(token.replace("-", "")):
            continue
        compact = part_number(token)
        if compact and len(compact) >= 5 and compact not in found:
            found.append(compact)
    return tuple(found)


@lru_cache(maxsize=_CACHE)
def date(value: object) -> str | None:
    """Return a date as ``YYYYMMDD`` (digits kept even when the date itself is invalid).

    >>> date("1956-04-09"), date(19560409), date("09/04/1956"), date("")
    ('19560409', '19560409', '19560409', None)
    """
    if _is_missing(value):
        return None
    if hasattr(value, "strftime"):
        return str(value.strftime("%Y%m%d"))
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    digits = re.sub(r"\D", "", text)
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
        y, m, d = text.split("-")
        return f"{y}{int(m):02d}{int(d):02d}"
    if re.fullmatch(r"\d{1,2}[./]\d{1,2}[./]\d{4}", text):
        d, m, y = re.split(r"[./]", text)
        return f"{y}{int(m):02d}{int(d):02d}"
    return digits or None


@lru_cache(maxsize=_CACHE)
def identifier(value: object) -> str | None:
    """Standardise an opaque identifier: upper case letters and digits only.

    >>> identifier(" ab-12 34 "), identifier(1804974.0)
    ('AB1234', '1804974')
    """
    if _is_missing(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    compact = re.sub(r"[\W_]+", "", str(value)).upper()
    return compact or None


def numeric(value: object) -> float | None:
    """Return a float, or ``None`` for missing or unparseable values.

    >>> numeric("1,299.00"), numeric(None), numeric("n/a")
    (1299.0, None, None)
    """
    if _is_missing(value):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).replace(",", "").strip())
    except ValueError:
        return None


@lru_cache(maxsize=_CACHE)
def title(value: str | None, exclude: str | None = None) -> str | None:
    """Standardise a product title, dropping the tokens of ``exclude`` (the brand).

    Dropping the brand from the title counts the brand once, in its own comparison.

    >>> title("SONY WH-1000XM4 Headphones (Black)", "Sony")
    'wh 1000xm4 headphones black'
    """
    folded = fold_text(value)
    if folded is None:
        return None
    drop = set((fold_text(exclude) or "").split())
    kept = [t for t in folded.split() if t not in drop]
    return " ".join(kept) or folded


# A number, bare or with a one-letter prefix (M8 threads) or a short unit (18v, 500ml).
_QUANTITY = re.compile(r"^[a-z]?(\d+)[a-z]{0,3}$")


@lru_cache(maxsize=_CACHE)
def title_numbers(value: str | None) -> str | None:
    """The distinct numbers of a title's quantities (sizes, capacities, counts), sorted.

    Tokens that mix letters into longer codes (``cd1018``) are part numbers, not quantities.

    >>> title_numbers("ring maulschlussel 13 mm"), title_numbers("hex nut 200 pcs m8 din 934")
    ('13', '200 8 934')
    >>> title_numbers("drill 18v 60 nm"), title_numbers("cd1018 drill") is None
    ('18 60', True)
    """
    if value is None or _is_missing(value):
        return None
    numbers = {
        found.group(1).lstrip("0") or "0"
        for token in str(value).lower().split()
        if (found := _QUANTITY.match(token))
    }
    return " ".join(sorted(numbers)) or None


# --------------------------------------------------------------------------- the stage


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    if isinstance(value, Iterable):
        return list(value)
    if _is_missing(value):
        return []
    return [value]


# What systems put where an identifier is unknown; shared by unrelated records.
_PLACEHOLDERS = frozenset({"NA", "NONE", "NULL", "NIL", "UNKNOWN", "TBD", "PENDING", "APPLIED"})


def _placeholder(compact: str) -> bool:
    """Whether an identifier is a stand-in: too short, one character repeated, or a word."""
    return len(compact) < 3 or len(set(compact)) == 1 or compact in _PLACEHOLDERS


def _tax_ids(value: object, default_country: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The identifiers that validate as tax IDs, and the others as ``scheme=COMPACT``.

    An identifier no checksum vouches for (a national ID, a registration number, a tax ID of
    a scheme or country with no validator, a mistyped VAT number) is still evidence when two
    records hold the same one; two that differ may be a typo, so they decide nothing.
    """
    valid: list[str] = []
    other: list[str] = []
    for item in _as_list(value):
        if isinstance(item, Mapping):
            raw, scheme, cc = item.get("value"), item.get("scheme"), item.get("country")
        else:
            raw, scheme, cc = item, None, None
        cc = cc or default_country
        text = None if raw is None else str(raw)
        found = tax_id(
            text,
            None if scheme is None else str(scheme),
            None if _is_missing(cc) else str(cc),
        )
        if found:
            if found not in valid:
                valid.append(found)
            continue
        unchecked = identifier(text)
        if unchecked and not _placeholder(unchecked):
            keyed = f"{code(scheme) or 'id'}={unchecked}"
            if keyed not in other:
                other.append(keyed)
    return tuple(valid), tuple(other)


def _multi(values: object, fn: Any, *args: Any) -> tuple[str, ...]:
    out: list[str] = []
    for item in _as_list(values):
        if _is_missing(item):
            continue
        found = fn(str(item), *args)
        if found and found not in out:
            out.append(found)
    return tuple(out)


def _record_value(record: Mapping[str, Any], field: str) -> Any:
    value = record.get(field)
    if isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN
        return None
    return value


def _standardise_one(std: Standardiser, record: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Apply one standardiser to one record, writing its columns into ``out``."""
    value = _record_value(record, std.field)
    col = std.column
    cc_raw = _record_value(record, std.country_field) if std.country_field else None
    cc = country(str(cc_raw)) if cc_raw is not None else None
    kind = std.kind
    if kind == "company_name":
        parsed = company_name(None if value is None else str(value))
        out[col] = parsed.core
        out[f"{col}_legal_form"] = parsed.legal_form
    elif kind == "person_name":
        text = None if value is None else str(value)
        split = person_name(text)
        out[col] = fold_text(text)
        out[f"{col}_given"] = split.given
        out[f"{col}_surname"] = split.surname
    elif kind == "address":
        street, unit = street_and_unit(address(None if value is None else str(value)))
        out[col] = street
        out[f"{col}_number"], out[f"{col}_unit"] = house_number(street), unit
    elif kind == "postal_code":
        out[col] = postal_code(None if value is None else str(value), cc)
    elif kind in {"text", "city"}:
        out[col] = fold_text(None if value is None else str(value))
    elif kind == "country":
        out[col] = country(None if value is None else str(value))
    elif kind == "phone":
        out[col] = _multi(value, phone_key, cc)
    elif kind == "email":
        emails = _multi(value, email)
        out[col] = emails
        out[f"{col}_domains"] = tuple(sorted({d for d in (email_domain(e) for e in emails) if d}))
    elif kind == "website":
        out[col] = website(None if value is None else str(value))
    elif kind == "tax_id":
        out[col], out[f"{col}_other"] = _tax_ids(value, cc)
    elif kind == "duns":
        out[col] = duns(None if value is None else str(value))
    elif kind == "gtin":
        out[col] = gtin(None if value is None else str(value))
    elif kind == "part_number":
        main = part_number(None if value is None else str(value))
        out[col] = main
        extra = (
            extract_part_numbers(_record_value(record, std.extract_from))
            if std.extract_from
            else ()
        )
        out[f"{col}_all"] = tuple(dict.fromkeys(([main] if main else []) + list(extra)))
    elif kind == "title":
        excl = _record_value(record, std.exclude_tokens_of) if std.exclude_tokens_of else None
        out[col] = title(None if value is None else str(value), None if excl is None else str(excl))
        out[f"{col}_numbers"] = title_numbers(out[col])
    elif kind == "date":
        out[col] = date(value)
    elif kind == "identifier":
        out[col] = identifier(value)
    elif kind == "numeric":
        out[col] = numeric(value)
    elif kind == "code":
        out[col] = code(value)
    else:  # pragma: no cover - the Literal type makes this unreachable
        raise ValueError(f"unknown standardiser kind {kind!r}")


def standardise_record(record: Mapping[str, Any], spec: MatchSpec) -> dict[str, Any]:
    """Standardise one record into the columns the spec's comparisons and keys read.

    >>> from matching.spec import default_customer_spec
    >>> std = standardise_record(
    ...     {"id": "c1", "name": "ACME GmbH", "country": "deu", "phones": ["030 1234567"]},
    ...     default_customer_spec(),
    ... )
    >>> std["name"], std["name_legal_form"], std["country"], std["phones"]
    ('acme', 'gmbh', 'DE', ('+49301234567',))
    """
    out: dict[str, Any] = {"id": str(record.get("id")) if record.get("id") is not None else None}
    for std in spec.standardisers:
        _standardise_one(std, record, out)
    return out


def standardise(
    records: Iterable[Mapping[str, Any]] | pd.DataFrame, spec: MatchSpec, *, workers: int = 1
) -> pd.DataFrame:
    """Standardise many records into a frame with one row per record (positional index).

    Each distinct raw value is standardised once (the scalar standardisers are cached), which
    is what keeps a million records affordable. With ``workers`` > 1 and a large batch, slices
    of the records are standardised in forked worker processes at the same time (the work is
    pure Python, so threads would not run in parallel); the result is the same.

    >>> from matching.spec import default_product_spec
    >>> frame = standardise(
    ...     [{"id": "p1", "gtin": "4006381333931", "name": "Sony WH-1000XM4", "brand": "Sony"}],
    ...     default_product_spec(),
    ... )
    >>> frame.loc[0, "gtin"], frame.loc[0, "mpn_all"]
    ('04006381333931', ('WH1000XM4',))
    """
    raw = records if isinstance(records, pd.DataFrame) else pd.DataFrame.from_records(list(records))
    raw = raw.reset_index(drop=True)
    if workers > 1 and len(raw) >= PARALLEL_FROM and can_fork():
        return _standardise_in_parallel(raw, spec, workers)
    return _standardise_frame(raw, spec)


# Below this many records, starting worker processes costs more than it saves.
PARALLEL_FROM = 20_000


def _standardise_slice(bounds: tuple[int, int]) -> pd.DataFrame:
    start, stop = bounds
    return _standardise_frame(shared("raw").iloc[start:stop], shared("spec"), first=start)


def _standardise_in_parallel(raw: pd.DataFrame, spec: MatchSpec, workers: int) -> pd.DataFrame:
    bounds = np.linspace(0, len(raw), workers + 1).astype(int).tolist()
    parts = fork_map(
        _standardise_slice,
        list(pairwise(bounds)),
        workers=workers,
        shared={"raw": raw, "spec": spec},
    )
    columns: dict[str, Any] = {}
    for name in parts[0].columns:
        pieces = [part[name] for part in parts]
        if isinstance(pieces[0].dtype, pd.CategoricalDtype):
            columns[name] = union_categoricals([p.array for p in pieces], sort_categories=True)
        else:
            columns[name] = np.concatenate([p.to_numpy() for p in pieces])
    return pd.DataFrame(columns)


def _standardise_frame(raw: pd.DataFrame, spec: MatchSpec, first: int = 0) -> pd.DataFrame:
    """Standardise a frame of records; records without an ``id`` are named by position."""
    raw = raw.reset_index(drop=True)
    n = len(raw)
    columns: dict[str, Any] = {
        "id": raw["id"].astype(str).to_numpy(dtype=object)
        if "id" in raw
        else np.asarray([str(i) for i in range(first, first + n)], dtype=object)
    }
    for std in spec.standardisers:
        if std.kind in _MULTI_KINDS:
            columns.update(_standardise_multi(std, raw))
        else:
            for key, values in _standardise_scalar(std, raw).items():
                # Categoricals: values stored once, and every later stage gets the integer
                # codes for free instead of hashing a million strings again.
                columns[key] = (
                    values
                    if std.kind == "numeric" or key.endswith("_all")
                    else pd.Categorical(values)
                )
    return pd.DataFrame(columns)


_MULTI_KINDS = frozenset({"phone", "email", "tax_id"})


def _field_codes(raw: pd.DataFrame, field: str | None) -> tuple[IntArray, list[Any]]:
    """Codes (-1 = missing) and distinct values of a raw field; lists become tuples."""
    n = len(raw)
    if field is None or field not in raw.columns:
        return np.full(n, -1, dtype=np.int64), []
    values = raw[field].to_numpy(dtype=object)
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # unhashable lists or dicts
        codes, uniques = pd.factorize(
            np.asarray([_freeze_value(v) for v in values] + [None], dtype=object)[:-1]
        )
    return codes.astype(np.int64), list(uniques)


def _combine(codes: Sequence[IntArray]) -> tuple[IntArray, IntArray]:
    """Combine per-field codes into one code per distinct combination (+ first row of each)."""
    n = len(codes[0]) if codes else 0
    combined = np.zeros(n, dtype=np.int64)
    for c in codes:
        base = int(c.max(initial=-1)) + 2
        combined = pd.factorize(combined * base + (c + 1))[0].astype(np.int64)
    n_combos = int(combined.max(initial=-1)) + 1
    first = np.zeros(n_combos, dtype=np.int64)
    first[combined[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
    return combined, first


def _standardise_scalar(std: Standardiser, raw: pd.DataFrame) -> dict[str, Any]:
    fields = [
        f
        for f in dict.fromkeys(
            [std.field, std.country_field, std.exclude_tokens_of, std.extract_from]
        )
        if f
    ]
    per_field = [_field_codes(raw, f) for f in fields]
    combo, first = _combine([c for c, _ in per_field])
    results: list[dict[str, Any]] = []
    for row in first.tolist():
        rec = {}
        for f, (codes, uniques) in zip(fields, per_field, strict=True):
            code = int(codes[row])
            rec[f] = None if code < 0 else _thaw_value(uniques[code])
        res: dict[str, Any] = {}
        _standardise_one(std, rec, res)
        results.append(res)
    if not results:
        probe: dict[str, Any] = {}
        _standardise_one(std, {}, probe)
        return {k: np.full(len(raw), None, dtype=object) for k in probe}
    out: dict[str, Any] = {}
    for key in results[0]:
        per_combo = np.empty(len(results), dtype=object)
        per_combo[:] = [r[key] for r in results]
        out[key] = per_combo[combo]
    return out


def _standardise_multi(std: Standardiser, raw: pd.DataFrame) -> dict[str, Any]:
    """Standardise list-valued fields value by value, each distinct value once."""
    n = len(raw)
    values = (
        raw[std.field].to_numpy(dtype=object)
        if std.field in raw.columns
        else np.full(n, None, dtype=object)
    )
    cc_codes, cc_uniques = _field_codes(raw, std.country_field)
    rows: list[int] = []
    items: list[Any] = []
    for i, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        for item in _as_list(value):
            rows.append(i)
            items.append(item if isinstance(item, str) else _freeze_value(item))
    row_arr = np.asarray(rows, dtype=np.int64)
    item_codes, item_uniques = factorize(items)
    combo, first = _combine([item_codes.astype(np.int64), cc_codes[row_arr]])
    results: list[dict[str, Any]] = []
    for k in first.tolist():
        cc_code = int(cc_codes[row_arr[k]])
        rec: dict[str, Any] = {std.field: [_thaw_value(item_uniques[int(item_codes[k])])]}
        if std.country_field:
            rec[std.country_field] = None if cc_code < 0 else cc_uniques[cc_code]
        res: dict[str, Any] = {}
        _standardise_one(std, rec, res)
        results.append(res)
    probe: dict[str, Any] = {}
    _standardise_one(std, {}, probe)
    out: dict[str, Any] = {}
    per_record = np.bincount(row_arr, minlength=n) if n else np.zeros(0, dtype=np.int64)
    for key in probe:
        per_combo = np.empty(len(results), dtype=object)
        per_combo[:] = [r[key] for r in results]
        column = np.empty(n, dtype=object)
        column[:] = [()] * n
        # Most records carry one value: their tuple is the value's own result.
        single = per_record[row_arr] == 1
        column[row_arr[single]] = per_combo[combo[single]]
        merged: dict[int, list[Any]] = {}
        for row, c in zip(row_arr[~single].tolist(), combo[~single].tolist(), strict=True):
            bucket = merged.setdefault(row, [])
            bucket.extend(v for v in results[c][key] if v not in bucket)
        for row, found in merged.items():
            column[row] = tuple(sorted(found)) if key.endswith("_domains") else tuple(found)
        out[key] = column
    return out


def _freeze_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return ("__mapping__", *sorted((str(k), v) for k, v in value.items()))
    if isinstance(value, list | tuple | np.ndarray):
        return tuple(_freeze_value(v) for v in value)
    return value


def _thaw_value(value: Any) -> Any:
    if isinstance(value, tuple):
        if value and value[0] == "__mapping__":
            return dict(value[1:])
        return [_thaw_value(v) for v in value]
    if isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN
        return None
    return value


def trim_value_caches(max_entries: int) -> int:
    """Empty each cache of standardised values holding more than ``max_entries``; count them.

    A batch wants the caches large (values repeat across a million records); a long-running
    process that standardises a record at a time would otherwise grow each of them up to
    2**20 values. Lookup tables (countries, dialling codes, tax-ID modules) are kept.

    >>> _ = phone("030 1234567", "DE")
    >>> trim_value_caches(0) >= 1, phone.cache_info().currsize
    (True, 0)
    """
    from matching.blocking import key_values

    trimmed = 0
    for cached in (*_VALUE_CACHES, key_values):
        if cached.cache_info().currsize > max_entries:
            cached.cache_clear()
            trimmed += 1
    return trimmed


_VALUE_CACHES = (
    fold_text,
    company_name,
    person_name,
    address,
    postal_code,
    _phone_fast,
    phone,
    phone_key,
    email,
    website,
    tax_id,
    _validated_tax_id,
    duns,
    gtin,
    part_number,
    extract_part_numbers,
    date,
    identifier,
    title,
    title_numbers,
)
