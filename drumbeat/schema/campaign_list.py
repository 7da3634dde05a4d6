"""The ``campaigns`` connection: filters and ordering, keyset-paginated in SQL."""

from __future__ import annotations

import strawberry
from strawberry import relay

from drumbeat.platform.tables import Campaign as CampaignTable
from drumbeat.schema.campaigns import Campaign
from drumbeat.schema.context import Info
from drumbeat.schema.pagination import keyset_connection


@strawberry.type
class CampaignListQueries:
    @strawberry.field(description="Campaigns, newest first.")
    async def campaigns(self, info: Info, first: int | None = None, after: str | None = None,
                        last: int | None = None, before: str | None = None
                        ) -> relay.Connection[Campaign]:
        info.context.require_member()
        return await keyset_connection(
            CampaignTable, Campaign.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
        )
