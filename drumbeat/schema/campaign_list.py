"""The ``campaigns`` connection: filters and ordering, keyset-paginated in SQL."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry import relay

from drumbeat.platform import campaign_search as search
from drumbeat.schema.campaigns import Campaign, CampaignState
from drumbeat.schema.context import Info
from drumbeat.schema.ids import node_id
from drumbeat.schema.pagination import OrderDirection, connection, page_window

CampaignOrderField = strawberry.enum(search.OrderField, name="CampaignOrderField")


@strawberry.input(description="Every condition given must hold. *After bounds are inclusive, "
                              "*Before bounds exclusive.")
class CampaignFilter:
    states: list[CampaignState] | None = strawberry.field(
        default=None, description="Any of these states (omitted or empty: any state).")
    owner_id: relay.GlobalID | None = None
    tag: str | None = strawberry.field(default=None, description="Has this tag (any case).")
    text: str | None = strawberry.field(
        default=None, description="Case-insensitive substring of the name, goal or description; "
                                  "% and _ match themselves.")
    created_after: datetime | None = None
    created_before: datetime | None = None
    scheduled_after: datetime | None = None
    scheduled_before: datetime | None = None


@strawberry.input(description="Default: newest first (CREATED_AT, DESC). Ties go by id; "
                              "unscheduled campaigns come last for SCHEDULED_START.")
class CampaignOrder:
    field: CampaignOrderField
    direction: OrderDirection = OrderDirection.ASC


def _filter(value: CampaignFilter | None) -> search.CampaignFilter:
    if value is None:
        return search.CampaignFilter()
    owner = node_id(value.owner_id, "TeamMember", "filter", "ownerId") if value.owner_id else None
    return search.CampaignFilter(
        states=tuple(value.states or ()), owner_id=owner, tag=value.tag, text=value.text,
        created_after=value.created_after, created_before=value.created_before,
        scheduled_after=value.scheduled_after, scheduled_before=value.scheduled_before)


@strawberry.type
class CampaignListQueries:
    @strawberry.field(description="Campaigns matching a filter, in any order (default: newest "
                                  "first). Cursors are valid for the ordering they came from.")
    async def campaigns(self, info: Info, filter: CampaignFilter | None = None,
                        order_by: CampaignOrder | None = None,
                        first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None
                        ) -> relay.Connection[Campaign]:
        member = info.context.require_member()
        size, backwards = page_window(first, last, info.context.platform.settings.max_page_size)
        order = search.CampaignOrder() if order_by is None else search.CampaignOrder(
            search.OrderField(order_by.field), order_by.direction is OrderDirection.DESC)
        page = await search.search_campaigns(
            info.context.platform.db, member, _filter(filter), order, size=size,
            backwards=backwards, after=after, before=before)
        edges = [relay.Edge(node=Campaign.from_row(row), cursor=cursor)
                 for row, cursor in zip(page.rows, page.cursors)]
        return connection(edges, has_more=page.has_more, backwards=backwards, after=after,
                          before=before)
