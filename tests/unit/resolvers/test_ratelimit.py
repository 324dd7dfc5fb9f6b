"""Token buckets: a minute's budget, continuous refill, per key, bounded memory."""

from __future__ import annotations

from resolvers.ratelimit import RateLimits, TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_gets_its_budget_then_waits_for_the_refill() -> None:
    clock = Clock()
    buckets = TokenBuckets(60, clock=clock)
    assert all(buckets.take("a") is None for _ in range(60))
    wait = buckets.take("a")
    assert wait is not None and 0.9 <= wait <= 1.0
    assert buckets.take("b") is None, "another key has its own bucket"
    clock.now += 1.0
    assert buckets.take("a") is None
    assert buckets.take("a") is not None


def test_buckets_are_forgotten_beyond_the_key_limit() -> None:
    buckets = TokenBuckets(1, max_keys=100, clock=Clock())
    for n in range(1000):
        buckets.take(f"k{n}")
    assert len(buckets._buckets) == 100
    assert buckets.take("k0") is None, "a forgotten key starts with a full bucket"


def test_mutations_spend_both_budgets_and_the_token_and_address_are_both_limited() -> None:
    limits = RateLimits(operations=TokenBuckets(10, clock=Clock()), mutations=TokenBuckets(2, clock=Clock()))
    assert limits.check(is_mutation=True, token_id=1, address="10.0.0.1") is None
    assert limits.check(is_mutation=True, token_id=1, address="10.0.0.1") is None
    assert limits.check(is_mutation=True, token_id=1, address="10.0.0.2") is not None, "same token elsewhere"
    assert limits.check(is_mutation=True, token_id=2, address="10.0.0.1") is not None, "same address, new token"
    assert limits.check(is_mutation=False, token_id=1, address="10.0.0.1") is None, "queries have their own budget"


def test_zero_switches_a_limit_off() -> None:
    limits = RateLimits.per_minute(0, 0)
    assert all(limits.check(is_mutation=True, token_id=None, address="x") is None for _ in range(1000))
