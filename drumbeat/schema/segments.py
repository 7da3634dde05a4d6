"""Segments in the API: the ``Segment`` node (with its live ``count`` and ``preview``), the
``segment`` / ``segments`` queries, ``contactsMatching`` for an unsaved filter, and
``segmentCreate`` / ``segmentUpdate`` / ``segmentDelete``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable, Sequence

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from drumbeat.platform import segments as service
from drumbeat.platform.errors import DomainError, ErrorCode
from drumbeat.platform.segments.query import MAX_PREVIEW
from drumbeat.platform.tables import Segment as SegmentTable
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import id_of, node_id
from drumbeat.schema.pagination import keyset_connection
from drumbeat.schema.segment_filter import SegmentFilter, filter_for_api, filter_json
from drumbeat.schema.team import TeamMember


def _stored(value) -> dict:
    return json.loads(value) if isinstance(value, str) else (value or {})


def _key(filter: dict) -> str:
    return json.dumps(filter, sort_keys=True)


@strawberry.type(description="A saved filter over contacts, evaluated whenever it is read.")
class Segment(relay.Node):
    id: relay.NodeID[int]
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[dict]

    @classmethod
    def from_row(cls, row: dict) -> "Segment":
        return cls(id=row["id"], name=row["name"], description=row["description"],
                   created_at=row["created_at"], updated_at=row["updated_at"],
                   row={**row, "filter": _stored(row["filter"])})

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await service.segments_by_id([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]

    @strawberry.field(description="The filter as JSON in the shape of SegmentFilter (it can be "
                                  "sent back as an input as is).")
    def filter(self) -> JSON:
        return filter_for_api(self.row["filter"])

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.row["owner"]))

    @strawberry.field(description="How many contacts match now.")
    async def count(self, info: Info) -> int:
        platform = info.context.platform

        async def counts(keys: Sequence[str]) -> list[int]:
            return await service.count_many(platform, [json.loads(k) for k in keys])

        return await info.context.loader("segment_count", counts).load(_key(self.row["filter"]))

    @strawberry.field(description=f"The newest matching contacts (at most {MAX_PREVIEW}).")
    async def preview(self, info: Info, first: int = 10) -> list[Contact]:
        _check_first(first)
        platform = info.context.platform

        async def previews(keys: Sequence[tuple[str, int]]) -> list[list[dict]]:
            results: dict[tuple[str, int], list[dict]] = {}
            for size in {n for _, n in keys}:
                wanted = [k for k in keys if k[1] == size]
                rows = await service.preview_many(platform, [json.loads(k) for k, _ in wanted], size)
                results.update(zip(wanted, rows))
            return [results[k] for k in keys]

        rows = await info.context.loader("segment_preview", previews).load(
            (_key(self.row["filter"]), first))
        return [Contact.from_row(r) for r in rows]


def _check_first(first: int) -> None:
    if not 0 <= first <= MAX_PREVIEW:
        raise DomainError.one(f"first must be between 0 and {MAX_PREVIEW}.", ErrorCode.INVALID,
                              ["first"])


@strawberry.type
class ContactsMatching:
    count: int | None
    contacts: list[Contact]
    errors: list[UserError]


@strawberry.input
class SegmentCreateInput:
    name: str
    filter: SegmentFilter
    description: str = ""


@strawberry.input(description="Only the fields given change.")
class SegmentUpdateInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    filter: SegmentFilter | None = strawberry.UNSET


@strawberry.type
class SegmentPayload:
    segment: Segment | None
    errors: list[UserError]


@strawberry.type
class SegmentDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


@strawberry.type
class SegmentQueries:
    @strawberry.field
    async def segment(self, info: Info, id: relay.GlobalID) -> Segment | None:
        info.context.require_member()
        if (segment_id := id_of(id, "Segment")) is None:
            return None
        row = await service.get_segment(segment_id)
        return Segment.from_row(row) if row else None

    @strawberry.field(description="Segments, newest first.")
    async def segments(self, info: Info, first: int | None = None, after: str | None = None,
                       last: int | None = None, before: str | None = None
                       ) -> relay.Connection[Segment]:
        info.context.require_member()
        return await keyset_connection(
            SegmentTable, Segment.from_row, first=first, after=after, last=last, before=before,
            max_page_size=info.context.platform.settings.max_page_size,
        )

    @strawberry.field(description="Count and preview the contacts matching an unsaved filter.")
    async def contacts_matching(self, info: Info, filter: SegmentFilter,
                                first: int = 10) -> ContactsMatching:
        async def work():
            info.context.require_member()
            _check_first(first)
            node = await service.validated_filter(filter_json(filter), "filter")
            platform = info.context.platform
            rows = await service.preview(platform, node, first)
            return {"count": await service.count(platform, node),
                    "contacts": [Contact.from_row(r) for r in rows]}

        return await payload(ContactsMatching, work, count=None, contacts=[])


@strawberry.type
class SegmentMutations:
    @strawberry.mutation(description="Save a filter as a named segment (marketers and admins).")
    async def segment_create(self, info: Info, input: SegmentCreateInput) -> SegmentPayload:
        async def work():
            row = await service.create_segment(
                info.context.platform, info.context.member, input.name,
                filter_json(input.filter), input.description)
            return {"segment": Segment.from_row(row)}

        return await payload(SegmentPayload, work, segment=None)

    @strawberry.mutation(description="Change a segment (its owner or an admin).")
    async def segment_update(self, info: Info, id: relay.GlobalID,
                             input: SegmentUpdateInput) -> SegmentPayload:
        async def work():
            fields = {name: getattr(input, name) for name in ("name", "description", "filter")
                      if getattr(input, name) is not strawberry.UNSET}
            if "filter" in fields:
                fields["filter"] = filter_json(fields["filter"])
            row = await service.update_segment(info.context.platform, info.context.member,
                                               node_id(id, "Segment", "id"), fields)
            return {"segment": Segment.from_row(row)}

        return await payload(SegmentPayload, work, segment=None)

    @strawberry.mutation(description="Delete a segment (its owner or an admin); lists built "
                                     "from it keep their members.")
    async def segment_delete(self, info: Info, id: relay.GlobalID) -> SegmentDeletePayload:
        async def work():
            await service.delete_segment(info.context.platform, info.context.member,
                                         node_id(id, "Segment", "id"))
            return {"deleted_id": id}

        return await payload(SegmentDeletePayload, work, deleted_id=None)
