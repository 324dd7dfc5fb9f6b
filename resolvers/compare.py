"""compareServices: services side by side, with panels lined up by a normalised identity.

A panel's identity is its key without the Cloudgene `apps@` prefix and `@version` suffix,
lower-cased, with separators unified and known spellings merged (`1kg` is `1000g`, `phase-3`
is `phase3`), plus its build. So `apps@1000g-phase-3-v5@2.0.0` on a Cloudgene 3 server and
`1000g-phase-3-v5` on a Cloudgene 2 server are one row. Keys are still shown verbatim per service.
"""

from __future__ import annotations

import dataclasses
import re

from config import Settings
from models import HealthCheck, Incident, ReferencePanel, Service
from probes.result import GenomeBuild
from resolvers import availability, impact
from resolvers.errors import BadUserInput, NotFound
from resolvers.panels import capabilities_from_json
from resolvers.rollups import Tally

MAX_COMPARED = 20
UPTIME_WINDOWS = ("LAST_24_HOURS", "LAST_7_DAYS", "LAST_30_DAYS")


def panel_identity(key: str) -> str:
    base = key.strip()
    if base.lower().startswith("apps@"):
        base = base[5:]
    base = base.split("@", 1)[0].lower()
    base = re.sub(r"[\s_]+", "-", base)
    base = re.sub(r"^1kg(?=\b|-|_)", "1000g", base)
    base = re.sub(r"phase-(\d)", r"phase\1", base)
    return re.sub(r"-{2,}", "-", base).strip("-")


@dataclasses.dataclass(frozen=True, slots=True)
class Compared:
    service: Service
    effective: impact.Effective
    panels: list[ReferencePanel]
    uptime: dict[str, float | None]
    latency: Tally
    open_incidents: int
    queue_size: int | None

    @property
    def capabilities(self):  # type: ignore[no-untyped-def]
        return capabilities_from_json(self.service.capabilities)


@dataclasses.dataclass(frozen=True, slots=True)
class PanelLine:
    identity: str
    build: GenomeBuild | None
    label: str
    offers: list[ReferencePanel | None]  # one per compared service, in order


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    services: list[Compared]
    panels: list[PanelLine]
    features: list[tuple[str, list[str | None]]]


def _join(values: object) -> str | None:
    items = [str(v) for v in values] if isinstance(values, list | tuple) else []  # type: ignore[union-attr]
    return ", ".join(items) if items else None


def _populations(panels: list[ReferencePanel]) -> list[str]:
    found = set()
    for panel in panels:
        for item in panel.populations or []:
            if isinstance(item, dict) and item.get("key") and str(item["key"]).lower() != "off":
                found.add(str(item["key"]).lower())
    return sorted(found)


async def compare(ids: list[int], settings: Settings) -> Comparison:
    ordered = list(dict.fromkeys(ids))
    if not ordered:
        raise BadUserInput("give at least one service id", field="ids")
    if len(ordered) > MAX_COMPARED:
        raise BadUserInput(f"at most {MAX_COMPARED} services can be compared", field="ids")
    rows = {row.id: row for row in await Service.filter(id__in=ordered)}
    missing = [i for i in ordered if i not in rows]
    if missing:
        raise NotFound(f"no service with id {missing[0]}", field="ids")
    services = [rows[i] for i in ordered]
    effective = await impact.effective_statuses(services)
    panels: dict[int, list[ReferencePanel]] = {i: [] for i in ordered}
    for panel in await ReferencePanel.filter(service_id__in=ordered, is_active=True).order_by("key"):
        panels[panel.service_id].append(panel)  # type: ignore[attr-defined]
    open_counts: dict[int, int] = {}
    for sid in await Incident.filter(service_id__in=ordered, ended_at__isnull=True).values_list(
        "service_id", flat=True
    ):
        open_counts[sid] = open_counts.get(sid, 0) + 1
    compared = []
    for service in services:
        uptime = {}
        latency = Tally()
        for window in UPTIME_WINDOWS:
            start, end = availability.window_bounds(window)
            tally = await availability.service_tally(service.id, start, end, settings, now=end)
            uptime[window] = availability.UptimePolicy.from_settings(settings).uptime(tally.counts)
            if window == "LAST_24_HOURS":
                latency = tally
        last_queue = (
            await HealthCheck.filter(service_id=service.id, queue_size__isnull=False)
            .order_by("-checked_at")
            .first()
            .values_list("queue_size", flat=True)
        )
        compared.append(
            Compared(
                service=service,
                effective=effective[service.id],
                panels=panels[service.id],
                uptime=uptime,
                latency=latency,
                open_incidents=open_counts.get(service.id, 0),
                queue_size=last_queue,  # type: ignore[arg-type]
            )
        )
    return Comparison(services=compared, panels=_line_up(compared), features=_features(compared))


def _line_up(compared: list[Compared]) -> list[PanelLine]:
    lines: dict[tuple[str, GenomeBuild | None], PanelLine] = {}
    for column, item in enumerate(compared):
        for panel in item.panels:
            key = (panel_identity(panel.key), panel.build)
            line = lines.get(key)
            if line is None:
                line = lines[key] = PanelLine(key[0], panel.build, panel.label, [None] * len(compared))
            if line.offers[column] is None:
                line.offers[column] = panel
    # panels offered by more services first, then by identity
    return sorted(lines.values(), key=lambda ln: (-sum(o is not None for o in ln.offers), ln.identity, ln.build or ""))


def _features(compared: list[Compared]) -> list[tuple[str, list[str | None]]]:
    def row(name: str, values: list[str | None]) -> tuple[str, list[str | None]]:
        return name, values

    caps = [c.capabilities for c in compared]

    def percent(value: float | None) -> str | None:
        return None if value is None else f"{value:.3%}"

    def ms(value: float | None) -> str | None:
        return None if value is None else f"{value:.0f} ms"

    builds = [
        _join(sorted({p.build.value for p in c.panels if p.build} | {b.value for b in (cap.builds if cap else ())}))
        for c, cap in zip(compared, caps, strict=True)
    ]
    return [
        row("Type", [c.service.type.value for c in compared]),
        row("API type", [c.service.api_type.value for c in compared]),
        row("Location", [c.service.location or None for c in compared]),
        row("Status", [c.effective.status.value for c in compared]),
        row("Builds", builds),
        row("Panels", [str(len(c.panels)) for c in compared]),
        row("Populations", [_join(_populations(c.panels)) for c in compared]),
        row("Input formats", [_join(cap.input_formats) if cap else None for cap in caps]),
        row(
            "Engines",
            [_join([f"{e.name} {'/'.join(e.versions)}".strip() for e in cap.engines]) if cap else None for cap in caps],
        ),
        row("Service version", [c.service.service_version for c in compared]),
        row("App version", [cap.app_version if cap else None for cap in caps]),
        row("Uptime 24 h", [percent(c.uptime["LAST_24_HOURS"]) for c in compared]),
        row("Uptime 7 d", [percent(c.uptime["LAST_7_DAYS"]) for c in compared]),
        row("Uptime 30 d", [percent(c.uptime["LAST_30_DAYS"]) for c in compared]),
        row("Latency p50 (24 h)", [ms(c.latency.percentile_ms(0.5)) for c in compared]),
        row("Latency p95 (24 h)", [ms(c.latency.percentile_ms(0.95)) for c in compared]),
        row("Open incidents", [str(c.open_incidents) for c in compared]),
        row("Queue size", [None if c.queue_size is None else str(c.queue_size) for c in compared]),
    ]
