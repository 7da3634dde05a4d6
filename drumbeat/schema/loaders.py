"""DataLoaders, one set per request: a page of N objects costs a constant number of queries."""

from __future__ import annotations

from typing import Sequence

from strawberry.dataloader import DataLoader

from drumbeat.platform.tables import TeamMember


async def _members(ids: Sequence[int]) -> list[dict | None]:
    rows = await TeamMember.select().where(TeamMember.id.is_in(list(ids)))
    by_id = {row["id"]: row for row in rows}
    return [by_id.get(i) for i in ids]


class Loaders:
    def __init__(self) -> None:
        self.member = DataLoader(load_fn=_members)
