"""Distribution lists in the API: the ``DistributionList`` node (its ``memberCount``, its
``members`` and the segment it came from), the ``list`` / ``lists`` queries and the
``list*`` mutations."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import strawberry
from strawberry import relay

from drumbeat.platform import lists as service
from drumbeat.platform.segments import segments_by_id
from drumbeat.platform.tables import DistributionList as ListTable
from drumbeat.platform.tables import MemberSource
from drumbeat.schema.contacts import Contact
from drumbeat.schema.context import Info
from drumbeat.schema.errors import UserError, payload
from drumbeat.schema.ids import id_of, node_id
from drumbeat.schema.pagination import (
    connection, decode_cursor, encode_cursor, keyset_connection, page_window,
)
from drumbeat.schema.segment_filter import SegmentFilter, filter_json
from drumbeat.schema.segments import Segment
from drumbeat.schema.team import TeamMember

ListMemberSource = strawberry.enum(MemberSource, name="ListMemberSource", description=(
    "SEGMENT: from the segment or filter the list was built from (a refresh may remove it); "
    "MANUAL: included by hand (kept by every refresh)."))
ListRefineMode = strawberry.enum(service.RefineMode, name="ListRefineMode", description=(
    "KEEP_MATCHING: exclude the members that do not match; REMOVE_MATCHING: exclude those "
    "that match."))


@strawberry.type(description="A contact of a distribution list. An excluded one was taken out "
                             "by hand or by a refinement; it stays recorded so a refresh does "
                             "not bring it back.")
class ListMember(relay.Node):
    id: relay.NodeID[int]
    contact: Contact
    source: ListMemberSource
    excluded: bool
    added_at: datetime

    @classmethod
    def from_row(cls, row: dict) -> "ListMember":
        return cls(id=row["id"], contact=Contact.from_row(row["contact_row"]),
                   source=MemberSource(row["source"]), excluded=row["excluded"],
                   added_at=row["added_at"])

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await service.members_by_id(info.context.platform, [int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]


@strawberry.type(description="A snapshot of a segment's (or a filter's) contacts, refined by "
                             "hand or with further filters.")
class DistributionList(relay.Node):
    id: relay.NodeID[int]
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[dict]

    @classmethod
    def from_row(cls, row: dict) -> "DistributionList":
        return cls(id=row["id"], name=row["name"], description=row["description"],
                   created_at=row["created_at"], updated_at=row["updated_at"], row=row)

    @classmethod
    async def resolve_nodes(cls, *, info: Info, node_ids: Iterable[str], required: bool = False):
        info.context.require_member()
        rows = await service.lists_by_id([int(i) for i in node_ids])
        return [cls.from_row(r) if r else None for r in rows]

    @strawberry.field
    async def owner(self, info: Info) -> TeamMember:
        return TeamMember.from_row(await info.context.loaders.member.load(self.row["owner"]))

    @strawberry.field(description="The segment the list was built from (null when built from a "
                                  "filter or by hand, or when that segment was deleted).")
    async def segment(self, info: Info) -> Segment | None:
        if self.row["segment"] is None:
            return None
        row = await info.context.loader("list_segment", segments_by_id).load(self.row["segment"])
        return Segment.from_row(row) if row else None

    @strawberry.field(description="How many contacts the list has (excluded ones not counted).")
    async def member_count(self, info: Info) -> int:
        platform = info.context.platform

        async def counts(ids: Sequence[int]) -> list[int]:
            return await service.member_counts(platform, ids)

        return await info.context.loader("list_member_count", counts).load(self.id)

    @strawberry.field(description="The members, newest first.")
    async def members(self, info: Info, first: int | None = None, after: str | None = None,
                      last: int | None = None, before: str | None = None,
                      include_excluded: bool = False) -> relay.Connection[ListMember]:
        size, backwards = page_window(first, last, info.context.platform.settings.max_page_size)
        rows = await service.members_page(
            info.context.platform, self.id, size=size + 1, backwards=backwards,
            after=decode_cursor(after, "after") if after is not None else None,
            before=decode_cursor(before, "before") if before is not None else None,
            include_excluded=include_excluded)
        has_more = len(rows) > size
        rows = rows[:size]
        if backwards:
            rows.reverse()
        edges = [relay.Edge(node=ListMember.from_row(r), cursor=encode_cursor(r["id"]))
                 for r in rows]
        return connection(edges, has_more=has_more, backwards=backwards, after=after, before=before)


@strawberry.input(description="Build from a segment (a snapshot of its contacts now), from an "
                               "ad-hoc filter, or neither (an empty list to fill by hand).")
class ListCreateInput:
    name: str
    description: str = ""
    segment_id: relay.GlobalID | None = None
    filter: SegmentFilter | None = None


@strawberry.input(description="Only the fields given change.")
class ListUpdateInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


@strawberry.type
class ListPayload:
    list_: DistributionList | None = strawberry.field(name="list")
    errors: list[UserError]


@strawberry.type
class ListDeletePayload:
    deleted_id: relay.GlobalID | None
    errors: list[UserError]


def _loose_id(value: relay.GlobalID | None, type_name: str) -> int | None:
    """The id, or -1 (never found, so reported with the other problems) for another type's."""
    if value is None:
        return None
    return int(value.node_id) if value.type_name == type_name and value.node_id.isdigit() else -1


