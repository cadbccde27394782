"""Pydantic models of the canonical customer (party) and product.

Validation is strict where a wrong value would poison matching or publication (country codes,
required names, oversized values) and lenient where the hub itself judges quality later (a
tax ID or GTIN with a bad check digit is kept and marked invalid by the matching engine rather
than rejected, so that survivorship can prefer a valid one).
Unknown fields are kept (``extra="allow"``) so nothing a source sends is silently dropped.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, Literal

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

MAX_TEXT = 1000
MAX_LONG_TEXT = 20_000


class EntityType(StrEnum):
    """The kinds of master data the hub manages."""

    CUSTOMER = "customer"
    PRODUCT = "product"


class AccountRole(StrEnum):
    """The role of a customer account in the order-to-cash chain."""

    LEGAL_ENTITY = "legal_entity"
    SOLD_TO = "sold_to"
    BILL_TO = "bill_to"
    SHIP_TO = "ship_to"


class RelationType(StrEnum):
    """How a child account relates to its parent (edges point child to parent)."""

    SUBSIDIARY_OF = "subsidiary_of"
    SOLD_TO_OF = "sold_to_of"
    BILL_TO_OF = "bill_to_of"
    SHIP_TO_OF = "ship_to_of"


class AddressType(StrEnum):
    """What an address is used for."""

    LEGAL = "legal"
    BILLING = "billing"
    SHIPPING = "shipping"
    MAILING = "mailing"
    OTHER = "other"


class RecordStatus(StrEnum):
    """Lifecycle status of a record in its source."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    BLOCKED = "blocked"


@lru_cache(maxsize=4096)
def _country_code(value: str) -> str:
    text = value.strip()
    found = None
    if len(text) == 2:
        found = pycountry.countries.get(alpha_2=text.upper())
    elif len(text) == 3:
        found = pycountry.countries.get(alpha_3=text.upper())
    if found is None and len(text) > 3:
        try:
            found = pycountry.countries.lookup(text)
        except LookupError:
            found = None
    if found is None:
        raise ValueError(f"'{value}' is not an ISO-3166 country code or name")
    return str(found.alpha_2)


def _country(value: str) -> str:
    return _country_code(value)


# Blank strings become None once per model (see _Canonical), not by a validator per field:
# validation is on the hot path of every load.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)] | None
LongText = Annotated[str, StringConstraints(max_length=MAX_LONG_TEXT)] | None
Code = Annotated[str, StringConstraints(max_length=32)] | None
RequiredText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
# A source record's ID fits its column (source_record.source_id).
MAX_SOURCE_ID = 200
SourceId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_SOURCE_ID)]
CountryCode = Annotated[str | None, AfterValidator(lambda v: None if v is None else _country(v))]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")]


# Validation context of input whose strings are trimmed, blanks already left out (a source
# mapping's output): the models need not look for blanks again.
TRIMMED = "trimmed"


class _Canonical(BaseModel):
    # Unknown fields are kept: a source that sends more than we model loses nothing.
    model_config = ConfigDict(extra="allow", str_strip_whitespace=True, use_enum_values=True)

    @model_validator(mode="before")
    @classmethod
    def _blanks_are_missing(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict) and not (info.context and info.context.get(TRIMMED)):
            # Inline rather than a call per field: this runs for every record of a load.
            return {k: (v.strip() or None) if isinstance(v, str) else v for k, v in data.items()}
        return data


class Identifier(_Canonical):
    """A typed identifier: VAT or other tax number, DUNS, LEI, registration or a source number."""

    scheme: RequiredText = Field(description="vat, tax_id, ein, duns, lei, registration, ...")
    value: RequiredText
    country: CountryCode = None


class Address(_Canonical):
    """A postal address of one type."""

    type: AddressType = AddressType.OTHER
    lines: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]] = Field(
        default_factory=list
    )
    city: Text = None
    region: Text = None
    postal_code: Code = None
    country: CountryCode = None

    def is_empty(self) -> bool:
        """Whether the address carries no information at all."""
        return not (self.lines or self.city or self.postal_code or self.region or self.country)


class ParentRef(_Canonical):
    """A reference to a parent account, by its ID in the same (or a named) source system."""

    relation: RelationType
    source_id: SourceId
    source: Text = Field(default=None, description="source system code; default the same source")


class Customer(_Canonical):
    """A customer or party as one source system knows it."""

    entity_type: Literal["customer"] = "customer"
    source_id: SourceId
    legal_name: Text = None
    trading_name: Text = None
    first_name: Text = None
    last_name: Text = None
    account_role: AccountRole = AccountRole.LEGAL_ENTITY
    identifiers: list[Identifier] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    phones: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )
    emails: list[Email] = Field(default_factory=list)
    website: Text = None
    parents: list[ParentRef] = Field(default_factory=list)
    status: RecordStatus = RecordStatus.ACTIVE

    @model_validator(mode="after")
    def _needs_a_name(self) -> Customer:
        if not (self.legal_name or self.trading_name or self.first_name or self.last_name):
            raise ValueError("a customer needs a name: legal_name, trading_name or first/last name")
        return self

    @property
    def display_name(self) -> str:
        """The best name to show: legal, trading, or the person's full name."""
        person = " ".join(p for p in (self.first_name, self.last_name) if p)
        return self.legal_name or self.trading_name or person


class Product(_Canonical):
    """A product or item as one source system knows it."""

    entity_type: Literal["product"] = "product"
    source_id: SourceId
    sku: Text = None
    gtin: Code = None
    mpn: Text = None
    brand: Text = None
    manufacturer: Text = None
    name: Text = None
    description: LongText = None
    category: Text = None
    unit_of_measure: Code = None
    price: float | None = Field(default=None, ge=0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$", to_upper=True)] | None = (
        None
    )
    attributes: dict[str, str | float | int | bool | None] = Field(default_factory=dict)
    status: RecordStatus = RecordStatus.ACTIVE

    @model_validator(mode="after")
    def _needs_an_identity(self) -> Product:
        if not (self.name or self.gtin or self.mpn or self.sku):
            raise ValueError("a product needs a name, GTIN, manufacturer part number or SKU")
        return self


CanonicalRecord = Customer | Product


def model_for(entity_type: EntityType | str) -> type[Customer | Product]:
    """The canonical model class of an entity type.

    >>> model_for("product").__name__
    'Product'
    """
    return Customer if EntityType(entity_type) is EntityType.CUSTOMER else Product
