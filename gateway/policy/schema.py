"""Policy file schema version 1: the shape of a document, as msgspec Structs.

Enumerated values are read as strings and checked in ``build.py``, so a bad one is
reported with its exact field (msgspec reports a bad dict value only as ``[...]``) and
with the allowed choices.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import msgspec.inspect

from gateway.policy.config import Action
from gateway.policy.model import (
    SCHEMA_VERSION,
    GuardrailMode,
    GuardrailTrace,
    GuardScope,
    OnError,
    StreamProcessing,
)

FieldPath = tuple[str | int, ...]
Issue = tuple[FieldPath, str]

# The same rule as team and key ids, so a policy name can be stored beside them.
POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


class CustomDoc(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    pattern: str
    action: str = Action.MASK.value
    ignore_case: bool = False


class PiiDoc(msgspec.Struct, forbid_unknown_fields=True):
    # Secure by default: a file that says nothing about PII masks every type both ways.
    input: bool = True
    output: bool = True
    default_action: str = Action.MASK.value
    actions: dict[str, Any] = {}
    custom: list[CustomDoc] = []
    deny_words: list[str] = []
    deny_words_action: str = Action.MASK.value


class GuardrailDoc(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    version: str | int  # YAML reads an unquoted 1 as a number; both mean the same version
    mode: str = GuardrailMode.INLINE.value
    guard: str = GuardScope.LATEST_USER.value
    trace: str = GuardrailTrace.ENABLED.value
    stream_processing: str = StreamProcessing.SYNC.value
    on_error: str = OnError.FAIL_CLOSED.value


class BudgetDoc(msgspec.Struct, forbid_unknown_fields=True):
    on_exhausted: str = "reject"


class PolicyDoc(msgspec.Struct, forbid_unknown_fields=True):
    version: int
    name: str | None = None
    description: str = ""
    pii: PiiDoc = msgspec.field(default_factory=PiiDoc)
    guardrail: GuardrailDoc | None = None
    budget: BudgetDoc = msgspec.field(default_factory=BudgetDoc)


def fields_at(path: FieldPath) -> tuple[str, ...]:
    """The field names the schema allows in the mapping at ``path`` (none if not a mapping)."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(PolicyDoc)
    for segment in (*path, None):
        if isinstance(info, msgspec.inspect.UnionType):  # X | None: the non-None member
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
        if segment is None:
            break
        if isinstance(info, msgspec.inspect.StructType) and isinstance(segment, str):
            found = [f.type for f in info.fields if f.name == segment]
            if not found:
                return ()
            info = found[0]
        elif isinstance(info, msgspec.inspect.ListType) and isinstance(segment, int):
            info = info.item_type
        else:
            return ()
    if isinstance(info, msgspec.inspect.StructType):
        return tuple(f.name for f in info.fields)
    return ()


def check_version(data: object) -> Issue | None:
    """Before anything else: a file of another schema version is not read as version 1."""
    if isinstance(data, dict) and "version" in data:
        version = data["version"]
        if version != SCHEMA_VERSION or isinstance(version, bool):
            return (("version",), f"unsupported schema version {version!r}; this gateway reads 1")
    return None


__all__ = [
    "POLICY_NAME",
    "BudgetDoc",
    "CustomDoc",
    "FieldPath",
    "GuardrailDoc",
    "Issue",
    "PiiDoc",
    "PolicyDoc",
    "check_version",
    "fields_at",
]
