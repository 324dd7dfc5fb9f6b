"""Changing the registry: register, update and delete services, each audited and applied to
the probe loop at once (no restart)."""

from __future__ import annotations

import dataclasses
from typing import Any

from tortoise.transactions import in_transaction

from models import Service, ServiceDependency
from probes.discovery import detect
from probes.result import ApiType, CircuitState, HealthStatus, ServiceType
from resolvers import validation
from resolvers.audit import Actor, record_audit
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, Conflict
from resolvers.monitoring import sync_watch, unwatch
from resolvers.outbound import check_target
from resolvers.services import get_service


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceFields:
    """Registration or update input; None means "not given" (for update: keep what is stored)."""

    name: str | None = None
    type: ServiceType | None = None
    api_type: ApiType | None = None
    base_url: str | None = None
    description: str | None = None
    location: str | None = None
    credential: str | None = None  # on update "" removes the stored credential
    check_interval_seconds: int | None = None
    timeout_seconds: float | None = None
    is_active: bool | None = None
    verify_tls: bool | None = None
    sla_target: float | None = None
    cost_per_job: float | None = None


def snapshot(row: Service) -> dict[str, Any]:
    """The audit and export view of a service: configuration only, never the credential."""
    return {
        "name": row.name,
        "type": row.type.value,
        "apiType": row.api_type.value,
        "baseUrl": row.base_url,
        "description": row.description,
        "location": row.location,
        "checkIntervalSeconds": row.check_interval_seconds,
        "timeoutSeconds": row.timeout_seconds,
        "isActive": row.is_active,
        "verifyTls": row.verify_tls,
        "slaTarget": row.sla_target,
        "costPerJob": row.cost_per_job,
        "hasCredential": row.credential_encrypted is not None,
    }


async def _ensure_unique(name: str, base_url: str, exclude_id: int | None = None) -> None:
    same_name = Service.filter(name=name)
    same_url = Service.filter(base_url=base_url)
    if exclude_id is not None:
        same_name = same_name.exclude(id=exclude_id)
        same_url = same_url.exclude(id=exclude_id)
    if await same_name.exists():
        raise Conflict(f"a service named '{name}' is already registered", field="name")
    if await same_url.exists():
        raise Conflict(f"a service at {base_url} is already registered", field="baseUrl")


async def _detected_api_type(deps: Deps, base_url: str, fields: ServiceFields, timeout_s: float) -> tuple[ApiType, str]:
    found = await detect(
        deps.http,
        base_url,
        deps.limits,
        fields.credential or None,
        timeout_s=timeout_s,
        verify_tls=fields.verify_tls if fields.verify_tls is not None else True,
    )
    if found.api_type is None:
        raise BadUserInput(
            f"could not detect the API type: {found.discovery.result.message}; give apiType explicitly",
            field="apiType",
        )
    return found.api_type, found.base_url


async def register_service(deps: Deps, fields: ServiceFields, actor: Actor) -> Service:
    settings = deps.settings
    if fields.name is None or fields.type is None or fields.base_url is None:
        raise BadUserInput("name, type and baseUrl are required", field="name" if fields.name is None else "baseUrl")
    name = validation.clean_name(fields.name)
    base_url = validation.clean_base_url(fields.base_url)
    await check_target(base_url, deps.limits.address_policy)
    interval = validation.check_interval(
        fields.check_interval_seconds or settings.default_check_interval_seconds,
        settings.min_check_interval_seconds,
        settings.max_check_interval_seconds,
    )
    timeout = validation.check_timeout(
        fields.timeout_seconds
        if fields.timeout_seconds is not None
        else min(settings.default_timeout_seconds, interval),
        settings.max_timeout_seconds,
        interval,
    )
    description = validation.clean_text(fields.description, validation.MAX_DESCRIPTION, "description")
    location = validation.clean_text(fields.location, validation.MAX_LOCATION, "location")
    credential = validation.check_credential(fields.credential) if fields.credential else None
    await _ensure_unique(name, base_url)
    api_type = fields.api_type
    if api_type is None:
        api_type, base_url = await _detected_api_type(deps, base_url, fields, timeout)
        await _ensure_unique(name, base_url)
    async with in_transaction():
        row = await Service.create(
            name=name,
            type=fields.type,
            api_type=api_type,
            base_url=base_url,
            description=description,
            location=location,
            check_interval_seconds=interval,
            timeout_seconds=timeout,
            is_active=True if fields.is_active is None else fields.is_active,
            verify_tls=True if fields.verify_tls is None else fields.verify_tls,
            credential_encrypted=deps.cipher.encrypt(credential) if credential else None,
            sla_target=None if fields.sla_target is None else validation.check_sla_target(fields.sla_target),
            cost_per_job=None if fields.cost_per_job is None else validation.check_cost(fields.cost_per_job),
        )
        await record_audit(actor, "service.register", "service", row.id, after=snapshot(row))
    await sync_watch(deps, row)
    return row


