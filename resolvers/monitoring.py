"""Keeps the probe loop in step with the registry: one watch per active service.

Registry mutations call `sync_watch`/`unwatch` right after they commit, so a change takes
effect without a restart. The persisted breaker and hysteresis snapshots seed each watch, so
a restarted process resumes the state the previous one left.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from models import MaintenanceWindow, Service
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.result import ProbeTarget
from probes.supervisor import WatchSpec
from resolvers.credentials import CredentialCipher
from resolvers.deps import Deps

log = logging.getLogger(__name__)

Window = tuple[dt.datetime, dt.datetime]


def probe_target(row: Service, cipher: CredentialCipher) -> ProbeTarget:
    credential = cipher.decrypt(row.credential_encrypted) if row.credential_encrypted else None
    return ProbeTarget(
        base_url=row.base_url,
        api_type=row.api_type,
        credential=credential,
        timeout_seconds=row.timeout_seconds,
        verify_tls=row.verify_tls,
        service_id=row.id,
    )


def in_any_window(windows: tuple[Window, ...]) -> Callable[[dt.datetime], bool]:
    def inside(now: dt.datetime) -> bool:
        return any(start <= now < end for start, end in windows)

    return inside


async def maintenance_windows(service_id: int, now: dt.datetime | None = None) -> tuple[Window, ...]:
    """Windows that have not ended yet: the loop only needs those."""
    now = now or dt.datetime.now(dt.UTC)
    rows = await MaintenanceWindow.filter(service_id=service_id, ends_at__gt=now).order_by("starts_at")
    return tuple((row.starts_at, row.ends_at) for row in rows)


def _snapshot(loader: Callable[[dict], object], data: object, what: str, service_id: int) -> object | None:
    if not isinstance(data, dict):
        return None
    try:
        return loader(data)
    except ValueError:
        log.warning("ignoring an unreadable stored %s snapshot", what, extra={"service_id": service_id})
        return None


async def watch_spec(row: Service, cipher: CredentialCipher) -> WatchSpec:
    windows = await maintenance_windows(row.id)
    return WatchSpec(
        target=probe_target(row, cipher),
        interval_seconds=row.check_interval_seconds,
        breaker=_snapshot(BreakerSnapshot.from_dict, row.breaker_snapshot, "breaker", row.id),  # type: ignore[arg-type]
        hysteresis=_snapshot(HysteresisSnapshot.from_dict, row.hysteresis_snapshot, "hysteresis", row.id),  # type: ignore[arg-type]
        in_maintenance_window=in_any_window(windows),
    )


async def sync_watch(deps: Deps, row: Service) -> None:
    if deps.supervisor is None:
        return
    if row.is_active:
        await deps.supervisor.upsert(await watch_spec(row, deps.cipher))
    else:
        await deps.supervisor.remove(row.id)


async def unwatch(deps: Deps, service_id: int) -> None:
    if deps.supervisor is not None:
        await deps.supervisor.remove(service_id)


async def initial_watches(cipher: CredentialCipher) -> list[WatchSpec]:
    return [await watch_spec(row, cipher) for row in await Service.filter(is_active=True)]
