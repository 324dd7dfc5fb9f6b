"""Live feeds from the probe loop, filtered on the server.

A subscriber gets events from the moment it subscribes. To show current state without missing a
change, a dashboard subscribes first, then queries; every event carries `seq` (the id of its
check), so events with a seq at or below what the query returned are already reflected.

A subscriber that reads too slowly loses the oldest queued events rather than slowing the probe
loop (see events.broker); `StatusChange.missedBefore` then tells it to query again.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from events.messages import CheckRecorded, StatusChanged
from resolvers.services import parse_id
from schema.context import Info
from schema.permissions import require_read
from schema.types.health import HealthCheck, StatusChange


def _wanted(service_ids: list[strawberry.ID] | None) -> frozenset[int] | None:
    if service_ids is None:
        return None
    return frozenset(parse_id(value, "serviceIds") for value in service_ids)


@strawberry.type(description="Live feeds over WebSocket, from subscription onwards; each needs VIEWER")
class Subscription:
    @strawberry.subscription(description="Published status changes (after hysteresis); all services when null")
    async def status_changed(
        self,
        info: Info,
        service_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only these services' events; null: every service's"),
        ] = None,
    ) -> AsyncGenerator[StatusChange, None]:
        await require_read(info)
        wanted = _wanted(service_ids)
        missed = 0  # drops are counted before filtering: carry them to the next event we send
        async with info.context.deps.broker.subscribe(StatusChanged) as events:
            async for event in events:
                missed += events.gap
                if isinstance(event, StatusChanged) and (wanted is None or event.service_id in wanted):
                    yield StatusChange.from_event(event, missed_before=missed)
                    missed = 0

    @strawberry.subscription(description="Every recorded check, for live charts")
    async def health_checked(
        self,
        info: Info,
        service_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only these services' events; null: every service's"),
        ] = None,
    ) -> AsyncGenerator[HealthCheck, None]:
        await require_read(info)
        wanted = _wanted(service_ids)
        async with info.context.deps.broker.subscribe(CheckRecorded) as events:
            async for event in events:
                if isinstance(event, CheckRecorded) and (wanted is None or event.service_id in wanted):
                    yield HealthCheck.from_event(event)
