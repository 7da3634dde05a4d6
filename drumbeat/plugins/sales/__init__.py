"""The built-in ``sales`` plugin: the ``invoice``, ``opportunity`` and ``offer`` action
types, their tables (a Piccolo app) and their part of the GraphQL API."""

from drumbeat import GraphQLContribution, hookimpl
from drumbeat.plugins.sales.invoice_action import InvoiceAction
from drumbeat.plugins.sales.offer_action import OfferAction
from drumbeat.plugins.sales.opportunity_action import OpportunityAction


@hookimpl
def drumbeat_action_types():
    return [InvoiceAction(), OpportunityAction(), OfferAction()]


@hookimpl
def drumbeat_piccolo_apps():
    return ["drumbeat.plugins.sales.piccolo_app"]


@hookimpl
def drumbeat_graphql():
    from drumbeat.plugins.sales.graphql_mutations import SalesMutations
    from drumbeat.plugins.sales.graphql_types import Invoice, Offer, Opportunity, SalesQueries

    return [GraphQLContribution(query=SalesQueries, mutation=SalesMutations,
                                types=(Invoice, Opportunity, Offer))]
