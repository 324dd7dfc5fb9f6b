import random

import pytest

from probes.backoff import Backoff


def test_delays_grow_exponentially_until_the_cap() -> None:
    backoff = Backoff(base_seconds=30, multiplier=2, cap_seconds=900, jitter=0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in range(7)] == [30, 60, 120, 240, 480, 900, 900]


def test_a_huge_attempt_number_stays_at_the_cap_without_overflowing() -> None:
    backoff = Backoff(base_seconds=1, multiplier=10, cap_seconds=60, jitter=0)
    assert backoff.ceiling(10_000) == 60


def test_jitter_stays_within_its_fraction_and_never_exceeds_the_cap() -> None:
    backoff = Backoff(base_seconds=30, multiplier=2, cap_seconds=900, jitter=0.2)
    rng = random.Random(42)
    for attempt in range(12):
        ceiling = backoff.ceiling(attempt)
        for _ in range(200):
            delay = backoff.delay(attempt, rng)
            assert ceiling * 0.8 <= delay <= min(ceiling * 1.2, 900)


def test_jitter_actually_spreads_the_delays() -> None:
    backoff = Backoff(base_seconds=30, jitter=0.2)
    rng = random.Random(7)
    delays = {backoff.delay(0, rng) for _ in range(20)}
    assert len(delays) > 10


def test_the_same_seed_gives_the_same_delays() -> None:
    backoff = Backoff()
    first = [backoff.delay(n, random.Random(3)) for n in range(5)]
    second = [backoff.delay(n, random.Random(3)) for n in range(5)]
    assert first == second


def test_a_multiplier_of_one_gives_a_constant_delay() -> None:
    backoff = Backoff(base_seconds=5, multiplier=1, cap_seconds=10, jitter=0)
    assert backoff.delay(1_000_000, random.Random()) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base_seconds": 0},
        {"multiplier": 0.5},
        {"base_seconds": 10, "cap_seconds": 5},
        {"jitter": 1.0},
        {"jitter": -0.1},
    ],
)
def test_nonsense_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff().ceiling(-1)
