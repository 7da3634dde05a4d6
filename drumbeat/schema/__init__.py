"""The GraphQL schema: one module per domain, merged here into Query, Mutation, Subscription."""

from __future__ import annotations

import inspect
from typing import Annotated, Sequence

import strawberry
from strawberry import relay
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types.cast import cast as strawberry_cast

from drumbeat.platform.plugins import PluginError, Plugins, build_plugins
from drumbeat.platform.plugins.contributions import GraphQLContribution
from drumbeat.schema.action_types import ActionTypeQueries
from drumbeat.settings import Settings
from drumbeat.schema.budget import BudgetMutations
from drumbeat.schema.budget_alerts import BudgetSubscriptions
from drumbeat.schema.campaign_list import CampaignListQueries
from drumbeat.schema.campaign_mutations import CampaignMutations
from drumbeat.schema.campaigns import CampaignQueries
from drumbeat.schema.companies import CompanyMutations, CompanyQueries
from drumbeat.schema.contacts import ContactMutations, ContactQueries
from drumbeat.schema.conversions import ConversionMutations
from drumbeat.schema.dry_run import DryRunQueries
from drumbeat.schema.imports import ExportQueries, ImportMutations
from drumbeat.schema.leads import LeadMutations, LeadQueries
from drumbeat.schema.lists import ListMutations, ListQueries
from drumbeat.schema.products import ProductMutations, ProductQueries
from drumbeat.schema.segments import SegmentMutations, SegmentQueries
from drumbeat.schema.resend_mutation import ResendMutations
from drumbeat.schema.send_mutations import SendMutations
from drumbeat.schema.context import Info
from drumbeat.schema.discovery import QuietSchema, discovery_extensions
from drumbeat.schema.text_guard import RefuseNul
from drumbeat.schema.errors import should_mask_error
from drumbeat.schema.fragment_limits import FragmentNestingLimiter
from drumbeat.schema.events import EventSubscriptions
from drumbeat.schema.lifecycle_mutations import LifecycleMutations
from drumbeat.schema.progress import ProgressSubscriptions
from drumbeat.schema.enrollment_progress import EnrollmentProgressSubscriptions
from drumbeat.schema.team import TeamMutations, TeamQueries
from drumbeat.schema.templates import TemplateMutations, TemplateQueries
from drumbeat.schema.workflows import WorkflowMutations, WorkflowQueries
from drumbeat.schema.enrollments import EnrollmentMutations, EnrollmentQueries
from drumbeat.schema.enrollment_migration import EnrollmentMigrationMutations
from drumbeat.schema.triggers import TriggerMutations

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


CORE_QUERIES = (NodeQueries, TeamQueries, CampaignQueries, CampaignListQueries, ContactQueries,
                CompanyQueries, LeadQueries, ProductQueries, ExportQueries, ActionTypeQueries,
                TemplateQueries, SegmentQueries, ListQueries, DryRunQueries,
                WorkflowQueries, EnrollmentQueries)
CORE_MUTATIONS = (CampaignMutations, LifecycleMutations, BudgetMutations, TemplateMutations,
                  ContactMutations, CompanyMutations, LeadMutations, ProductMutations,
                  ImportMutations, TeamMutations, SegmentMutations, ListMutations,
                  SendMutations, ResendMutations, ConversionMutations,
                  WorkflowMutations, EnrollmentMutations, EnrollmentMigrationMutations,
                  TriggerMutations)
CORE_SUBSCRIPTIONS = (ProgressSubscriptions, BudgetSubscriptions, EventSubscriptions,
                      EnrollmentProgressSubscriptions)


def _root(name: str, core: tuple[type, ...],
          contributions: Sequence[tuple[str, GraphQLContribution]]) -> type:
    """The root type ``name``: the core's fields, then each plugin's. A plugin may not
    redefine a field (Strawberry's merge would only warn and let the last one win)."""
    owners = {f.name: "the core" for part in core for f in part.__strawberry_definition__.fields}
    parts = list(core)
    for plugin_name, contribution in contributions:
        part = getattr(contribution, name.lower())
        if part is None:
            continue
        for f in part.__strawberry_definition__.fields:
            if f.name in owners:
                raise PluginError(f"plugin {plugin_name!r} defines {name}.{f.name}, "
                                  f"which {owners[f.name]} already defines")
            owners[f.name] = f"plugin {plugin_name!r}"
        parts.append(part)
    return merge_types(name, tuple(parts))


def build_schema(production: bool = False, plugins: Plugins | None = None,
                 introspection: bool | None = None) -> strawberry.Schema:
    """The schema: the core's root fields and those the plugins contribute (the plugins of
    the settings when none are given). Without ``introspection`` (default: off in
    production) ``__schema``/``__type`` are refused and no error carries a "Did you mean …?"
    hint (:mod:`drumbeat.schema.discovery`)."""
    if introspection is None:
        introspection = not production
    if plugins is None:
        settings = Settings.from_env()
        plugins = build_plugins(settings.plugins_allow, settings.plugins_block)
    contributions = plugins.graphql
    schema_class = strawberry.Schema if introspection else QuietSchema
    return schema_class(
        query=_root("Query", CORE_QUERIES, contributions),
        mutation=_root("Mutation", CORE_MUTATIONS, contributions),
        subscription=_root("Subscription", CORE_SUBSCRIPTIONS, contributions),
        types=[t for _, c in contributions for t in c.types],
        extensions=[
            lambda: FragmentNestingLimiter(max_nesting=MAX_DEPTH),
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: MaskErrors(should_mask_error=should_mask_error),
            RefuseNul,
            *discovery_extensions(introspection),
        ],
        config=StrawberryConfig(disable_field_suggestions=not introspection),
    )
