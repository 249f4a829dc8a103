"""The closed sets metric label values come from, and the normalisers that enforce them.

Every label value the gateway exports is one of these enums, a routing-table model name, or one
of the first N teams / policies / entity types seen; anything else becomes ``"other"``. A key
secret, a user id or request text can therefore never become a series (peer gateways minted a
permanent series per mistyped model name until memory ran out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

OTHER: Final = "other"

STATUS_CLASSES: Final = ("2xx", "4xx", "5xx")
# In this order: the hot path indexes tuples of children by the stream flag (False=0, True=1).
STREAM_VALUES: Final = ("false", "true")
TOKEN_KINDS: Final = ("input", "output", "cache_read", "cache_write")
OPERATIONS: Final = ("converse", "converse_stream", "apply_guardrail")
BUDGET_REASONS: Final = ("insufficient_quota", "rate_limit_exceeded")
WINDOWS: Final = ("minute", "hour", "day", "month")
GUARDRAIL_SOURCES: Final = ("input", "output")
# Bedrock's assessment actions (BLOCKED, ANONYMIZED) and its top-level GUARDRAIL_INTERVENED.
GUARDRAIL_ACTIONS: Final = ("blocked", "anonymized", "intervened")
PII_DIRECTIONS: Final = ("request", "response")
# gateway.policy.Action minus "allow", which never redacts anything.
PII_ACTIONS: Final = ("mask", "pseudonymize", "hash", "block")
# Gateway error codes an upstream call can end with (gateway/bedrock/errors.py, client, stream);
# a unit test keeps this list in step with the mapping table.
UPSTREAM_ERRORS: Final = (
    "validation_error",
    "access_denied",
    "model_not_found",
    "rate_limit_exceeded",
    "model_not_ready",
    "service_unavailable",
    "timeout",
    "upstream_error",
    "upstream_unreachable",
    "upstream_protocol_error",
    "malformed_model_output",
    "credentials_unavailable",
)

_MAX_LABEL_LENGTH = 128


def status_class(status: int) -> str:
    """HTTP status → "2xx" / "4xx" / "5xx"; the gateway answers nothing else on its API."""
    if status < 400:
        return "2xx"
    if status < 500:
        return "4xx"
    return "5xx"


class ClosedLabel:
    """Maps a value to itself when it belongs to a fixed set (or an alias of it), else "other"."""

    __slots__ = ("_table",)

    def __init__(self, values: Iterable[str], aliases: Mapping[str, str] | None = None) -> None:
        table = {value: value for value in values}
        for alias, value in (aliases or {}).items():
            if value not in table:
                raise ValueError(f"alias {alias!r} names {value!r}, which is not in the set")
            table[alias] = value
        self._table: dict[str, str] = table

    def __call__(self, value: str) -> str:
        return self._table.get(value, OTHER)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self._table.values()))


class CappedLabel:
    """The first ``cap`` distinct values keep their name; every later one becomes "other".

    Memory stays bounded too: values past the cap are not remembered. The gateway runs one event
    loop per process, so the check-then-insert needs no lock; under threads the cap could be
    overshot by the number of racing threads, never more. With several worker processes each
    worker caps on its own, so the scrape holds at most workers × cap values (pass ``seed`` —
    e.g. the teams in the key store — to make the common values agree across workers).
    """

    __slots__ = ("_cap", "_seen")

    def __init__(self, cap: int, seed: Iterable[str] = ()) -> None:
        if cap < 0:
            raise ValueError("cap must be >= 0")
        self._cap = cap
        self._seen: dict[str, str] = {}
        for value in seed:
            self(value)

    def __call__(self, value: str) -> str:
        label = self._seen.get(value)
        if label is not None:
            return label
        if len(self._seen) >= self._cap or not value or len(value) > _MAX_LABEL_LENGTH:
            return OTHER
        self._seen[value] = value
        return value

    def __len__(self) -> int:
        return len(self._seen)


def model_label(models: Iterable[str]) -> ClosedLabel:
    """Routing-table names label themselves; anything a client invents is "other"."""
    return ClosedLabel(models)


def guardrail_source() -> ClosedLabel:
    return ClosedLabel(GUARDRAIL_SOURCES, {"INPUT": "input", "OUTPUT": "output"})


def guardrail_action() -> ClosedLabel:
    return ClosedLabel(
        GUARDRAIL_ACTIONS,
        {"BLOCKED": "blocked", "ANONYMIZED": "anonymized", "GUARDRAIL_INTERVENED": "intervened"},
    )
