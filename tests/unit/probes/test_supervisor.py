"""ProbeSupervisor, driven by a ManualClock: time moves only in `advance()`, and each step waits for
the event it expects (an observation, a probe call, a task parked at a known deadline) with a
deadline, never for real time. Only the shutdown grace period is real time, by design."""

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable

import pytest

from probes.backoff import Backoff
from probes.breaker import BreakerSettings, BreakerSnapshot
from probes.clock import ManualClock
from probes.hysteresis import HysteresisSnapshot
from probes.observation import Observation
from probes.result import ApiType, CircuitState, FailureKind, HealthStatus, ProbeResult, ProbeTarget
from probes.schedule import ScheduleSettings
from probes.supervisor import (
    ProbeSupervisor,
    RecordingFailed,
    SupervisorClosed,
    SupervisorSettings,
    UnknownService,
    WatchSpec,
)

T0 = ManualClock().utcnow()
HEALTHY, UNHEALTHY = HealthStatus.HEALTHY, HealthStatus.UNHEALTHY


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def target(service_id: int, *, timeout: float = 5.0, host: str | None = None) -> ProbeTarget:
    return ProbeTarget(
        base_url=f"https://{host or f's{service_id}'}.example",
        api_type=ApiType.CLOUDGENE,
        timeout_seconds=timeout,
        service_id=service_id,
    )


def spec(service_id: int, **kwargs: object) -> WatchSpec:
    return WatchSpec(target=target(service_id), interval_seconds=30, **kwargs)  # type: ignore[arg-type]


def settings(**overrides: object) -> SupervisorSettings:
    values: dict[str, object] = {
        "timeout_margin_seconds": 1.0,
        "shutdown_grace_seconds": 2.0,
        "recording_grace_seconds": 2.0,
        "schedule": ScheduleSettings(max_initial_offset_seconds=0),
        "breaker": BreakerSettings(backoff=Backoff(base_seconds=100, cap_seconds=400, jitter=0)),
        "restart_backoff": Backoff(base_seconds=1, cap_seconds=8, jitter=0),
    }
    values.update(overrides)
    return SupervisorSettings(**values)  # type: ignore[arg-type]


class FakeProbe:
    """A probe with per-service behaviour: a fixed latency on the clock, a status, a hang or a raise."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.latency: dict[int, float] = {}
        self.status: dict[int, HealthStatus] = {}
        self.hanging: set[int] = set()
        self.raising: set[int] = set()
        self.calls: list[tuple[int, float]] = []
        self.cancelled: list[int] = []
        self.in_flight = self.max_in_flight = 0
        self._called = asyncio.Event()

    async def __call__(self, probe_target: ProbeTarget) -> ProbeResult:
        service_id = probe_target.service_id or 0
        started, started_at = self.clock.now(), self.clock.utcnow()
        self.calls.append((service_id, started))
        self._called.set()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if service_id in self.raising:
                raise RuntimeError("probe bug")
            if service_id in self.hanging:
                await asyncio.Event().wait()
            await self.clock.sleep(self.latency.get(service_id, 1.0))
            return ProbeResult(self.status.get(service_id, HEALTHY), started_at, response_time_ms=1.0)
        except asyncio.CancelledError:
            self.cancelled.append(service_id)
            raise
        finally:
            self.in_flight -= 1

    def times(self, service_id: int) -> list[float]:
        return [now for called, now in self.calls if called == service_id]

    async def wait_for_calls(self, count: int) -> None:
        async with asyncio.timeout(2):
            while len(self.calls) < count:
                self._called.clear()
                await self._called.wait()


class Recorder:
    """on_result that keeps every observation; `gate` lets a test hold one service's recording."""

    def __init__(self) -> None:
        self.observations: list[Observation] = []
        self.started: list[int] = []
        self.gates: dict[int, asyncio.Event] = {}
        self.failing: set[int] = set()
        self._arrived = asyncio.Event()

    async def __call__(self, observation: Observation) -> None:
        self.started.append(observation.service_id)
        self._arrived.set()
        gate = self.gates.get(observation.service_id)
        if gate is not None:
            await gate.wait()
        if observation.service_id in self.failing:
            raise ConnectionError("database unavailable")
        self.observations.append(observation)
        self._arrived.set()

    def of(self, service_id: int) -> list[Observation]:
        return [o for o in self.observations if o.service_id == service_id]

    async def wait_until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(2):
            while not condition():
                self._arrived.clear()
                await self._arrived.wait()

    async def wait_for(self, service_id: int, count: int = 1) -> list[Observation]:
        await self.wait_until(lambda: len(self.of(service_id)) >= count)
        return self.of(service_id)


