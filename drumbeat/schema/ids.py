"""Global (Relay) ids in mutation inputs: decode and check their type."""

from __future__ import annotations

from strawberry import relay

from drumbeat.platform.errors import ErrorCode, Problems


def node_id(value: relay.GlobalID, type_name: str, *field: str | int) -> int:
    problems = Problems()
    result = _decode(problems, value, type_name, *field)
    problems.raise_if_any()
    return result


def node_ids(values: list[relay.GlobalID], type_name: str, field: str) -> list[int]:
    """Decode every id, reporting each bad one with its index."""
    problems = Problems()
    result = [_decode(problems, v, type_name, field, i) for i, v in enumerate(values)]
    problems.raise_if_any()
    return result


def _decode(problems: Problems, value: relay.GlobalID, type_name: str, *field: str | int) -> int:
    if value.type_name != type_name or not value.node_id.isdigit():
        problems.add(f"Expected the id of a {type_name}.", ErrorCode.INVALID, *field)
        return -1
    return int(value.node_id)



def id_of(value: relay.GlobalID, type_name: str) -> int | None:
    """The database id behind a global id of ``type_name``; ``None`` for another type or a
    malformed id — a query by id then answers null, as for an id that does not exist."""
    if value.type_name != type_name or not value.node_id.isdigit():
        return None
    return int(value.node_id)
