"""CSV import and export: 100k rows with 1 % bad ones, merging by key, the GraphQL
mutations and paged export, and the ``drumbeat import`` / ``export`` commands."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys

from drumbeat.platform.importing import ImportKind, import_csv
from drumbeat.platform.tables import Contact, Role
from drumbeat.platform.team import create_member
from tests.conftest import SECRET, unique

ROWS = 100_000
BAD_KINDS = ("email", "first_name", "last_name", "birth_date", "country")

CONTACTS_IMPORT = """mutation($csv: String!) { contactsImport(csv: $csv) {
  result { rows inserted updated merged rejected rowErrorCount rowErrors { line field code message } }
  errors { field message code } } }"""
LEADS_IMPORT = """mutation($csv: String!) { leadsImport(csv: $csv) {
  result { inserted rejected } errors { field code } } }"""
CONTACTS = """query($s: String) { contacts(search: $s) { edges { node {
  email firstName lastName phone country tags company { name } consent consentAt } } } }"""
EXPORT = """query($after: String) { csvExport(kind: LEADS, first: 2, after: $after) {
  csv endCursor hasNextPage } }"""


def generate(prefix: str) -> tuple[str, set[int]]:
    """A CSV of ROWS contacts, every 100th bad in one of five ways; the bad rows' lines.
    The bad first names are quoted and span two lines, so later line numbers shift."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("email", "first_name", "last_name", "birth_date", "country", "tags"))
    bad, line = set(), 1
    for i in range(ROWS):
        row = [f"{prefix}.{i}@bulk.example", f"First{i}", "Last", "1980-05-06", "HR", "bulk"]
        line += 1
        if i % 100 == 7:
            kind = BAD_KINDS[(i // 100) % len(BAD_KINDS)]
            row[BAD_KINDS.index(kind)] = {
                "email": f"{prefix}.{i}@@bulk.example", "first_name": "Line\nBreak",
                "last_name": "L" * 101, "birth_date": "1980-02-30", "country": "XY"}[kind]
            bad.add(line)
            if kind == "first_name":
                line += 1
        writer.writerow(row)
    return out.getvalue(), bad


async def test_100k_rows_with_one_percent_bad_keep_every_good_row(server):
    prefix = unique("bulk")
    text, bad_lines = generate(prefix)

    async def run():
        member = await create_member(f"{prefix}@team.example", "Importer", Role.MARKETER)
        return await import_csv(server.platform, member, ImportKind.CONTACTS, text)

    result = await server.call(run())
    assert (result.rows, result.inserted, result.updated, result.rejected) == \
        (ROWS, ROWS - ROWS // 100, 0, ROWS // 100)
    assert {e.line for e in result.errors} == bad_lines
    assert {e.field for e in result.errors} == set(BAD_KINDS)
    stored = await server.call(Contact.count().where(Contact.email.like(f"{prefix}.%")))
    assert stored == ROWS - ROWS // 100
    tagged = await server.call(server.platform.db.fetchval(
        "SELECT count(*) FROM drumbeat_contact_tag t JOIN drumbeat_contact c ON c.id = t.contact"
        " WHERE c.email LIKE {} AND t.tag = 'bulk'", f"{prefix}.%"))
    assert tagged == stored


async def test_graphql_import_merges_by_email_within_the_file_and_into_existing(admin_api):
    tag = unique("merge")
    created = await admin_api.data(
        "mutation($i: [ContactInput!]!) { contactsCreate(input: $i) { errors { code } } }",
        {"i": [{"email": f"old.{tag}@example.org", "firstName": "Old", "phone": "111"}]})
    assert created["contactsCreate"]["errors"] == []
    text = (
        "\ufeffEmail,First Name,last_name,phone,country,tags,company,consent\n"
        f"OLD.{tag}@example.org,,Newlast,,it,a,Merge Co {tag},\n"
        f"new.{tag}@example.org,Nina,,222,,x;y,,GRANTED\n"
        f"bad.{tag}@example.org,\"Bad\r\nBcc: someone@example.org\",,,,,,\n"
        f"NEW.{tag}@example.org,,Later,,ES,y;z,Merge Co {tag},\n"
        "\n"
        f"short.{tag}@example.org,only two\n"
    )
    data = await admin_api.data(CONTACTS_IMPORT, {"csv": text})
    result = data["contactsImport"]["result"]
    assert data["contactsImport"]["errors"] == []
    assert {k: result[k] for k in ("rows", "inserted", "updated", "merged", "rejected")} == \
        {"rows": 5, "inserted": 1, "updated": 1, "merged": 1, "rejected": 2}
    assert [(e["line"], e["field"], e["code"]) for e in result["rowErrors"]] == \
        [(4, "first_name", "INVALID"), (8, None, "INVALID")]

    found = await admin_api.data(CONTACTS, {"s": tag})
    people = {e["node"]["email"].split(".")[0]: e["node"] for e in found["contacts"]["edges"]}
    assert set(people) == {"old", "new"}
    old, new = people["old"], people["new"]
    assert (old["firstName"], old["lastName"], old["phone"], old["country"], old["tags"]) == \
        ("Old", "Newlast", "111", "IT", ["a"])  # only the non-empty cells overwrite
    assert (new["firstName"], new["lastName"], new["phone"], new["country"], new["tags"]) == \
        ("Nina", "Later", "222", "ES", ["x", "y", "z"])
    assert old["company"]["name"] == new["company"]["name"] == f"Merge Co {tag}"  # one company
    assert new["consent"] == "GRANTED" and new["consentAt"] is not None

    again = await admin_api.data(CONTACTS_IMPORT, {"csv": f"email\nold.{tag}@example.org\n"})
    assert again["contactsImport"]["result"]["updated"] == 1
    companies = await admin_api.data('query($s: String) { companies(search: $s) { edges { node { id } } } }',
                                     {"s": f"Merge Co {tag}"})
    assert len(companies["companies"]["edges"]) == 1


async def test_graphql_import_refuses_a_bad_header_and_anonymous_callers(admin_api):
    data = await admin_api.data(CONTACTS_IMPORT, {"csv": "emial,first_name\nx@example.org,X\n"})
    payload = data["contactsImport"]
    assert payload["result"] is None
    assert {(tuple(e["field"]), e["code"]) for e in payload["errors"]} == {
        (("csv", "emial"), "INVALID"), (("csv", "email"), "REQUIRED")}
    anonymous = await admin_api.as_(None).data(CONTACTS_IMPORT, {"csv": "email\nx@example.org\n"})
    assert [e["code"] for e in anonymous["contactsImport"]["errors"]] == ["UNAUTHENTICATED"]


async def test_leads_import_and_paged_export(admin_api):
    tag = unique("exp")
    emails = [f"lead{i}.{tag}@example.org" for i in range(5)]
    text = "email,first_name,source,status\n" + "".join(f"{e},L{i},fair,qualified\n"
                                                       for i, e in enumerate(emails))
    data = await admin_api.data(LEADS_IMPORT, {"csv": text + f"x.{tag}@example.org,,,CONVERTED\n"})
    assert data["leadsImport"]["result"] == {"inserted": 5, "rejected": 1}
    rows, after, pages = [], None, 0
    while True:
        page = (await admin_api.data(EXPORT, {"after": after}))["csvExport"]
        lines = list(csv.DictReader(io.StringIO(page["csv"])))
        assert len(lines) <= 2
        rows += lines
        pages += 1
        if not page["hasNextPage"]:
            break
        after = page["endCursor"]
    mine = [r for r in rows if r["email"].endswith(f".{tag}@example.org")]
    assert [r["email"] for r in mine] == emails  # oldest first
    assert {(r["status"], r["source"]) for r in mine} == {("QUALIFIED", "fair")}
    assert pages >= 3


def _cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DRUMBEAT_DATABASE_URL": server.settings.database_url,
           "DRUMBEAT_SECRET_KEY": SECRET, "DRUMBEAT_BROKER_URL": "memory://",
           "DRUMBEAT_EVENTS_URL": "memory://"}
    return subprocess.run([sys.executable, "-m", "drumbeat", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_cli_import_and_export_of_companies(server, admin_api, tmp_path):
    tag = unique("cli")
    source = tmp_path / "companies.csv"
    source.write_text("name,email,size,country\n"
                      f"Cli One {tag},office@one.example,10,HR\n"
                      f"Cli Two {tag},,many,HR\n"
                      f"cli one {tag},,12,\n", encoding="utf-8")
    errors = tmp_path / "errors.csv"
    done = _cli(server, "import", "companies", str(source), "--errors", str(errors))
    assert done.returncode == 0, done.stderr
    assert "1 inserted" in done.stdout and "1 rejected" in done.stdout
    assert list(csv.reader(errors.open()))[1:] == [["3", "size", "INVALID", "'many' is not a whole number."]]

    target = tmp_path / "export.csv"
    done = _cli(server, "export", "companies", str(target))
    assert done.returncode == 0, done.stderr
    exported = [r for r in csv.DictReader(target.open()) if r["name"].lower() == f"cli one {tag}"]
    assert [(r["email"], r["size"], r["country"]) for r in exported] == \
        [("office@one.example", "12", "HR")]  # merged within the file: later non-empty wins

    binary = tmp_path / "latin1.csv"
    binary.write_bytes("name\nCaf\xe9\n".encode("latin-1"))
    assert _cli(server, "import", "companies", str(binary)).returncode == 1