async def parked(clock: ManualClock, deadline: float, count: int = 1) -> None:
    """Wait until `count` tasks sleep until `deadline`: whatever the last advance set off has settled."""
    async with asyncio.timeout(2):
        await clock.wait_for_sleepers(count, deadline=deadline)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def probe(clock: ManualClock) -> FakeProbe:
    return FakeProbe(clock)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def supervisor(
    probe: FakeProbe, recorder: Recorder, clock: ManualClock, *specs: WatchSpec, **overrides: object
) -> ProbeSupervisor:
    return ProbeSupervisor(probe, recorder, watches=specs, settings=settings(**overrides), clock=clock)


async def test_a_hanging_and_a_raising_probe_do_not_keep_other_services_from_their_schedule(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    probe.latency.update({1: 1, 2: 2})
    probe.hanging.add(3)
    probe.raising.add(4)
    async with supervisor(probe, recorder, clock, spec(1), spec(2), spec(3), spec(4)) as running:
        await recorder.wait_for(4)
        await parked(clock, 30)
        await parked(clock, 6, count=3)  # the three probes' timeouts
        clock.advance(1)
        await parked(clock, 31)
        clock.advance(1)
        await parked(clock, 32)
        clock.advance(4)  # t=6: the hanging probe hits its timeout (5 s + 1 s margin)
        await parked(clock, 36)
        clock.advance(24)  # t=30: service 4 raises again
        await parked(clock, 60)
        clock.advance(1)
        await parked(clock, 32, count=2)  # service 1's probe latency, service 2's watch
        clock.advance(1)
        await parked(clock, 62)
        await parked(clock, 34)
        clock.advance(2)
        await parked(clock, 64)
        clock.advance(2)
        await parked(clock, 42)
        clock.advance(6)
        await parked(clock, 72)
        stats = running.stats

    assert probe.times(1) == [0, 31]
    assert probe.times(2) == [0, 32]
    assert [o.result.checked_at for o in recorder.of(1)] == [at(0), at(31)]
    assert [o.next_check_at for o in recorder.of(1)] == [at(31), at(62)]
    timeouts = recorder.of(3)
    assert [o.result.failure_kind for o in timeouts] == [FailureKind.TIMEOUT] * 2
    assert timeouts[0].result.status is UNHEALTHY
    assert "6 s" in timeouts[0].result.message
    assert probe.cancelled.count(3) == 2
    crashes = recorder.of(4)
    assert [o.result.failure_kind for o in crashes] == [FailureKind.INTERNAL] * 2
    assert "RuntimeError" in crashes[0].result.message
    assert crashes[0].result.status is HealthStatus.UNKNOWN
    assert any(r.exc_info and r.exc_info[0] is RuntimeError for r in caplog.records)
    assert stats.checks_total == 8
    assert stats.restarts == 0


async def test_an_observation_carries_the_published_status_and_the_state_to_persist(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    async with supervisor(probe, recorder, clock, spec(1)):
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        probe.status[1] = UNHEALTHY
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)
        await parked(clock, 62)

    first, second = recorder.of(1)
    assert (first.status, first.previous_status, first.status_changed) == (
        HEALTHY,
        HealthStatus.UNKNOWN,
        True,
    )
    # one failed check does not flip the published status (hysteresis), but the breaker saw it
    assert (second.result.status, second.status, second.status_changed) == (UNHEALTHY, HEALTHY, False)
    assert second.hysteresis == HysteresisSnapshot(HEALTHY, UNHEALTHY, 1)
    assert second.breaker.consecutive_failures == 1
    assert second.breaker.window == (True, False)
    assert not second.is_manual


async def test_an_open_breaker_stops_probing_until_its_retry_time_and_records_nothing_meanwhile(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    probe.status[1] = UNHEALTHY
    breaker = BreakerSettings(
        failure_threshold=2,
        half_open_trials=1,
        successes_to_close=1,
        backoff=Backoff(base_seconds=100, cap_seconds=400, jitter=0),
    )
    async with supervisor(probe, recorder, clock, spec(1), breaker=breaker) as running:
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)  # second failure at t=32 opens the circuit until t=132
        await parked(clock, 132)
        opened = recorder.of(1)[-1]
        clock.advance(99)
        assert len(probe.calls) == 2
        assert len(recorder.observations) == 2
        probe.status[1] = HEALTHY
        clock.advance(1)
        await parked(clock, 133)
        clock.advance(1)
        closed = (await recorder.wait_for(1, 3))[-1]
        stats = running.stats

    assert opened.breaker.state is CircuitState.OPEN
    assert opened.breaker.opened_until == at(132)
    assert opened.next_check_at == at(132)
    assert probe.times(1) == [0, 31, 132]
    assert closed.breaker.state is CircuitState.CLOSED
    assert stats.skipped_total == 0


async def test_a_breaker_refusal_is_skipped_without_an_observation(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    breaker = BreakerSettings(failure_threshold=1, backoff=Backoff(base_seconds=100, cap_seconds=400, jitter=0))
    async with supervisor(probe, recorder, clock, spec(1), breaker=breaker) as running:
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        probe.status[1] = UNHEALTHY
        manual = asyncio.create_task(running.check_now(1))
        await parked(clock, 2)
        clock.advance(1)  # t=2: the manual check fails and opens the circuit until t=102
        async with asyncio.timeout(2):
            observation = await manual
        clock.advance(29)  # t=31: the watch wakes, the breaker refuses, it sleeps until t=102
        await parked(clock, 102)
        stats = running.stats

    assert observation.is_manual
    assert observation.breaker.state is CircuitState.OPEN
    assert observation.next_check_at == at(102)
    assert probe.times(1) == [0, 1]
    assert len(recorder.observations) == 2
    assert (stats.skipped_total, stats.checks_total) == (1, 2)


async def test_check_now_bypasses_an_open_breaker_and_records_the_outcome_in_it(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    opened = BreakerSnapshot(state=CircuitState.OPEN, consecutive_failures=5, open_count=1, opened_until=at(500))
    breaker = BreakerSettings(half_open_trials=1, successes_to_close=1)
    async with supervisor(probe, recorder, clock, spec(1, breaker=opened), breaker=breaker) as running:
        await parked(clock, 500)  # the restored circuit keeps the watch asleep until it may retry
        manual = asyncio.create_task(running.check_now(1))
        await parked(clock, 1)
        clock.advance(1)
        async with asyncio.timeout(2):
            observation = await manual

    assert observation.is_manual
    assert observation.breaker.state is CircuitState.CLOSED
    assert recorder.observations == [observation]
    assert observation.next_check_at == at(31)


async def test_a_manual_check_that_closes_the_circuit_brings_the_watch_back_to_its_interval(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    opened = BreakerSnapshot(state=CircuitState.OPEN, open_count=1, opened_until=at(500))
    breaker = BreakerSettings(half_open_trials=1, successes_to_close=1)
    async with supervisor(probe, recorder, clock, spec(1, breaker=opened), breaker=breaker) as running:
        await parked(clock, 500)
        manual = asyncio.create_task(running.check_now(1))
        await parked(clock, 1)
        clock.advance(1)
        async with asyncio.timeout(2):
            await manual
        await parked(clock, 31)
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)
        await parked(clock, 62)
    assert probe.times(1) == [0, 31]


async def test_check_now_of_an_unwatched_spec_probes_it_without_watching_it(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    async with supervisor(probe, recorder, clock) as running:
        manual = asyncio.create_task(running.check_now(spec(9)))
        await parked(clock, 1)
        clock.advance(1)
        async with asyncio.timeout(2):
            observation = await manual
        assert running.watched() == frozenset()

    assert observation.service_id == 9
    assert observation.next_check_at is None
    assert recorder.observations == [observation]


async def test_check_now_of_an_unknown_id_or_outside_the_context_is_refused(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    running = supervisor(probe, recorder, clock)
    with pytest.raises(SupervisorClosed):
        await running.check_now(spec(1))
    async with running:
        with pytest.raises(UnknownService):
            await running.check_now(1)
    with pytest.raises(SupervisorClosed):
        await running.check_now(spec(1))
    with pytest.raises(SupervisorClosed):
        await running.upsert(spec(1))


async def test_check_now_reports_a_recording_failure_to_its_caller(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    recorder.failing.add(9)
    probe.latency[9] = 0
    async with supervisor(probe, recorder, clock) as running:
        with pytest.raises(RecordingFailed) as raised:
            async with asyncio.timeout(2):
                await running.check_now(spec(9))
    assert isinstance(raised.value.__cause__, ConnectionError)


async def test_a_failing_on_result_is_logged_and_the_service_is_still_watched(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    recorder.failing.add(1)
    async with supervisor(probe, recorder, clock, spec(1)):
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)
        await parked(clock, 62)

    assert probe.times(1) == [0, 31]
    assert recorder.started == [1, 1]
    assert any("on_result failed" in r.message and r.exc_info for r in caplog.records)


async def test_a_slow_on_result_for_one_service_does_not_delay_the_others(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    recorder.gates[1] = asyncio.Event()
    async with supervisor(probe, recorder, clock, spec(1), spec(2)):
        await parked(clock, 1, count=2)
        clock.advance(1)
        await recorder.wait_until(lambda: 1 in recorder.started)
        await parked(clock, 31)  # service 2 only
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)
        await parked(clock, 62)
        assert probe.times(2) == [0, 31]
        assert probe.times(1) == [0]
        assert recorder.of(1) == []
        recorder.gates[1].set()
        await recorder.wait_for(1)
        await parked(clock, 33)  # its next check was due at t=31, so it starts at once
        clock.advance(1)
        await parked(clock, 63)
    assert len(recorder.of(2)) == 2
    assert probe.times(1) == [0, 32]


async def test_probes_in_flight_never_exceed_the_concurrency_bound(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    specs = [spec(n) for n in range(1, 11)]
    async with supervisor(probe, recorder, clock, *specs, max_in_flight=3) as running:
        for round_end in (1, 2, 3):
            await parked(clock, round_end, count=3)
            assert running.stats.in_flight == 3
            clock.advance(1)
        await parked(clock, 4, count=1)
        clock.advance(1)
        await recorder.wait_until(lambda: len(recorder.observations) == 10)
        stats = running.stats

    assert probe.max_in_flight == 3
    assert sorted({service_id for service_id, _ in probe.calls}) == list(range(1, 11))
    assert stats.lag_seconds == 3  # the tenth service waited three rounds for a slot


async def test_upsert_at_run_time_watches_a_new_service_and_remove_stops_it(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    async with supervisor(probe, recorder, clock, spec(1)) as running:
        await parked(clock, 1)
        await running.upsert(spec(2))
        assert running.watched() == frozenset({1, 2})
        await parked(clock, 1, count=2)
        clock.advance(1)
        await parked(clock, 31, count=2)
        assert await running.remove(2)
        assert not await running.remove(2)
        clock.advance(30)
        await parked(clock, 32)
        clock.advance(1)
        await parked(clock, 62)
        watched = running.stats.watched

    assert probe.times(1) == [0, 31]
    assert probe.times(2) == [0]
    assert watched == 1


async def test_upsert_with_a_new_interval_keeps_the_state_and_uses_the_interval(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    async with supervisor(probe, recorder, clock, spec(1)) as running:
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        await running.upsert(dataclasses.replace(spec(1), interval_seconds=10))
        await parked(clock, 11)  # the pending wait shrinks to the new interval
        clock.advance(10)
        await parked(clock, 12)
        clock.advance(1)
        await parked(clock, 22)

    _, second = recorder.of(1)
    assert second.previous_status is HEALTHY  # the tracker carried over
    assert second.next_check_at == at(22)


async def test_upsert_with_a_new_endpoint_starts_from_fresh_state(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    async with supervisor(probe, recorder, clock, spec(1)) as running:
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        moved = WatchSpec(target=target(1, host="elsewhere"), interval_seconds=30)
        await running.upsert(moved)
        await parked(clock, 2)
        clock.advance(1)
        await parked(clock, 32)

    assert recorder.of(1)[-1].previous_status is HealthStatus.UNKNOWN
    assert recorder.of(1)[-1].target.base_url == "https://elsewhere.example"


async def test_a_maintenance_window_is_published_at_once(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    windows: list[dt.datetime] = []

    def in_window(now: dt.datetime) -> bool:
        windows.append(now)
        return True

    async with supervisor(probe, recorder, clock, spec(1, in_maintenance_window=in_window)):
        await parked(clock, 1)
        clock.advance(1)
        (observation,) = await recorder.wait_for(1)

    assert observation.status is HealthStatus.MAINTENANCE
    assert observation.result.status is HEALTHY
    assert windows == [at(1)]


async def test_a_crashed_watch_is_restarted_logged_and_counted(
    probe: FakeProbe, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    class StumblingClock(ManualClock):
        """Fails the first 30-second sleep, as a bug in the loop body would."""

        stumbled = False

        async def sleep(self, seconds: float) -> None:
            if seconds == 30 and not self.stumbled:
                self.stumbled = True
                raise RuntimeError("loop bug")
            await super().sleep(seconds)

    clock = StumblingClock()
    probe.clock = clock
    async with supervisor(probe, recorder, clock, spec(1)) as running:
        await parked(clock, 1)
        clock.advance(1)  # t=1: recorded, then the 30 s sleep crashes; restart after 1 s
        await parked(clock, 2)
        clock.advance(1)  # t=2: the restarted watch checks again
        await parked(clock, 3)
        clock.advance(1)
        await parked(clock, 33)
        stats = running.stats

    assert probe.times(1) == [0, 2]
    assert stats.restarts == 1
    assert any("crashed" in r.message and r.exc_info for r in caplog.records)


async def test_a_probe_returning_something_else_becomes_an_internal_result(
    clock: ManualClock, recorder: Recorder
) -> None:
    async def confused(probe_target: ProbeTarget) -> ProbeResult:
        return "HEALTHY"  # type: ignore[return-value]

    async with ProbeSupervisor(confused, recorder, settings=settings(), clock=clock) as running:
        observation = await running.check_now(spec(1))
    assert observation.result.failure_kind is FailureKind.INTERNAL
    assert "str" in observation.result.message


async def test_shutdown_gives_up_on_a_hanging_probe_after_its_grace_period(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    probe.hanging.add(1)
    hanging = WatchSpec(target=target(1, timeout=3600))
    running = supervisor(probe, recorder, clock, hanging, shutdown_grace_seconds=0.05)
    async with running:
        await probe.wait_for_calls(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
    elapsed = loop.time() - started
    assert 0.04 <= elapsed < 1.5
    assert probe.cancelled == [1]
    assert recorder.observations == []


async def test_shutdown_lets_in_flight_recordings_complete_and_starts_no_new_probe(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    recorder.gates[1] = asyncio.Event()
    running = supervisor(probe, recorder, clock, spec(1), spec(2))
    async with running:
        await parked(clock, 1, count=2)
        clock.advance(1)
        await recorder.wait_until(lambda: 1 in recorder.started)
        await parked(clock, 31)
        closing = asyncio.create_task(running.aclose())
        closing_again = asyncio.create_task(running.aclose())
        done, _ = await asyncio.wait({closing, closing_again}, timeout=0.1)
        assert not done  # aclose waits for the recording in progress instead of cancelling it
        recorder.gates[1].set()
        async with asyncio.timeout(2):
            await asyncio.gather(closing, closing_again)
    assert recorder.started == [2, 1] or recorder.started == [1, 2]
    assert {o.service_id for o in recorder.observations} == {1, 2}
    assert len(probe.calls) == 2


async def test_shutdown_with_nothing_in_flight_returns_at_once(
    clock: ManualClock, probe: FakeProbe, recorder: Recorder
) -> None:
    running = supervisor(probe, recorder, clock, spec(1), shutdown_grace_seconds=60)
    async with running:
        await parked(clock, 1)
        clock.advance(1)
        await parked(clock, 31)
        loop = asyncio.get_running_loop()
        started = loop.time()
    assert loop.time() - started < 1
    with pytest.raises(RuntimeError):
        await running.__aenter__()


def test_a_watch_spec_needs_a_service_id() -> None:
    with pytest.raises(ValueError):
        WatchSpec(target=ProbeTarget(base_url="https://x.example", api_type=ApiType.CLOUDGENE))


def test_the_default_settings_are_the_documented_ones() -> None:
    defaults = SupervisorSettings()
    assert defaults.max_in_flight == 100
    assert defaults.schedule.default_interval_seconds == 30
    assert defaults.breaker.failure_threshold == 5


@pytest.fixture(autouse=True)
def _capture_probe_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="probes")
