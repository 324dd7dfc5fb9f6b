"""Alerts the rule evaluator raised, each with every attempt to deliver its notifications."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from models import Alert as AlertRow
from models import AlertDelivery as AlertDeliveryRow
from models import AlertOverride as AlertOverrideRow
from models.alerts import AlertState as AlertStateValue
from models.alerts import DeliveryKind as DeliveryKindValue
from models.alerts import DeliveryStatus as DeliveryStatusValue
from schema.context import Info
from schema.types.enums import ServiceAlertRule, _describe_values
from schema.types.pagination import PageInfo

if TYPE_CHECKING:
    from schema.types.service import Service

ServiceRef = Annotated["Service", strawberry.lazy("schema.types.service")]

AlertState = strawberry.enum(AlertStateValue, name="AlertState", description="Whether an alert still holds")
_describe_values(
    AlertState,
    FIRING="The condition holds; reminders follow at VIGIL_ALERT_REMINDER_INTERVAL_SECONDS",
    RESOLVED="The condition no longer holds",
)
AlertDeliveryKind = strawberry.enum(
    DeliveryKindValue, name="AlertDeliveryKind", description="Which notification of an alert was sent"
)
_describe_values(
    AlertDeliveryKind,
    FIRING="The alert fired",
    RESOLVED="The alert resolved",
    REMINDER="The alert is still firing",
)
AlertDeliveryStatus = strawberry.enum(
    DeliveryStatusValue, name="AlertDeliveryStatus", description="How one delivery attempt ended"
)
_describe_values(
    AlertDeliveryStatus,
    SENT="The receiver answered with a 2xx status",
    FAILED="The receiver failed, refused or could not be reached; see error",
)


@strawberry.type(description="One attempt to deliver one notification of an alert to one webhook")
class AlertDelivery:
    id: strawberry.ID = strawberry.field(description="Delivery attempt id")
    channel: str = strawberry.field(description="Host of the webhook (its path may hold a secret, so it is not kept)")
    kind: AlertDeliveryKind = strawberry.field(description="Which notification this attempt carried")
    attempt: int = strawberry.field(description="1 for the first try, counting up with each retry")
    status: AlertDeliveryStatus = strawberry.field(description="How the attempt ended")
    http_status: int | None = strawberry.field(description="HTTP status the receiver answered; null if none")
    error: str = strawberry.field(description="Why it failed (HTTP status or error class); empty when sent")
    at: dt.datetime = strawberry.field(description="When the attempt ended")

    @classmethod
    def from_row(cls, row: AlertDeliveryRow) -> AlertDelivery:
        return cls(
            id=strawberry.ID(str(row.id)),
            channel=row.channel,
            kind=row.kind,
            attempt=row.attempt,
            status=row.status,
            http_status=row.http_status,
            error=row.error,
            at=row.at,
        )


@strawberry.type(description="A rule that fired for a service or for the platform, from firing until resolved")
class Alert:
    row: strawberry.Private[AlertRow]
    id: strawberry.ID = strawberry.field(description="Alert id; pages of alerts are cursored on it")
    rule: str = strawberry.field(
        description="The rule: service_unhealthy, failure_rate or slow_response (per service); cache_miss_rate or "
        "graphql_error_rate (platform, cluster-wide)"
    )
    service_id: strawberry.ID | None = strawberry.field(description="The service; null for a platform alert")
    state: AlertState = strawberry.field(description="FIRING or RESOLVED")
    fired_at: dt.datetime = strawberry.field(description="When the evaluator fired it")
    resolved_at: dt.datetime | None = strawberry.field(description="When it resolved; null while firing")
    last_notified_at: dt.datetime | None = strawberry.field(description="When the last notification was started")
    reminders_sent: int = strawberry.field(description="Reminders started while it kept firing")
    summary: str = strawberry.field(description="One line for humans, as the notification text carries it")
    details: JSON = strawberry.field(description="The figures behind it: measured value and threshold")

    @strawberry.field(description="The service; null for a platform alert")
    async def service(self, info: Info) -> ServiceRef | None:
        from schema.types.service import Service

        if self.service_id is None:
            return None
        return Service.from_row(await info.context.loaders(info).service.load(int(self.service_id)))

    @strawberry.field(description="Every delivery attempt of its notifications, oldest first")
    async def deliveries(self, info: Info) -> list[AlertDelivery]:
        return [AlertDelivery.from_row(row) for row in await info.context.loaders(info).deliveries.load(self.row.id)]

    @classmethod
    def from_row(cls, row: AlertRow) -> Alert:
        service_id = row.service_id  # type: ignore[attr-defined]
        return cls(
            row=row,
            id=strawberry.ID(str(row.id)),
            rule=row.rule,
            service_id=None if service_id is None else strawberry.ID(str(service_id)),
            state=row.state,
            fired_at=row.fired_at,
            resolved_at=row.resolved_at,
            last_notified_at=row.last_notified_at,
            reminders_sent=row.reminders_sent,
            summary=row.summary,
            details=row.details,
        )


@strawberry.type(description="An alert and its cursor")
class AlertEdge:
    cursor: str = strawberry.field(description="Pass as `after` to read the alerts after this one")
    node: Alert = strawberry.field(description="The alert")


@strawberry.type(description="Alerts, newest first")
class AlertConnection:
    edges: list[AlertEdge] = strawberry.field(description="This page")
    page_info: PageInfo = strawberry.field(description="Whether there is more")
    total_count: int = strawberry.field(description="Alerts matching the filter, on all pages")

    @strawberry.field(description="This page without cursors")
    def nodes(self) -> list[Alert]:
        return [edge.node for edge in self.edges]


@strawberry.type(description="A service's own setting for one alert rule (setAlertOverride)")
class AlertOverride:
    rule: ServiceAlertRule = strawberry.field(description="The rule")
    threshold: float | None = strawberry.field(
        description="This service's threshold, in the rule's unit; null: the global one (VIGIL_ALERT_*)"
    )
    enabled: bool = strawberry.field(description="false: the rule never fires for this service")

    @classmethod
    def from_row(cls, row: AlertOverrideRow) -> AlertOverride:
        return cls(rule=ServiceAlertRule(row.rule), threshold=row.threshold, enabled=row.is_enabled)
