"""The committed schema.graphql is the schema the code builds (`make schema` regenerates it)."""

from __future__ import annotations

from pathlib import Path

from drumbeat.schema import build_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code():
    assert SCHEMA_FILE.exists(), "schema.graphql is missing: run `make schema`"
    assert SCHEMA_FILE.read_text() == build_schema().as_str() + "\n", (
        "schema.graphql drifted from the code: run `make schema` and commit it")
