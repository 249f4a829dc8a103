"""EventStreamDecoder: events, exception/error messages, corruption and arbitrary splits."""

from __future__ import annotations

import itertools
import json
import struct
import zlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.bedrock.eventstream import PROTOCOL_ERROR_CODE, EventStreamDecoder, StreamItem
from gateway.emulator.eventstream import encode_error, encode_event, encode_exception
from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)


def _event(event_type: str, body: object) -> bytes:
    return encode_event(event_type, json.dumps(body).encode())


def _frame(headers: bytes, payload: bytes, *, total: int | None = None) -> bytes:
    """A message with correct CRCs around arbitrary (possibly invalid) header bytes."""
    length = 12 + len(headers) + len(payload) + 4 if total is None else total
    prelude = struct.pack(">II", length, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


SMALL_STREAM = b"".join(
    [
        _event("messageStart", {"role": "assistant"}),
        _event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hé"}}),
        _event("contentBlockStop", {"contentBlockIndex": 0}),
        _event("messageStop", {"stopReason": "end_turn"}),
    ]
)
SMALL_EVENTS = [
    ("messageStart", b'{"role": "assistant"}'),
    ("contentBlockDelta", b'{"contentBlockIndex": 0, "delta": {"text": "H\\u00e9"}}'),
    ("contentBlockStop", b'{"contentBlockIndex": 0}'),
    ("messageStop", b'{"stopReason": "end_turn"}'),
]


def _only_error(items: list[StreamItem]) -> GatewayError:
    assert len(items) == 1
    error = items[0]
    assert isinstance(error, GatewayError)
    return error


def test_events_come_out_in_order_with_raw_payloads() -> None:
    assert EventStreamDecoder().feed(SMALL_STREAM) == SMALL_EVENTS


def test_worked_example_from_protocols_decodes() -> None:
    raw = bytes.fromhex("0000007a00000051ca2c4665") + (
        b"\x0d:message-type\x07\x00\x05event"
        b"\x0b:event-type\x07\x00\x0bmessageStop"
        b"\x0d:content-type\x07\x00\x10application/json"
        b'{"stopReason":"end_turn"}'
    )
    raw += bytes.fromhex("3dc33bfa")
    assert EventStreamDecoder().feed(raw) == [("messageStop", b'{"stopReason":"end_turn"}')]


def test_split_at_every_offset_gives_the_same_items() -> None:
    for offset in range(len(SMALL_STREAM) + 1):
        decoder = EventStreamDecoder()
        items = decoder.feed(SMALL_STREAM[:offset]) + decoder.feed(SMALL_STREAM[offset:])
        assert items == SMALL_EVENTS, f"split at {offset}"
        assert decoder.end() == [], f"split at {offset}"


def test_one_byte_at_a_time() -> None:
    decoder = EventStreamDecoder()
    items = [
        item for i in range(len(SMALL_STREAM)) for item in decoder.feed(SMALL_STREAM[i : i + 1])
    ]
    assert items == SMALL_EVENTS


def test_one_large_read_holding_many_messages() -> None:
    # Larger than the decoder's internal slice, with messages straddling slice borders.
    events = [
        ("contentBlockDelta", json.dumps({"contentBlockIndex": 0, "delta": {"text": f"t{i}"}}))
        for i in range(2000)
    ]
    raw = b"".join(encode_event(kind, body.encode()) for kind, body in events)
    assert len(raw) > 100_000
    decoded = EventStreamDecoder().feed(raw)
    assert decoded == [(kind, body.encode()) for kind, body in events]


EXCEPTION_CASES = [
    ("throttlingException", RateLimitError, "rate_limit_exceeded"),
    ("modelStreamErrorException", UpstreamError, "upstream_error"),
    ("internalServerException", UpstreamError, "upstream_error"),
    ("validationException", InvalidRequestError, "validation_error"),
    ("serviceUnavailableException", UpstreamUnavailableError, "service_unavailable"),
    ("modelTimeoutException", UpstreamTimeoutError, "timeout"),
    ("someFutureException", UpstreamError, "upstream_error"),
]


@pytest.mark.parametrize(("member", "cls", "code"), EXCEPTION_CASES)
def test_exception_message_maps_to_gateway_error(
    member: str, cls: type[GatewayError], code: str
) -> None:
    error = _only_error(EventStreamDecoder().feed(encode_exception(member, "Slow down, please")))
    assert type(error) is cls
    assert error.code == code
    assert error.message == "Slow down, please"
    assert error.bedrock_code == member


def test_exception_payload_with_capitalised_message_key() -> None:
    raw = _frame(
        _headers([(":message-type", "exception"), (":exception-type", "throttlingException")]),
        b'{"Message":"capital M"}',
    )
    assert _only_error(EventStreamDecoder().feed(raw)).message == "capital M"


def test_exception_payload_that_is_not_json_still_maps_by_code() -> None:
    raw = _frame(
        _headers([(":message-type", "exception"), (":exception-type", "throttlingException")]),
        b"<html>oops</html>",
    )
    error = _only_error(EventStreamDecoder().feed(raw))
    assert isinstance(error, RateLimitError)
    assert error.message == "Bedrock returned an error"


def test_error_message_takes_code_and_text_from_headers() -> None:
    error = _only_error(EventStreamDecoder().feed(encode_error("ThrottlingException", "busy")))
    assert isinstance(error, RateLimitError)
    assert error.message == "busy"
    assert error.bedrock_code == "ThrottlingException"


def test_events_before_an_exception_are_still_delivered() -> None:
    raw = SMALL_STREAM[: -len(_event("messageStop", {"stopReason": "end_turn"}))]
    raw += encode_exception("modelStreamErrorException", "model broke")
    items = EventStreamDecoder().feed(raw)
    assert items[:3] == SMALL_EVENTS[:3]
    assert isinstance(items[3], UpstreamError)
    assert items[3].message == "model broke"
    assert len(items) == 4


def test_unknown_event_types_pass_through() -> None:
    items = EventStreamDecoder().feed(_event("brandNewEvent", {"x": 1}))
    assert items == [("brandNewEvent", b'{"x": 1}')]


def test_message_without_event_type_is_skipped() -> None:
    raw = _frame(_headers([(":message-type", "event")]), b"{}") + SMALL_STREAM
    assert EventStreamDecoder().feed(raw) == SMALL_EVENTS


def _headers(pairs: list[tuple[str, str]]) -> bytes:
    out = b""
    for name, value in pairs:
        out += bytes((len(name),)) + name.encode() + b"\x07" + struct.pack(">H", len(value))
        out += value.encode()
    return out


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes((data[index] ^ 0x01,)) + data[index + 1 :]


first_len = len(_event("messageStart", {"role": "assistant"}))
# The second message (contentBlockDelta) has 87 bytes of headers; its payload starts at 99.
CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "header byte": lambda raw: _flip(raw, first_len + 60),
    "payload byte": lambda raw: _flip(raw, first_len + 110),
    "message crc": lambda raw: _flip(raw, 2 * first_len - 1),
    "prelude crc": lambda raw: _flip(raw, first_len + 9),
    "total length": lambda raw: _flip(raw, first_len + 3),
    "bad header type": lambda raw: (
        raw[:first_len] + _frame(b"\x02:x\x0a\x00", b"{}") + raw[first_len:]
    ),
    "total length too short for the frame": lambda raw: (
        raw[:first_len] + _frame(b"", b"", total=12) + raw[first_len:]
    ),
    "headers over 128 KiB": lambda raw: (
        raw[:first_len]
        + struct.pack(">II", 200_000, 150_000)
        + struct.pack(">I", zlib.crc32(struct.pack(">II", 200_000, 150_000)))
    ),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_frame_becomes_one_protocol_error_after_earlier_events(
    corrupt: Callable[[bytes], bytes],
) -> None:
    raw = corrupt(SMALL_STREAM)
    decoder = EventStreamDecoder()
    items = decoder.feed(raw)
    assert items[0] == SMALL_EVENTS[0]
    error = _only_error(items[1:])
    assert isinstance(error, UpstreamError)
    assert error.code == PROTOCOL_ERROR_CODE
    assert decoder.failed
    # The stream cannot be resynchronised: everything later is ignored.
    assert decoder.feed(SMALL_STREAM) == []
    assert decoder.end() == []


def test_corruption_is_reported_even_when_fed_byte_by_byte() -> None:
    raw = _flip(SMALL_STREAM, first_len + 110)
    decoder = EventStreamDecoder()
    items = [item for i in range(len(raw)) for item in decoder.feed(raw[i : i + 1])]
    assert items[0] == SMALL_EVENTS[0]
    assert _only_error(items[1:]).code == PROTOCOL_ERROR_CODE


@pytest.mark.parametrize("cut", [1, 11, 12, 30, len(SMALL_STREAM) - 1])
def test_body_ending_inside_a_message_is_a_protocol_error_at_end(cut: int) -> None:
    decoder = EventStreamDecoder()
    decoder.feed(SMALL_STREAM[:cut])
    assert _only_error(decoder.end()).code == PROTOCOL_ERROR_CODE
    assert decoder.end() == []


def test_empty_feed_and_clean_end_produce_nothing() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b"") == []
    assert decoder.end() == []


