"""The live probe loop: one watch task per service, owned and shut down by `ProbeSupervisor`.

Per service, each round is: breaker allows? -> probe (bounded by a semaphore and a timeout) ->
breaker.record -> hysteresis -> schedule the next check -> await on_result(Observation) -> sleep.

Decisions a caller should know:

- A probe never stops the loop. A hang becomes a TIMEOUT result (UNHEALTHY) after
  `target.timeout_seconds + timeout_margin_seconds`; an exception becomes an INTERNAL result with
  status UNKNOWN (our bug, not the service's: hysteresis ignores it, the breaker counts it).
  A probe must honour cancellation; that is how timeouts and shutdown stop it.
- When the breaker refuses, nothing is probed and nothing is recorded: no Observation, no
  check counted (`skipped_total` counts it), and the watch sleeps until the breaker's retry time.
  A refusal carries no news about the service, so storing it would only pad the history.
- on_result runs in its own task, shielded from the watch: cancelling a watch (upsert, remove,
  shutdown) never interrupts a recording half-way. Recordings of one service are delivered one
  at a time, in the order their checks finished. on_result must bound its own I/O; an exception
  from it is logged and the watch carries on.
- A watch whose body crashes is restarted after a short backoff, logged, and counted in
  `restarts`; its breaker and hysteresis state survive the restart.
- Shutdown (leaving the context): stop starting probes, give in-flight checks
  `shutdown_grace_seconds` (real time) to finish, cancel the rest, then give recordings in
  progress `recording_grace_seconds` to complete.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from typing import Self

from probes.attempt import Probe, attempt, cancel_all
from probes.backoff import Backoff
from probes.breaker import BreakerSettings
from probes.clock import Clock, SystemClock
from probes.hysteresis import HysteresisSettings
from probes.observation import Observation
from probes.result import ProbeResult, ProbeTarget
from probes.schedule import Schedule, ScheduleSettings
from probes.watch import Watch, WatchSpec

__all__ = [
    "Probe",
    "ProbeSupervisor",
    "RecordingFailed",
    "ResultSink",
    "SupervisorClosed",
    "SupervisorSettings",
    "SupervisorStats",
    "UnknownService",
    "WatchSpec",
]

log = logging.getLogger(__name__)

ResultSink = Callable[[Observation], Awaitable[None]]


class SupervisorClosed(RuntimeError):
    """The supervisor is not running (not entered yet, or shutting down)."""


class UnknownService(LookupError):
    """`check_now` got a service id that is not watched; pass a WatchSpec to check it anyway."""


class RecordingFailed(RuntimeError):
    """A manual check ran, but on_result raised; the cause is chained as `__cause__`."""


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """Loop-wide settings; per-service knobs live in WatchSpec."""

    max_in_flight: int = 100
    timeout_margin_seconds: float = 2.0
    shutdown_grace_seconds: float = 10.0
    recording_grace_seconds: float = 30.0
    breaker: BreakerSettings = dataclasses.field(default_factory=BreakerSettings)
    hysteresis: HysteresisSettings = dataclasses.field(default_factory=HysteresisSettings)
    schedule: ScheduleSettings = dataclasses.field(default_factory=ScheduleSettings)
    restart_backoff: Backoff = dataclasses.field(
        default_factory=lambda: Backoff(base_seconds=1.0, multiplier=2.0, cap_seconds=60.0, jitter=0.2)
    )

    def __post_init__(self) -> None:
        if self.max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if min(self.timeout_margin_seconds, self.shutdown_grace_seconds, self.recording_grace_seconds) < 0:
            raise ValueError("margins and grace periods must be >= 0")


@dataclasses.dataclass(frozen=True, slots=True)
class SupervisorStats:
    """A point-in-time view for metrics. `lag_seconds` is the worst lateness, over all watches,
    of their latest probe start behind its scheduled time (semaphore waits, a busy loop)."""

    watched: int
    in_flight: int
    checks_total: int
    skipped_total: int
    restarts: int
    lag_seconds: float


class ProbeSupervisor:
    """Owns every probe task; leaving the context stops them all and waits for them.

    `probe` checks one target and returns a ProbeResult (failures are values). `on_result` gets
    every Observation, from the loop and from `check_now` alike. `watches` start on entry.
    """

    def __init__(
        self,
        probe: Probe,
        on_result: ResultSink,
        *,
        watches: Iterable[WatchSpec] = (),
        settings: SupervisorSettings | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._probe = probe
        self._on_result = on_result
        self._settings = settings or SupervisorSettings()
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._schedule = Schedule(self._settings.schedule, self._rng)
        self._semaphore = asyncio.Semaphore(self._settings.max_in_flight)
        self._watches: dict[int, Watch] = {spec.service_id: self._new_watch(spec) for spec in watches}
        self._recordings: set[asyncio.Task[Exception | None]] = set()
        self._is_running = self._is_closing = self._is_closed = False
        self._shut_down = asyncio.Event()
        self._in_flight = self._checks_total = self._skipped_total = self._restarts = 0

    async def __aenter__(self) -> Self:
        if self._is_running or self._is_closing:
            raise RuntimeError("a ProbeSupervisor is entered once")
        self._is_running = True
        for watch in self._watches.values():
            self._start(watch, self._schedule.initial_delay(watch.interval_seconds))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def restarts(self) -> int:
        return self._restarts

    @property
    def stats(self) -> SupervisorStats:
        return SupervisorStats(
            watched=len(self._watches),
            in_flight=self._in_flight,
            checks_total=self._checks_total,
            skipped_total=self._skipped_total,
            restarts=self._restarts,
            lag_seconds=max((w.lag_seconds for w in self._watches.values()), default=0.0),
        )

    def watched(self) -> frozenset[int]:
        """The service ids currently watched."""
        return frozenset(self._watches)

    async def upsert(self, spec: WatchSpec) -> None:
        """Watch a service, or restart its watch with a new spec.

        The breaker and hysteresis state carry over while the endpoint (base URL and API type)
        stays the same: their history is about that server. A new endpoint starts from the
        spec's snapshots instead. A restarted watch keeps its next due time (capped by the new
        interval); the probe it may have had in flight is cancelled and not recorded.
        """
        self._ensure_open()
        service_id = spec.service_id
        old = self._watches.get(service_id)
        if old is not None and old.spec == spec:
            return
        interval = self._schedule.interval(spec.interval_seconds)
        if old is not None and old.spec.is_same_endpoint(spec):
            new = old.carried_to(spec, interval)
        else:
            new = self._new_watch(spec)
        self._watches[service_id] = new
        if old is not None:
            await _stop(old)
        if self._watches.get(service_id) is not new or not self._is_running or self._is_closing:
            return  # superseded while we waited, or not started yet: whoever owns it starts it
        if old is not None and new.breaker is old.breaker:
            delay = min(max(0.0, old.next_due - self._clock.now()), new.interval_seconds)
        else:
            delay = self._schedule.initial_delay(new.interval_seconds)
        self._start(new, delay)

    async def remove(self, service_id: int) -> bool:
        """Stop watching a service; False when it was not watched. A recording in progress completes."""
        watch = self._watches.pop(service_id, None)
        if watch is None:
            return False
        await _stop(watch)
        return True

    async def check_now(self, subject: int | WatchSpec) -> Observation:
        """Probe one service now, bypassing the breaker but recording the outcome in it.

        A watched service is checked with its own state and the Observation goes through
        on_result like any other. A WatchSpec for an unwatched service is checked from the
        spec's snapshots, which are not kept. Raises UnknownService, SupervisorClosed, or
        RecordingFailed when on_result raised.
        """
        self._ensure_open()
        if not self._is_running:
            raise SupervisorClosed("the probe supervisor has not started")
        if isinstance(subject, WatchSpec):
            watch = self._watches.get(subject.service_id) or self._new_watch(subject)
            target = subject.target
        else:
            found = self._watches.get(subject)
            if found is None:
                raise UnknownService(f"service {subject} is not watched")
            watch, target = found, found.spec.target
        due_before = watch.next_due
        checked = await self._run_check(watch, target, due=None)
        if watch.next_due != due_before and self._watches.get(watch.spec.service_id) is watch:
            await self._wake(watch)
        if checked is None:  # only loop checks give up on closing; kept for the type checker
            raise SupervisorClosed("the probe supervisor is shutting down")
        observation, failure = checked
        if failure is not None:
            raise RecordingFailed(f"recording the check of service {target.service_id} failed") from failure
        return observation

    async def aclose(self) -> None:
        """Shut down as described in the module docstring; a second call waits for the first."""
        if self._is_closing:
            await self._shut_down.wait()
            return
        self._is_closing = True
        try:
            await self._drain()
        finally:
            self._shut_down.set()

    async def _drain(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        for watch in self._watches.values():
            if watch.task is not None:
                tasks.append(watch.task)
                if not watch.is_busy:  # asleep or queued for a slot: nothing in flight to wait for
                    watch.task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._settings.shutdown_grace_seconds)
            if pending:
                log.warning("shutdown grace over: cancelling %d probe(s) still in flight", len(pending))
            await cancel_all(pending)
            await asyncio.gather(*tasks, return_exceptions=True)
        self._is_closed = True
        if self._recordings:
            _, late = await asyncio.wait(self._recordings, timeout=self._settings.recording_grace_seconds)
            if late:
                log.error("cancelling %d recording(s) still running after the grace period", len(late))
            await cancel_all(late)

    def _ensure_open(self) -> None:
        if self._is_closing:
            raise SupervisorClosed("the probe supervisor is shutting down")

    def _new_watch(self, spec: WatchSpec) -> Watch:
        return Watch.from_spec(
            spec,
            breaker_settings=self._settings.breaker,
            hysteresis_settings=self._settings.hysteresis,
            interval_seconds=self._schedule.interval(spec.interval_seconds),
            now=self._clock.now(),
            wall_now=self._clock.utcnow(),
            rng=self._rng,
        )

    def _start(self, watch: Watch, delay: float) -> None:
        retry_at = watch.breaker.retry_at()
        if retry_at is not None:
            delay = max(delay, retry_at - self._clock.now())
        self._set_next(watch, delay)
        name = f"probe-watch-{watch.spec.service_id}"
        watch.task = asyncio.create_task(self._supervise(watch, delay), name=name)

    async def _wake(self, watch: Watch) -> None:
        """Restart an idle watch so it keeps its (re-planned) `next_due` instead of an older wait."""
        if watch.is_busy or not self._is_running or self._is_closing:
            return
        await _stop(watch)
        if self._watches.get(watch.spec.service_id) is watch and not self._is_closing:
            self._start(watch, max(0.0, watch.next_due - self._clock.now()))

    def _set_next(self, watch: Watch, delay: float) -> float:
        watch.next_due = self._clock.now() + delay
        watch.next_check_at = self._clock.utcnow() + dt.timedelta(seconds=delay)
        return delay

    async def _supervise(self, watch: Watch, delay: float) -> None:
        """Run the watch; if its body ever raises, log, count, and run it again after a backoff."""
        while True:
            try:
                await self._watch(watch, delay)
                return
            except Exception:
                self._restarts += 1
                delay = self._set_next(watch, self._settings.restart_backoff.delay(watch.crashes, self._rng))
                watch.crashes += 1
                log.exception(
                    "watch of service %s crashed; restarting in %.1f s",
                    watch.spec.service_id,
                    delay,
                    extra={"service_id": watch.spec.service_id},
                )

    async def _watch(self, watch: Watch, delay: float) -> None:
        while True:
            await self._clock.sleep(delay)
            if self._is_closing:
                return
            if not watch.breaker.allows(self._clock.now()):
                self._skipped_total += 1
                delay = self._plan(watch)
                continue
            try:
                checked = await self._run_check(watch, watch.spec.target, due=watch.next_due)
            except BaseException:
                watch.breaker.release()  # a trial permit taken above must not leak
                raise
            if checked is None or self._is_closing:
                return
            watch.crashes = 0
            delay = watch.next_due - self._clock.now()

    def _plan(self, watch: Watch) -> float:
        now = self._clock.now()
        return self._set_next(
            watch,
            self._schedule.next_delay(watch.interval_seconds, now=now, retry_at=watch.breaker.retry_at()),
        )

    async def _run_check(
        self, watch: Watch, target: ProbeTarget, *, due: float | None
    ) -> tuple[Observation, Exception | None] | None:
        """Probe, apply and deliver one check; None when a loop check gave way to shutdown."""
        is_manual = due is None
        try:
            async with self._semaphore:
                if self._is_closing and not is_manual:
                    return None
                if due is not None:
                    watch.is_busy = True
                    watch.lag_seconds = max(0.0, self._clock.now() - due)
                self._in_flight += 1
                try:
                    limit = target.timeout_seconds + self._settings.timeout_margin_seconds
                    result = await attempt(self._probe, target, clock=self._clock, limit_seconds=limit)
                finally:
                    self._in_flight -= 1
            observation = self._observe(watch, target, result, is_manual=is_manual)
            return observation, await self._deliver(watch, observation)
        finally:
            if not is_manual:
                watch.is_busy = False

    def _observe(self, watch: Watch, target: ProbeTarget, result: ProbeResult, *, is_manual: bool) -> Observation:
        """Apply one result to the watch's state; synchronous, so concurrent checks never interleave here."""
        self._checks_total += 1
        now, wall_now = self._clock.now(), self._clock.utcnow()
        was_open = watch.breaker.retry_at() is not None
        watch.breaker.record(result.is_success, now)
        transition = watch.tracker.observe(
            result.status, in_maintenance_window=watch.spec.is_in_maintenance_window(wall_now)
        )
        is_watched = self._watches.get(watch.spec.service_id) is watch
        retry_at = watch.breaker.retry_at()
        if not is_manual or (is_watched and was_open and retry_at is None and not watch.is_busy):
            self._plan(watch)  # a manual success closed the circuit: check_now wakes the watch
        next_check_at = watch.next_check_at if is_watched else None
        if next_check_at is not None and retry_at is not None and retry_at > watch.next_due:
            # a manual failure opened the circuit: the loop's next wake will wait for it
            next_check_at = wall_now + dt.timedelta(seconds=retry_at - now)
        return Observation(
            target=target,
            result=result,
            status=transition.status,
            previous_status=transition.previous,
            status_changed=transition.changed,
            breaker=watch.breaker.snapshot(now, wall_now),
            hysteresis=watch.tracker.snapshot(),
            next_check_at=next_check_at,
            is_manual=is_manual,
        )

    async def _deliver(self, watch: Watch, observation: Observation) -> Exception | None:
        if self._is_closed:
            raise SupervisorClosed("the probe supervisor closed before this check could be recorded")
        task = asyncio.create_task(self._record(watch.lock, observation), name=f"probe-record-{watch.spec.service_id}")
        self._recordings.add(task)
        task.add_done_callback(self._recordings.discard)
        return await asyncio.shield(task)

    async def _record(self, lock: asyncio.Lock, observation: Observation) -> Exception | None:
        async with lock:
            try:
                await self._on_result(observation)
            except Exception as exc:
                log.exception(
                    "on_result failed for service %s",
                    observation.service_id,
                    extra={"service_id": observation.service_id},
                )
                return exc
        return None


async def _stop(watch: Watch) -> None:
    if watch.task is not None:
        await cancel_all((watch.task,))
