"""Hostile-input fuzzing, shared by the property tests and `python -m bench.fuzz`.

The tests are the fuzz targets. CI runs each with the small example count its `fuzz_settings`
names; the bench runs the very same functions with many more (`VIGIL_FUZZ_EXAMPLES`), so what is
fuzzed and what must hold are written once. Each example reports what it ended as through
`outcome`, which is how the bench counts examples and the distinct error codes it saw.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from hypothesis import HealthCheck, event, settings

EXAMPLES_ENV = "VIGIL_FUZZ_EXAMPLES"
"""Examples per run of every fuzz target; unset: each target's CI count."""

TARGET_MARK = "vigil_fuzz_target"
"""The attribute `fuzz_settings` sets on a test: how the bench finds its targets."""

F = TypeVar("F", bound=Callable[..., object])

_outcomes: Counter[str] = Counter()


def fuzz_settings(ci_examples: int) -> Callable[[F], F]:
    """Make a Hypothesis test a fuzz target: `ci_examples` examples, or `VIGIL_FUZZ_EXAMPLES` when set.

    No deadline: an example that writes to a database can take a while on a busy machine, and
    speed is the bench's business, not a property. No example database: a failure found is pinned
    with `@example` in the test (as yarl does), so no run leaves a `.hypothesis/` directory behind.
    """
    override = os.environ.get(EXAMPLES_ENV)
    chosen = settings(
        max_examples=int(override) if override else ci_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example, HealthCheck.data_too_large],
    )

    def mark(test: F) -> F:
        marked = chosen(test)
        setattr(marked, TARGET_MARK, True)
        return marked

    return mark


def outcome(label: str) -> None:
    """Record what one example ended as: an error code, "accepted", "MalformedResponse"...

    It is a Hypothesis event too, so `pytest --hypothesis-show-statistics` shows the mix.
    """
    event(label)
    _outcomes[label] += 1


def verdict(codes: list[str]) -> None:
    """Record a GraphQL example's outcome: its first error code, or "accepted"."""
    outcome(codes[0] if codes else "accepted")


def take_outcomes() -> Counter[str]:
    """The outcomes recorded since the last call, and a fresh count from now on (the bench's reading)."""
    taken = Counter(_outcomes)
    _outcomes.clear()
    return taken
