"""The audit trail: every admin change, who made it, and the record before and after it."""

from __future__ import annotations

import dataclasses

from models import AuditEvent


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    name: str
    token_id: int | None = None

    def __str__(self) -> str:
        return self.name if self.token_id is None else f"{self.name} (token {self.token_id})"


CLI_ACTOR = Actor(name="cli")


async def record_audit(
    actor: Actor,
    action: str,
    target_type: str,
    target_id: int | str | None,
    *,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
) -> None:
    await AuditEvent.create(
        actor=str(actor),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        before=before,
        after=after,
    )
