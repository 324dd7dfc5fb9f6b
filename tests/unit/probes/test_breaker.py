import datetime as dt
import json
import random

import pytest

from probes.backoff import Backoff
from probes.breaker import BreakerSettings, BreakerSnapshot, CircuitBreaker, FailureCounting
from probes.result import CircuitState

WALL = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)


def exact(**overrides: object) -> BreakerSettings:
    """Settings without jitter, so open periods are exact: 10 s doubling to 80 s."""
    values: dict[str, object] = {
        "failure_threshold": 3,
        "half_open_trials": 2,
        "successes_to_close": 2,
        "backoff": Backoff(base_seconds=10, multiplier=2, cap_seconds=80, jitter=0),
    }
    values.update(overrides)
    return BreakerSettings(**values)  # type: ignore[arg-type]


def trip(breaker: CircuitBreaker, now: float) -> None:
    while breaker.state is not CircuitState.OPEN:
        assert breaker.allows(now)
        breaker.record(False, now)


def test_default_settings_are_the_documented_ones() -> None:
    settings = BreakerSettings()
    assert settings.counting is FailureCounting.CONSECUTIVE
    assert settings.failure_threshold == 5
    assert (settings.half_open_trials, settings.successes_to_close) == (2, 2)
    assert settings.backoff == Backoff(base_seconds=30, multiplier=2, cap_seconds=900, jitter=0.2)


def test_a_new_breaker_is_closed_and_allows_probes() -> None:
    breaker = CircuitBreaker(exact())
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allows(0)
    assert breaker.retry_at() is None


def test_consecutive_failures_below_the_threshold_keep_it_closed() -> None:
    breaker = CircuitBreaker(exact())
    breaker.record(False, 0)
    breaker.record(False, 1)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(exact())
    for success in (False, False, True, False, False):
        breaker.record(success, 0)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


def test_reaching_the_failure_threshold_opens_the_circuit() -> None:
    breaker = CircuitBreaker(exact())
    for _ in range(3):
        state = breaker.record(False, 100)
    assert state is CircuitState.OPEN
    assert breaker.open_count == 1
    assert breaker.retry_at() == 110


def test_an_open_circuit_refuses_until_its_backoff_has_elapsed_then_goes_half_open() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    assert not breaker.allows(9.99)
    before = breaker.state
    assert breaker.allows(10)
    assert (before, breaker.state) == (CircuitState.OPEN, CircuitState.HALF_OPEN)


def test_half_open_permits_only_the_configured_number_of_trials() -> None:
    breaker = CircuitBreaker(exact(half_open_trials=3, successes_to_close=3))
    trip(breaker, 0)
    assert [breaker.allows(10) for _ in range(4)] == [True, True, True, False]


def test_a_settled_trial_frees_its_permit_for_the_next_one() -> None:
    breaker = CircuitBreaker(exact(half_open_trials=2, successes_to_close=2))
    trip(breaker, 0)
    assert breaker.allows(10)
    breaker.record(True, 10)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.allows(40)
    assert not breaker.allows(40)


def test_enough_trial_successes_close_the_circuit_and_reset_its_history() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    for now in (10, 20):
        assert breaker.allows(now)
        breaker.record(True, now)
    assert breaker.state is CircuitState.CLOSED
    assert breaker.open_count == 0
    assert breaker.consecutive_failures == 0
    assert breaker.window == ()
    trip(breaker, 100)
    assert breaker.retry_at() == 110  # back to the base backoff


def test_a_trial_failure_reopens_with_the_next_longer_backoff() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    assert breaker.allows(10)
    assert breaker.record(True, 10) is CircuitState.HALF_OPEN
    assert breaker.allows(11)
    assert breaker.record(False, 11) is CircuitState.OPEN
    assert breaker.open_count == 2
    assert breaker.retry_at() == 11 + 20


def test_consecutive_openings_grow_the_backoff_up_to_its_cap() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    open_periods = []
    now = 0.0
    for _ in range(6):
        retry_at = breaker.retry_at()
        assert retry_at is not None
        open_periods.append(retry_at - now)
        now = retry_at
        assert breaker.allows(now)
        breaker.record(False, now)
    assert open_periods == [10, 20, 40, 80, 80, 80]


def test_open_periods_are_jittered_within_bounds() -> None:
    settings = exact(backoff=Backoff(base_seconds=10, multiplier=2, cap_seconds=80, jitter=0.2))
    periods = set()
    for seed in range(20):
        breaker = CircuitBreaker(settings, random.Random(seed))
        trip(breaker, 0)
        retry_at = breaker.retry_at()
        assert retry_at is not None
        assert 8 <= retry_at <= 12
        periods.add(retry_at)
    assert len(periods) > 10


def test_releasing_a_cancelled_trial_returns_its_permit() -> None:
    breaker = CircuitBreaker(exact(half_open_trials=1, successes_to_close=1))
    trip(breaker, 0)
    assert breaker.allows(10)
    assert not breaker.allows(10)
    breaker.release()
    assert breaker.allows(10)


def test_a_manual_success_while_open_counts_as_a_first_trial_success() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    assert breaker.record(True, 1) is CircuitState.HALF_OPEN
    assert breaker.allows(2)
    assert breaker.record(True, 2) is CircuitState.CLOSED


def test_a_manual_success_while_open_closes_at_once_when_one_success_is_enough() -> None:
    breaker = CircuitBreaker(exact(half_open_trials=1, successes_to_close=1))
    trip(breaker, 0)
    assert breaker.record(True, 1) is CircuitState.CLOSED


