"""Issue 14, "outputs are safe": what the API and its pages give back cannot be turned
against the people who read them — spreadsheet formulas in CSV exports, printed callables
in templates, framed pages."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from drumbeat.platform.importing.formula_cells import neutralise, restore
from drumbeat.platform.templating import TemplateProblem, TemplateRenderer
from tests.conftest import unique

CONTACTS_IMPORT = """mutation($csv: String!) { contactsImport(csv: $csv) {
  result { inserted updated rejected } errors { field message code } } }"""
COMPANIES_IMPORT = """mutation($csv: String!) { companiesImport(csv: $csv) {
  result { inserted updated rejected } errors { field message code } } }"""
EXPORT = """query($kind: ImportKind!, $after: String) { csvExport(kind: $kind, first: 1000,
  after: $after) { csv endCursor hasNextPage } }"""
CONTACTS = """query($s: String) { contacts(search: $s) { edges { node {
  email firstName lastName phone city tags } } } }"""

FORMULAS = ["=cmd|' /C calc'!A0", "+44 20 7946 0000", "-2+3", "@SUM(1+1)", "＝1+1"]


async def _export(api, kind: str) -> list[dict]:
    rows, after = [], None
    while True:
        page = (await api.data(EXPORT, {"kind": kind, "after": after}))["csvExport"]
        rows += list(csv.DictReader(io.StringIO(page["csv"])))
        if not page["hasNextPage"]:
            return rows
        after = page["endCursor"]


def test_formula_cells_follow_the_owasp_rule_and_come_back_unchanged():
    for cell in ["=1", "+1", "-1", "@a", "\tx", "\rx", "\x00x", "＝1", "＋1", "－1", "＠a",
                 "'=x", "''+x"]:
        assert neutralise(cell) == "'" + cell
        assert restore(neutralise(cell)) == cell
    for cell in ["plain", "a=1", " =1", "'quoted", "", "1-2"]:
        assert neutralise(cell) == cell
        assert restore(cell) == cell


async def test_csv_export_neutralises_formula_cells_and_imports_back_unchanged(admin_api):
    tag = unique("csvinj")
    people = [(f"p{i}.{tag}@example.org", value) for i, value in enumerate(FORMULAS)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "first_name", "last_name", "phone", "city", "tags"])
    for email, value in people:
        writer.writerow([email, value, tag, value, value, f"{value};{tag}"])
    done = await admin_api.data(CONTACTS_IMPORT, {"csv": out.getvalue()})
    assert done["contactsImport"]["result"]["inserted"] == len(people), done

    exported = [r for r in await _export(admin_api, "CONTACTS") if r["last_name"] == tag]
    assert len(exported) == len(people)
    for row, (email, value) in zip(exported, people):
        for column in ("first_name", "phone", "city"):
            assert row[column] == "'" + value, (column, row[column])
        assert row["tags"] == "'" + f"{value};{tag}" or row["tags"] == f"{tag};{value}"
        assert row["email"] == email

    # The exported file imports back to the very same values (the quote is dropped).
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(exported[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(exported)
    again = await admin_api.data(CONTACTS_IMPORT, {"csv": out.getvalue()})
    assert again["contactsImport"]["result"]["updated"] == len(people), again
    found = (await admin_api.data(CONTACTS, {"s": tag}))["contacts"]["edges"]
    by_email = {n["node"]["email"]: n["node"] for n in found}
    for email, value in people:
        node = by_email[email]
        assert (node["firstName"], node["phone"], node["city"]) == (value, value, value)
        assert sorted(node["tags"]) == sorted([value, tag])


async def test_numbers_of_numeric_columns_are_exported_as_numbers(admin_api):
    tag = unique("csvnum")
    done = await admin_api.data(COMPANIES_IMPORT, {"csv": f"name,size,city\n"
                                                          f"Num {tag},12,-5\n"})
    assert done["companiesImport"]["result"]["inserted"] == 1, done
    [row] = [r for r in await _export(admin_api, "COMPANIES") if r["name"] == f"Num {tag}"]
    assert (row["size"], row["city"]) == ("12", "'-5")  # a number stays; text is neutralised


@pytest.mark.parametrize("source", ["{{ 'x'.format }}", "{{ name.upper }}", "{{ range }}",
                                    "{% set f = 'x'.join %}{{ f }}"])
def test_a_printed_callable_is_a_template_problem_not_its_repr(source):
    renderer = TemplateRenderer()
    with pytest.raises(TemplateProblem, match="not a value"):
        renderer.render(source, {"name": "Ada"})
    assert renderer.render("{{ name.upper() }} {{ missing }}|{{ x }}", {"name": "Ada", "x": 3}) \
        == "ADA |3"


def _unframeable(response: httpx.Response) -> None:
    assert response.headers.get("x-content-type-options") == "nosniff", response.headers
    assert response.headers.get("x-frame-options") == "DENY", response.headers
    policies = response.headers.get_list("content-security-policy")
    assert any("frame-ancestors 'none'" in p for p in policies), policies


async def test_every_page_refuses_framing_and_sniffing(server, admin_api):
    from drumbeat.platform.tracking.tokens import keyring_for
    from tests.support.queries import (
        add_recipients, create_campaign, create_contacts, db_id, launch_campaign,
    )

    campaign = await create_campaign(admin_api, unique("Framed"))
    contacts = await create_contacts(admin_api, [{"email": f"{unique('framed')}@example.org"}])
    await add_recipients(admin_api, campaign, contacts)
    await launch_campaign(admin_api, campaign)
    delivery = await server.call(server.platform.db.fetchval(
        "SELECT min(id) FROM drumbeat_delivery WHERE campaign = {}", db_id(campaign)))
    unsubscribe = f"/u/{keyring_for(server.settings).sign('unsubscribe', delivery)}"

    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        page = await http.get(unsubscribe)
        assert page.status_code == 200 and "<form" in page.text
        _unframeable(page)
        graphiql = await http.get("/graphql", headers={"Accept": "text/html"})
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
        _unframeable(graphiql)
        dashboard = await http.get("/dashboard")
        assert dashboard.status_code == 200
        _unframeable(dashboard)
        # The dashboard's own strict policy is kept, not replaced.
        assert any("script-src 'self'" in p
                   for p in dashboard.headers.get_list("content-security-policy"))
        for other in (await http.get("/no/such/page"), await http.get("/u/not-a-token"),
                      await http.get("/health"), await http.post("/graphql",
                                                                  json={"query": "{ __typename }"})):
            _unframeable(other)
