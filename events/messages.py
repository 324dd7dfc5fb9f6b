"""The messages the broker carries, and their JSON wire form.

Every message is a frozen value that crosses process boundaries (Redis pub/sub between
replicas), so each has a versioned JSON form:

    {"v": 1, "type": "StatusChanged", "seq": 41, "service_id": 3, ...}

- `v` changes only on an incompatible change. Adding a field keeps `v` at 1, and a reader
  ignores fields it does not know, so replicas of different builds can share a channel.
- `seq` is chosen by the publisher (recording uses the check id), so a subscriber can tell
  whether a message is newer than the state a query showed it.
- Timestamps are written as ISO 8601 in UTC and must be timezone-aware.
- `failure_kind` stays a plain string: a newer replica may send a kind this one does not know.

Anything that does not parse raises `MalformedMessage` (a `ValueError`) naming the field, never
a `KeyError` or `TypeError`, so the Redis reader can log one clear line and skip the message.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, ClassVar, TypeAlias, TypeVar

from probes.result import HealthStatus

WIRE_VERSION = 1


class Channel(StrEnum):
    """A stream of one kind of message; also the suffix of its Redis channel name."""

    CHECKS = "checks"
    STATUS = "status"
    INVALIDATION = "invalidation"
    REGISTRY = "registry"
    ACCESS = "access"


class MalformedMessage(ValueError):
    """A payload that is not a message this build understands; the text names the field."""


def _require_aware(name: str, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


@dataclasses.dataclass(frozen=True, slots=True)
class CheckRecorded:
    """One stored health check. `status` is what the API shows; `raw_status` is what the probe saw
    (they differ when, for example, a flapping result is held back)."""

    channel: ClassVar[Channel] = Channel.CHECKS

    seq: int
    service_id: int
    check_id: int
    status: HealthStatus
    raw_status: HealthStatus
    checked_at: dt.datetime
    response_time_ms: float | None = None
    http_status: int | None = None
    failure_kind: str | None = None
    message: str = ""
    service_version: str | None = None

    def __post_init__(self) -> None:
        _require_aware("checked_at", self.checked_at)

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> CheckRecorded:
        return _expect(cls, decode(data))

    def _fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "service_id": self.service_id,
            "check_id": self.check_id,
            "status": self.status.value,
            "raw_status": self.raw_status.value,
            "checked_at": _timestamp(self.checked_at),
            "response_time_ms": self.response_time_ms,
            "http_status": self.http_status,
            "failure_kind": self.failure_kind,
            "message": self.message,
            "service_version": self.service_version,
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> CheckRecorded:
        return cls(
            seq=fields.integer("seq"),
            service_id=fields.integer("service_id"),
            check_id=fields.integer("check_id"),
            status=fields.status("status"),
            raw_status=fields.status("raw_status"),
            checked_at=fields.timestamp("checked_at"),
            response_time_ms=fields.optional_float("response_time_ms"),
            http_status=fields.optional_integer("http_status"),
            failure_kind=fields.optional_text("failure_kind"),
            message=fields.text("message", default=""),
            service_version=fields.optional_text("service_version"),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class StatusChanged:
    """A service's published status moved; `check` is the check that moved it."""

    channel: ClassVar[Channel] = Channel.STATUS

    seq: int
    service_id: int
    previous_status: HealthStatus
    status: HealthStatus
    changed_at: dt.datetime
    check: CheckRecorded

    def __post_init__(self) -> None:
        _require_aware("changed_at", self.changed_at)

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> StatusChanged:
        return _expect(cls, decode(data))

    def _fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "service_id": self.service_id,
            "previous_status": self.previous_status.value,
            "status": self.status.value,
            "changed_at": _timestamp(self.changed_at),
            "check": self.check._fields(),
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> StatusChanged:
        return cls(
            seq=fields.integer("seq"),
            service_id=fields.integer("service_id"),
            previous_status=fields.status("previous_status"),
            status=fields.status("status"),
            changed_at=fields.timestamp("changed_at"),
            check=CheckRecorded._parse(fields.nested("check")),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class CacheInvalidated:
    """Cached entries another replica must forget. `origin` is the replica that changed the data,
    so it can skip its own invalidation; `keys` are exact cache keys, `tags` whole groups."""

    channel: ClassVar[Channel] = Channel.INVALIDATION

    seq: int
    origin: str
    keys: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> CacheInvalidated:
        return _expect(cls, decode(data))

    def _fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "origin": self.origin, "keys": list(self.keys), "tags": list(self.tags)}

    @classmethod
    def _parse(cls, fields: _Fields) -> CacheInvalidated:
        return cls(
            seq=fields.integer("seq"),
            origin=fields.text("origin"),
            keys=fields.texts("keys"),
            tags=fields.texts("tags"),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RegistryChanged:
    """A service's row changed; the replica whose probe loop owns the service reloads it.

    Published after every registry change that concerns the probe loop (register, update,
    delete, import, maintenance), and with `reseed` after a manual check by a replica that does
    not watch the service, whose stored breaker and hysteresis state then moved under the owner:
    the owner restarts the watch from the stored state. `origin` is the publishing replica, which
    has applied the change itself already. `seq` is the publisher's clock in nanoseconds, only
    for reading logs: per-service order comes from the one publisher's order.
    """

    channel: ClassVar[Channel] = Channel.REGISTRY

    seq: int
    origin: str
    service_id: int
    deleted: bool = False
    reseed: bool = False

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> RegistryChanged:
        return _expect(cls, decode(data))

    def _fields(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "origin": self.origin,
            "service_id": self.service_id,
            "deleted": self.deleted,
            "reseed": self.reseed,
        }

    @classmethod
    def _parse(cls, fields: _Fields) -> RegistryChanged:
        return cls(
            seq=fields.integer("seq"),
            origin=fields.text("origin"),
            service_id=fields.integer("service_id"),
            deleted=fields.flag("deleted"),
            reseed=fields.flag("reseed"),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class TokenRevoked:
    """An API token was revoked; every replica closes the WebSocket connections it authenticated.

    Published after the revocation commits (again on a repeated revoke, which retries the close).
    `seq` is the publisher's clock in nanoseconds, only for reading logs.
    """

    channel: ClassVar[Channel] = Channel.ACCESS

    seq: int
    token_id: int

    def to_json(self) -> str:
        return _dump(self)

    @classmethod
    def from_json(cls, data: str | bytes) -> TokenRevoked:
        return _expect(cls, decode(data))

    def _fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "token_id": self.token_id}

    @classmethod
    def _parse(cls, fields: _Fields) -> TokenRevoked:
        return cls(seq=fields.integer("seq"), token_id=fields.integer("token_id"))


Message: TypeAlias = CheckRecorded | StatusChanged | CacheInvalidated | RegistryChanged | TokenRevoked

_M = TypeVar("_M", CheckRecorded, StatusChanged, CacheInvalidated, RegistryChanged, TokenRevoked)

MESSAGE_TYPES: tuple[type[Message], ...] = (
    CheckRecorded,
    StatusChanged,
    CacheInvalidated,
    RegistryChanged,
    TokenRevoked,
)
_BY_NAME: dict[str, type[Message]] = {kind.__name__: kind for kind in MESSAGE_TYPES}


def encode(message: Message) -> str:
    """The wire form of any message (the same text as `message.to_json()`)."""
    return _dump(message)


def to_wire(message: Message) -> dict[str, Any]:
    """The JSON object of a message, for embedding it in a larger document."""
    return {"v": WIRE_VERSION, "type": type(message).__name__, **message._fields()}


def decode(data: str | bytes) -> Message:
    """Parse any message from its wire form; raises `MalformedMessage` for anything else."""
    return from_wire(parse_json(data))


def parse_json(data: str | bytes) -> Any:
    """Strict JSON (no NaN or Infinity); raises `MalformedMessage` for anything else."""
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from exc


def from_wire(document: object) -> Message:
    """Build a message from an already-parsed JSON object (the inverse of `to_wire`)."""
    if not isinstance(document, Mapping):
        raise MalformedMessage(f"expected a JSON object, got {type(document).__name__}")
    version = document.get("v")
    if version != WIRE_VERSION or isinstance(version, bool):
        raise MalformedMessage(f"unsupported message version {version!r} (this build reads {WIRE_VERSION})")
    name = document.get("type")
    kind = _BY_NAME.get(name) if isinstance(name, str) else None
    if kind is None:
        raise MalformedMessage(f"unknown message type {name!r}")
    return kind._parse(_Fields(document, kind.__name__))


def _dump(message: Message) -> str:
    # allow_nan=False: NaN is not JSON, and other languages' readers would reject it.
    return json.dumps(to_wire(message), allow_nan=False, separators=(",", ":"))


def _reject_constant(name: str) -> float:
    raise MalformedMessage(f"{name} is not a JSON number")


def _expect(kind: type[_M], message: Message) -> _M:
    if not isinstance(message, kind):
        raise MalformedMessage(f"expected a {kind.__name__}, got a {type(message).__name__}")
    return message


class _Fields:
    """Typed access to one JSON object; every failure names `where.field` and what was wrong."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self._data = data
        self._where = where

    def _fail(self, name: str, expected: str) -> MalformedMessage:
        if name not in self._data:
            return MalformedMessage(f"{self._where}.{name} is missing")
        got = type(self._data[name]).__name__
        return MalformedMessage(f"{self._where}.{name}: expected {expected}, got {got}")

    def integer(self, name: str) -> int:
        value = self._data.get(name)
        # bool is an int subclass, but `true` is never a valid id or sequence number.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self._fail(name, "an integer")

    def flag(self, name: str) -> bool:
        """A boolean that an older publisher may not send: absent means False."""
        value = self._data.get(name, False)
        if isinstance(value, bool):
            return value
        raise self._fail(name, "a boolean")

    def optional_integer(self, name: str) -> int | None:
        return None if self._data.get(name) is None else self.integer(name)

    def optional_float(self, name: str) -> float | None:
        value = self._data.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise self._fail(name, "a number")

    def text(self, name: str, *, default: str | None = None) -> str:
        value = self._data.get(name, default)
        if isinstance(value, str):
            return value
        raise self._fail(name, "a string")

    def optional_text(self, name: str) -> str | None:
        return None if self._data.get(name) is None else self.text(name)

    def texts(self, name: str) -> tuple[str, ...]:
        value = self._data.get(name, [])
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise self._fail(name, "a list of strings")

    def status(self, name: str) -> HealthStatus:
        value = self.text(name)
        try:
            return HealthStatus(value)
        except ValueError:
            raise MalformedMessage(f"{self._where}.{name}: unknown status {value!r}") from None

    def timestamp(self, name: str) -> dt.datetime:
        value = self.text(name)
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise MalformedMessage(f"{self._where}.{name}: not an ISO 8601 timestamp: {value!r}") from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise MalformedMessage(f"{self._where}.{name}: timestamp has no timezone: {value!r}")
        return parsed

    def nested(self, name: str) -> _Fields:
        value = self._data.get(name)
        if isinstance(value, Mapping):
            return _Fields(value, f"{self._where}.{name}")
        raise self._fail(name, "an object")
