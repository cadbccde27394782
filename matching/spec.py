"""The match specification: matching configured as data.

A :class:`MatchSpec` names, for one entity type, which standardiser runs on which input field,
which blocking rules produce candidate pairs, which comparisons (each with its ordered levels)
feed the Fellegi-Sunter model, which deterministic rules override the score, and the two
decision thresholds. Specs are pydantic models, so they serialise to JSON and travel inside a
trained model document; nothing here executes anything.

Column naming: a standardiser with ``output="name"`` writes the column ``name`` and, for some
kinds, companion columns (``name_legal_form`` for a company name, ``email_domains`` for
emails, ...). Blocking key parts, comparisons and rules refer to these standardised columns.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SPEC_FORMAT_VERSION = 1

StandardiserKind = Literal[
    "text",
    "company_name",
    "person_name",
    "address",
    "postal_code",
    "city",
    "country",
    "phone",
    "email",
    "website",
    "tax_id",
    "duns",
    "gtin",
    "part_number",
    "title",
    "date",
    "identifier",
    "numeric",
    "code",
]

Scorer = Literal[
    "jaro_winkler",
    "jaro",
    "levenshtein",
    "damerau_levenshtein",
    "indel",
    "token_set_ratio",
    "token_sort_ratio",
    "partial_ratio",
    "ratio",
]

KeyTransform = Literal[
    "exact",
    "first_token",
    "first_two_tokens",
    "sorted_tokens",
    "metaphone",
    "soundex",
    "prefix3",
    "year",
    "tokens",
    "numbers_and_first_word",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Standardiser(_Frozen):
    """One input field standardised into one (or a few) columns.

    ``country_field`` is the raw input field that gives the default country (phones, postal
    codes, tax IDs); ``exclude_tokens_of`` removes another raw field's tokens from a title (so a
    brand repeated in the title is counted once); ``extract_from`` makes a part-number
    standardiser also collect the codes found in that title field into ``<output>_all``.
    """

    field: str
    kind: StandardiserKind
    output: str | None = None
    country_field: str | None = None
    exclude_tokens_of: str | None = None
    extract_from: str | None = None

    @property
    def column(self) -> str:
        """The main standardised column this standardiser writes."""
        return self.output or self.field


class KeyPart(_Frozen):
    """One part of a blocking key: a standardised column and how to reduce it."""

    column: str
    transform: KeyTransform = "exact"


class BlockingRule(_Frozen):
    """Records sharing every part of the key become candidate pairs.

    Multi-valued columns (phones, emails, tax IDs) produce one key per value. A key shared by
    more than ``max_block_size`` records is capped: it produces no pairs, and is reported.
    """

    name: str
    parts: tuple[KeyPart, ...]
    max_block_size: int = 200

    @property
    def columns(self) -> frozenset[str]:
        """The standardised columns this rule reads."""
        return frozenset(p.column for p in self.parts)


LevelKind = Literal[
    "null",
    "exact",
    "fuzzy",
    "distance",
    "numeric",
    "date",
    "overlap",
    "idf",
    "swap",
    "else",
]


class Level(_Frozen):
    """One comparison level; levels are tried in order and the first that holds wins.

    - ``null``: either side missing (weight 0, never trained).
    - ``exact``: equal values; ``tf_adjust`` scales the weight by how common the value is.
    - ``fuzzy``: ``scorer`` similarity (0..1) at or above ``threshold``.
    - ``distance``: edit distance (``levenshtein`` or ``damerau_levenshtein``) at most
      ``threshold``.
    - ``numeric``: relative difference ``|a-b| / max(|a|,|b|)`` at most ``threshold``.
    - ``date``: ``YYYYMMDD`` dates within ``threshold`` days; with ``transposed`` day and month
      swapped instead.
    - ``overlap``: multi-valued columns share a value.
    - ``idf``: IDF-weighted token cosine at or above ``threshold`` (rare shared tokens count
      most).
    - ``swap``: this column equals ``other_column`` of the other record and vice versa.
    - ``else``: everything not caught above.

    ``column`` lets one ``overlap`` level of a multi-valued comparison read a companion
    column (e-mails: same address, else same company domain), so correlated evidence is
    counted once, in one comparison.

    ``same_digits`` restricts a ``fuzzy`` level to values with the same digits in the same
    order: a code's digits carry its identity (``CW1015-13`` and ``CW1015-19`` are two
    sizes), while its letters vary in how sources write it (``DSCW120`` / ``DSCW120B``).
    """

    label: str
    kind: LevelKind
    scorer: Scorer | None = None
    threshold: float | None = None
    transposed: bool = False
    other_column: str | None = None
    column: str | None = None
    same_digits: bool = False

    @model_validator(mode="after")
    def _check(self) -> Level:
        needs_threshold = {"fuzzy", "distance", "numeric", "idf"}
        if self.kind in needs_threshold and self.threshold is None:
            raise ValueError(f"level {self.label!r} ({self.kind}) needs a threshold")
        if self.kind in {"fuzzy", "distance"} and self.scorer is None:
            raise ValueError(f"level {self.label!r} ({self.kind}) needs a scorer")
        if self.kind == "date" and self.threshold is None and not self.transposed:
            raise ValueError(f"date level {self.label!r} needs a threshold or transposed")
        if self.kind == "swap" and self.other_column is None:
            raise ValueError(f"swap level {self.label!r} needs other_column")
        if self.same_digits and self.kind != "fuzzy":
            raise ValueError(f"level {self.label!r}: same_digits applies to fuzzy levels only")
        return self


class Comparison(_Frozen):
    """A field comparison: ordered levels from ``null`` through best to ``else``.

    ``unless_compared`` names a single-valued column that carries the same evidence more
    precisely: where both records have it, this comparison is ``null`` (a city where both
    postcodes are known), so one fact is not counted twice.
    """

    name: str
    column: str
    levels: tuple[Level, ...]
    tf_adjust: bool = False
    description: str = ""
    unless_compared: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Comparison:
        kinds = [lv.kind for lv in self.levels]
        if len(kinds) < 3 or kinds[0] != "null" or kinds[-1] != "else":
            raise ValueError(f"comparison {self.name!r}: levels must be null, ..., else")
        if "null" in kinds[1:] or "else" in kinds[:-1]:
            raise ValueError(f"comparison {self.name!r}: one null first, one else last")
        return self

    @property
    def columns(self) -> frozenset[str]:
        """The standardised columns this comparison reads."""
        extra = {c for lv in self.levels for c in (lv.other_column, lv.column) if c}
        if self.unless_compared:
            extra.add(self.unless_compared)
        return frozenset({self.column, *extra})


ConditionTest = Literal[
    "equal", "not_equal", "differ", "missing_or_equal", "both_in", "similarity_below"
]


class Condition(_Frozen):
    """A test on one column of a pair.

    - ``equal``: both present and equal (multi-valued: share a value).
    - ``not_equal``: not ``equal`` (either missing, or the values differ).
    - ``differ``: both present and different (multi-valued ``namespace=value`` columns: some
      namespace present on both sides with no value in common, e.g. two valid German VAT
      numbers that differ).
    - ``missing_or_equal``: not known to differ.
    - ``both_in``: both values among ``values``.
    - ``similarity_below``: both present and ``scorer`` similarity below ``threshold``.
    """

    column: str
    test: ConditionTest
    values: tuple[str, ...] = ()
    scorer: Scorer | None = None
    threshold: float | None = None


class MatchRule(_Frozen):
    """A deterministic rule that overrides the probabilistic score when all conditions hold.

    ``must_link`` sets the probability to 1, ``cannot_link`` to 0; ``review`` caps it just below
    the match threshold (never linked automatically: a steward decides, if the evidence
    reaches the review threshold). Cannot-link rules win over must-link rules, and both over
    review rules.
    """

    name: str
    effect: Literal["must_link", "cannot_link", "review"]
    all_of: tuple[Condition, ...]


class Thresholds(_Frozen):
    """Decision thresholds on the match probability.

    At or above ``match`` a pair links automatically; from ``review`` up to ``match`` it goes to
    a steward; below ``review`` it is no match. ``bridge_margin`` (in match weight, log2 Bayes
    factor) marks auto links weak enough that a cluster held together only by them is flagged.
    """

    match: float = Field(0.95, gt=0.0, lt=1.0)
    review: float = Field(0.5, gt=0.0, lt=1.0)
    bridge_margin: float = 3.0

    @model_validator(mode="after")
    def _check(self) -> Thresholds:
        if self.review > self.match:
            raise ValueError("review threshold must not exceed the match threshold")
        return self


class MatchSpec(_Frozen):
    """Everything that defines how one entity type is matched."""

    name: str
    entity_type: Literal["customer", "product", "person", "other"]
    version: str = "1"
    format_version: int = SPEC_FORMAT_VERSION
    standardisers: tuple[Standardiser, ...]
    blocking_rules: tuple[BlockingRule, ...]
    comparisons: tuple[Comparison, ...]
    rules: tuple[MatchRule, ...] = ()
    thresholds: Thresholds = Thresholds()
    one_to_one: bool = False
    u_sample_pairs: int = 300_000
    em_max_pairs: int = 300_000
    tf_table_size: int = 100_000

    @model_validator(mode="after")
    def _check(self) -> MatchSpec:
        names = [c.name for c in self.comparisons]
        if len(set(names)) != len(names):
            raise ValueError("comparison names must be unique")
        rule_names = [r.name for r in self.blocking_rules]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("blocking rule names must be unique")
        if len(rule_names) > 62:
            raise ValueError("at most 62 blocking rules")
        return self

    def comparison(self, name: str) -> Comparison:
        """Return the comparison called ``name``.

        >>> default_person_spec = person_spec()
        >>> default_person_spec.comparison("surname").column
        'surname'
        """
        for c in self.comparisons:
            if c.name == name:
                return c
        raise KeyError(name)


# --------------------------------------------------------------------------- shipped specs


def _name_levels(column: str, *, swap_with: str | None = None) -> tuple[Level, ...]:
    levels = [Level(label="null", kind="null"), Level(label="exact", kind="exact")]
    if swap_with:
        levels.append(Level(label="swapped", kind="swap", other_column=swap_with))
    levels += [
        Level(label="dl<=1", kind="distance", scorer="damerau_levenshtein", threshold=1),
        Level(label="jw>=0.92", kind="fuzzy", scorer="jaro_winkler", threshold=0.92),
        Level(label="jw>=0.8", kind="fuzzy", scorer="jaro_winkler", threshold=0.8),
        Level(label="else", kind="else"),
    ]
    _ = column
    return tuple(levels)


def _text_comparison(column: str) -> Comparison:
    return Comparison(
        name=column,
        column=column,
        levels=(
            Level(label="null", kind="null"),
            Level(label="exact", kind="exact"),
            Level(label="jw>=0.9", kind="fuzzy", scorer="jaro_winkler", threshold=0.9),
            Level(label="token-set>=0.8", kind="fuzzy", scorer="token_set_ratio", threshold=0.8),
            Level(label="else", kind="else"),
        ),
        tf_adjust=True,
    )


def person_spec(
    *,
    fields: tuple[str, ...] = (
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    ),
    thresholds: Thresholds | None = None,
) -> MatchSpec:
    """Return a generic person spec (names, address parts, date of birth, an identifier).

    The field names follow the Febrl data sets; any subset may be used.

    >>> spec = person_spec()
    >>> [c.name for c in spec.comparisons][:3]
    ['given_name', 'surname', 'date_of_birth']
    >>> person_spec(fields=("given_name", "surname")).entity_type
    'person'
    """
    kinds: dict[str, StandardiserKind] = {
        "given_name": "text",
        "surname": "text",
        "street_number": "identifier",
        "address_1": "address",
        "address_2": "address",
        "suburb": "text",
        "postcode": "identifier",
        "state": "code",
        "date_of_birth": "date",
        "soc_sec_id": "identifier",
    }
    present = set(fields)
    standardisers = tuple(Standardiser(field=f, kind=kinds.get(f, "text")) for f in fields)
    comps: list[Comparison] = []
    if "given_name" in present:
        other = "surname" if "surname" in present else None
        comps.append(
            Comparison(
                name="given_name",
                column="given_name",
                levels=_name_levels("given_name", swap_with=other),
                tf_adjust=True,
            )
        )
    if "surname" in present:
        other = "given_name" if "given_name" in present else None
        comps.append(
            Comparison(
                name="surname",
                column="surname",
                levels=_name_levels("surname", swap_with=other),
                tf_adjust=True,
            )
        )
    if "date_of_birth" in present:
        comps.append(
            Comparison(
                name="date_of_birth",
                column="date_of_birth",
                levels=(
                    Level(label="null", kind="null"),
                    Level(label="exact", kind="exact"),
                    Level(label="day-month swapped", kind="date", transposed=True),
                    Level(
                        label="dl<=1", kind="distance", scorer="damerau_levenshtein", threshold=1
                    ),
                    Level(label="within 1 month", kind="date", threshold=31),
                    Level(label="within 1 year", kind="date", threshold=366),
                    Level(
                        label="dl<=2", kind="distance", scorer="damerau_levenshtein", threshold=2
                    ),
                    Level(label="else", kind="else"),
                ),
            )
        )
    if "soc_sec_id" in present:
        comps.append(
            Comparison(
                name="soc_sec_id",
                column="soc_sec_id",
                levels=(
                    Level(label="null", kind="null"),
                    Level(label="exact", kind="exact"),
                    Level(
                        label="dl<=1", kind="distance", scorer="damerau_levenshtein", threshold=1
                    ),
                    Level(
                        label="dl<=2", kind="distance", scorer="damerau_levenshtein", threshold=2
                    ),
                    Level(label="else", kind="else"),
                ),
            )
        )
    for f in ("street_number", "postcode", "state"):
        if f in present:
            levels: list[Level] = [
                Level(label="null", kind="null"),
                Level(label="exact", kind="exact"),
            ]
            if f != "state":
                levels.append(
                    Level(label="dl<=1", kind="distance", scorer="damerau_levenshtein", threshold=1)
                )
            levels.append(Level(label="else", kind="else"))
            comps.append(Comparison(name=f, column=f, levels=tuple(levels), tf_adjust=f != "state"))
    comps.extend(_text_comparison(f) for f in ("address_1", "address_2", "suburb") if f in present)
    rules: list[BlockingRule] = []

    def add(name: str, *parts: KeyPart) -> None:
        if all(p.column in present for p in parts):
            rules.append(BlockingRule(name=name, parts=parts))

    add("soc_sec_id", KeyPart(column="soc_sec_id"))
    add("date_of_birth", KeyPart(column="date_of_birth"))
    add("given_name+surname", KeyPart(column="given_name"), KeyPart(column="surname"))
    add("postcode", KeyPart(column="postcode"))
    add(
        "surname_phonetic+yob",
        KeyPart(column="surname", transform="soundex"),
        KeyPart(column="date_of_birth", transform="year"),
    )
    add("street+number", KeyPart(column="address_1"), KeyPart(column="street_number"))
    add("given_name+postcode", KeyPart(column="given_name"), KeyPart(column="postcode"))
    add("surname+suburb", KeyPart(column="surname"), KeyPart(column="suburb"))
    return MatchSpec(
        name="person",
        entity_type="person",
        standardisers=standardisers,
        blocking_rules=tuple(rules),
        comparisons=tuple(comps),
        thresholds=thresholds or Thresholds(match=0.9, review=0.5),
    )


def default_customer_spec() -> MatchSpec:
    """Return the shipped customer spec (organisations and people, at several roles).

    Roles are compared like with like: records of different roles never link, and two
    bill-to or ship-to sites of one company only link when their site addresses agree.

    >>> spec = default_customer_spec()
    >>> spec.entity_type
    'customer'
    >>> sorted(r.effect for r in spec.rules)[:2]
    ['cannot_link', 'cannot_link']
    """
    std = (
        Standardiser(field="name", kind="company_name"),
        Standardiser(field="trading_name", kind="company_name"),
        Standardiser(field="role", kind="code"),
        Standardiser(field="tax_ids", kind="tax_id", country_field="country"),
        Standardiser(field="duns", kind="duns"),
        Standardiser(field="address", kind="address"),
        Standardiser(field="city", kind="city"),
        Standardiser(field="postal_code", kind="postal_code", country_field="country"),
        Standardiser(field="country", kind="country"),
        Standardiser(field="phones", kind="phone", country_field="country"),
        Standardiser(field="emails", kind="email"),
        Standardiser(field="website", kind="website"),
    )
    null, else_ = Level(label="null", kind="null"), Level(label="else", kind="else")
    exact = Level(label="exact", kind="exact")
    comps = (
        Comparison(
            name="name",
            column="name",
            tf_adjust=True,
            levels=(
                null,
                exact,
                Level(label="idf-cosine>=0.9", kind="idf", threshold=0.9),
                # Indel ratio, not Jaro-Winkler: company names share prefixes
                # ("Wayne Tools" / "Wayne Foods") that Jaro-Winkler rewards.
                Level(label="ratio>=0.9", kind="fuzzy", scorer="ratio", threshold=0.9),
                Level(label="idf-cosine>=0.6", kind="idf", threshold=0.6),
                Level(
                    label="token-set>=0.8", kind="fuzzy", scorer="token_set_ratio", threshold=0.8
                ),
                else_,
            ),
        ),
        Comparison(name="legal_form", column="name_legal_form", levels=(null, exact, else_)),
        Comparison(
            name="tax_id",
            column="tax_ids",
            levels=(null, Level(label="same", kind="overlap"), else_),
        ),
        # Identifiers no checksum vouches for (national IDs, registration numbers, a mistyped
        # VAT number): the same one is evidence; so is one a single typo apart (a digit
        # changed, two swapped), with the weight training gives it. No rule acts on two that
        # differ (one may be mistyped).
        Comparison(
            name="other_id",
            column="tax_ids_other",
            levels=(
                null,
                Level(label="same", kind="overlap"),
                Level(label="one typo", kind="distance", scorer="damerau_levenshtein", threshold=1),
                else_,
            ),
        ),
        Comparison(name="duns", column="duns", levels=(null, exact, else_)),
        Comparison(
            name="address",
            column="address",
            tf_adjust=True,
            levels=(
                null,
                exact,
                # Only the same house number (and unit) is the same address: the street's
                # spelling varies between sources, its numbers do not.
                Level(
                    label="token-set>=0.9",
                    kind="fuzzy",
                    scorer="token_set_ratio",
                    threshold=0.9,
                    same_digits=True,
                ),
                Level(
                    label="jw>=0.85",
                    kind="fuzzy",
                    scorer="jaro_winkler",
                    threshold=0.85,
                    same_digits=True,
                ),
                else_,
            ),
        ),
        Comparison(
            name="postal_code",
            column="postal_code",
            tf_adjust=True,
            levels=(
                null,
                exact,
                Level(label="dl<=1", kind="distance", scorer="damerau_levenshtein", threshold=1),
                else_,
            ),
        ),
        # The postcode names the town more precisely: the city counts only where a postcode is
        # missing, or a company that moved would be told three times that it is elsewhere.
        Comparison(
            name="city",
            column="city",
            tf_adjust=True,
            unless_compared="postal_code",
            levels=(
                null,
                exact,
                Level(label="jw>=0.9", kind="fuzzy", scorer="jaro_winkler", threshold=0.9),
                else_,
            ),
        ),
        Comparison(name="country", column="country", levels=(null, exact, else_)),
        Comparison(
            name="phone",
            column="phones",
            levels=(null, Level(label="shared", kind="overlap"), else_),
        ),
        Comparison(
            name="email",
            column="emails",
            levels=(
                null,
                Level(label="shared", kind="overlap"),
                Level(label="same company domain", kind="overlap", column="emails_domains"),
                else_,
            ),
        ),
        Comparison(name="website", column="website", tf_adjust=True, levels=(null, exact, else_)),
    )
    blocking = (
        BlockingRule(name="tax_id", parts=(KeyPart(column="tax_ids"),)),
        BlockingRule(name="duns", parts=(KeyPart(column="duns"),)),
        BlockingRule(name="other_id", parts=(KeyPart(column="tax_ids_other"),), max_block_size=30),
        BlockingRule(name="phone", parts=(KeyPart(column="phones"),)),
        # A shared address or website held by dozens of records (info@, a group domain) no
        # longer identifies one customer; such keys are capped and reported.
        BlockingRule(name="email", parts=(KeyPart(column="emails"),), max_block_size=30),
        BlockingRule(
            name="postcode+name",
            parts=(
                KeyPart(column="postal_code"),
                KeyPart(column="name", transform="first_two_tokens"),
            ),
        ),
        # One site, however its name was keyed in: the same street, number and postcode.
        BlockingRule(
            name="postcode+address",
            parts=(
                KeyPart(column="postal_code"),
                KeyPart(column="address", transform="numbers_and_first_word"),
            ),
            max_block_size=30,
        ),
        BlockingRule(
            name="name_key+city",
            parts=(KeyPart(column="name", transform="sorted_tokens"), KeyPart(column="city")),
        ),
        BlockingRule(
            name="name_phonetic+city",
            parts=(
                KeyPart(column="name", transform="metaphone"),
                KeyPart(column="city"),
            ),
        ),
        BlockingRule(
            name="website",
            parts=(KeyPart(column="website"), KeyPart(column="country")),
            max_block_size=30,
        ),
    )
    site_roles = ("bill_to", "ship_to")
    rules = (
        MatchRule(
            name="same_tax_id",
            effect="must_link",
            all_of=(
                Condition(column="tax_ids", test="equal"),
                Condition(column="role", test="missing_or_equal"),
                Condition(column="role", test="both_in", values=("legal_entity", "sold_to")),
            ),
        ),
        MatchRule(
            name="different_tax_id",
            effect="cannot_link",
            all_of=(Condition(column="tax_ids", test="differ"),),
        ),
        MatchRule(
            name="different_role",
            effect="cannot_link",
            all_of=(Condition(column="role", test="differ"),),
        ),
        # Names that share nothing are a steward's call, however much else agrees: companies
        # share a switchboard and an address (a hotel's restaurants, a serviced office's
        # tenants, a group's subsidiaries). Unless an identifier agrees: that still links.
        MatchRule(
            name="names_share_nothing",
            effect="review",
            all_of=(
                Condition(column="tax_ids", test="not_equal"),
                Condition(column="tax_ids_other", test="not_equal"),
                Condition(column="duns", test="not_equal"),
                Condition(
                    column="name",
                    test="similarity_below",
                    scorer="token_set_ratio",
                    threshold=0.5,
                ),
            ),
        ),
        MatchRule(
            name="different_site_street",
            effect="cannot_link",
            all_of=(
                Condition(column="role", test="both_in", values=site_roles),
                Condition(
                    column="address",
                    test="similarity_below",
                    scorer="token_sort_ratio",
                    threshold=0.7,
                ),
            ),
        ),
        MatchRule(
            name="different_site_number",
            effect="cannot_link",
            all_of=(
                Condition(column="role", test="both_in", values=site_roles),
                Condition(column="address_number", test="differ"),
            ),
        ),
        MatchRule(
            name="different_site_unit",
            effect="cannot_link",
            all_of=(
                Condition(column="role", test="both_in", values=site_roles),
                Condition(column="address_unit", test="differ"),
            ),
        ),
        MatchRule(
            name="different_site_postcode",
            effect="cannot_link",
            all_of=(
                Condition(column="role", test="both_in", values=site_roles),
                Condition(column="postal_code", test="differ"),
            ),
        ),
    )
    return MatchSpec(
        name="customer",
        entity_type="customer",
        standardisers=std,
        blocking_rules=blocking,
        comparisons=comps,
        rules=rules,
        thresholds=Thresholds(match=0.95, review=0.6),
    )


def default_product_spec() -> MatchSpec:
    """Return the shipped product spec: identifiers first, then IDF-weighted titles.

    >>> spec = default_product_spec()
    >>> spec.comparisons[0].name, spec.one_to_one
    ('gtin', False)
    """
    null, else_ = Level(label="null", kind="null"), Level(label="else", kind="else")
    exact = Level(label="exact", kind="exact")
    std = (
        Standardiser(field="gtin", kind="gtin"),
        Standardiser(field="mpn", kind="part_number", extract_from="name"),
        Standardiser(field="brand", kind="text"),
        Standardiser(field="name", kind="title", exclude_tokens_of="brand"),
        Standardiser(field="category", kind="text"),
        Standardiser(field="price", kind="numeric"),
        Standardiser(field="currency", kind="code"),
    )
    comps = (
        Comparison(name="gtin", column="gtin", levels=(null, exact, else_)),
        Comparison(
            name="part_number",
            column="mpn_all",
            levels=(
                null,
                Level(label="shared", kind="overlap"),
                Level(
                    label="jw>=0.95, same digits",
                    kind="fuzzy",
                    scorer="jaro_winkler",
                    threshold=0.95,
                    same_digits=True,
                ),
                else_,
            ),
        ),
        Comparison(
            name="brand",
            column="brand",
            tf_adjust=True,
            levels=(
                null,
                exact,
                Level(label="jw>=0.9", kind="fuzzy", scorer="jaro_winkler", threshold=0.9),
                else_,
            ),
        ),
        Comparison(
            name="title",
            column="name",
            levels=(
                null,
                Level(label="idf-cosine>=0.8", kind="idf", threshold=0.8),
                Level(label="idf-cosine>=0.6", kind="idf", threshold=0.6),
                Level(label="idf-cosine>=0.4", kind="idf", threshold=0.4),
                Level(label="idf-cosine>=0.2", kind="idf", threshold=0.2),
                else_,
            ),
        ),
        # Sizes, capacities and counts in titles tell variants of one family apart
        # ("13 mm" / "19 mm"): a number only one title lacks is no conflict, two different
        # numbers are.
        Comparison(
            name="title_numbers",
            column="name_numbers",
            levels=(
                null,
                Level(label="same", kind="exact"),
                Level(
                    label="one lists more",
                    kind="fuzzy",
                    scorer="token_set_ratio",
                    threshold=1.0,
                ),
                Level(label="conflict", kind="else"),
            ),
        ),
        Comparison(
            name="price",
            column="price",
            levels=(
                null,
                Level(label="within 5%", kind="numeric", threshold=0.05),
                Level(label="within 25%", kind="numeric", threshold=0.25),
                else_,
            ),
        ),
        Comparison(name="category", column="category", tf_adjust=True, levels=(null, exact, else_)),
    )
    blocking = (
        BlockingRule(name="gtin", parts=(KeyPart(column="gtin"),)),
        BlockingRule(name="part_number", parts=(KeyPart(column="mpn_all"),)),
        BlockingRule(
            name="brand+part_number",
            parts=(KeyPart(column="brand"), KeyPart(column="mpn", transform="prefix3")),
        ),
        BlockingRule(
            name="rare_title_tokens",
            parts=(KeyPart(column="name", transform="tokens"),),
            max_block_size=100,
        ),
    )
    rules = (
        MatchRule(
            name="same_gtin", effect="must_link", all_of=(Condition(column="gtin", test="equal"),)
        ),
        MatchRule(
            name="different_gtin",
            effect="cannot_link",
            all_of=(Condition(column="gtin", test="differ"),),
        ),
    )
    return MatchSpec(
        name="product",
        entity_type="product",
        standardisers=std,
        blocking_rules=blocking,
        comparisons=comps,
        rules=rules,
        thresholds=Thresholds(match=0.9, review=0.5),
    )
