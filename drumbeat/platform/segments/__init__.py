"""Segments: a typed filter language over contacts, compiled to SQL, and saved segments.

* :mod:`.fields` — operators and the whitelist of filterable fields;
* :mod:`.nodes` — the typed filter; :mod:`.filter` — JSON → nodes, validated (``parse_filter``);
* :mod:`.compile` — filter → SQL expression and parameters;
* :mod:`.query` — ``matching_contact_ids_sql``, ``count``, ``preview`` (and batched forms);
* :mod:`.service` — segment create / update / delete with permissions.
"""

from drumbeat.platform.segments.filter import parse_filter
from drumbeat.platform.segments.nodes import Node
from drumbeat.platform.segments.query import (
    count, count_many, matching_contact_ids_sql, preview, preview_many,
)
from drumbeat.platform.segments.service import (
    create_segment, delete_segment, get_segment, require_segment, segments_by_id,
    update_segment, validated_filter,
)

__all__ = [
    "Node", "parse_filter", "count", "count_many", "matching_contact_ids_sql", "preview",
    "preview_many", "create_segment", "delete_segment", "get_segment", "require_segment",
    "segments_by_id", "update_segment", "validated_filter",
]
