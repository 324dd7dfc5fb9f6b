import json

import pytest

from probes.hysteresis import HysteresisSettings, HysteresisSnapshot, StatusTracker, Transition
from probes.result import HealthStatus

HEALTHY, DEGRADED, UNHEALTHY = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY
MAINTENANCE, UNKNOWN = HealthStatus.MAINTENANCE, HealthStatus.UNKNOWN


def tracker_at(status: HealthStatus, **settings: int) -> StatusTracker:
    return StatusTracker(HysteresisSettings(**settings), HysteresisSnapshot(published=status))


def test_defaults_are_two_failures_down_and_one_success_up() -> None:
    assert HysteresisSettings() == HysteresisSettings(failures_to_go_down=2, successes_to_come_up=1)


def test_the_first_observation_replaces_unknown_at_once() -> None:
    tracker = StatusTracker()
    assert tracker.observe(UNHEALTHY) == Transition(UNHEALTHY, True, UNKNOWN)


def test_a_single_failed_check_does_not_flip_healthy_to_unhealthy() -> None:
    tracker = tracker_at(HEALTHY)
    assert tracker.observe(UNHEALTHY) == Transition(HEALTHY, False, HEALTHY)


def test_two_consecutive_failed_checks_flip_healthy_to_unhealthy() -> None:
    tracker = tracker_at(HEALTHY)
    tracker.observe(UNHEALTHY)
    assert tracker.observe(UNHEALTHY) == Transition(UNHEALTHY, True, HEALTHY)


def test_a_good_check_between_two_bad_ones_restarts_the_count() -> None:
    tracker = tracker_at(HEALTHY)
    for status in (UNHEALTHY, HEALTHY, UNHEALTHY):
        assert tracker.observe(status).status is HEALTHY


def test_one_success_brings_an_unhealthy_service_back() -> None:
    tracker = tracker_at(UNHEALTHY)
    assert tracker.observe(HEALTHY) == Transition(HEALTHY, True, UNHEALTHY)


def test_degraded_is_a_step_down_that_also_needs_the_streak() -> None:
    tracker = tracker_at(HEALTHY)
    assert not tracker.observe(DEGRADED).changed
    assert tracker.observe(DEGRADED) == Transition(DEGRADED, True, HEALTHY)


def test_a_downward_streak_of_mixed_severity_publishes_its_latest_observation() -> None:
    tracker = tracker_at(HEALTHY)
    tracker.observe(UNHEALTHY)
    assert tracker.observe(DEGRADED) == Transition(DEGRADED, True, HEALTHY)


def test_a_better_observation_breaks_a_downward_streak() -> None:
    tracker = tracker_at(DEGRADED, failures_to_go_down=2, successes_to_come_up=2)
    tracker.observe(UNHEALTHY)
    tracker.observe(HEALTHY)
    assert tracker.observe(UNHEALTHY).status is DEGRADED


def test_counts_are_configurable() -> None:
    tracker = tracker_at(HEALTHY, failures_to_go_down=3, successes_to_come_up=2)
    assert [tracker.observe(UNHEALTHY).changed for _ in range(3)] == [False, False, True]
    assert [tracker.observe(HEALTHY).changed for _ in range(2)] == [False, True]


def test_service_reported_maintenance_applies_at_once() -> None:
    tracker = tracker_at(HEALTHY)
    assert tracker.observe(MAINTENANCE) == Transition(MAINTENANCE, True, HEALTHY)


def test_a_scheduled_maintenance_window_overrides_what_the_check_saw() -> None:
    tracker = tracker_at(HEALTHY)
    assert tracker.observe(UNHEALTHY, in_maintenance_window=True) == Transition(MAINTENANCE, True, HEALTHY)
    assert tracker.observe(HEALTHY, in_maintenance_window=True) == Transition(MAINTENANCE, False, MAINTENANCE)


def test_leaving_maintenance_publishes_the_first_real_observation_at_once() -> None:
    tracker = tracker_at(MAINTENANCE)
    assert tracker.observe(UNHEALTHY) == Transition(UNHEALTHY, True, MAINTENANCE)


def test_an_unknown_observation_changes_nothing_not_even_the_streak() -> None:
    tracker = tracker_at(HEALTHY)
    tracker.observe(UNHEALTHY)
    assert tracker.observe(UNKNOWN) == Transition(HEALTHY, False, HEALTHY)
    assert tracker.observe(UNHEALTHY) == Transition(UNHEALTHY, True, HEALTHY)


def test_an_unknown_observation_of_an_unknown_service_stays_unknown() -> None:
    assert StatusTracker().observe(UNKNOWN) == Transition(UNKNOWN, False, UNKNOWN)


def test_the_same_status_again_is_not_a_change() -> None:
    tracker = tracker_at(HEALTHY)
    assert tracker.observe(HEALTHY) == Transition(HEALTHY, False, HEALTHY)


def test_a_transition_unpacks_as_status_changed_previous() -> None:
    status, changed, previous = StatusTracker().observe(HEALTHY)
    assert (status, changed, previous) == (HEALTHY, True, UNKNOWN)


def test_a_restored_tracker_continues_the_streak_it_was_in() -> None:
    original = tracker_at(HEALTHY)
    original.observe(UNHEALTHY)
    snapshot = HysteresisSnapshot.from_dict(json.loads(json.dumps(original.snapshot().to_dict())))
    assert snapshot == HysteresisSnapshot(HEALTHY, UNHEALTHY, 1)
    restored = StatusTracker(HysteresisSettings(), snapshot)
    assert restored.observe(UNHEALTHY) == Transition(UNHEALTHY, True, HEALTHY)


def test_a_snapshot_with_a_meaningless_candidate_starts_a_new_streak() -> None:
    tracker = StatusTracker(snapshot=HysteresisSnapshot(HEALTHY, MAINTENANCE, 5))
    assert tracker.observe(UNHEALTHY).status is HEALTHY


@pytest.mark.parametrize("data", [{"published": "FINE"}, {"streak": None}, {"candidate": "MAYBE"}])
def test_a_malformed_snapshot_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        HysteresisSnapshot.from_dict(data)


def test_zero_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        HysteresisSettings(failures_to_go_down=0)
