"""Server-sent-event framing of the OpenAI streaming wire format: data events, errors, [DONE]."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from gateway.errors import GatewayError

DATA_PREFIX: Final = b"data: "
EVENT_END: Final = b"\n\n"
# The SDK stops reading at any data line starting with [DONE] (protocols §5.5).
DONE: Final = b"data: [DONE]\n\n"

_ENCODER: Final = msgspec.json.Encoder()


def data_event(payload: bytes) -> bytes:
    """Frame already-encoded JSON as one event (JSON never holds a raw newline)."""
    return DATA_PREFIX + payload + EVENT_END


def json_event(obj: Any) -> bytes:
    """Encode ``obj`` as JSON and frame it as one event."""
    return DATA_PREFIX + _ENCODER.encode(obj) + EVENT_END


def error_event(error: GatewayError) -> bytes:
    """The in-band error: a top-level ``error`` object makes the SDK raise APIError."""
    return json_event(error.to_dict())