_EVENT_TYPES = st.sampled_from(["messageStart", "contentBlockDelta", "contentBlockStop", "x"])
_PAYLOADS = st.binary(max_size=300)


@given(
    events=st.lists(st.tuples(_EVENT_TYPES, _PAYLOADS), max_size=12),
    cuts=st.lists(st.integers(min_value=0), max_size=20),
)
def test_any_split_of_any_stream_gives_the_events_in_order(
    events: list[tuple[str, bytes]], cuts: list[int]
) -> None:
    raw = b"".join(encode_event(kind, payload) for kind, payload in events)
    bounds = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    decoder = EventStreamDecoder()
    items = [item for a, b in itertools.pairwise(bounds) for item in decoder.feed(raw[a:b])]
    assert items == events
    assert decoder.end() == []


@given(events=st.lists(st.tuples(_EVENT_TYPES, _PAYLOADS), min_size=1, max_size=6), data=st.data())
def test_a_flipped_bit_is_caught_after_the_intact_events_before_it(
    events: list[tuple[str, bytes]], data: st.DataObject
) -> None:
    frames = [encode_event(kind, payload) for kind, payload in events]
    raw = b"".join(frames)
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    bit = data.draw(st.integers(min_value=0, max_value=7))
    corrupt = raw[:index] + bytes((raw[index] ^ (1 << bit),)) + raw[index + 1 :]
    intact = 0  # frames wholly before the flipped byte
    while sum(len(f) for f in frames[: intact + 1]) <= index:
        intact += 1
    decoder = EventStreamDecoder()
    items = decoder.feed(corrupt) + decoder.end()
    assert items[:intact] == events[:intact]
    # A CRC-32 catches every single-bit error: the damaged frame is never delivered.
    error = _only_error(items[intact:])
    assert error.code == PROTOCOL_ERROR_CODE
