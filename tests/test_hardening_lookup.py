"""Issue 14: authentication before lookup, everywhere. An anonymous caller gets the same
answer for an id that exists and one that does not — UNAUTHENTICATED — from every query
and mutation of the schema (plugins' included), so no answer tells ids apart.

The test walks the live schema: each root field is called without a token, with every
required argument filled in (ids of objects that do not exist, of the type the resolver
expects). New fields are covered without editing this file."""

from __future__ import annotations

import re

from graphql import (
    GraphQLEnumType, GraphQLInputObjectType, GraphQLList, GraphQLNonNull, GraphQLScalarType,
    Undefined, get_named_type,
)
from strawberry import relay

from drumbeat.schema import build_schema
from tests.support.graphql import GraphQLClient

MISSING = "999999999"
SIGN_IN = "Sign in with a bearer token."
# Id arguments whose object type is not their name's (``listId`` names a DistributionList).
ID_TYPES = {"list": "DistributionList", "assignee": "TeamMember", "owner": "TeamMember",
            "token": "ApiToken", "step": "CampaignStep", "cost": "CampaignCost"}
SCALARS = {"String": "x", "Int": 1, "Float": 1.0, "Boolean": False, "Decimal": "1",
           "Date": "2026-01-01", "DateTime": "2026-01-01T00:00:00+00:00", "JSON": {}}


def _node_types(schema) -> set[str]:
    node = schema.get_type("Node")
    return {t.name for t in schema.get_possible_types(node)} if node else set()


def _id_type(name: str, owner: str, nodes: set[str]) -> str:
    """The type of the object an id argument (or input field) names."""
    base = re.sub(r"Ids?$", "", name)
    if base in ("", "id"):
        return owner
    return ID_TYPES.get(base, base[:1].upper() + base[1:])


def _owner(field_name: str, nodes: set[str]) -> str:
    """``enrollmentMove`` → Enrollment, ``campaignCostRemove`` → CampaignCost: the longest
    node type the field's name starts with."""
    starts = [t for t in nodes if field_name.startswith(t[:1].lower() + t[1:])]
    starts += [t for word, t in ID_TYPES.items() if re.match(f"{word}[A-Z]", field_name)]
    return max(starts, key=len) if starts else field_name[:1].upper() + field_name[1:]


def _one_of(type_: GraphQLInputObjectType) -> bool:
    definition = (type_.extensions or {}).get("strawberry-definition")
    return type_.is_one_of or bool(getattr(definition, "is_one_of", False))


def _value(type_, name: str, owner: str, nodes: set[str]):
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    if isinstance(type_, GraphQLList):
        return [_value(type_.of_type, name, owner, nodes)]
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    if isinstance(type_, GraphQLInputObjectType) and _one_of(type_):
        # One key: a leaf one (a nested filter would recurse).
        key = next(n for n, f in type_.fields.items()
                   if not isinstance(get_named_type(f.type), GraphQLInputObjectType))
        return {key: _value(type_.fields[key].type, key, owner, nodes)}
    if isinstance(type_, GraphQLInputObjectType):
        return {n: _value(f.type, n, owner, nodes) for n, f in type_.fields.items()
                if isinstance(f.type, GraphQLNonNull) and f.default_value is Undefined
                or n.endswith("Id") or n == "id"}
    assert isinstance(type_, GraphQLScalarType), type_
    if type_.name == "ID":
        return str(relay.GlobalID(_id_type(name, owner, nodes), MISSING))
    return SCALARS.get(type_.name, "x")


def _selection(type_) -> str:
    named = get_named_type(type_)
    if not hasattr(named, "fields"):
        return ""
    if "errors" in named.fields:
        return "{ errors { code } }"
    return "{ __typename }"


def _calls(schema, root) -> list[tuple[str, str, dict]]:
    nodes = _node_types(schema)
    calls = []
    for name, field in root.fields.items():
        owner = _owner(name, nodes)
        params, args, variables = [], [], {}
        for arg_name, arg in field.args.items():
            if not isinstance(arg.type, GraphQLNonNull) and not (
                    arg_name == "id" or arg_name.endswith("Id")):
                continue
            params.append(f"${arg_name}: {arg.type}")
            args.append(f"{arg_name}: ${arg_name}")
            variables[arg_name] = _value(arg.type, arg_name, owner, nodes)
        head = f"({', '.join(params)})" if params else ""
        call = f"{name}({', '.join(args)})" if args else name
        kind = "mutation" if root is schema.mutation_type else "query"
        calls.append((name, f"{kind}{head} {{ {call} {_selection(field.type)} }}", variables))
    return calls


def _anonymous_answer(body: dict, name: str) -> str:
    """What an anonymous caller learnt: 'unauthenticated', or something else (described)."""
    errors = body.get("errors") or []
    if errors:
        messages = {e["message"] for e in errors}
        return "unauthenticated" if messages == {SIGN_IN} else f"errors {sorted(messages)}"
    result = (body.get("data") or {}).get(name)
    if isinstance(result, dict) and result.get("errors"):
        codes = {e["code"] for e in result["errors"]}
        return "unauthenticated" if codes == {"UNAUTHENTICATED"} else f"codes {sorted(codes)}"
    return f"data {result!r}"


async def test_every_query_and_mutation_refuses_an_anonymous_caller_before_any_lookup(server):
    schema = build_schema()._schema
    anonymous = GraphQLClient(server.url)
    answers = {}
    for root in (schema.mutation_type, schema.query_type):
        for name, query, variables in _calls(schema, root):
            if name in ("node", "nodes"):  # answers null for anyone without access
                continue
            body = await anonymous.execute(query, variables)
            answers[name] = (_anonymous_answer(body, name), variables)
    leaks = {n: a for n, a in answers.items() if a[0] != "unauthenticated"}
    assert not leaks, "\n".join(f"{n}: {a}" for n, a in leaks.items())
    assert len(answers) > 100  # every root field was called
