"""Tortoise models: the registry, its history and who may change it.

Models never import `schema` or `resolvers`; resolvers query them and the schema converts rows.
Tortoise 1.1.9 copies model docstrings into SQL comments without escaping them: keep
apostrophes and semicolons out of model docstrings, or the migration fails with a syntax error.
"""

from models.access import ApiToken, AuditEvent, Role
from models.alerts import Alert, AlertDelivery, AlertOverride, AlertState, DeliveryKind, DeliveryStatus
from models.history import HealthCheck, StatusEvent
from models.insight import CheckRollup, Incident
from models.registry import MaintenanceWindow, ReferencePanel, Service, ServiceDependency

__all__ = [
    "Alert",
    "AlertDelivery",
    "AlertOverride",
    "AlertState",
    "ApiToken",
    "AuditEvent",
    "CheckRollup",
    "DeliveryKind",
    "DeliveryStatus",
    "HealthCheck",
    "Incident",
    "MaintenanceWindow",
    "ReferencePanel",
    "Role",
    "Service",
    "ServiceDependency",
    "StatusEvent",
]
