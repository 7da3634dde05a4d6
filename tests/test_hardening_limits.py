"""Issue 14 — every request-controlled input is bounded and refused with a clear error.

The body limit (DRUMBEAT_MAX_BODY_BYTES) on every route and WebSocket, nesting bombs, deep
GraphQL documents, capped error lists, and size checks made before the work they bound.
Each runs against a real server over real HTTP/WebSocket.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

from drumbeat.platform import record_fields
from drumbeat.platform.contacts import MAX_TAGS
from drumbeat.schema.imports import MAX_CSV_CHARS
from drumbeat.settings import Settings, SettingsError
from tests.conftest import member_token
from tests.support.graphql import GraphQLClient

LIMIT = 200_000  # a small DRUMBEAT_MAX_BODY_BYTES, so the tests send little
ROUTES = ("/graphql", "/triggers/Q2FtcGFpZ246MQ==", "/webhooks/inbound", "/u/x", "/health")
IMPORT = """mutation($csv: String!) { contactsImport(csv: $csv) {
  errorCount errors { field message code }
  result { inserted rowErrorCount rowErrorsTruncated rowErrors { line field code message } } } }"""


async def _raw_headers_only(port: int, path: str, length: int) -> tuple[bytes, bytes]:
    """Send a POST announcing ``length`` bytes, send none, and read the answer (head, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {length}\r\n\r\n".encode())
        await writer.drain()
        # A server that waits for the announced body never answers: the guard fails the test.
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        size = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return head, await asyncio.wait_for(reader.readexactly(size), 30)
    finally:
        writer.close()


async def test_a_declared_body_over_the_limit_is_refused_before_it_is_sent(make_server):
    server = make_server(max_body_bytes=LIMIT)
    for path in ROUTES:
        head, body = await _raw_headers_only(server.port, path, LIMIT + 1)
        assert head.startswith(b"HTTP/1.1 413"), (path, head)
        assert "larger than" in json.loads(body)["errors"][0]["message"]
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        small = await http.post("/graphql", json={"query": "{ __typename }"})
    assert small.json() == {"data": {"__typename": "Query"}}


async def _chunks(total: int, size: int = 16384):
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


async def test_a_chunked_body_is_cut_off_at_the_limit(make_server):
    server = make_server(max_body_bytes=LIMIT)
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        for path in ("/graphql", "/webhooks/inbound"):
            # A generator body goes out chunked: no Content-Length to refuse up front.
            response = await http.post(path, content=_chunks(10 * LIMIT),
                                       headers={"content-type": "application/json"})
            assert response.status_code == 413, (path, response.text)
        under = b'{"query": "{ __typename }"}' + b" " * (LIMIT - 100)
        response = await http.post("/graphql", content=_iter(under),
                                   headers={"content-type": "application/json"})
    assert response.json() == {"data": {"__typename": "Query"}}


async def _iter(data: bytes):
    for start in range(0, len(data), 8192):
        yield data[start:start + 8192]


def test_max_body_bytes_is_a_validated_setting_sized_for_the_csv_import():
    assert Settings().max_body_bytes >= 3 * MAX_CSV_CHARS
    assert Settings.from_env({"DRUMBEAT_MAX_BODY_BYTES": "1000000"}).max_body_bytes == 1_000_000
    with pytest.raises(SettingsError, match="DRUMBEAT_MAX_BODY_BYTES"):
        Settings.from_env({"DRUMBEAT_MAX_BODY_BYTES": "12"})
    with pytest.raises(SettingsError, match="DRUMBEAT_MAX_BODY_BYTES"):
        Settings.from_env({"DRUMBEAT_MAX_BODY_BYTES": "lots"})


async def test_a_websocket_message_over_the_limit_closes_the_socket(make_server):
    server = make_server(max_body_bytes=LIMIT)
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"],
                                  max_size=None) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}, "pad": "x" * LIMIT}))
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd.code == 1009  # "message too big"


