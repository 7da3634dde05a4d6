"""The per-request context: the platform, the signed-in member, the DataLoaders."""

from __future__ import annotations

from typing import Any

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

    def require_member(self) -> Member:
        return require_member(self.member)


Info = StrawberryInfo[Context, None]
