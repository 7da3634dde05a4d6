"""Audience records over the live API: contacts, companies, leads, products, purchases and
interest — CRUD, filters, node(id), validation (all problems at once) and permissions."""

from __future__ import annotations

from tests.conftest import member_token, unique
from tests.support.graphql import GraphQLClient

ERR = "errors { field message code }"
CONTACT_FIELDS = """id email firstName lastName phone country language timezone birthDate
  attributes consent consentSource consentAt unsubscribed tags company { id name } owner { id }
  interests { name }"""

CONTACTS_CREATE = f"""mutation($input: [ContactInput!]!) {{
  contactsCreate(input: $input) {{ contacts {{ {CONTACT_FIELDS} }} {ERR} }} }}"""
CONTACT_UPDATE = f"""mutation($id: ID!, $input: ContactUpdateInput!) {{
  contactUpdate(id: $id, input: $input) {{ contact {{ {CONTACT_FIELDS} }} {ERR} }} }}"""
CONTACT_DELETE = f"mutation($id: ID!) {{ contactDelete(id: $id) {{ deletedId {ERR} }} }}"
TAGS_SET = f"""mutation($id: ID!, $tags: [String!]!) {{
  contactTagsSet(id: $id, tags: $tags) {{ contact {{ tags }} {ERR} }} }}"""
CONSENT_SET = f"""mutation($id: ID!, $c: Consent!, $s: String!) {{
  contactConsentSet(id: $id, consent: $c, source: $s) {{
    contact {{ consent consentSource consentAt }} {ERR} }} }}"""
CONTACTS = """query($search: String, $tag: String, $consent: Consent, $country: String,
                    $company: ID, $first: Int, $after: String) {
  contacts(search: $search, tag: $tag, consent: $consent, country: $country, companyId: $company,
           first: $first, after: $after) {
    edges { node { email } } pageInfo { hasNextPage endCursor } } }"""
NODE = "query($id: ID!) { node(id: $id) { id ... on Contact { email } ... on Company { name } " \
       "... on Lead { status } ... on Product { name } } }"
COMPANY_CREATE = f"""mutation($input: CompanyInput!) {{
  companyCreate(input: $input) {{ company {{ id name email size country owner {{ id }} }} {ERR} }} }}"""
COMPANY_UPDATE = f"""mutation($id: ID!, $input: CompanyUpdateInput!) {{
  companyUpdate(id: $id, input: $input) {{ company {{ id name email size }} {ERR} }} }}"""
COMPANY_DELETE = f"mutation($id: ID!) {{ companyDelete(id: $id) {{ deletedId {ERR} }} }}"
COMPANIES = "query($s: String, $c: String) { companies(search: $s, country: $c) { edges { node { name } } } }"
LEAD_CREATE = f"""mutation($input: LeadInput!) {{
  leadCreate(input: $input) {{ lead {{ id email status companyName }} {ERR} }} }}"""
LEAD_UPDATE = f"""mutation($id: ID!, $input: LeadUpdateInput!) {{
  leadUpdate(id: $id, input: $input) {{ lead {{ id status source }} {ERR} }} }}"""
LEAD_CONVERT = f"""mutation($id: ID!) {{
  leadConvert(id: $id) {{ lead {{ status convertedContact {{ id }} }}
    contact {{ id email firstName lastName phone company {{ name }} }} {ERR} }} }}"""
LEADS = """query($s: String, $st: LeadStatus) {
  leads(search: $s, status: $st) { edges { node { email status } } } }"""
PRODUCT_CREATE = f"""mutation($input: ProductInput!) {{
  productCreate(input: $input) {{ product {{ id name category }} {ERR} }} }}"""
PURCHASE_RECORD = f"""mutation($input: PurchaseInput!) {{
  purchaseRecord(input: $input) {{ purchase {{ id amount currency purchasedOn product {{ name }}
    contact {{ email }} company {{ name }} }} {ERR} }} }}"""
