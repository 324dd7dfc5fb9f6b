from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from events.messages import (
    MESSAGE_TYPES,
    CacheInvalidated,
    Channel,
    CheckRecorded,
    MalformedMessage,
    Message,
    RegistryChanged,
    StatusChanged,
    TokenRevoked,
    decode,
    encode,
)
from probes.result import HealthStatus
from tests.unit.events import cache_invalidated, check_recorded, status_changed

offsets = st.timedeltas(min_value=-dt.timedelta(hours=23), max_value=dt.timedelta(hours=23))
aware_datetimes = st.datetimes(
    min_value=dt.datetime(1970, 1, 2),
    max_value=dt.datetime(2200, 1, 1),
    timezones=st.just(dt.UTC) | st.builds(dt.timezone, offsets),
)
ints = st.integers(min_value=-(2**63), max_value=2**63)
statuses = st.sampled_from(HealthStatus)
optional_text = st.none() | st.text()

checks = st.builds(
    CheckRecorded,
    seq=ints,
    service_id=ints,
    check_id=ints,
    status=statuses,
    raw_status=statuses,
    checked_at=aware_datetimes,
    response_time_ms=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    http_status=st.none() | st.integers(min_value=100, max_value=599),
    failure_kind=optional_text,
    message=st.text(),
    service_version=optional_text,
)
changes = st.builds(
    StatusChanged,
    seq=ints,
    service_id=ints,
    previous_status=statuses,
    status=statuses,
    changed_at=aware_datetimes,
    check=checks,
)
invalidations = st.builds(
    CacheInvalidated,
    seq=ints,
    origin=st.text(),
    keys=st.lists(st.text(), max_size=5).map(tuple),
    tags=st.lists(st.text(), max_size=5).map(tuple),
)
registry_changes = st.builds(
    RegistryChanged, seq=ints, origin=st.text(), service_id=ints, deleted=st.booleans(), reseed=st.booleans()
)
revocations = st.builds(TokenRevoked, seq=ints, token_id=ints)
messages = checks | changes | invalidations | registry_changes | revocations

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(messages)
@example(check_recorded(1))
@example(status_changed(2))
@example(cache_invalidated(3))
@example(RegistryChanged(seq=4, origin="replica-a", service_id=9, deleted=True))
@example(TokenRevoked(seq=5, token_id=12))
def test_every_message_survives_a_json_round_trip_as_text_and_as_bytes(message: Message) -> None:
    text = message.to_json()

    assert decode(text) == message
    assert decode(text.encode()) == message
    assert type(message).from_json(text) == message
    assert encode(message) == text


@given(json_values)
@example({"v": 1, "type": "CheckRecorded"})
@example({"v": True, "type": "CacheInvalidated", "seq": 1, "origin": "a"})
def test_any_json_decodes_to_a_message_or_raises_malformed_message(document: Any) -> None:
    try:
        message = decode(json.dumps(document))
    except MalformedMessage:
        return
    assert isinstance(message, MESSAGE_TYPES)


