"""The installed distribution registers ``webhook``; its config is validated on save."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points

from support_api import unique

import drumbeat_webhook

ACTION_TYPES = """
query { actionTypes { key label plugin recipientKinds configSchema } }"""


def test_the_entry_point_belongs_to_the_installed_distribution():
    (ep,) = [ep for ep in entry_points(group="drumbeat.plugins") if ep.name == "webhook"]
    assert ep.dist.name == "drumbeat-webhook"
    assert ep.load() is drumbeat_webhook


def test_drumbeat_plugins_lists_webhook_from_its_distribution(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "drumbeat", "plugins"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if " webhook " in line)
    assert "entry point drumbeat.plugins (drumbeat-webhook 0.1.0)" in line
    assert line.rstrip(" │|").endswith("webhook")


async def test_action_types_exposes_the_config_schema(api):
    types = {t["key"]: t for t in (await api.data(ACTION_TYPES))["actionTypes"]}
    webhook = types["webhook"]
    assert (webhook["label"], webhook["plugin"]) == ("Outgoing webhook", "webhook")
    assert webhook["recipientKinds"] == ["contact", "company", "lead"]
    schema = webhook["configSchema"]
    assert set(schema["required"]) == {"url", "secret_name"}
    assert schema["properties"]["url"]["format"] == "uri"
    assert set(schema["properties"]) >= {"body", "headers", "batch", "timeout_seconds"}
    assert schema["additionalProperties"] is False


def _errors(payload: dict) -> dict[tuple[str, ...], dict]:
    assert payload["campaign"] is None
    return {tuple(e["field"]): e for e in payload["errors"]}


CONFIG = ("input", "action", "config")


async def test_a_bad_url_and_bad_headers_are_refused_with_their_paths(api):
    errors = _errors(await api.create_campaign(unique("bad"), {
        "url": "ftp://example.com/in", "secret_name": "TESTS",
        "headers": {"Host": "evil.example", "X-Ok": "line\r\nInjected: 1", "bad name": "x"},
    }))
    assert set(errors) == {
        (*CONFIG, "url"), (*CONFIG, "headers", "Host", "[key]"),
        (*CONFIG, "headers", "X-Ok"), (*CONFIG, "headers", "bad name", "[key]")}
    assert "http" in errors[(*CONFIG, "url")]["message"]
    assert "set by Drumbeat" in errors[(*CONFIG, "headers", "Host", "[key]")]["message"]
    assert {e["code"] for e in errors.values()} == {"INVALID_CONFIG"}


async def test_credentials_in_the_url_and_unknown_keys_are_refused(api):
    errors = _errors(await api.create_campaign(unique("bad"), {
        "url": "https://user:pw@example.com/in", "secret_name": "TESTS", "secret": "inline"}))
    assert set(errors) == {(*CONFIG, "url"), (*CONFIG, "secret")}
    assert "credentials" in errors[(*CONFIG, "url")]["message"]


async def test_a_body_template_that_does_not_compile_is_refused_with_its_line(api):
    errors = _errors(await api.create_campaign(unique("bad"), {
        "url": "https://example.com/in", "secret_name": "TESTS",
        "body": '{"a": 1,\n "b": {{ contact.first_name '}))
    assert list(errors) == [(*CONFIG, "body")]
    assert errors[(*CONFIG, "body")]["code"] == "TEMPLATE_ERROR"
    assert errors[(*CONFIG, "body")]["message"].startswith("line 2:")


async def test_a_launch_without_the_secret_in_the_environment_is_refused(api, receiver):
    campaign_id = await api.campaign_with_contacts(unique("nosecret"), {
        "url": receiver.url("never"), "secret_name": "MISSING"},
        [{"email": f"{unique('p')}@example.org"}])
    errors = await api.launch(campaign_id)
    assert [e["field"][-1] for e in errors] == ["secret_name"]
    assert "DRUMBEAT_WEBHOOK_SECRET_MISSING is not set" in errors[0]["message"]
    assert receiver.received("never") == []