PURCHASES = """query($contact: ID, $company: ID) { purchases(contactId: $contact, companyId: $company) {
  edges { node { amount product { name } } } } }"""
INTEREST_SET = f"""mutation($c: ID!, $p: ID!, $on: Boolean!) {{
  contactInterestSet(contactId: $c, productId: $p, interested: $on) {{
    contact {{ interests {{ name }} }} {ERR} }} }}"""
PRODUCT_DELETE = f"mutation($id: ID!) {{ productDelete(id: $id) {{ deletedId {ERR} }} }}"


def codes(errors: list[dict]) -> set[tuple[str, str]]:
    return {(".".join(e["field"] or ()), e["code"]) for e in errors}


async def create_contact(api: GraphQLClient, **fields) -> dict:
    data = await api.data(CONTACTS_CREATE, {"input": [fields]})
    assert data["contactsCreate"]["errors"] == [], data
    return data["contactsCreate"]["contacts"][0]


async def test_contact_crud_tags_consent_and_node(server, admin_api):
    tag = unique("crm")
    company = (await admin_api.data(COMPANY_CREATE, {"input": {"name": f"Acme {tag}"}}))[
        "companyCreate"]["company"]
    contact = await create_contact(
        admin_api, email=f"Ana.{tag}@Example.org", firstName="Ana", lastName="Horvat",
        phone="+385 1 234", country="hr", language="hr", timezone="Europe/Zagreb",
        birthDate="1990-02-03", attributes={"tier": "gold", "score": 7}, consent="GRANTED",
        consentSource="web form", companyId=company["id"], tags=["vip", "b2b", "vip"])
    assert contact["email"] == f"ana.{tag}@example.org"
    assert contact["country"] == "HR" and contact["birthDate"] == "1990-02-03"
    assert contact["attributes"] == {"tier": "gold", "score": 7}
    assert contact["consent"] == "GRANTED" and contact["consentAt"] is not None
    assert contact["tags"] == ["b2b", "vip"] and contact["company"]["name"] == f"Acme {tag}"
    assert contact["owner"] is not None

    data = await admin_api.data(CONTACT_UPDATE, {"id": contact["id"], "input": {
        "lastName": "Kovač", "phone": None, "companyId": None, "tags": ["new"]}})
    updated = data["contactUpdate"]["contact"]
    assert (updated["lastName"], updated["phone"], updated["company"], updated["tags"]) == \
        ("Kovač", "", None, ["new"])
    assert updated["firstName"] == "Ana"  # untouched

    data = await admin_api.data(TAGS_SET, {"id": contact["id"], "tags": [" a ", "b"]})
    assert data["contactTagsSet"]["contact"]["tags"] == ["a", "b"]
    data = await admin_api.data(CONSENT_SET, {"id": contact["id"], "c": "DENIED", "s": "phone call"})
    assert data["contactConsentSet"]["contact"]["consent"] == "DENIED"
    assert data["contactConsentSet"]["contact"]["consentSource"] == "phone call"

    node = (await admin_api.data(NODE, {"id": contact["id"]}))["node"]
    assert node == {"id": contact["id"], "email": f"ana.{tag}@example.org"}
    assert (await admin_api.data(NODE, {"id": company["id"]}))["node"]["name"] == f"Acme {tag}"

    deleted = await admin_api.data(CONTACT_DELETE, {"id": contact["id"]})
    assert deleted["contactDelete"] == {"deletedId": contact["id"], "errors": []}
    assert (await admin_api.data(NODE, {"id": contact["id"]}))["node"] is None


