"""Text search of the audience records over the live API (contacts, companies, leads,
products ``search``) and the text conditions of segment filters: LIKE wildcards and escape
characters in the input are plain characters, letter case is ignored for all of Unicode on
SQLite as on PostgreSQL, and every search term must match.

Each test marks its records with a ``unique`` word and searches for it as one of the terms,
so records made by other tests of the session never count.
"""

from __future__ import annotations

from tests.conftest import unique
from tests.support.graphql import GraphQLClient

ERR = "errors { field message code }"
CONTACTS_CREATE = f"""mutation($input: [ContactInput!]!) {{
  contactsCreate(input: $input) {{ contacts {{ id }} {ERR} }} }}"""
CONTACTS = """query($s: String) {
  contacts(search: $s, first: 50) { edges { node { lastName } } } }"""
COMPANY_CREATE = f"""mutation($input: CompanyInput!) {{
  companyCreate(input: $input) {{ company {{ id }} {ERR} }} }}"""
COMPANIES = "query($s: String) { companies(search: $s, first: 50) { edges { node { name } } } }"
LEAD_CREATE = f"""mutation($input: LeadInput!) {{
  leadCreate(input: $input) {{ lead {{ id }} {ERR} }} }}"""
LEADS = "query($s: String) { leads(search: $s, first: 50) { edges { node { companyName } } } }"
PRODUCT_CREATE = f"""mutation($input: ProductInput!) {{
  productCreate(input: $input) {{ product {{ id }} {ERR} }} }}"""
PRODUCTS = "query($s: String) { products(search: $s, first: 50) { edges { node { name } } } }"
PURCHASE_RECORD = f"""mutation($input: PurchaseInput!) {{
  purchaseRecord(input: $input) {{ purchase {{ id }} {ERR} }} }}"""
MATCHING = f"""query($filter: SegmentFilter!) {{
  contactsMatching(filter: $filter, first: 50) {{ count contacts {{ email }} {ERR} }} }}"""

# Look-alikes: each pair differs in one character that a wildcard or escape would swallow.
TRICKY = ["50% off", "500 off", "a_b", "axb", "x!y", "xy", "c\\d", "cd", "c\\\\d"]
UNICODE = ["Émile MÜLLER", "Emile Muller", "ŽELJKA Šimić", "ЖЕНЯ Ёлкина", "ǅemal Ǆ"]


async def _made(api: GraphQLClient, mutation: str, key: str, input: dict | list) -> None:
    data = await api.data(mutation, {"input": input})
    assert data[key]["errors"] == [], data


async def _found(api: GraphQLClient, query: str, key: str, field: str, search: str,
                 marker: str) -> set[str]:
    """The ``field`` of every ``key`` record matching ``search`` plus the run's marker."""
    data = await api.data(query, {"s": f"{search} {marker}"})
    return {edge["node"][field].replace(f" {marker}", "") for edge in data[key]["edges"]}


async def _seed(api: GraphQLClient, marker: str, names: list[str]) -> None:
    """A contact, company, lead and product per name, each carrying ``marker``."""
    await _made(api, CONTACTS_CREATE, "contactsCreate", [
        {"email": f"p{i}.{marker}@example.org", "lastName": f"{name} {marker}"}
        for i, name in enumerate(names)])
    for i, name in enumerate(names):
        await _made(api, COMPANY_CREATE, "companyCreate", {"name": f"{name} {marker}"})
        await _made(api, LEAD_CREATE, "leadCreate", {
            "email": f"l{i}.{marker}@example.org", "companyName": f"{name} {marker}"})
        await _made(api, PRODUCT_CREATE, "productCreate", {"name": f"{name} {marker}"})


async def _everywhere(api: GraphQLClient, search: str, marker: str) -> list[set[str]]:
    """What each of the four searches finds for ``search``."""
    return [await _found(api, CONTACTS, "contacts", "lastName", search, marker),
            await _found(api, COMPANIES, "companies", "name", search, marker),
            await _found(api, LEADS, "leads", "companyName", search, marker),
            await _found(api, PRODUCTS, "products", "name", search, marker)]


async def test_wildcards_and_escape_characters_are_literal(server, admin_api):
    marker = unique("lit")
    await _seed(admin_api, marker, TRICKY)
    for search, expected in [
        ("50%", {"50% off"}),
        ("%", {"50% off"}),
        ("a_b", {"a_b"}),
        ("_", {"a_b"}),
        ("!", {"x!y"}),
        ("x!y", {"x!y"}),
        ("c\\d", {"c\\d"}),
        ("\\", {"c\\d", "c\\\\d"}),
        ("\\\\", {"c\\\\d"}),
        ("cd", {"cd"}),
        ("off", {"50% off", "500 off"}),
    ]:
        assert await _everywhere(admin_api, search, marker) == [expected] * 4, search