def test_a_manual_failure_while_open_does_not_push_the_retry_further_away() -> None:
    breaker = CircuitBreaker(exact())
    trip(breaker, 0)
    breaker.record(False, 5)
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_at() == 10
    assert breaker.open_count == 1


def sliding(**overrides: object) -> BreakerSettings:
    values: dict[str, object] = {
        "counting": FailureCounting.SLIDING_WINDOW,
        "window_size": 4,
        "minimum_calls": 4,
        "failure_rate_threshold": 0.5,
    }
    values.update(overrides)
    return exact(**values)


def test_sliding_window_does_not_open_before_the_minimum_number_of_calls() -> None:
    breaker = CircuitBreaker(sliding())
    for _ in range(3):
        breaker.record(False, 0)
    assert breaker.state is CircuitState.CLOSED


def test_sliding_window_opens_when_the_failure_rate_reaches_the_threshold() -> None:
    breaker = CircuitBreaker(sliding())
    for success in (True, False, True):
        breaker.record(success, 0)
    assert breaker.record(False, 0) is CircuitState.OPEN


def test_sliding_window_ignores_non_consecutive_failures_below_the_rate() -> None:
    breaker = CircuitBreaker(sliding(window_size=4, minimum_calls=4, failure_rate_threshold=0.75))
    for success in (False, True, False, True, False, True, False, True):
        breaker.record(success, 0)
    assert breaker.state is CircuitState.CLOSED


def test_sliding_window_forgets_outcomes_older_than_its_size() -> None:
    breaker = CircuitBreaker(sliding(window_size=4, minimum_calls=4, failure_rate_threshold=0.5))
    for success in (False, False, True, True, True):
        breaker.record(success, 0)
    assert breaker.window == (False, True, True, True)
    breaker.record(False, 0)  # window: T T T F -> 25 %
    assert breaker.state is CircuitState.CLOSED


def test_a_snapshot_survives_a_json_round_trip() -> None:
    snapshot = BreakerSnapshot(
        state=CircuitState.OPEN,
        consecutive_failures=4,
        open_count=2,
        opened_until=WALL + dt.timedelta(seconds=17),
        window=(True, False, False),
        trial_successes=0,
    )
    assert BreakerSnapshot.from_dict(json.loads(json.dumps(snapshot.to_dict()))) == snapshot


@pytest.mark.parametrize(
    "data",
    [
        {"state": "SIDEWAYS"},
        {"window": [1, 0]},
        {"opened_until": "2026-03-01T08:00:00"},
        {"opened_until": "not a time"},
        {"consecutive_failures": None},
    ],
)
def test_a_malformed_snapshot_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BreakerSnapshot.from_dict(data)


def test_a_restored_open_breaker_stays_open_until_the_same_wall_clock_time() -> None:
    original = CircuitBreaker(exact())
    trip(original, 1000)  # open until monotonic 1010, i.e. WALL + 10 s
    snapshot = original.snapshot(1000, WALL)
    assert snapshot.opened_until == WALL + dt.timedelta(seconds=10)

    # A new process: its monotonic clock reads 5, and 4 wall seconds have passed.
    restored = CircuitBreaker.from_snapshot(snapshot, exact(), now=5, wall_now=WALL + dt.timedelta(seconds=4))
    assert restored.state is CircuitState.OPEN
    assert restored.retry_at() == 11
    assert not restored.allows(10.9)
    assert restored.allows(11)
    restored.record(False, 11)
    assert restored.retry_at() == 11 + 20  # the second opening, as in the original process


def test_a_restored_breaker_whose_open_period_passed_during_the_restart_lets_a_trial_through() -> None:
    original = CircuitBreaker(exact())
    trip(original, 0)
    snapshot = original.snapshot(0, WALL)
    restored = CircuitBreaker.from_snapshot(snapshot, exact(), now=0, wall_now=WALL + dt.timedelta(hours=1))
    assert restored.allows(0)
    assert restored.state is CircuitState.HALF_OPEN


def test_a_restored_half_open_breaker_keeps_its_trial_successes_but_not_trials_in_flight() -> None:
    original = CircuitBreaker(exact(half_open_trials=2, successes_to_close=2))
    trip(original, 0)
    assert original.allows(10)
    original.record(True, 10)
    assert original.allows(11)  # in flight when the process stops
    snapshot = original.snapshot(11, WALL)
    assert (snapshot.state, snapshot.trial_successes, snapshot.opened_until) == (
        CircuitState.HALF_OPEN,
        1,
        None,
    )

    restored = CircuitBreaker.from_snapshot(
        snapshot, exact(half_open_trials=2, successes_to_close=2), now=0, wall_now=WALL
    )
    assert restored.allows(0)
    assert not restored.allows(0)
    assert restored.record(True, 0) is CircuitState.CLOSED


def test_a_restored_sliding_window_trips_exactly_as_the_original_would() -> None:
    settings = sliding()
    original = CircuitBreaker(settings)
    for success in (True, False, True):
        original.record(success, 0)
    restored = CircuitBreaker.from_snapshot(original.snapshot(0, WALL), settings, now=0, wall_now=WALL)
    assert restored.window == (True, False, True)
    assert original.record(False, 0) is restored.record(False, 0) is CircuitState.OPEN


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"window_size": 0},
        {"failure_rate_threshold": 0},
        {"failure_rate_threshold": 1.5},
        {"minimum_calls": 11, "window_size": 10},
        {"half_open_trials": 0},
        {"half_open_trials": 1, "successes_to_close": 2},
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        BreakerSettings(**kwargs)  # type: ignore[arg-type]
