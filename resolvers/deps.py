"""Deps: the frozen bundle of shared resources the lifespan builds and every resolver receives."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import aiohttp

from config import Settings
from probes.http import HttpLimits
from resolvers.credentials import CredentialCipher
from resolvers.ratelimit import RateLimits

if TYPE_CHECKING:
    from events.broker import Broker
    from probes.supervisor import ProbeSupervisor
    from resolvers.cache import ReadCache
    from resolvers.ownership import Ownership
    from resolvers.recording import BatchRecorder
    from resolvers.sessions import Sessions


@dataclasses.dataclass(frozen=True)
class Deps:
    settings: Settings
    http: aiohttp.ClientSession
    limits: HttpLimits
    cipher: CredentialCipher
    broker: Broker
    supervisor: ProbeSupervisor | None = None
    recorder: BatchRecorder | None = None
    rate_limits: RateLimits | None = None
    cache: ReadCache | None = None
    ownership: Ownership | None = None  # which services this replica's probe loop owns
    sessions: Sessions | None = None  # open WebSockets by token, closed when it is revoked
