"""Expected failures of the API, one subclass per `extensions.code` of the schema contract.

Resolvers raise these; the schema layer shows them to clients as they are. Anything else that
escapes a resolver is a bug: it is logged with the request id and masked.
"""

from __future__ import annotations


class VigilError(Exception):
    code = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra

    @property
    def extensions(self) -> dict[str, object]:
        ext: dict[str, object] = {"code": self.code}
        if self.field is not None:
            ext["field"] = self.field
        ext.update(self.extra)
        return ext


class BadUserInput(VigilError):
    code = "BAD_USER_INPUT"


class NotFound(VigilError):
    code = "NOT_FOUND"


class Conflict(VigilError):
    code = "CONFLICT"


class Unauthenticated(VigilError):
    code = "UNAUTHENTICATED"


class Forbidden(VigilError):
    code = "FORBIDDEN"


class RateLimited(VigilError):
    code = "RATE_LIMITED"
