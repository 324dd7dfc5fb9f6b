"""checkServiceHealth: probe one service now, bypassing the schedule, and store the result.

A manual check takes the same path as the loop's (STYLE.md §3): the supervisor probes under its
timeout, applies the breaker and hysteresis, and hands the Observation to `recording.record`,
which writes the HealthCheck, updates the service and publishes the events.

- Probe loop running: `check_now` with the service id when it is watched (its live breaker and
  hysteresis state apply and are kept), else with a WatchSpec built from the row (an inactive
  service: state resumed from the stored snapshots).
- Probe loop disabled (`deps.supervisor is None`): a short-lived supervisor with no watches runs
  the same `check_now(spec)`, so the stored snapshots still evolve exactly as the loop would
  evolve them, and nothing is left running afterwards.
- With several replicas, a replica that does not watch the service checks it from its row as
  above, and then tells the replica that does (`RegistryChanged` with `reseed`) to restart its
  watch from the state this check stored (`resolvers/ownership.py` does it for the loop's sink).

The supervisor's `on_result` returns nothing, so with the app's supervisor the stored row is
found again by (service, manual, checked_at), which is unique per check in practice; with the
short-lived one the row `record` returned is kept directly.
"""

from __future__ import annotations

import logging

from models import HealthCheck, Service
from probes.adapter import check
from probes.observation import Observation
from probes.result import ProbeResult, ProbeTarget
from probes.supervisor import ProbeSupervisor, RecordingFailed, SupervisorClosed, UnknownService
from resolvers.audit import Actor
from resolvers.deps import Deps
from resolvers.errors import NotFound, VigilError
from resolvers.monitoring import announce, watch_spec
from resolvers.recording import record
from resolvers.services import get_service

log = logging.getLogger(__name__)


async def check_service_health(deps: Deps, service_id: int, actor: Actor) -> HealthCheck:
    """Check the service now and return the stored HealthCheck (`manual` is True).

    A check changes no configuration, so it is logged with its `actor`, not audited.

    Raises NotFound (field `serviceId`) for an unknown service, or one deleted while it was
    being checked; VigilError (INTERNAL_SERVER_ERROR) when the check ran but could not be
    stored, or the probe loop is shutting down.
    """
    row = await get_service(service_id, field="serviceId")
    log.info("manual health check of service %s by %s", row.id, actor, extra={"service_id": row.id})
    if deps.ownership is not None and deps.ownership.has_waiting_checks(row.id):
        # Checks made while the database was away are still being written; a manual check now
        # would be stored before them (docs/reliability.md §2).
        raise VigilError(f"checks of service {row.id} from a database outage are still being written; try again")
    try:
        if deps.supervisor is None:
            stored = await _check_without_loop(deps, row)
            await announce(deps.broker, row.id, reseed=True)
        else:
            observation = await _check_with_loop(deps, deps.supervisor, row)
            stored = await _stored_check(observation)
    except RecordingFailed as exc:
        raise VigilError(f"the check of service {row.id} ran but could not be stored") from exc
    except SupervisorClosed as exc:
        raise VigilError("the probe loop is shutting down; try again shortly") from exc
    if stored is None:
        raise NotFound(f"service {row.id} was deleted while it was being checked", field="serviceId")
    return stored


async def _check_with_loop(deps: Deps, supervisor: ProbeSupervisor, row: Service) -> Observation:
    if row.id in supervisor.watched():
        try:
            return await supervisor.check_now(row.id)
        except UnknownService:
            pass  # unwatched since we looked (deactivated meanwhile): check it from its row
    return await supervisor.check_now(await watch_spec(row, deps.cipher))


async def _check_without_loop(deps: Deps, row: Service) -> HealthCheck | None:
    stored: list[HealthCheck | None] = []

    async def on_result(observation: Observation) -> None:
        stored.append(await record(deps.broker, observation))

    async def probe(target: ProbeTarget) -> ProbeResult:
        return await check(deps.http, target, deps.limits)

    async with ProbeSupervisor(probe, on_result) as supervisor:
        await supervisor.check_now(await watch_spec(row, deps.cipher))
    return stored[0] if stored else None


async def _stored_check(observation: Observation) -> HealthCheck | None:
    """The row `record` wrote for `observation` (the newest, should two share a timestamp)."""
    return (
        await HealthCheck.filter(
            service_id=observation.service_id, manual=True, checked_at=observation.result.checked_at
        )
        .order_by("-id")
        .first()
    )
