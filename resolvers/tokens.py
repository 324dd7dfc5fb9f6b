"""API tokens: random secrets shown once, stored as SHA-256 hashes, each with a role."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import logging
import secrets
import time

from events.broker import Broker, BrokerClosed
from events.messages import TokenRevoked
from models import ApiToken, Role
from resolvers.audit import Actor, record_audit
from resolvers.errors import BadUserInput, NotFound, Unauthenticated

TOKEN_PREFIX = "vgl_"

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a token's name and role, or anonymous (role None)."""

    name: str
    role: Role | None
    token_id: int | None = None

    def actor(self) -> Actor:
        return Actor(name=self.name, token_id=self.token_id)


ANONYMOUS = Principal(name="anonymous", role=None)


def hash_token(secret: str) -> str:
    # Tokens are 32 random bytes: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_token(name: str, role: Role, actor: Actor) -> tuple[ApiToken, str]:
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise BadUserInput("token name must be 1 to 100 characters", field="name")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await ApiToken.create(name=name, role=role, token_hash=hash_token(secret), prefix=secret[:10])
    await record_audit(actor, "token.create", "api_token", row.id, after={"name": name, "role": role.value})
    return row, secret


async def revoke_token(broker: Broker, token_id: int, actor: Actor) -> bool:
    """True when the token was valid until now. Either way, once the revocation is stored, every
    replica is told to close the WebSockets the token opened (resolvers/sessions.py), so revoking
    again retries that close."""
    row = await ApiToken.get_or_none(id=token_id)
    if row is None:
        raise NotFound(f"no API token with id {token_id}", field="id")
    was_valid = row.revoked_at is None
    if was_valid:
        row.revoked_at = dt.datetime.now(dt.UTC)
        await row.save(update_fields=["revoked_at"])
        await record_audit(actor, "token.revoke", "api_token", row.id, before={"name": row.name})
    try:
        await broker.publish(TokenRevoked(seq=time.time_ns(), token_id=row.id))
    except BrokerClosed:  # shutting down: the connections close with the server anyway
        log.warning("revocation of token %s not announced: the broker is closed", row.id)
    return was_valid


async def authenticate(authorization: str | None) -> Principal:
    """Principal for an `Authorization` value; ANONYMOUS when absent, Unauthenticated when wrong."""
    if authorization is None or not authorization.strip():
        return ANONYMOUS
    scheme, _, secret = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    # The lookup compares hashes, never the secret itself, so its timing says nothing about the
    # secret. The stored hash is still compared to ours in constant time: a collation or index
    # that matched loosely (case-insensitive, trailing spaces) must not let a lookalike in.
    presented = hash_token(secret.strip())
    row = await ApiToken.get_or_none(token_hash=presented, revoked_at=None)
    if row is None or not hmac.compare_digest(row.token_hash.encode(), presented.encode()):
        raise Unauthenticated("unknown or revoked API token")
    now = dt.datetime.now(dt.UTC)
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    return Principal(name=row.name, role=row.role, token_id=row.id)
