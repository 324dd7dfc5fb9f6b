"""One probe call that always ends in a ProbeResult.

The probe functions are written elsewhere and promise to turn network trouble into results, but
the loop must not trust that promise: a bug may raise, and a server may keep a connection open
forever. `attempt` is the one boundary where those become values (INTERNAL and TIMEOUT results),
so the supervisor never has to catch around a probe. The deadline runs on the injected `Clock`,
which lets tests time out a hanging probe by advancing a ManualClock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from probes.clock import Clock
from probes.result import FailureKind, HealthStatus, ProbeResult, ProbeTarget

log = logging.getLogger(__name__)

Probe = Callable[[ProbeTarget], Awaitable[ProbeResult]]


async def attempt(probe: Probe, target: ProbeTarget, *, clock: Clock, limit_seconds: float) -> ProbeResult:
    """Run `probe(target)` for at most `limit_seconds` of `clock` time.

    Returns the probe's own result; a TIMEOUT result (UNHEALTHY) when the limit passes first; an
    INTERNAL result (UNKNOWN, the exception's class name in the message, traceback logged) when
    the probe raises or returns something that is not a ProbeResult. Only cancellation of the
    caller propagates, after the probe has been cancelled and awaited. A probe that swallows
    cancellation would hold this call open: probes must let CancelledError through.
    """
    checked_at = clock.utcnow()
    probe_task = asyncio.create_task(_call(probe, target, checked_at), name=f"probe-{target.service_id}")
    timer = asyncio.create_task(clock.sleep(limit_seconds), name=f"probe-timer-{target.service_id}")
    try:
        await asyncio.wait((probe_task, timer), return_when=asyncio.FIRST_COMPLETED)
        timed_out = not probe_task.done()
    finally:
        await cancel_all((probe_task, timer))
    if timed_out:
        message = f"no answer within {limit_seconds:g} s"
        return ProbeResult(HealthStatus.UNHEALTHY, checked_at, failure_kind=FailureKind.TIMEOUT, message=message)
    return probe_task.result()


async def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel and wait: a cancelled task is awaited before we move on, so none is left behind."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def _call(probe: Probe, target: ProbeTarget, checked_at: dt.datetime) -> ProbeResult:
    try:
        result = await probe(target)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
        return _internal(checked_at, "CancelledError")  # raised from inside the probe, not by us
    except Exception as exc:
        log.exception("probe of %r raised", target, extra={"service_id": target.service_id})
        return _internal(checked_at, type(exc).__name__)
    if not isinstance(result, ProbeResult):
        log.error("probe of %r returned %s, not a ProbeResult", target, type(result).__name__)
        return _internal(checked_at, f"returned {type(result).__name__}")
    return result


def _internal(checked_at: dt.datetime, what: str) -> ProbeResult:
    return ProbeResult(
        HealthStatus.UNKNOWN,
        checked_at,
        failure_kind=FailureKind.INTERNAL,
        message=f"probe failed internally: {what}",
    )
