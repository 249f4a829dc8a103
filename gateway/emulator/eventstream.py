"""AWS event-stream encoder (protocols §3.2): what the emulator writes and tests decode."""

from __future__ import annotations

import json
import struct
import zlib

_STRING = 7


def _header(name: bytes, value: bytes) -> bytes:
    return bytes((len(name),)) + name + bytes((_STRING,)) + struct.pack(">H", len(value)) + value


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    """One event-stream message with prelude CRC and message CRC."""
    head = b"".join(_header(k.encode(), v.encode()) for k, v in headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


# The fixed header block of every JSON event, cached per event type.
_EVENT_HEADS: dict[str, bytes] = {}


def encode_event(event_type: str, payload: bytes) -> bytes:
    """An ``:message-type: event`` message whose payload is the event's JSON body."""
    head = _EVENT_HEADS.get(event_type)
    if head is None:
        head = (
            _header(b":message-type", b"event")
            + _header(b":event-type", event_type.encode())
            + _header(b":content-type", b"application/json")
        )
        _EVENT_HEADS[event_type] = head
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + head + payload
    return body + struct.pack(">I", zlib.crc32(body))


def encode_exception(member: str, message: str) -> bytes:
    """A modeled exception event, e.g. ``throttlingException`` (lower camel member name)."""
    return encode_exception_payload(member, json.dumps({"message": message}).encode())


def encode_exception_payload(member: str, payload: bytes) -> bytes:
    """A modeled exception event with a caller-built payload (shapes with extra members)."""
    return encode_message(
        [
            (":message-type", "exception"),
            (":exception-type", member),
            (":content-type", "application/json"),
        ],
        payload,
    )


def encode_error(code: str, message: str) -> bytes:
    """A generic ``:message-type: error`` message (code and message in headers)."""
    return encode_message(
        [(":message-type", "error"), (":error-code", code), (":error-message", message)], b""
    )
