"""``actionTypes``: every registered action type with its config's JSON Schema."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from drumbeat.schema.context import Info
from drumbeat.schema.metrics import DeliveryKind


@strawberry.type
class ActionTypeInfo:
    key: str
    label: str
    plugin: str
    recipient_kinds: list[str]
    delivery_kind: DeliveryKind = strawberry.field(description=(
        "What its deliveries are: MESSAGE (counted in the message metrics) or WORK_ITEM."))
    config_schema: JSON


@strawberry.type
class ActionTypeQueries:
    @strawberry.field
    def action_types(self, info: Info) -> list[ActionTypeInfo]:
        info.context.require_member()
        plugins = info.context.platform.plugins
        return [
            ActionTypeInfo(key=key, label=a.label, plugin=plugins.action_type_plugins[key],
                           recipient_kinds=list(a.recipient_kinds),
                           delivery_kind=DeliveryKind[a.delivery_kind],
                           config_schema=a.config_schema())
            for key, a in sorted(plugins.action_types.items())
        ]
