"""The GraphQL schema: one module per domain, merged here into Query, Mutation, Subscription."""

from __future__ import annotations

import inspect
from typing import Annotated

import strawberry
from strawberry import relay
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.cast import cast as strawberry_cast

from drumbeat.schema.action_types import ActionTypeQueries
from drumbeat.schema.budget import BudgetMutations
from drumbeat.schema.budget_alerts import BudgetSubscriptions
from drumbeat.schema.campaign_list import CampaignListQueries
from drumbeat.schema.campaign_mutations import CampaignMutations
from drumbeat.schema.campaigns import CampaignQueries
from drumbeat.schema.companies import CompanyMutations, CompanyQueries
from drumbeat.schema.contacts import ContactMutations, ContactQueries
from drumbeat.schema.imports import ExportQueries, ImportMutations
from drumbeat.schema.leads import LeadMutations, LeadQueries
from drumbeat.schema.lists import ListMutations, ListQueries
from drumbeat.schema.products import ProductMutations, ProductQueries
from drumbeat.schema.segments import SegmentMutations, SegmentQueries
from drumbeat.schema.context import Info
from drumbeat.schema.errors import should_mask_error
from drumbeat.schema.events import EventSubscriptions
from drumbeat.schema.lifecycle_mutations import LifecycleMutations
from drumbeat.schema.progress import ProgressSubscriptions
from drumbeat.schema.team import TeamMutations, TeamQueries
from drumbeat.schema.templates import TemplateMutations, TemplateQueries

MAX_DEPTH = 12
MAX_ALIASES = 30
MAX_TOKENS = 5000


@strawberry.type
class NodeQueries:
    # A plain resolver, not ``relay.node()``: that field object is mutated when a schema is
    # built, so a second ``build_schema()`` in the same process (a second app) would fail.
    @strawberry.field(description="Any object by its global id.")
    async def node(
        self, info: Info,
        id: Annotated[relay.GlobalID, strawberry.argument(description="The ID of the object.")],
    ) -> relay.Node | None:
        node_type = id.resolve_type(info)
        node = node_type.resolve_node(id.node_id, info=info, required=False)
        node = await node if inspect.isawaitable(node) else node
        return None if node is None else strawberry_cast(node_type, node)


Query = merge_types("Query", (NodeQueries, TeamQueries, CampaignQueries, CampaignListQueries,
                              ContactQueries, CompanyQueries, LeadQueries, ProductQueries, ExportQueries,
                              ActionTypeQueries, TemplateQueries, SegmentQueries, ListQueries))
Mutation = merge_types("Mutation", (CampaignMutations, LifecycleMutations, BudgetMutations, TemplateMutations,
                                    ContactMutations, CompanyMutations, LeadMutations, ProductMutations,
                                    ImportMutations, TeamMutations, SegmentMutations, ListMutations))
Subscription = merge_types("Subscription", (ProgressSubscriptions, BudgetSubscriptions, EventSubscriptions))


def build_schema(production: bool = False) -> strawberry.Schema:
    """The schema; in production graphql-core's "did you mean …" field suggestions are off."""
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaskErrors(should_mask_error=should_mask_error),
        ],
        config=StrawberryConfig(disable_field_suggestions=production),
    )
