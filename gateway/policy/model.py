"""A loaded policy: the compiled redactor, what it applies to, guardrail and budget settings."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy.config import RedactionConfig
from gateway.policy.redactor import Redactor

SCHEMA_VERSION = 1


class GuardrailMode(enum.StrEnum):
    INLINE = "inline"  # guardrailConfig on Converse/ConverseStream
    APPLY = "apply"  # separate ApplyGuardrail calls before and after the model


class GuardScope(enum.StrEnum):
    LATEST_USER = "latest_user"  # wrap the latest user turn in guardContent
    ALL = "all"  # no guardContent: the guardrail evaluates every message


class GuardrailTrace(enum.StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"
    ENABLED_FULL = "enabled_full"


class StreamProcessing(enum.StrEnum):
    SYNC = "sync"  # chunks are held until the guardrail has assessed them
    ASYNC = "async"  # chunks flow at once; an intervention arrives after the fact


class OnError(enum.StrEnum):
    FAIL_CLOSED = "fail_closed"  # the guardrail cannot be reached: reject the request
    FAIL_OPEN = "fail_open"  # ...: carry on without it


@dataclass(frozen=True, slots=True)
class GuardrailSettings:
    """A Bedrock Guardrail and how the gateway applies it."""

    identifier: str  # guardrailIdentifier: an id or a guardrail ARN
    version: str  # "DRAFT" or "1".."99999999"
    mode: GuardrailMode = GuardrailMode.INLINE
    guard: GuardScope = GuardScope.LATEST_USER
    trace: GuardrailTrace = GuardrailTrace.ENABLED
    stream_processing: StreamProcessing = StreamProcessing.SYNC
    on_error: OnError = OnError.FAIL_CLOSED

    def converse_config(self, *, stream: bool) -> dict[str, Any]:
        """The ``guardrailConfig`` member of a Converse (or ConverseStream) request."""
        config: dict[str, Any] = {
            "guardrailIdentifier": self.identifier,
            "guardrailVersion": self.version,
            "trace": self.trace.value,
        }
        if stream:
            config["streamProcessingMode"] = self.stream_processing.value
        return config


@dataclass(frozen=True, slots=True, eq=False)
class Policy:
    """One policy file, validated and compiled; shared read-only by every request using it.

    ``redactor`` is built from ``redaction`` at load time so requests do no setup.
    Compared by identity: two loads of the same file are different policies.
    """

    name: str
    description: str
    redaction: RedactionConfig
    redactor: Redactor
    redact_input: bool
    redact_output: bool
    guardrail: GuardrailSettings | None
    budget_shrink: bool  # budget nearly spent: lower max_tokens to what remains, not reject
    source: Path | None


__all__ = [
    "SCHEMA_VERSION",
    "GuardScope",
    "GuardrailMode",
    "GuardrailSettings",
    "GuardrailTrace",
    "OnError",
    "Policy",
    "StreamProcessing",
]
