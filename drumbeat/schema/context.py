"""The per-request context: the platform, the signed-in member, the DataLoaders."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Sequence

from strawberry.dataloader import DataLoader

from strawberry.types import Info as StrawberryInfo

from drumbeat.platform.permissions import require_member
from drumbeat.platform.runtime import Platform
from drumbeat.platform.team import Member
from drumbeat.schema.loaders import Loaders


class Context:
    def __init__(self, platform: Platform, request: Any, response: Any, member: Member | None):
        self.platform = platform
        self.request = request
        self.response = response
        self.member = member
        self.connection_params: dict | None = None  # set by Strawberry on WebSocket init
        self.loaders = Loaders()
        self._named_loaders: dict[str, DataLoader] = {}

    def loader(self, name: str, load_fn: Callable[[Sequence[Any]], Awaitable[list]]) -> DataLoader:
        """This request's DataLoader called ``name`` (created on first use): a page of N
        objects then costs one batched query per loader, not N."""
        loader = self._named_loaders.get(name)
        if loader is None:
            loader = self._named_loaders[name] = DataLoader(load_fn=load_fn)
        return loader

    def require_member(self) -> Member:
        return require_member(self.member)


Info = StrawberryInfo[Context, None]
