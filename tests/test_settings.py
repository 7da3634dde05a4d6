"""Settings from DRUMBEAT_* variables: embedded defaults, and errors that name the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from drumbeat.settings import Settings, SettingsError


def test_the_embedded_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("DRUMBEAT_SECRET_FILE", str(tmp_path / "secret"))
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///./drumbeat.db"
    assert settings.embedded_worker and settings.events_url == "memory://"
    assert settings.smtp_url.startswith("outbox://")
    # A development secret is generated once and reused.
    assert len(settings.secret_key) >= 32
    assert Settings.from_env({}).secret_key == settings.secret_key


@pytest.mark.parametrize("variable, value, message", [
    ("DRUMBEAT_DATABASE_URL", "mysql://db/x", "DRUMBEAT_DATABASE_URL must start with"),
    ("DRUMBEAT_DATABASE_URL", "postgresql:///nohost", "DRUMBEAT_DATABASE_URL has no host"),
    ("DRUMBEAT_BROKER_URL", "redis://host:notaport/0", "DRUMBEAT_BROKER_URL is not a valid URL"),
    ("DRUMBEAT_SMTP_URL", "ftp://mail", "DRUMBEAT_SMTP_URL must start with"),
    ("DRUMBEAT_CHUNK_SIZE", "lots", "DRUMBEAT_CHUNK_SIZE must be a whole number"),
    ("DRUMBEAT_CHUNK_SIZE", "0", "DRUMBEAT_CHUNK_SIZE"),
    ("DRUMBEAT_ENVIRONMENT", "staging", "DRUMBEAT_ENVIRONMENT"),
    ("DRUMBEAT_QUEUE", "bad queue!", "DRUMBEAT_QUEUE may contain only"),
])
def test_a_malformed_value_names_its_variable(variable, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({variable: value, "DRUMBEAT_SECRET_KEY": "x" * 40})


def test_production_requires_a_secret_key():
    with pytest.raises(SettingsError, match="DRUMBEAT_SECRET_KEY is required in production"):
        Settings.from_env({"DRUMBEAT_ENVIRONMENT": "production"})
    ok = Settings.from_env({"DRUMBEAT_ENVIRONMENT": "production", "DRUMBEAT_SECRET_KEY": "k" * 40})
    assert ok.production


def test_the_cli_stops_with_the_variable_named(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRUMBEAT_")}
    env["DRUMBEAT_BROKER_URL"] = "kafka://broker"
    result = subprocess.run([sys.executable, "-m", "drumbeat", "migrate"], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "DRUMBEAT_BROKER_URL" in result.stderr
    assert not (tmp_path / "drumbeat.db").exists(), "nothing is created on a configuration error"