async def test_contact_validation_reports_every_problem_and_refuses_header_injection(admin_api):
    tag = unique("bad")
    existing = await create_contact(admin_api, email=f"{tag}@example.org")
    data = await admin_api.data(CONTACTS_CREATE, {"input": [
        {"email": f"x{tag}@example.org\r\nBcc: victim@example.org", "firstName": "Eve\nBcc: x",
         "lastName": "L" * 101, "country": "XX", "timezone": "Mars/Base", "language": "not a tag"},
        {"email": existing["email"].upper(), "firstName": "O\u2028k"},
    ]})
    payload = data["contactsCreate"]
    assert payload["contacts"] is None
    assert codes(payload["errors"]) == {
        ("input.0.email", "INVALID"), ("input.0.firstName", "INVALID"),
        ("input.0.lastName", "TOO_LONG"), ("input.0.country", "INVALID"),
        ("input.0.timezone", "INVALID"), ("input.0.language", "INVALID"),
        ("input.1.firstName", "INVALID"), ("input.1.email", "DUPLICATE"),
    }
    other = await create_contact(admin_api, email=f"other.{tag}@example.org")
    data = await admin_api.data(CONTACT_UPDATE, {"id": other["id"], "input": {
        "email": existing["email"], "firstName": "Tab\there", "birthDate": None}})
    assert codes(data["contactUpdate"]["errors"]) == {("input.email", "DUPLICATE"),
                                                      ("input.firstName", "INVALID")}
    node = (await admin_api.data(NODE, {"id": other["id"]}))["node"]
    assert node["email"] == f"other.{tag}@example.org"  # nothing half-saved


async def test_contact_filters_and_keyset_pages(server, admin_api):
    tag = unique("flt")
    company = (await admin_api.data(COMPANY_CREATE, {"input": {"name": f"Filter {tag}"}}))[
        "companyCreate"]["company"]
    people = [
        {"email": f"ivo.{tag}@example.org", "firstName": "Ivo", "lastName": "Perić", "country": "HR",
         "tags": [tag], "consent": "GRANTED", "companyId": company["id"]},
        {"email": f"marta.{tag}@example.org", "firstName": "Marta", "lastName": "Ruiz", "country": "ES",
         "tags": [tag, "vip"], "consent": "DENIED"},
        {"email": f"luca.{tag}@example.org", "firstName": "Luca", "lastName": "Rossi", "country": "IT"},
    ]
    for person in people:
        await create_contact(admin_api, **person)

    async def emails(**filters) -> set[str]:
        data = await admin_api.data(CONTACTS, filters)
        return {e["node"]["email"].split(".")[0] for e in data["contacts"]["edges"]}

    assert await emails(tag=tag) == {"ivo", "marta"}
    assert await emails(tag=tag, consent="DENIED") == {"marta"}
    assert await emails(search=f"RUIZ {tag}") == {"marta"}
    assert await emails(search=tag, country="it") == {"luca"}
    assert await emails(company=company["id"]) == {"ivo"}
    first = await admin_api.data(CONTACTS, {"search": tag, "first": 2})
    assert first["contacts"]["pageInfo"]["hasNextPage"] is True
    rest = await admin_api.data(CONTACTS, {"search": tag, "first": 2,
                                           "after": first["contacts"]["pageInfo"]["endCursor"]})
    seen = [e["node"]["email"] for e in first["contacts"]["edges"] + rest["contacts"]["edges"]]
    assert sorted(seen) == sorted(p["email"] for p in people)


async def test_companies_crud_and_filters(admin_api):
    tag = unique("co")
    data = await admin_api.data(COMPANY_CREATE, {"input": {
        "name": f"Beta {tag}", "email": "Office@Beta.example", "size": 40, "country": "de"}})
    company = data["companyCreate"]["company"]
    assert (company["email"], company["size"], company["country"]) == ("office@beta.example", 40, "DE")
    data = await admin_api.data(COMPANY_CREATE, {"input": {
        "name": "Evil\r\nX-Header: 1", "email": "not-an-address", "size": -1}})
    assert codes(data["companyCreate"]["errors"]) == {
        ("input.name", "INVALID"), ("input.email", "INVALID"), ("input.size", "INVALID")}
    data = await admin_api.data(COMPANY_UPDATE, {"id": company["id"], "input": {"email": None, "size": 41}})
    assert data["companyUpdate"]["company"]["email"] is None
    assert data["companyUpdate"]["company"]["size"] == 41
    found = await admin_api.data(COMPANIES, {"s": tag, "c": "DE"})
    assert [e["node"]["name"] for e in found["companies"]["edges"]] == [f"Beta {tag}"]
    deleted = await admin_api.data(COMPANY_DELETE, {"id": company["id"]})
    assert deleted["companyDelete"]["errors"] == []


