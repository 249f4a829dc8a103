"""The emulator's run-time state: settings, retry counters, the request log and stream stats."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from gateway.emulator.directives import NonNegFloat, TokenCount
from gateway.emulator.guardrail import GuardrailPolicy
from gateway.emulator.guardrail_pii import PiiSetting, PiiType

LOG_SIZE = 1000
DEFAULT_TOKENS = 32


class GuardrailUpdate(msgspec.Struct, forbid_unknown_fields=True):
    blocked_words: list[str] | None = None
    blocked_input_message: str | None = None
    blocked_output_message: str | None = None
    # Entity type -> ANONYMIZE | BLOCK; replaces the previous map ({} switches PII off).
    pii: dict[PiiType, PiiSetting] | None = None


class ConfigUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /_emulator/config``: every key optional, unknown keys rejected."""

    tokens: TokenCount | None = None
    ttfb_ms: NonNegFloat | None = None
    token_delay_ms: NonNegFloat | None = None
    record: bool | None = None
    guardrail: GuardrailUpdate | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    """Defaults for requests whose directives do not say otherwise."""

    tokens: int = DEFAULT_TOKENS
    ttfb_ms: float = 0.0
    token_delay_ms: float = 0.0
    record: bool = True
    guardrail: GuardrailPolicy = field(default_factory=GuardrailPolicy)

    def updated(self, update: ConfigUpdate) -> Settings:
        policy = self.guardrail
        if update.guardrail is not None:
            g = update.guardrail
            policy = GuardrailPolicy(
                tuple(g.blocked_words) if g.blocked_words is not None else policy.blocked_words,
                g.blocked_input_message or policy.blocked_input_message,
                g.blocked_output_message or policy.blocked_output_message,
                tuple(sorted(g.pii.items())) if g.pii is not None else policy.pii,
            )
        return Settings(
            tokens=self.tokens if update.tokens is None else update.tokens,
            ttfb_ms=self.ttfb_ms if update.ttfb_ms is None else update.ttfb_ms,
            token_delay_ms=(
                self.token_delay_ms if update.token_delay_ms is None else update.token_delay_ms
            ),
            record=self.record if update.record is None else update.record,
            guardrail=policy,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "ttfb_ms": self.ttfb_ms,
            "token_delay_ms": self.token_delay_ms,
            "record": self.record,
            "guardrail": {
                "blocked_words": list(self.guardrail.blocked_words),
                "blocked_input_message": self.guardrail.blocked_input_message,
                "blocked_output_message": self.guardrail.blocked_output_message,
                "pii": dict(self.guardrail.pii),
            },
        }


@dataclass(slots=True)
class Stats:
    requests: int = 0
    active_streams: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0


class Recorded(NamedTuple):
    """A logged request, kept raw: decoding waits until someone asks for the log."""

    operation: str
    model_id: str | None
    path: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _redact(name: str, value: str) -> str:
    if name == "authorization":
        # "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/aws4_request, ..."
        # keeps only the scope "20250101/us-east-1/bedrock/aws4_request".
        marker = "Credential="
        start = value.find(marker)
        if start >= 0:
            credential = value[start + len(marker) :].split(",", 1)[0].strip()
            return credential.split("/", 1)[1] if "/" in credential else ""
        return value.split(" ", 1)[0]  # "Bearer": the scheme, never the token
    if name == "x-amz-security-token":
        return "<redacted>"
    return value


def _decode_body(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body.decode("utf-8", "replace")


class State:
    """Shared by every connection of one emulator; mutated only on the event loop thread."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.stats = Stats()
        self.error_counts: dict[str, int] = {}
        self.log: deque[Recorded] = deque(maxlen=LOG_SIZE)
        # Request ids look like UUIDs: a per-process random prefix and a counter.
        rand = os.urandom(10).hex()
        self._id_prefix = f"{rand[:8]}-{rand[8:12]}-{rand[12:16]}-{rand[16:20]}-".encode()
        self._id_counter = 0

    def request_id(self) -> bytes:
        self._id_counter += 1
        return b"%s%012x" % (self._id_prefix, self._id_counter)

    def reset(self) -> None:
        self.settings = Settings()
        self.error_counts.clear()
        self.log.clear()
        # active_streams is a live gauge: streams still running are still active.
        self.stats = Stats(active_streams=self.stats.active_streams)

    def should_fail(self, key: str, times: int) -> bool:
        """Count one request carrying ``key``; True while it is among the first ``times``."""
        seen = self.error_counts.get(key, 0) + 1
        self.error_counts[key] = seen
        return seen <= times

    def log_json(self) -> list[dict[str, Any]]:
        out = []
        for entry in self.log:
            headers: dict[str, str] = {}
            for raw_name, raw_value in entry.headers:
                name = raw_name.decode("latin-1").lower()
                headers[name] = _redact(name, raw_value.decode("latin-1"))
            out.append(
                {
                    "operation": entry.operation,
                    "model_id": entry.model_id,
                    "path": entry.path.decode("latin-1"),
                    "headers": headers,
                    "body": _decode_body(entry.body),
                }
            )
        return out
