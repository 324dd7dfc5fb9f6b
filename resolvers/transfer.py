"""Export and import of the registry as one JSON document.

The document holds configuration only: credentials are never exported (the document says so,
and `hasCredential` tells which services need one again). Import is idempotent: services are
matched by name, unchanged ones are left alone, so importing the same document twice creates
nothing new. It is all or nothing: every entry is validated before anything is written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

from tortoise.transactions import in_transaction

from models import Service, ServiceDependency
from probes.result import ApiType, ServiceType
from resolvers import validation
from resolvers.audit import Actor, record_audit
from resolvers.dependencies import dependency_path
from resolvers.deps import Deps
from resolvers.errors import BadUserInput, Conflict
from resolvers.monitoring import sync_watch
from resolvers.registration import snapshot
from resolvers.text import UNSTORABLE_RULE, unstorable

FORMAT = "vigil.services/v1"
CREDENTIAL_NOTE = "Credentials are never exported; set them again with updateService(credential: ...)."


@dataclasses.dataclass(frozen=True, slots=True)
class ImportOutcome:
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    dependencies_set: int


async def export_document() -> str:
    services = await Service.all().order_by("name")
    names = {row.id: row.name for row in services}
    dependencies = await ServiceDependency.all()
    needs: dict[int, list[dict[str, Any]]] = {}
    for dep in dependencies:
        needs.setdefault(dep.service_id, []).append(  # type: ignore[attr-defined]
            {"name": names[dep.depends_on_id], "required": dep.required}  # type: ignore[attr-defined]
        )
    entries = []
    for row in services:
        entry = snapshot(row)
        entry["dependsOn"] = sorted(needs.get(row.id, []), key=lambda d: d["name"])
        entries.append(entry)
    document = {
        "format": FORMAT,
        "exportedAt": dt.datetime.now(dt.UTC).isoformat(),
        "note": CREDENTIAL_NOTE,
        "services": entries,
    }
    return json.dumps(document, indent=2, sort_keys=False)


def _entry_error(index: int, key: str, message: str) -> BadUserInput:
    return BadUserInput(f"services[{index}].{key}: {message}", field=f"document.services[{index}].{key}")


def _parse_entry(deps: Deps, index: int, raw: object) -> dict[str, Any]:
    settings = deps.settings
    if not isinstance(raw, dict):
        raise _entry_error(index, "*", "must be an object")

    def pick(key: str, kind: type | tuple[type, ...], default: object = None) -> Any:
        value = raw.get(key, default)
        if value is None and default is None:
            raise _entry_error(index, key, "is required")
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float, (int, float))):
            raise _entry_error(index, key, "has the wrong type")
        return value

    try:
        entry = {
            "name": validation.clean_name(pick("name", str)),
            "type": ServiceType(pick("type", str)),
            "apiType": ApiType(pick("apiType", str)),
            "baseUrl": validation.clean_base_url(pick("baseUrl", str)),
            "description": validation.clean_text(
                pick("description", str, ""), validation.MAX_DESCRIPTION, "description"
            ),
            "location": validation.clean_text(pick("location", str, ""), validation.MAX_LOCATION, "location"),
            "isActive": pick("isActive", bool, True),
            "verifyTls": pick("verifyTls", bool, True),
        }
        sla_target, cost = raw.get("slaTarget"), raw.get("costPerJob")
        entry["slaTarget"] = (
            None if sla_target is None else validation.check_sla_target(_number(index, "slaTarget", sla_target))
        )
        entry["costPerJob"] = None if cost is None else validation.check_cost(_number(index, "costPerJob", cost))
        interval = pick("checkIntervalSeconds", int, settings.default_check_interval_seconds)
        entry["checkIntervalSeconds"] = validation.check_interval(
            interval, settings.min_check_interval_seconds, settings.max_check_interval_seconds
        )
        timeout = pick("timeoutSeconds", (int, float), min(settings.default_timeout_seconds, interval))
        entry["timeoutSeconds"] = float(
            validation.check_timeout(_number(index, "timeoutSeconds", timeout), settings.max_timeout_seconds, interval)
        )
    except ValueError as exc:  # an unknown enum value
        raise _entry_error(index, "type", str(exc)) from exc
    except BadUserInput as exc:
        if exc.field and exc.field.startswith("document."):  # named by pick() or _number() already
            raise
        raise _entry_error(index, exc.field or "*", exc.message) from exc
    depends = raw.get("dependsOn", [])
    if not isinstance(depends, list) or not all(
        isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("required", True), bool)
        for d in depends
    ):
        raise _entry_error(index, "dependsOn", "must be a list of {name, required}")
    entry["dependsOn"] = [(d["name"], d.get("required", True)) for d in depends]
    return entry


def _number(index: int, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _entry_error(index, key, "has the wrong type")
    try:
        return float(value)
    except OverflowError as exc:  # JSON integers have no bound; a float does
        raise _entry_error(index, key, "is out of range") from exc


def parse_document(deps: Deps, document: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(document)
    except (ValueError, RecursionError) as exc:
        raise BadUserInput(f"document is not JSON: {exc}", field="document") from exc
    where = unstorable(data)
    if where is not None:  # `\u0000` and lone `\ud800` escapes: no database stores them
        raise BadUserInput(f"document{where}: {UNSTORABLE_RULE}", field="document")
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("services"), list):
        raise BadUserInput(f"document must be an object with format '{FORMAT}' and a 'services' list", field="document")
    entries = [_parse_entry(deps, i, raw) for i, raw in enumerate(data["services"])]
    names = [e["name"] for e in entries]
    urls = [e["baseUrl"] for e in entries]
    for index, entry in enumerate(entries):
        if names.count(entry["name"]) > 1:
            raise _entry_error(index, "name", f"'{entry['name']}' appears twice in the document")
        if urls.count(entry["baseUrl"]) > 1:
            raise _entry_error(index, "baseUrl", f"{entry['baseUrl']} appears twice in the document")
    known = set(names)
    for index, entry in enumerate(entries):
        for name, _ in entry["dependsOn"]:
            if name not in known:
                raise _entry_error(index, "dependsOn", f"'{name}' is not in the document")
    return entries


async def import_document(deps: Deps, document: str, actor: Actor) -> ImportOutcome:
    entries = parse_document(deps, document)
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    touched: list[Service] = []
    dependencies_set = 0
    async with in_transaction():
        rows: dict[str, Service] = {}
        for index, entry in enumerate(entries):
            row = await Service.get_or_none(name=entry["name"])
            clash = Service.filter(base_url=entry["baseUrl"])
            if row is not None:
                clash = clash.exclude(id=row.id)
            if await clash.exists():
                raise _entry_error(index, "baseUrl", f"another service is registered at {entry['baseUrl']}")
            config = {
                "type": entry["type"],
                "api_type": entry["apiType"],
                "base_url": entry["baseUrl"],
                "description": entry["description"],
                "location": entry["location"],
                "check_interval_seconds": entry["checkIntervalSeconds"],
                "timeout_seconds": entry["timeoutSeconds"],
                "is_active": entry["isActive"],
                "verify_tls": entry["verifyTls"],
                "sla_target": entry["slaTarget"],
                "cost_per_job": entry["costPerJob"],
            }
            if row is None:
                row = await Service.create(name=entry["name"], **config)
                created.append(row.name)
                touched.append(row)
                await record_audit(actor, "service.import", "service", row.id, after=snapshot(row))
            elif any(getattr(row, key) != value for key, value in config.items()):
                before = snapshot(row)
                for key, value in config.items():
                    setattr(row, key, value)
                await row.save()
                updated.append(row.name)
                touched.append(row)
                await record_audit(actor, "service.import", "service", row.id, before=before, after=snapshot(row))
            else:
                unchanged.append(row.name)
            rows[row.name] = row
        for entry in entries:
            for name, required in entry["dependsOn"]:
                dep, made = await ServiceDependency.get_or_create(
                    service=rows[entry["name"]], depends_on=rows[name], defaults={"required": required}
                )
                if made:
                    dependencies_set += 1
                elif dep.required != required:
                    dep.required = required
                    await dep.save(update_fields=["required"])
                    dependencies_set += 1
        for index, entry in enumerate(entries):  # all or nothing: a cycle undoes the whole import
            for name, _ in entry["dependsOn"]:
                cycle = await dependency_path(rows[name].id, rows[entry["name"]].id)
                if cycle is not None:
                    names = {row.id: row_name for row_name, row in rows.items()}
                    loop = " -> ".join(str(names.get(i, i)) for i in [rows[entry["name"]].id, *cycle])
                    raise Conflict(
                        f"services[{index}].dependsOn: this dependency would close a cycle: {loop}",
                        field=f"document.services[{index}].dependsOn",
                    )
    for row in touched:
        await sync_watch(deps, row)
    return ImportOutcome(created=created, updated=updated, unchanged=unchanged, dependencies_set=dependencies_set)