@strawberry.type
class ListQueries:
    @strawberry.field(name="list")
    async def list_(self, info: Info, id: relay.GlobalID) -> DistributionList | None:
        info.context.require_member()
        if (list_id := id_of(id, "DistributionList")) is None:
            return None
        row = await service.get_list(list_id)
        return DistributionList.from_row(row) if row else None

    @strawberry.field(description="Distribution lists, newest first.")
    async def lists(self, info: Info, first: int | None = None, after: str | None = None,
                    last: int | None = None, before: str | None = None
                    ) -> relay.Connection[DistributionList]:
        info.context.require_member()
        return await keyset_connection(
            ListTable, DistributionList.from_row, first=first, after=after, last=last,
            before=before, max_page_size=info.context.platform.settings.max_page_size)


def _changed(row: dict) -> dict:
    return {"list_": DistributionList.from_row(row)}


@strawberry.type
class ListMutations:
    @strawberry.mutation(description="Create a distribution list (marketers and admins).")
    async def list_create(self, info: Info, input: ListCreateInput) -> ListPayload:
        async def work():
            return _changed(await service.create_list(
                info.context.platform, info.context.member, input.name, input.description,
                _loose_id(input.segment_id, "Segment"), filter_json(input.filter)))

        return await payload(ListPayload, work, list_=None)

    @strawberry.mutation(description="Rename or describe a list (its owner or an admin).")
    async def list_update(self, info: Info, id: relay.GlobalID,
                          input: ListUpdateInput) -> ListPayload:
        async def work():
            fields = {name: getattr(input, name) for name in ("name", "description")
                      if getattr(input, name) is not strawberry.UNSET}
            return _changed(await service.update_list(
                info.context.platform, info.context.member, node_id(id, "DistributionList", "id"),
                fields))

        return await payload(ListPayload, work, list_=None)

    @strawberry.mutation(description="Delete a list and its members (its owner or an admin).")
    async def list_delete(self, info: Info, id: relay.GlobalID) -> ListDeletePayload:
        async def work():
            await service.delete_list(info.context.platform, info.context.member,
                                      node_id(id, "DistributionList", "id"))
            return {"deleted_id": id}

        return await payload(ListDeletePayload, work, deleted_id=None)

    @strawberry.mutation(description="Include contacts by hand; a refresh keeps them, and an "
                                     "excluded one is included again.")
    async def list_members_include(self, info: Info, list_id: relay.GlobalID,
                                   contact_ids: list[relay.GlobalID]) -> ListPayload:
        return await _by_hand(info, service.include, list_id, contact_ids)

    @strawberry.mutation(description="Exclude contacts by hand; a refresh does not bring them "
                                     "back.")
    async def list_members_exclude(self, info: Info, list_id: relay.GlobalID,
                                   contact_ids: list[relay.GlobalID]) -> ListPayload:
        return await _by_hand(info, service.exclude, list_id, contact_ids)

    @strawberry.mutation(description="Narrow the list with a further filter: exclude the members "
                                     "that do not match (KEEP_MATCHING) or that do "
                                     "(REMOVE_MATCHING).")
    async def list_refine(self, info: Info, list_id: relay.GlobalID, filter: SegmentFilter,
                          mode: ListRefineMode) -> ListPayload:
        async def work():
            return _changed(await service.refine(
                info.context.platform, info.context.member,
                node_id(list_id, "DistributionList", "listId"), filter_json(filter), mode))

        return await payload(ListPayload, work, list_=None)

    @strawberry.mutation(description="Re-snapshot from the list's segment: new matches join, "
                                     "members that came from it and no longer match leave; "
                                     "contacts included or excluded by hand stay so.")
    async def list_refresh(self, info: Info, list_id: relay.GlobalID) -> ListPayload:
        async def work():
            return _changed(await service.refresh(
                info.context.platform, info.context.member,
                node_id(list_id, "DistributionList", "listId")))

        return await payload(ListPayload, work, list_=None)


async def _by_hand(info: Info, change, list_id: relay.GlobalID,
                   contact_ids: list[relay.GlobalID]) -> ListPayload:
    async def work():
        return _changed(await change(
            info.context.platform, info.context.member,
            node_id(list_id, "DistributionList", "listId"),
            [_loose_id(c, "Contact") for c in contact_ids]))

    return await payload(ListPayload, work, list_=None)