@given(messages, st.data())
def test_a_message_with_one_field_replaced_decodes_or_raises_malformed_message(
    message: Message, data: st.DataObject
) -> None:
    document = json.loads(message.to_json())
    field = data.draw(st.sampled_from(sorted(document)))
    document[field] = data.draw(json_values)
    try:
        message = decode(json.dumps(document))
    except MalformedMessage:
        return
    assert isinstance(message, MESSAGE_TYPES)


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe not utf-8", "", "not json", "[1, 2]", '{"v": 1, "type": "CheckRecorded", "seq": NaN}'],
)
def test_payloads_that_are_not_message_json_raise_malformed_message(payload: str | bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode(payload)


def test_the_wire_form_is_versioned_typed_and_in_utc() -> None:
    message = status_changed(7)
    local_time = message.changed_at.astimezone(dt.timezone(dt.timedelta(hours=2)))
    document = json.loads(dataclasses.replace(message, changed_at=local_time).to_json())

    assert document["v"] == 1
    assert document["type"] == "StatusChanged"
    assert document["changed_at"] == "2026-11-29T10:30:00+00:00"
    assert document["check"]["status"] == "HEALTHY"


def test_unknown_fields_are_ignored_so_newer_replicas_can_add_some() -> None:
    document = json.loads(check_recorded(5).to_json())
    document["added_in_a_later_release"] = {"anything": [1, 2]}

    assert decode(json.dumps(document)) == check_recorded(5)


def test_a_missing_optional_field_takes_its_default() -> None:
    document = json.loads(check_recorded(5).to_json())
    del document["response_time_ms"], document["message"]

    parsed = CheckRecorded.from_json(json.dumps(document))

    assert parsed.response_time_ms is None
    assert parsed.message == ""


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"v": 2}, "unsupported message version 2"),
        ({"type": "Nope"}, "unknown message type 'Nope'"),
        ({"seq": True}, "CheckRecorded.seq: expected an integer, got bool"),
        ({"seq": None}, "CheckRecorded.seq: expected an integer, got NoneType"),
        ({"status": "FINE"}, "CheckRecorded.status: unknown status 'FINE'"),
        ({"checked_at": "2026-11-29T10:30:00"}, "CheckRecorded.checked_at: timestamp has no timezone"),
        ({"checked_at": "yesterday"}, "CheckRecorded.checked_at: not an ISO 8601 timestamp"),
        ({"response_time_ms": "12"}, "CheckRecorded.response_time_ms: expected a number, got str"),
    ],
)
def test_a_malformed_message_raises_an_error_that_names_the_field(change: dict[str, Any], error: str) -> None:
    document = {**json.loads(check_recorded(1).to_json()), **change}

    with pytest.raises(MalformedMessage, match=error):
        decode(json.dumps(document))


def test_a_missing_required_field_is_named_with_its_path() -> None:
    document = json.loads(status_changed(1).to_json())
    del document["check"]["check_id"]

    with pytest.raises(MalformedMessage, match=r"StatusChanged\.check\.check_id is missing"):
        decode(json.dumps(document))


def test_from_json_of_one_message_type_refuses_another() -> None:
    with pytest.raises(MalformedMessage, match="expected a StatusChanged, got a CheckRecorded"):
        StatusChanged.from_json(check_recorded(1).to_json())


def test_a_naive_timestamp_is_refused_when_the_message_is_built() -> None:
    with pytest.raises(ValueError, match="checked_at must be timezone-aware"):
        CheckRecorded(
            seq=1,
            service_id=1,
            check_id=1,
            status=HealthStatus.HEALTHY,
            raw_status=HealthStatus.HEALTHY,
            checked_at=dt.datetime(2026, 11, 29, 10, 30),
        )


def test_each_message_type_belongs_to_its_channel() -> None:
    assert CheckRecorded.channel is Channel.CHECKS
    assert StatusChanged.channel is Channel.STATUS
    assert CacheInvalidated.channel is Channel.INVALIDATION
    assert RegistryChanged.channel is Channel.REGISTRY
    assert TokenRevoked.channel is Channel.ACCESS


def test_a_token_revocation_without_a_token_id_names_the_field() -> None:
    document = {"v": 1, "type": "TokenRevoked", "seq": 1}

    with pytest.raises(MalformedMessage, match=r"TokenRevoked\.token_id is missing"):
        decode(json.dumps(document))
    with pytest.raises(MalformedMessage, match=r"TokenRevoked\.token_id: expected an integer, got str"):
        decode(json.dumps({**document, "token_id": "7"}))


def test_a_registry_change_from_an_older_publisher_without_flags_reads_as_a_plain_change() -> None:
    document = {"v": 1, "type": "RegistryChanged", "seq": 1, "origin": "replica-a", "service_id": 3}

    assert decode(json.dumps(document)) == RegistryChanged(seq=1, origin="replica-a", service_id=3)
    with pytest.raises(MalformedMessage, match=r"RegistryChanged\.deleted: expected a boolean, got int"):
        decode(json.dumps({**document, "deleted": 1}))
