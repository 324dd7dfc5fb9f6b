"""API token authentication: the hash lookup, and the constant-time comparison after it."""

from __future__ import annotations

import hmac

import pytest

from models import ApiToken, Role
from resolvers import tokens
from resolvers.audit import CLI_ACTOR
from resolvers.errors import Unauthenticated
from resolvers.tokens import authenticate, create_token, hash_token


async def test_a_created_token_authenticates_and_a_one_character_change_does_not(db: str) -> None:
    row, secret = await create_token("ci", Role.OPERATOR, CLI_ACTOR)
    principal = await authenticate(f"Bearer {secret}")
    assert (principal.name, principal.role, principal.token_id) == ("ci", Role.OPERATOR, row.id)
    lookalike = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with pytest.raises(Unauthenticated):
        await authenticate(f"Bearer {lookalike}")


async def test_the_stored_hash_is_compared_with_compare_digest(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _, secret = await create_token("ci", Role.VIEWER, CLI_ACTOR)
    calls: list[tuple[bytes, bytes]] = []
    compare_digest = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare_digest(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    await authenticate(f"Bearer {secret}")
    expected = hash_token(secret).encode()
    assert calls == [(expected, expected)]


async def test_a_row_found_by_a_loose_lookup_is_refused_unless_its_hash_is_exactly_ours(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A case-insensitive collation would hand back the row of the token whose hash is ours in
    # capitals: the comparison after the lookup has to refuse it.
    row, secret = await create_token("ci", Role.ADMIN, CLI_ACTOR)
    assert row.token_hash.islower()
    await ApiToken.filter(id=row.id).update(token_hash=row.token_hash.upper())
    loose = await ApiToken.get(id=row.id)

    async def case_insensitive_lookup(**_: object) -> ApiToken:
        return loose

    monkeypatch.setattr(ApiToken, "get_or_none", case_insensitive_lookup)
    with pytest.raises(Unauthenticated):
        await authenticate(f"Bearer {secret}")
