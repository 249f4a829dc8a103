"""Checks a decoded policy document and compiles it into a Policy (its Redactor included).

Pure: no file or YAML handling here (see ``files.py``). Problems are returned as
``(field path, message)`` pairs so the caller can point at the line that holds the field;
every problem in a document is collected, not only the first.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
from pathlib import Path
from typing import TypeVar

from gateway.policy.builtin import builtin_detectors
from gateway.policy.config import (
    Action,
    CustomPattern,
    PolicyConfigError,
    RedactionConfig,
    check_config,
)
from gateway.policy.model import (
    GuardrailMode,
    GuardrailSettings,
    GuardrailTrace,
    GuardScope,
    OnError,
    Policy,
    StreamProcessing,
)
from gateway.policy.redactor import DENY_WORD, Redactor
from gateway.policy.schema import (
    POLICY_NAME,
    CustomDoc,
    FieldPath,
    GuardrailDoc,
    Issue,
    PiiDoc,
    PolicyDoc,
)

# botocore's bedrock-runtime model: GuardrailIdentifier and GuardrailVersion patterns.
_GUARDRAIL_ID = re.compile(
    r"[a-z0-9]+|arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail/[a-z0-9]+"
)
_GUARDRAIL_VERSION = re.compile(r"[1-9][0-9]{0,7}|DRAFT")
_GUARDRAIL_ID_MAX = 2048
# Names operators reach for first, mapped to the Bedrock Guardrails names used here.
_ALIASES = {
    "SSN": "US_SOCIAL_SECURITY_NUMBER",
    "ITIN": "US_INDIVIDUAL_TAX_IDENTIFICATION_NUMBER",
    "CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "CREDIT_CARD": "CREDIT_DEBIT_CARD_NUMBER",
    "IBAN": "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "BIC": "SWIFT_CODE",
    "SWIFT": "SWIFT_CODE",
    "ROUTING_NUMBER": "US_BANK_ROUTING_NUMBER",
    "SIN": "CA_SOCIAL_INSURANCE_NUMBER",
    "NINO": "UK_NATIONAL_INSURANCE_NUMBER",
    "NHS_NUMBER": "UK_NATIONAL_HEALTH_SERVICE_NUMBER",
    "VIN": "VEHICLE_IDENTIFICATION_NUMBER",
    "IP": "IP_ADDRESS",
    "MAC": "MAC_ADDRESS",
    "PHONE_NUMBER": "PHONE",
}
# Bedrock Guardrails types (botocore's ``bedrock`` model, GuardrailPiiEntityType) that the
# built-in detectors do not find: no pattern decides them with useful precision.
_NOT_PATTERN_DECIDABLE = frozenset({
    "ADDRESS", "AGE", "CA_HEALTH_NUMBER", "CREDIT_DEBIT_CARD_CVV", "CREDIT_DEBIT_CARD_EXPIRY",
    "DRIVER_ID", "LICENSE_PLATE", "NAME", "PASSWORD", "PIN",
    "UK_UNIQUE_TAXPAYER_REFERENCE_NUMBER", "USERNAME", "US_BANK_ACCOUNT_NUMBER",
    "US_PASSPORT_NUMBER",
})  # fmt: skip


@functools.cache
def builtin_types() -> frozenset[str]:
    """Entity types the built-in detectors find (computed on first use, not at import)."""
    return frozenset().union(*(d.entity_types for d in builtin_detectors()))


_E = TypeVar("_E", bound=enum.StrEnum)


def _choice(value: object, kind: type[_E], path: FieldPath, issues: list[Issue]) -> _E | None:
    values = [member.value for member in kind]
    if isinstance(value, str) and value in values:
        return kind(value)
    choices = " | ".join(values)
    issues.append((path, f"{value!r} is not one of {choices}"))
    return None


def build_policy(
    doc: PolicyDoc, *, stem: str, source: Path | None, hash_key: bytes | None
) -> tuple[Policy | None, list[Issue]]:
    """Check a decoded document and compile it; the policy is None when any issue is found."""
    issues: list[Issue] = []
    name = doc.name if doc.name is not None else stem
    if not POLICY_NAME.fullmatch(name):
        where = "name" if doc.name is not None else "file name"
        issues.append(
            (("name",), f"{where} {name!r} is not a policy name (a-z, 0-9, '_', '-'; ≤ 64)")
        )
    redaction = _redaction(doc.pii, hash_key, issues)
    guardrail = _guardrail(doc.guardrail, issues) if doc.guardrail is not None else None
    shrink = doc.budget.on_exhausted == "shrink"
    if doc.budget.on_exhausted not in ("reject", "shrink"):
        issues.append(
            (
                ("budget", "on_exhausted"),
                f"{doc.budget.on_exhausted!r} is not one of reject | shrink",
            )
        )
    if issues or redaction is None:
        return None, issues
    try:
        redactor = Redactor(redaction)
    except PolicyConfigError as exc:  # the checks above should have caught it; say where
        return None, [(("pii",), str(exc))]
    policy = Policy(
        name=name,
        description=doc.description,
        redaction=redaction,
        redactor=redactor,
        redact_input=doc.pii.input,
        redact_output=doc.pii.output,
        guardrail=guardrail,
        budget_shrink=shrink,
        source=source,
    )
    return policy, []


def _redaction(pii: PiiDoc, hash_key: bytes | None, issues: list[Issue]) -> RedactionConfig | None:
    known = builtin_types()
    before = len(issues)
    default = _choice(pii.default_action, Action, ("pii", "default_action"), issues)
    actions: dict[str, Action] = {}
    custom: list[CustomPattern] = []
    seen: set[str] = set()
    for i, item in enumerate(pii.custom):
        at: FieldPath = ("pii", "custom", i)
        if _custom_name_ok(item, seen, known, (*at, "name"), issues):
            seen.add(item.name)
            pattern = CustomPattern(item.name, item.pattern, item.ignore_case)
            try:
                check_config(RedactionConfig(custom=(pattern,)), known)
            except PolicyConfigError as exc:
                issues.append(((*at, "pattern"), str(exc)))
            custom.append(pattern)
        action = _choice(item.action, Action, (*at, "action"), issues)
        if action is not None:
            actions[item.name] = action
    for entity, value in pii.actions.items():
        at = ("pii", "actions", entity)
        if entity in seen:
            issues.append((at, f"{entity} is a custom type: set its action in pii.custom"))
        elif entity == DENY_WORD:
            issues.append((at, "set the action for deny words with pii.deny_words_action"))
        elif entity not in known:
            issues.append((at, _unknown_type(entity, known | seen)))
        else:
            action = _choice(value, Action, at, issues)
            if action is not None:
                actions[entity] = action
    for i, word in enumerate(pii.deny_words):
        if not word.strip():
            issues.append((("pii", "deny_words", i), "deny words must not be blank"))
    deny_action = _choice(pii.deny_words_action, Action, ("pii", "deny_words_action"), issues)
    if deny_action is not None:
        actions[DENY_WORD] = deny_action
    if hash_key is None:
        issues.extend(_hash_without_key(pii, default, actions))
    if len(issues) > before or default is None:
        return None
    return RedactionConfig(
        actions=actions,
        default_action=default,
        custom=tuple(custom),
        deny_words=tuple(pii.deny_words),
        hash_key=hash_key,
    )


def _custom_name_ok(
    item: CustomDoc, seen: set[str], known: frozenset[str], at: FieldPath, issues: list[Issue]
) -> bool:
    if item.name in seen:
        issues.append((at, f"custom type {item.name} is defined twice"))
        return False
    if item.name == DENY_WORD:
        issues.append((at, f"{DENY_WORD} is reserved for pii.deny_words"))
        return False
    # Checked alone with a trivial pattern so that a name problem is reported on the name.
    try:
        check_config(RedactionConfig(custom=(CustomPattern(item.name, "x"),)), known)
    except PolicyConfigError as exc:
        issues.append((at, str(exc)))
        return False
    return True


def _unknown_type(entity: str, known: frozenset[str]) -> str:
    if entity in _NOT_PATTERN_DECIDABLE:
        return (
            f"{entity} is not detected by the gateway (no pattern decides it); "
            "use a Bedrock guardrail, or a custom type if yours follow a pattern"
        )
    alias = _ALIASES.get(entity)
    close = [alias] if alias else difflib.get_close_matches(entity, sorted(known), n=1)
    if close:
        return f"unknown entity type {entity!r}; did you mean {close[0]}?"
    return f"unknown entity type {entity!r}; known types: {', '.join(sorted(known))}"


def _hash_without_key(
    pii: PiiDoc, default: Action | None, actions: dict[str, Action]
) -> list[Issue]:
    # The key is a deployment secret, never in the policy file; say which field asked for it.
    message = "the hash action needs a hash key, and this gateway has none configured"
    found: list[Issue] = []
    if default is Action.HASH:
        found.append((("pii", "default_action"), message))
    for i, item in enumerate(pii.custom):
        if actions.get(item.name) is Action.HASH:
            found.append((("pii", "custom", i, "action"), message))
    for entity in pii.actions:
        if actions.get(entity) is Action.HASH:
            found.append((("pii", "actions", entity), message))
    if actions.get(DENY_WORD) is Action.HASH:
        found.append((("pii", "deny_words_action"), message))
    return found


def _guardrail(doc: GuardrailDoc, issues: list[Issue]) -> GuardrailSettings | None:
    before = len(issues)
    if len(doc.id) > _GUARDRAIL_ID_MAX or not _GUARDRAIL_ID.fullmatch(doc.id):
        issues.append(
            (("guardrail", "id"), "must be a guardrail id (a-z, 0-9) or a Bedrock guardrail ARN")
        )
    version = str(doc.version)
    if isinstance(doc.version, bool) or not _GUARDRAIL_VERSION.fullmatch(version):
        issues.append((("guardrail", "version"), 'must be "DRAFT" or a number 1..99999999'))
    mode = _choice(doc.mode, GuardrailMode, ("guardrail", "mode"), issues)
    guard = _choice(doc.guard, GuardScope, ("guardrail", "guard"), issues)
    trace = _choice(doc.trace, GuardrailTrace, ("guardrail", "trace"), issues)
    stream = _choice(
        doc.stream_processing, StreamProcessing, ("guardrail", "stream_processing"), issues
    )
    on_error = _choice(doc.on_error, OnError, ("guardrail", "on_error"), issues)
    if (
        len(issues) > before
        or mode is None
        or guard is None
        or trace is None
        or stream is None
        or on_error is None
    ):
        return None
    return GuardrailSettings(
        identifier=doc.id,
        version=version,
        mode=mode,
        guard=guard,
        trace=trace,
        stream_processing=stream,
        on_error=on_error,
    )


__all__ = ["build_policy", "builtin_types"]
