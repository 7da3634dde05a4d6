"""Audience: leads, products, purchases, product interest, contact tags, segments,
distribution lists and their members."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, BigInt, Boolean, Date, ForeignKey, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.table import Table

from drumbeat.platform.migration_kit import create_table

ID = "2026-11-23T00:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "audience tables"


class TeamMember(Table, tablename="drumbeat_team_member"):
    pass


class Company(Table, tablename="drumbeat_company"):
    pass


class Contact(Table, tablename="drumbeat_contact"):
    pass


class Product(Table, tablename="drumbeat_product"):
    pass


class Segment(Table, tablename="drumbeat_segment"):
    pass


class DistributionList(Table, tablename="drumbeat_distribution_list"):
    pass


def fk(table, on_delete=OnDelete.cascade, null=False):
    return ForeignKey(references=table, null=null, on_delete=on_delete)


async def forwards():
    m = MigrationManager(migration_id=ID, app_name="drumbeat", description=DESCRIPTION)
    create_table(
        m, "Lead", "drumbeat_lead",
        first_name=Varchar(length=100, default=""),
        last_name=Varchar(length=100, default=""),
        email=Varchar(length=254, null=True, default=None),
        phone=Varchar(length=50, default=""),
        company_name=Varchar(length=200, default=""),
        source=Varchar(length=100, default=""),
        status=Varchar(length=20, default="NEW"),
        owner=fk(TeamMember, OnDelete.set_null, null=True),
        converted_contact=fk(Contact, OnDelete.set_null, null=True),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
    )
    create_table(
        m, "Product", "drumbeat_product",
        name=Varchar(length=200),
        category=Varchar(length=100, default=""),
        created_at=Timestamptz(),
    )
    create_table(
        m, "Purchase", "drumbeat_purchase",
        contact=fk(Contact, null=True),
        company=fk(Company, null=True),
        product=fk(Product, OnDelete.restrict),
        amount_cents=BigInt(default=0),
        currency=Varchar(length=3, default="EUR"),
        purchased_on=Date(),
    )
    create_table(
        m, "ProductInterest", "drumbeat_product_interest",
        contact=fk(Contact),
        product=fk(Product),
        created_at=Timestamptz(),
    )
    create_table(
        m, "ContactTag", "drumbeat_contact_tag",
        contact=fk(Contact),
        tag=Varchar(length=50),
    )
    create_table(
        m, "Segment", "drumbeat_segment",
        name=Varchar(length=200),
        description=Text(default=""),
        filter=JSON(default="{}"),
        owner=fk(TeamMember, OnDelete.restrict),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
    )
    create_table(
        m, "DistributionList", "drumbeat_distribution_list",
        name=Varchar(length=200),
        description=Text(default=""),
        segment=fk(Segment, OnDelete.set_null, null=True),
        owner=fk(TeamMember, OnDelete.restrict),
        created_at=Timestamptz(),
        updated_at=Timestamptz(),
    )
    create_table(
        m, "ListMember", "drumbeat_list_member",
        list=fk(DistributionList),
        contact=fk(Contact),
        source=Varchar(length=20, default="MANUAL"),
        excluded=Boolean(default=False),
        added_at=Timestamptz(),
    )
    return m
