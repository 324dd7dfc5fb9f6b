"""Reference-panel sync: what a service offers now, merged into what we stored before.

Panels are never deleted: a job submitted last month still names its panel key, so a panel
that vanishes is marked inactive and comes back (reactivated) if the server lists it again.
When discovery learns nothing (down, maintenance, missing or refused token) the stored panels
and capabilities stay as they are: an outage must not look like a server that dropped every
panel. Version drift of the service or its imputation app is written to the audit trail, so an
operator can see when results may have started to differ.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from tortoise.transactions import in_transaction

from models import ReferencePanel, Service
from probes.adapter import discover
from probes.result import (
    Capabilities,
    Engine,
    GenomeBuild,
    PanelInfo,
    Population,
    ProbeResult,
    WorkflowType,
)
from resolvers.audit import Actor, record_audit
from resolvers.deps import Deps
from resolvers.errors import NotFound
from resolvers.monitoring import probe_target
from resolvers.services import get_service

log = logging.getLogger(__name__)

PROBE_ACTOR = Actor(name="probe")
"""The actor for syncs nobody asked for (a scheduled refresh, discovery's first store)."""

_MAX_KEY = 300  # ReferencePanel.key
_MAX_LABEL = 500  # ReferencePanel.label


@dataclasses.dataclass(frozen=True, slots=True)
class PanelChanges:
    """How one set of capabilities changed the stored panels. `panels` is every panel of the
    service afterwards, active ones first, each group ordered by key."""

    added: int = 0
    updated: int = 0
    reactivated: int = 0
    deactivated: int = 0
    unchanged: int = 0
    panels: tuple[ReferencePanel, ...] = ()

    @property
    def is_changed(self) -> bool:
        return bool(self.added or self.updated or self.reactivated or self.deactivated)


@dataclasses.dataclass(frozen=True, slots=True)
class PanelSyncResult:
    """The outcome of `syncReferencePanels`.

    `is_synced` is False when discovery learned nothing; the counts are then zero, `panels` are
    the ones stored before, and `message` says why. `result` is the discovery's health verdict
    (it is not recorded as a health check: a sync is not part of the uptime history).
    """

    service: Service
    result: ProbeResult
    is_synced: bool
    message: str
    changes: PanelChanges

    @property
    def panels(self) -> tuple[ReferencePanel, ...]:
        return self.changes.panels


# Capabilities <-> JSON ----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def capabilities_to_json(capabilities: Capabilities) -> dict[str, Any]:
    """`dataclasses.asdict`, with enums as their values and tuples as lists: plain JSON."""
    return _plain(dataclasses.asdict(capabilities))  # type: ignore[no-any-return]


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _text_or(data: Mapping[str, Any], key: str, default: str) -> str:
    value = _text(data, key)
    return default if value is None else value


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str)) if isinstance(value, list) else ()


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _build(value: Any) -> GenomeBuild | None:
    try:
        return GenomeBuild(value)
    except ValueError:
        return None


def _builds(value: Any) -> tuple[GenomeBuild, ...]:
    found = (_build(item) for item in (value if isinstance(value, list) else ()))
    return tuple(build for build in found if build is not None)


def _populations(value: Any) -> tuple[Population, ...]:
    return tuple(
        Population(key=item["key"], name=_text_or(item, "name", item["key"]))
        for item in _objects(value)
        if isinstance(item.get("key"), str)
    )


def _panel(data: dict[str, Any]) -> PanelInfo | None:
    key = _text(data, "key")
    if key is None:
        return None
    return PanelInfo(
        key=key,
        label=_text_or(data, "label", key),
        build=_build(data.get("build")),
        populations=_populations(data.get("populations")),
    )


def _state_counts(value: Any) -> tuple[tuple[str, int], ...]:
    pairs = value if isinstance(value, list) else ()
    return tuple(
        (pair[0], pair[1])
        for pair in pairs
        if isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
        and not isinstance(pair[1], bool)
    )


def capabilities_from_json(data: object) -> Capabilities | None:
    """Rebuild what `capabilities_to_json` stored; None when nothing (readable) is stored.

    Lenient on purpose: a column written by an older or newer release must still render, so
    unknown keys are ignored, missing ones take their defaults and unreadable items are dropped.
    """
    if not isinstance(data, dict):
        return None
    return Capabilities(
        name=_text(data, "name"),
        description=_text(data, "description"),
        service_version=_text(data, "service_version"),
        app_id=_text(data, "app_id"),
        app_version=_text(data, "app_version"),
        service_type=_text(data, "service_type"),
        organization=_text(data, "organization"),
        builds=_builds(data.get("builds")),
        input_formats=_texts(data.get("input_formats")),
        engines=tuple(
            Engine(name=item["name"], versions=_texts(item.get("versions")))
            for item in _objects(data.get("engines"))
            if isinstance(item.get("name"), str)
        ),
        modes=_texts(data.get("modes")),
        workflow_types=tuple(
            WorkflowType(name=item["name"], versions=_texts(item.get("versions")))
            for item in _objects(data.get("workflow_types"))
            if isinstance(item.get("name"), str)
        ),
        filesystem_protocols=_texts(data.get("filesystem_protocols")),
        wes_versions=_texts(data.get("wes_versions")),
        system_state_counts=_state_counts(data.get("system_state_counts")),
        panels=tuple(panel for item in _objects(data.get("panels")) if (panel := _panel(item)) is not None),
    )


# The diff -----------------------------------------------------------------------------------


def _population_json(populations: Sequence[Population]) -> list[dict[str, str]]:
    return [{"key": p.key, "name": p.name} for p in populations]