async def test_lead_convert_creates_or_merges_a_contact(admin_api):
    tag = unique("lead")
    existing = await create_contact(admin_api, email=f"known.{tag}@example.org", firstName="Known")
    data = await admin_api.data(LEAD_CREATE, {"input": {
        "email": f"Known.{tag}@example.org", "firstName": "Other", "lastName": "Surname",
        "phone": "555", "companyName": f"Lead Co {tag}", "source": "fair"}})
    lead = data["leadCreate"]["lead"]
    assert lead["status"] == "NEW"
    data = await admin_api.data(LEAD_CONVERT, {"id": lead["id"]})
    result = data["leadConvert"]
    assert result["errors"] == []
    assert result["contact"]["id"] == existing["id"]  # merged by email
    assert (result["contact"]["firstName"], result["contact"]["lastName"], result["contact"]["phone"]) \
        == ("Known", "Surname", "555")  # only empty fields filled
    assert result["contact"]["company"]["name"] == f"Lead Co {tag}"
    assert result["lead"] == {"status": "CONVERTED", "convertedContact": {"id": existing["id"]}}
    again = await admin_api.data(LEAD_CONVERT, {"id": lead["id"]})
    assert codes(again["leadConvert"]["errors"]) == {("id", "INVALID_STATE")}

    data = await admin_api.data(LEAD_CREATE, {"input": {"email": f"fresh.{tag}@example.org",
                                                        "firstName": "Fresh"}})
    fresh = data["leadCreate"]["lead"]
    data = await admin_api.data(LEAD_UPDATE, {"id": fresh["id"], "input": {"status": "QUALIFIED",
                                                                           "source": "web"}})
    assert data["leadUpdate"]["lead"]["status"] == "QUALIFIED"
    data = await admin_api.data(LEAD_CONVERT, {"id": fresh["id"]})
    assert data["leadConvert"]["contact"]["email"] == f"fresh.{tag}@example.org"
    assert data["leadConvert"]["contact"]["id"] != existing["id"]
    listed = await admin_api.data(LEADS, {"s": tag, "st": "CONVERTED"})
    assert len(listed["leads"]["edges"]) == 2
    bad = await admin_api.data(LEAD_CREATE, {"input": {"email": "x@y.example", "status": "CONVERTED",
                                                       "firstName": "A\u0085B"}})
    assert codes(bad["leadCreate"]["errors"]) == {("input.status", "INVALID"),
                                                  ("input.firstName", "INVALID")}