async def test_letter_case_is_ignored_for_all_of_unicode(server, admin_api):
    marker = unique("uni")
    await _seed(admin_api, marker, UNICODE)
    for search, expected in [
        ("émile", {"Émile MÜLLER"}),  # not "Emile": accents still count
        ("ÉMILE müller", {"Émile MÜLLER"}),
        ("mÜlLeR", {"Émile MÜLLER"}),
        ("emile", {"Emile Muller"}),
        ("željka ŠIMIĆ", {"ŽELJKA Šimić"}),
        ("женя ёлкина", {"ЖЕНЯ Ёлкина"}),
        ("ǆemal", {"ǅemal Ǆ"}),  # title case, lower case and capital of one letter
        ("ǅ", {"ǅemal Ǆ"}),
    ]:
        assert await _everywhere(admin_api, search, marker) == [expected] * 4, search


async def test_every_term_must_match(server, admin_api):
    marker = unique("and")
    await _seed(admin_api, marker, ["Émile MÜLLER", "Émile Zola", "Anna MÜLLER"])
    for search, expected in [
        ("émile", {"Émile MÜLLER", "Émile Zola"}),
        ("müller", {"Émile MÜLLER", "Anna MÜLLER"}),
        ("MÜLLER émile", {"Émile MÜLLER"}),
        ("émile zola müller", set()),
        ("  ÉMILE\tzOLA  ", {"Émile Zola"}),
    ]:
        assert await _everywhere(admin_api, search, marker) == [expected] * 4, search
    # Terms may match in different columns: the marker sits in the contacts' email too.
    data = await admin_api.data(CONTACTS, {"s": f"p1.{marker} zola"})
    assert [e["node"]["lastName"] for e in data["contacts"]["edges"]] == [f"Émile Zola {marker}"]


async def test_bad_search_text_is_a_clear_error(server, admin_api):
    for search, message in [("x" * 201, "At most 200 characters."),
                            ("a\x00b", "Text may not contain NUL characters (\\u0000)."),
                            ("a\x01b", "Control characters (such as NUL) are not allowed in a "
                                        "search or filter.")]:
        for query in (CONTACTS, COMPANIES, LEADS, PRODUCTS):
            body = await admin_api.execute(query, {"s": search})
            assert body["data"] is None, query
            assert [e["message"] for e in body["errors"]] == [message], query
    data = await admin_api.data(CONTACTS, {"s": "x" * 200})
    assert data["contacts"]["edges"] == []


async def test_segment_text_conditions_ignore_unicode_case(server, admin_api):
    marker = unique("seg")
    people = {"emile": ("Émile", "MÜLLER", ["ÄRGER"]), "plain": ("Emile", "Muller", ["ärger"]),
              "zelj": ("željka", "ŠIMIĆ", ["Other"])}
    await _made(admin_api, CONTACTS_CREATE, "contactsCreate", [
        {"email": f"{key}.{marker}@example.org", "firstName": first, "lastName": last,
         "tags": tags} for key, (first, last, tags) in people.items()])
    contacts = await admin_api.data(
        "query($s: String) { contacts(search: $s) { edges { node { id email } } } }", {"s": marker})
    ids = {e["node"]["email"].split(".")[0]: e["node"]["id"] for e in contacts["contacts"]["edges"]}
    product = (await admin_api.data(PRODUCT_CREATE, {"input": {
        "name": f"Buch {marker}", "category": f"BÜCHER-{marker}"}}))["productCreate"]["product"]
    await _made(admin_api, PURCHASE_RECORD, "purchaseRecord", {
        "productId": product["id"], "contactId": ids["zelj"], "amount": "9.50",
        "purchasedOn": "2026-05-01"})

    async def matching(condition: dict) -> set[str]:
        mine = {"field": {"field": "EMAIL", "op": "CONTAINS", "value": f".{marker}@"}}
        data = (await admin_api.data(MATCHING, {"filter": {"all": [mine, condition]}}))[
            "contactsMatching"]
        assert data["errors"] == [] and data["count"] == len(data["contacts"]), data
        return {c["email"].split(".")[0] for c in data["contacts"]}

    def field(name: str, op: str, **value) -> dict:
        return {"field": {"field": name, "op": op, **value}}

    for condition, expected in [
        (field("LAST_NAME", "CONTAINS", value="müller"), {"emile"}),
        (field("LAST_NAME", "CONTAINS", value="ÜLL"), {"emile"}),
        (field("LAST_NAME", "CONTAINS", value="ull"), {"plain"}),
        (field("FIRST_NAME", "STARTS_WITH", value="ÉMI"), {"emile"}),
        (field("FIRST_NAME", "EQ", value="ŽELJKA"), {"zelj"}),
        (field("FIRST_NAME", "NE", value="émile"), {"plain", "zelj"}),
        (field("LAST_NAME", "IN", values=["šimić", "müller"]), {"emile", "zelj"}),
        ({"tags": {"match": "ANY", "tags": ["Ärger"]}}, {"emile", "plain"}),
        ({"tags": {"match": "ALL", "tags": ["ärger", "ÄRGER"]}}, {"emile", "plain"}),
        ({"tags": {"match": "NONE", "tags": ["äRGER"]}}, {"zelj"}),
        ({"bought": {"categories": [f"bücher-{marker}"]}}, {"zelj"}),
    ]:
        assert await matching(condition) == expected, condition
