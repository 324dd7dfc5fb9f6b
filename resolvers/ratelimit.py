"""Rate limits per API token and per client address: token buckets kept in this process.

Each request takes one token from the bucket of its caller's API token (when it has one) and
one from the bucket of its client address, so neither a leaked token used from many addresses
nor many tokens used from one address gets around the limit. Mutations have their own, smaller
budget. Buckets hold one minute's worth of tokens and refill continuously; the least recently
used buckets are forgotten beyond `max_keys`, so a flood of addresses cannot grow memory.
Limits are per process: behind a load balancer with N replicas a caller gets up to N times them.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from collections.abc import Callable


@dataclasses.dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, per_minute: int, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: collections.OrderedDict[str, _Bucket] = collections.OrderedDict()

    def take(self, key: str) -> float | None:
        """None when `key` may go ahead (a token was taken), else the seconds until it may."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = _Bucket(tokens=self._capacity, updated=now)
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return (1.0 - bucket.tokens) / self._rate


@dataclasses.dataclass(frozen=True)
class RateLimits:
    """The buckets of one process; `None` per-minute values switch a limit off."""

    operations: TokenBuckets | None
    mutations: TokenBuckets | None

    @classmethod
    def per_minute(cls, operations: int, mutations: int) -> RateLimits:
        return cls(
            operations=TokenBuckets(operations) if operations > 0 else None,
            mutations=TokenBuckets(mutations) if mutations > 0 else None,
        )

    def check(self, *, is_mutation: bool, token_id: int | None, address: str | None) -> float | None:
        """The longest wait any applicable bucket asks for, or None to go ahead."""
        keys = [f"address:{address or 'unknown'}"]
        if token_id is not None:
            keys.append(f"token:{token_id}")
        waits = []
        for buckets in (self.operations, self.mutations if is_mutation else None):
            if buckets is None:
                continue
            waits += [wait for key in keys if (wait := buckets.take(key)) is not None]
        return max(waits) if waits else None