BOMB = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("body", [
    BOMB,
    '{"query": "{ __typename }", "variables": {"a": %s}}' % BOMB,
    '{"query": "{ __typename }", "variables": {"a": %s}}' % ("[" * 200 + "]" * 200),
    '{"query": "{ __typename }", "variables": {"a": [%s]}}' % ",".join(["1"] * 300_000),
], ids=["bomb", "variables-bomb", "200-deep", "300k-values"])
async def test_nested_or_huge_json_is_a_400_with_a_graphql_error(server, body):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        response = await http.post("/graphql", content=body,
                                   headers={"content-type": "application/json"})
        assert response.status_code == 400, response.text
        message = response.json()["errors"][0]["message"]
        assert "nested more than 64" in message or "more than 200000 values" in message
        assert (await http.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_a_nested_json_websocket_message_is_refused_and_the_server_lives(server):
    async with websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send(BOMB)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 30)
    assert closed.value.rcvd.code == 4400
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        assert (await http.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


@pytest.mark.parametrize("query, expected", [
    ("{" + "me {" * 300 + "id" + "}" * 300 + "}", "nested too deeply"),
    ("{ me { ...F0 } } " + " ".join(f"fragment F{i} on TeamMember {{ ...F{i + 1} }}"
                                    for i in range(300)) + " fragment F300 on TeamMember { id }",
     "Fragments spread into fragments at most 12 levels deep"),
], ids=["selections", "fragment-chain"])
async def test_deep_graphql_documents_get_a_clear_error(server, query, expected):
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    messages = [e["message"] for e in response.json()["errors"]]
    assert any(expected in m for m in messages), messages
    assert not any("recursion" in m for m in messages), messages


async def test_unknown_csv_columns_are_counted_and_the_valid_ones_listed_once(admin_api):
    header = ",".join(["email", *(f"c{i}" for i in range(100_000))])
    data = await admin_api.data(IMPORT, {"csv": header + "\n"})
    payload = data["contactsImport"]
    assert payload["result"] is None
    assert payload["errorCount"] == 100_000
    assert len(payload["errors"]) == 101
    assert payload["errors"][-1]["code"] == "TOO_MANY_ERRORS"
    assert "100000 problems in all" in payload["errors"][-1]["message"]
    assert sum("the columns are" in e["message"] for e in payload["errors"]) == 1
    assert len(json.dumps(data)) < 20_000


async def test_a_repeated_csv_column_is_one_problem_with_its_count(admin_api):
    data = await admin_api.data(IMPORT, {"csv": ",".join(["email"] * 20_000) + "\n"})
    assert data["contactsImport"]["errors"] == [{
        "field": ["csv", "email"], "code": "DUPLICATE",
        "message": "Column 'email' appears 20000 times."}]


async def test_csv_row_errors_are_capped_with_their_total(admin_api):
    rows = "\n".join(f"bad-{i},{'Z' * 3}" for i in range(250))
    data = await admin_api.data(IMPORT, {"csv": "email,country\n" + rows + "\n"})
    result = data["contactsImport"]["result"]
    assert result["rowErrorCount"] == 500 and result["rowErrorsTruncated"] is True
    assert len(result["rowErrors"]) == 100


async def test_a_csv_cell_with_too_many_tags_or_a_json_bomb_is_a_row_error(admin_api):
    tags = ";".join(f"t{i}" for i in range(10_000))  # a cell holds 100,000 characters
    bomb = '"' + "[" * 50_000 + "]" * 50_000 + '"'
    csv = f"email,tags,attributes\na@x.example,{tags},\nb@x.example,,{bomb}\nc@x.example,x;x;y,\n"
    result = (await admin_api.data(IMPORT, {"csv": csv}))["contactsImport"]["result"]
    assert {(e["line"], e["field"], e["code"]) for e in result["rowErrors"]} == {
        (2, "tags", "TOO_LONG"), (3, "attributes", "INVALID")}
    assert result["inserted"] == 1


class _Untouchable(list):
    """A list whose items must not be looked at (its length may be)."""

    def __iter__(self):
        raise AssertionError("the items were read before the length was checked")

    __getitem__ = __iter__


def test_tags_are_counted_before_any_is_looked_at():
    with pytest.raises(record_fields.FieldError) as refused:
        record_fields.tags(_Untouchable(["t"] * 30_000), MAX_TAGS)
    assert refused.value.code.value == "TOO_LONG"
    assert record_fields.tags([" a", "b", "a ", "", "b"], MAX_TAGS) == ["a", "b"]


async def test_thirty_thousand_tags_on_a_contact_are_refused(server):
    _, token = await member_token(server, "MARKETER")
    api = GraphQLClient(server.url, token)
    created = await api.data('mutation { contactsCreate(input: [{email: "tags@x.example"}]) '
                             '{ contacts { id } } }')
    contact = created["contactsCreate"]["contacts"][0]["id"]
    query = ("mutation($id: ID!, $tags: [String!]!) { contactTagsSet(id: $id, tags: $tags) "
             "{ errors { field code message } contact { tags } } }")
    refused = await api.data(query, {"id": contact, "tags": [f"t{i}" for i in range(30_000)]})
    assert refused["contactTagsSet"]["errors"] == [
        {"field": ["input", "tags"], "code": "TOO_LONG", "message": f"At most {MAX_TAGS} tags."}]
    kept = await api.data(query, {"id": contact, "tags": ["b", "a", "b"]})
    assert kept["contactTagsSet"]["contact"]["tags"] == ["a", "b"]


async def test_a_long_list_of_problems_is_capped_with_its_total(admin_api):
    inputs = [{"email": f"not-an-email-{i}"} for i in range(1000)]
    data = await admin_api.data("mutation($i: [ContactInput!]!) { contactsCreate(input: $i) "
                                "{ errors { field code message } } }", {"i": inputs})
    errors = data["contactsCreate"]["errors"]
    assert len(errors) == 101
    assert errors[-1]["code"] == "TOO_MANY_ERRORS" and "1000 problems in all" in errors[-1]["message"]
