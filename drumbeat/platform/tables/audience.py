"""Who campaigns reach: companies, contacts (with tags, consent, purchases and product
interest) and leads."""

from enum import Enum

from piccolo.columns import (
    JSON, BigInt, Boolean, Date, ForeignKey, Integer, Timestamptz, Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.tables.team import TeamMember


class Consent(str, Enum):
    """Marketing consent. DENIED is never addressed; a campaign may require GRANTED."""

    GRANTED = "GRANTED"
    DENIED = "DENIED"
    UNKNOWN = "UNKNOWN"


class LeadStatus(str, Enum):
    NEW = "NEW"
    CONTACTED = "CONTACTED"
    QUALIFIED = "QUALIFIED"
    CONVERTED = "CONVERTED"  # became a contact (see ``converted_contact``)
    DISQUALIFIED = "DISQUALIFIED"


class Company(Table, tablename="drumbeat_company"):
    name = Varchar(length=200)
    email = Varchar(length=254, null=True, default=None)  # general address (office, secretariat)
    vat_id = Varchar(length=50, default="")
    phone = Varchar(length=50, default="")
    industry = Varchar(length=100, default="")
    size = Integer(null=True, default=None)  # employees
    country = Varchar(length=2, default="")  # ISO 3166-1 alpha-2
    city = Varchar(length=100, default="")
    owner = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz(null=True, default=None)


class Contact(Table, tablename="drumbeat_contact"):
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    email = Varchar(length=254, null=True, default=None, index=True)  # stored lower-case
    phone = Varchar(length=50, default="")
    job_title = Varchar(length=100, default="")
    language = Varchar(length=10, default="")  # BCP 47, e.g. hr, it, es-ES
    timezone = Varchar(length=50, default="")  # IANA, e.g. Europe/Zagreb
    country = Varchar(length=2, default="")
    city = Varchar(length=100, default="")
    birth_date = Date(null=True, default=None)
    gender = Varchar(length=20, default="")  # optional, free text
    attributes = JSON(default="{}")  # custom attributes: flat name → string/number/bool
    company = ForeignKey(Company, null=True, on_delete=OnDelete.set_null)
    owner = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    consent = Varchar(length=10, choices=Consent, default=Consent.UNKNOWN.value)
    consent_source = Varchar(length=100, default="")  # e.g. "web form", "trade fair"
    consent_at = Timestamptz(null=True, default=None)
    unsubscribed = Boolean(default=False)
    bounced = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz(null=True, default=None)


class ContactTag(Table, tablename="drumbeat_contact_tag"):
    contact = ForeignKey(Contact, null=False, on_delete=OnDelete.cascade)
    tag = Varchar(length=50)


class Lead(Table, tablename="drumbeat_lead"):
    """A prospect not yet a contact; convertible into one."""

    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    email = Varchar(length=254, null=True, default=None)
    phone = Varchar(length=50, default="")
    company_name = Varchar(length=200, default="")
    source = Varchar(length=100, default="")
    status = Varchar(length=20, choices=LeadStatus, default=LeadStatus.NEW.value)
    owner = ForeignKey(TeamMember, null=True, on_delete=OnDelete.set_null)
    converted_contact = ForeignKey(Contact, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class Product(Table, tablename="drumbeat_product"):
    name = Varchar(length=200)  # unique case-insensitively
    category = Varchar(length=100, default="")
    created_at = Timestamptz()


class Purchase(Table, tablename="drumbeat_purchase"):
    """Purchase history: a contact's or a company's purchase of a product."""

    contact = ForeignKey(Contact, null=True, on_delete=OnDelete.cascade)
    company = ForeignKey(Company, null=True, on_delete=OnDelete.cascade)
    product = ForeignKey(Product, null=False, on_delete=OnDelete.restrict)
    amount_cents = BigInt(default=0)
    currency = Varchar(length=3, default="EUR")
    purchased_on = Date()


class ProductInterest(Table, tablename="drumbeat_product_interest"):
    contact = ForeignKey(Contact, null=False, on_delete=OnDelete.cascade)
    product = ForeignKey(Product, null=False, on_delete=OnDelete.cascade)
    created_at = Timestamptz()