async def test_products_purchases_and_interest(admin_api):
    tag = unique("prd")
    created = await admin_api.data(PRODUCT_CREATE, {"input": {"name": f"Widget {tag}",
                                                                "category": "tools"}})
    product = created["productCreate"]["product"]
    twin = await admin_api.data(PRODUCT_CREATE, {"input": {"name": f"WIDGET {tag}"}})
    assert codes(twin["productCreate"]["errors"]) == {("input.name", "DUPLICATE")}
    contact = await create_contact(admin_api, email=f"buyer.{tag}@example.org")
    company = (await admin_api.data(COMPANY_CREATE, {"input": {"name": f"Buyer Co {tag}"}}))[
        "companyCreate"]["company"]
    data = await admin_api.data(PURCHASE_RECORD, {"input": {
        "productId": product["id"], "contactId": contact["id"], "amount": "19.90",
        "purchasedOn": "2026-03-01"}})
    assert data["purchaseRecord"]["errors"] == []
    assert data["purchaseRecord"]["purchase"]["amount"] == "19.90"
    await admin_api.data(PURCHASE_RECORD, {"input": {
        "productId": product["id"], "companyId": company["id"], "amount": "100",
        "purchasedOn": "2026-03-02"}})
    neither = await admin_api.data(PURCHASE_RECORD, {"input": {
        "productId": product["id"], "amount": "-1", "purchasedOn": "2026-03-02"}})
    assert codes(neither["purchaseRecord"]["errors"]) == {("input.contactId", "REQUIRED"),
                                                          ("input.amount", "INVALID")}
    mine = await admin_api.data(PURCHASES, {"contact": contact["id"]})
    assert [e["node"]["amount"] for e in mine["purchases"]["edges"]] == ["19.90"]
    theirs = await admin_api.data(PURCHASES, {"company": company["id"]})
    assert [e["node"]["amount"] for e in theirs["purchases"]["edges"]] == ["100.00"]

    data = await admin_api.data(INTEREST_SET, {"c": contact["id"], "p": product["id"], "on": True})
    assert data["contactInterestSet"]["contact"]["interests"] == [{"name": f"Widget {tag}"}]
    data = await admin_api.data(INTEREST_SET, {"c": contact["id"], "p": product["id"], "on": False})
    assert data["contactInterestSet"]["contact"]["interests"] == []
    refused = await admin_api.data(PRODUCT_DELETE, {"id": product["id"]})
    assert codes(refused["productDelete"]["errors"]) == {("id", "INVALID_STATE")}


async def test_permissions_every_role_edits_only_admins_delete(server, admin_api):
    tag = unique("perm")
    _, sales_token = await member_token(server, "SALES")
    _, marketer_token = await member_token(server, "MARKETER")
    sales, marketer = admin_api.as_(sales_token), admin_api.as_(marketer_token)
    contact = await create_contact(sales, email=f"s.{tag}@example.org")
    company = (await marketer.data(COMPANY_CREATE, {"input": {"name": f"Perm {tag}"}}))[
        "companyCreate"]["company"]
    lead = (await sales.data(LEAD_CREATE, {"input": {"email": f"l.{tag}@example.org"}}))[
        "leadCreate"]["lead"]
    updated = await sales.data(CONTACT_UPDATE, {"id": contact["id"], "input": {"city": "Split"}})
    assert updated["contactUpdate"]["errors"] == []
    for api in (sales, marketer):
        for mutation, name, node in ((CONTACT_DELETE, "contactDelete", contact),
                                     (COMPANY_DELETE, "companyDelete", company)):
            data = await api.data(mutation, {"id": node["id"]})
            assert codes(data[name]["errors"]) == {("", "FORBIDDEN")}
    anonymous = admin_api.as_(None)
    data = await anonymous.data(CONTACT_UPDATE, {"id": contact["id"], "input": {"city": "X"}})
    assert codes(data["contactUpdate"]["errors"]) == {("", "UNAUTHENTICATED")}
    result = await anonymous.execute(CONTACTS, {"search": tag})
    assert result["data"] is None and result["errors"]
    assert (await admin_api.data(CONTACT_DELETE, {"id": contact["id"]}))["contactDelete"]["errors"] == []
    lead_delete = "mutation($id: ID!) { leadDelete(id: $id) { deletedId errors { code } } }"
    assert (await admin_api.data(lead_delete, {"id": lead["id"]}))["leadDelete"]["errors"] == []


async def test_a_company_vat_id_is_plain_text_not_a_global_id(server, admin_api):
    query = COMPANY_CREATE.replace("size country", "size country vatId")
    data = await admin_api.data(query, {"input": {"name": f"VAT {unique('vat')}",
                                                  "vatId": "HR12345678901"}})
    assert data["companyCreate"]["errors"] == []
    assert data["companyCreate"]["company"]["vatId"] == "HR12345678901"
