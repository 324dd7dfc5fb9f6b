"""Keeps the probe loop in step with the registry: one watch per active service it owns.

Registry mutations call `sync_watch`/`unwatch` right after they commit. The change applies in
this process when its loop owns the service (`resolvers/ownership.py`), and a `RegistryChanged`
message tells every other replica, so that the owner applies it whichever replica took the
mutation. The persisted breaker and hysteresis snapshots seed each new watch, so a restarted
process, or a replica taking a service over, resumes the state the previous owner left.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from events.broker import Broker, BrokerClosed
from events.messages import RegistryChanged
from models import MaintenanceWindow, Service
from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.result import ProbeTarget
from probes.supervisor import ProbeSupervisor, WatchSpec
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


@dataclasses.dataclass(frozen=True, slots=True)
class InAnyWindow:
    """The maintenance predicate of a watch. A value, not a closure, so that two specs built
    from the same row compare equal (ownership compares them to spot registry changes)."""

    windows: tuple[Window, ...]

    def __call__(self, now: dt.datetime) -> bool:
        return any(start <= now < end for start, end in self.windows)


def in_any_window(windows: tuple[Window, ...]) -> InAnyWindow:
    return InAnyWindow(windows)


async def maintenance_windows(service_id: int, now: dt.datetime | None = None) -> tuple[Window, ...]:
    """Windows that have not ended yet: the loop only needs those."""
    return (await windows_by_service([service_id], now)).get(service_id, ())


async def windows_by_service(
    service_ids: Iterable[int], now: dt.datetime | None = None
) -> dict[int, tuple[Window, ...]]:
    """`maintenance_windows` for many services in one query."""
    now = now or dt.datetime.now(dt.UTC)
    found: defaultdict[int, list[Window]] = defaultdict(list)
    rows = await MaintenanceWindow.filter(service_id__in=list(service_ids), ends_at__gt=now).order_by("starts_at")
    for row in rows:
        found[row.service_id].append((row.starts_at, row.ends_at))  # type: ignore[attr-defined]
    return {service_id: tuple(windows) for service_id, windows in found.items()}


def _snapshot(loader: Callable[[dict], object], data: object, what: str, service_id: int) -> object | None:
    if not isinstance(data, dict):
        return None
    try:
        return loader(data)
    except ValueError:
        log.warning("ignoring an unreadable stored %s snapshot", what, extra={"service_id": service_id})
        return None


def build_spec(row: Service, windows: tuple[Window, ...], cipher: CredentialCipher) -> WatchSpec:
    return WatchSpec(
        target=probe_target(row, cipher),
        interval_seconds=row.check_interval_seconds,
        breaker=_snapshot(BreakerSnapshot.from_dict, row.breaker_snapshot, "breaker", row.id),  # type: ignore[arg-type]
        hysteresis=_snapshot(HysteresisSnapshot.from_dict, row.hysteresis_snapshot, "hysteresis", row.id),  # type: ignore[arg-type]
        in_maintenance_window=in_any_window(windows),
    )


async def watch_spec(row: Service, cipher: CredentialCipher) -> WatchSpec:
    return build_spec(row, await maintenance_windows(row.id), cipher)


async def watch_specs(rows: Sequence[Service], cipher: CredentialCipher) -> list[WatchSpec]:
    """`watch_spec` for many rows, with one query for all their maintenance windows."""
    windows = await windows_by_service(row.id for row in rows)
    return [build_spec(row, windows.get(row.id, ()), cipher) for row in rows]


async def apply_row(supervisor: ProbeSupervisor, row: Service, cipher: CredentialCipher) -> None:
    """Watch the row's service if it is active, else stop watching it."""
    if row.is_active:
        await supervisor.upsert(await watch_spec(row, cipher))
    else:
        await supervisor.remove(row.id)


async def sync_watch(deps: Deps, row: Service) -> None:
    """Apply a committed change of `row` to the loop that owns it, here or on another replica."""
    if deps.ownership is not None:
        await deps.ownership.apply(row)
    elif deps.supervisor is not None:  # a loop without ownership (tests): it owns everything
        await apply_row(deps.supervisor, row, deps.cipher)
    await announce(deps.broker, row.id)


async def unwatch(deps: Deps, service_id: int) -> None:
    """Stop watching a service that is being deleted, on whichever replica owns it."""
    if deps.ownership is not None:
        await deps.ownership.forget(service_id)
    elif deps.supervisor is not None:
        await deps.supervisor.remove(service_id)
    await announce(deps.broker, service_id, deleted=True)


async def announce(broker: Broker, service_id: int, *, deleted: bool = False, reseed: bool = False) -> None:
    """Publish a RegistryChanged. The change is committed already, so a closed broker (shutdown)
    is logged rather than raised: the owner's next reconciliation picks the change up anyway."""
    message = RegistryChanged(
        seq=time.time_ns(), origin=broker.replica_id, service_id=service_id, deleted=deleted, reseed=reseed
    )
    try:
        await broker.publish(message)
    except BrokerClosed:
        log.warning("registry change of service %s not announced: the broker is closed", service_id)
