import random

import pytest

from probes.schedule import Schedule, ScheduleSettings


def test_defaults_are_thirty_seconds_within_five_seconds_and_an_hour() -> None:
    settings = ScheduleSettings()
    assert settings.default_interval_seconds == 30
    assert (settings.min_interval_seconds, settings.max_interval_seconds) == (5, 3600)


def test_no_requested_interval_means_the_default() -> None:
    assert Schedule().interval(None) == 30


def test_requested_intervals_are_clamped_to_the_bounds() -> None:
    schedule = Schedule(ScheduleSettings(min_interval_seconds=10, max_interval_seconds=600))
    assert schedule.interval(1) == 10
    assert schedule.interval(60) == 60
    assert schedule.interval(86_400) == 600


def test_initial_offsets_spread_within_the_configured_maximum() -> None:
    schedule = Schedule(ScheduleSettings(max_initial_offset_seconds=10), random.Random(5))
    offsets = [schedule.initial_delay(30) for _ in range(200)]
    assert all(0 <= offset <= 10 for offset in offsets)
    assert len(set(offsets)) > 100


def test_the_initial_offset_never_exceeds_the_interval() -> None:
    schedule = Schedule(ScheduleSettings(min_interval_seconds=1, max_initial_offset_seconds=10), random.Random(5))
    assert all(schedule.initial_delay(2) <= 2 for _ in range(100))


def test_a_zero_spread_starts_at_once() -> None:
    assert Schedule(ScheduleSettings(max_initial_offset_seconds=0)).initial_delay(30) == 0


def test_the_same_seed_gives_the_same_offsets() -> None:
    first = Schedule(rng=random.Random(9))
    second = Schedule(rng=random.Random(9))
    assert [first.initial_delay(30) for _ in range(5)] == [second.initial_delay(30) for _ in range(5)]


def test_the_next_delay_is_the_interval_while_the_breaker_is_not_open() -> None:
    assert Schedule().next_delay(45, now=100) == 45


def test_while_the_breaker_is_open_the_next_delay_waits_for_its_retry_time() -> None:
    schedule = Schedule()
    assert schedule.next_delay(30, now=100, retry_at=220) == 120
    assert schedule.next_delay(30, now=100, retry_at=110) == 10


def test_a_retry_time_already_passed_means_no_wait() -> None:
    assert Schedule().next_delay(30, now=100, retry_at=90) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_interval_seconds": 0},
        {"default_interval_seconds": 2, "min_interval_seconds": 5},
        {"default_interval_seconds": 7200},
        {"max_initial_offset_seconds": -1},
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ScheduleSettings(**kwargs)