async def update_service(deps: Deps, service_id: int, fields: ServiceFields, actor: Actor) -> Service:
    settings = deps.settings
    row = await get_service(service_id)
    before = snapshot(row)
    if fields.name is not None:
        row.name = validation.clean_name(fields.name)
    if fields.base_url is not None:
        row.base_url = validation.clean_base_url(fields.base_url)
        await check_target(row.base_url, deps.limits.address_policy)
    if fields.type is not None:
        row.type = fields.type
    if fields.api_type is not None:
        row.api_type = fields.api_type
    if fields.description is not None:
        row.description = validation.clean_text(fields.description, validation.MAX_DESCRIPTION, "description")
    if fields.location is not None:
        row.location = validation.clean_text(fields.location, validation.MAX_LOCATION, "location")
    if fields.check_interval_seconds is not None:
        row.check_interval_seconds = validation.check_interval(
            fields.check_interval_seconds, settings.min_check_interval_seconds, settings.max_check_interval_seconds
        )
    if fields.timeout_seconds is not None or fields.check_interval_seconds is not None:
        row.timeout_seconds = validation.check_timeout(
            fields.timeout_seconds if fields.timeout_seconds is not None else row.timeout_seconds,
            settings.max_timeout_seconds,
            row.check_interval_seconds,
        )
    if fields.is_active is not None:
        row.is_active = fields.is_active
    if fields.verify_tls is not None:
        row.verify_tls = fields.verify_tls
    if fields.sla_target is not None:
        row.sla_target = validation.check_sla_target(fields.sla_target)
    if fields.cost_per_job is not None:
        row.cost_per_job = validation.check_cost(fields.cost_per_job)
    if fields.credential is not None:
        credential = validation.check_credential(fields.credential)
        row.credential_encrypted = deps.cipher.encrypt(credential) if credential else None
    await _ensure_unique(row.name, row.base_url, exclude_id=row.id)
    if (row.base_url, row.api_type) != (before["baseUrl"], ApiType(before["apiType"])):
        # Another endpoint or protocol: what the breaker and hysteresis knew no longer applies.
        row.breaker_snapshot = row.hysteresis_snapshot = None
        row.status, row.circuit_state, row.consecutive_failures = HealthStatus.UNKNOWN, CircuitState.CLOSED, 0
    async with in_transaction():
        await row.save()
        await record_audit(actor, "service.update", "service", row.id, before=before, after=snapshot(row))
    await sync_watch(deps, row)
    return row


async def delete_service(deps: Deps, service_id: int, actor: Actor) -> Service:
    """Deletes the service with its history, panels, windows and dependencies; refuses with
    CONFLICT while another service declares a *required* dependency on it."""
    row = await get_service(service_id)
    dependents = await ServiceDependency.filter(depends_on_id=row.id, required=True).prefetch_related("service")
    if dependents:
        names = ", ".join(sorted(dep.service.name for dep in dependents))
        raise Conflict(
            f"'{row.name}' is a required dependency of {names}; remove those dependencies first",
            field="id",
            dependents=[str(dep.service_id) for dep in dependents],
        )
    await unwatch(deps, row.id)
    async with in_transaction():
        before = snapshot(row)
        await row.delete()
        await record_audit(actor, "service.delete", "service", service_id, before=before)
    return row