def _panel_view(row: ReferencePanel) -> dict[str, object]:
    return {
        "label": row.label,
        "build": None if row.build is None else GenomeBuild(row.build).value,
        "populations": row.populations,
        "isActive": row.is_active,
    }


def _usable(panels: Sequence[PanelInfo], service_id: int) -> dict[str, PanelInfo]:
    """The offered panels by key: the first of duplicate keys wins, over-long keys are skipped
    (a truncated key would be useless for job submission)."""
    offered: dict[str, PanelInfo] = {}
    for panel in panels:
        if len(panel.key) > _MAX_KEY:
            log.warning("skipping a panel key longer than %d characters", _MAX_KEY, extra={"service_id": service_id})
            continue
        offered.setdefault(panel.key, panel)
    return offered


def _versions(capabilities: Capabilities | None) -> dict[str, object]:
    if capabilities is None:
        return {"serviceVersion": None, "appVersion": None}
    return {"serviceVersion": capabilities.service_version, "appVersion": capabilities.app_version}


async def _merge_panels(
    service_id: int, offered: dict[str, PanelInfo], now: dt.datetime
) -> tuple[dict[str, int], dict[str, object], dict[str, object]]:
    """Apply `offered` to the stored panels; the counts, and audit views before and after."""
    counts = dict.fromkeys(("added", "updated", "reactivated", "deactivated", "unchanged"), 0)
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    stored = {row.key: row for row in await ReferencePanel.filter(service_id=service_id)}
    for key, panel in offered.items():
        label, populations = panel.label[:_MAX_LABEL], _population_json(panel.populations)
        row = stored.get(key)
        if row is None:
            row = await ReferencePanel.create(
                service_id=service_id,
                key=key,
                label=label,
                build=panel.build,
                populations=populations,
                is_active=True,
                last_seen_at=now,
            )
            counts["added"] += 1
            after[key] = _panel_view(row)
            continue
        old_build = None if row.build is None else GenomeBuild(row.build)
        is_different = (row.label, old_build, row.populations) != (label, panel.build, populations)
        if row.is_active and not is_different:
            counts["unchanged"] += 1
        else:
            before[key] = _panel_view(row)
            counts["updated" if row.is_active else "reactivated"] += 1
        row.label, row.build, row.populations, row.is_active = label, panel.build, populations, True
        row.last_seen_at = now
        await row.save()
        if key in before:
            after[key] = _panel_view(row)
    for key, row in stored.items():
        if key not in offered and row.is_active:
            before[key] = _panel_view(row)
            row.is_active = False
            await row.save(update_fields=["is_active", "updated_at"])
            counts["deactivated"] += 1
            after[key] = _panel_view(row)
    return counts, before, after


async def store_capabilities(service: Service, capabilities: Capabilities, actor: Actor) -> PanelChanges:
    """Merge freshly discovered `capabilities` into the registry (see the module doc).

    One transaction, holding the service row locked so two syncs of one service never race on
    its panels. Writes `service.capabilities`, `capabilities_synced_at` and, when the server
    reported one, `service_version` (also onto the `service` object passed in); audits panel
    changes as "service.panels_changed" and version drift as "service.version_changed".
    Raises NotFound when the service was deleted meanwhile.
    """
    now = dt.datetime.now(dt.UTC)
    async with in_transaction():
        row = await Service.select_for_update().get_or_none(id=service.id)
        if row is None:
            raise NotFound(f"no service with id {service.id}", field="serviceId")
        previous = capabilities_from_json(row.capabilities)
        counts, before, after = await _merge_panels(row.id, _usable(capabilities.panels, row.id), now)
        row.capabilities = capabilities_to_json(capabilities)
        row.capabilities_synced_at = now
        if capabilities.service_version:
            row.service_version = capabilities.service_version[:200]
        await row.save(update_fields=["capabilities", "capabilities_synced_at", "service_version", "updated_at"])
        if before or after:
            await record_audit(actor, "service.panels_changed", "service", row.id, before=before, after=after)
        if previous is not None and _versions(previous) != _versions(capabilities):
            await record_audit(
                actor,
                "service.version_changed",
                "service",
                row.id,
                before=_versions(previous),
                after=_versions(capabilities),
            )
    service.capabilities, service.capabilities_synced_at = row.capabilities, row.capabilities_synced_at
    service.service_version = row.service_version
    return PanelChanges(**counts, panels=await stored_panels(row.id))


async def stored_panels(service_id: int) -> tuple[ReferencePanel, ...]:
    """Every panel of a service, active ones first, then by key."""
    rows = await ReferencePanel.filter(service_id=service_id).order_by("-is_active", "key")
    return tuple(rows)


async def sync_reference_panels(deps: Deps, service_id: int, actor: Actor) -> PanelSyncResult:
    """Discover the service now and store what it offers; NotFound (field `serviceId`) if unknown."""
    service = await get_service(service_id, field="serviceId")
    found = await discover(deps.http, probe_target(service, deps.cipher), deps.limits)
    if found.capabilities is None:
        reason = found.result.message or f"the service is {found.result.status.value}"
        message = f"capabilities could not be read ({reason}); the stored panels were kept"
        changes = PanelChanges(panels=await stored_panels(service.id))
        return PanelSyncResult(service, found.result, is_synced=False, message=message, changes=changes)
    changes = await store_capabilities(service, found.capabilities, actor)
    offered = len(found.capabilities.panels)
    message = (
        f"{offered} panel(s) offered: {changes.added} added, {changes.updated} updated, "
        f"{changes.reactivated} reactivated, {changes.deactivated} deactivated, {changes.unchanged} unchanged"
    )
    return PanelSyncResult(service, found.result, is_synced=True, message=message, changes=changes)
