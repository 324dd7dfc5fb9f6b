"""What the probe loop hands to `on_result` after each check.

One value carries everything the recorder needs, so storage never has to ask the loop again:
the raw result, the published status after hysteresis (and whether it moved, which is when a
StatusEvent is written), and the breaker and hysteresis snapshots to persist so a restart
resumes where this process stopped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from probes.breaker import BreakerSnapshot
from probes.hysteresis import HysteresisSnapshot
from probes.result import HealthStatus, ProbeResult, ProbeTarget


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """One check of one service, after the breaker and hysteresis have seen it.

    - `status` is the published status; `result.status` is what this single check observed.
    - `status_changed` is True exactly when `status` differs from `previous_status`.
    - `next_check_at` is when the watch will check again (aware UTC); None for a manual check of
      a service that is not watched.
    - `is_manual` marks checks asked for through `ProbeSupervisor.check_now`.
    - `key` names this one check for good: a write retried after a failure that may have
      committed all the same (a COMMIT lost to a timeout) finds the row it already wrote.
    - `retried` is set on a check that waits to be written again; only for those does the
      recorder look for a row an earlier attempt stored, so first writes cost no lookup.
    """

    target: ProbeTarget
    result: ProbeResult
    status: HealthStatus
    previous_status: HealthStatus
    status_changed: bool
    breaker: BreakerSnapshot
    hysteresis: HysteresisSnapshot
    next_check_at: dt.datetime | None
    is_manual: bool = False
    key: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    retried: bool = False

    def __post_init__(self) -> None:
        if self.target.service_id is None:
            raise ValueError("an observation needs a target with a service_id")

    @property
    def service_id(self) -> int:
        """The observed service (always set: see `__post_init__`)."""
        service_id = self.target.service_id
        if service_id is None:  # unreachable; narrows the type without an assert
            raise ValueError("an observation needs a target with a service_id")
        return service_id
