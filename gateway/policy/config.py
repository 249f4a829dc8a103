"""What a redactor is told to do: an action per entity type, custom patterns, deny words."""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import regex

MAX_CUSTOM_LENGTH = 256  # custom patterns must be bounded: this bounds the stream hold-back
_NAME = r"[A-Z][A-Z0-9_]{0,39}"


class Action(enum.StrEnum):
    MASK = "mask"  # "[EMAIL]"
    PSEUDONYMIZE = "pseudonymize"  # "<EMAIL_1>", restored in the answer
    HASH = "hash"  # "[EMAIL:3f2a9c1b0d4e]", keyed, stable across requests
    BLOCK = "block"  # reject the request (400 pii_blocked)
    ALLOW = "allow"  # do not look for this type at all


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """An operator-defined entity type. ``pattern`` must parse with both ``re`` (which
    proves it bounded: no ``+``/``*``, look-behinds ≤ 64) and ``regex`` (which runs it)."""

    name: str
    pattern: str
    ignore_case: bool = False


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    actions: Mapping[str, Action] = field(default_factory=dict)
    default_action: Action = Action.MASK
    custom: Sequence[CustomPattern] = ()
    deny_words: Sequence[str] = ()
    hash_key: bytes | None = None

    def action_for(self, entity_type: str) -> Action:
        return self.actions.get(entity_type, self.default_action)


class PolicyConfigError(ValueError):
    """A redaction config that cannot be used; raised at load time, never per request."""


MAX_LOOKBEHIND = 64  # a stream keeps this much text before its resume point (and more)


def pattern_width(pattern: str) -> int:
    """How far past its start a match attempt can look: the longest match plus the
    longest look-ahead. Raises if unbounded, or if a look-behind reaches further back
    than a stream keeps.

    Uses the standard library's own pattern parser (``re._parser``), the only parser
    that computes widths; patterns it cannot parse are rejected rather than guessed.
    """
    parser: Any = importlib.import_module("re._parser")
    try:
        parsed = parser.parse(pattern)
    except re.error as exc:
        raise PolicyConfigError(f"pattern cannot be analysed: {exc}") from exc
    ahead, behind = lookaround_reach(parsed)
    width = int(parsed.getwidth()[1]) + ahead
    if width > MAX_CUSTOM_LENGTH:
        raise PolicyConfigError(
            f"pattern may look at more than {MAX_CUSTOM_LENGTH} characters; "
            "use bounded repeats such as {1,32} instead of + or *"
        )
    if behind > MAX_LOOKBEHIND:
        raise PolicyConfigError(f"look-behinds may reach at most {MAX_LOOKBEHIND} characters")
    return width


def lookaround_reach(node: Any) -> tuple[int, int]:
    """Widest look-ahead and look-behind anywhere in a parsed pattern (``re._parser``)."""
    ahead = behind = 0
    if hasattr(node, "getwidth") and hasattr(node, "data"):
        items = node.data
    elif isinstance(node, (list, tuple)):
        items = node
    else:
        return 0, 0
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and str(item[0]) in _ASSERTS:
            direction, sub = item[1]
            inner_ahead, inner_behind = lookaround_reach(sub)
            # Conservative: a nested look-around may reach past the outer one's text.
            reach = int(sub.getwidth()[1]) + max(inner_ahead, inner_behind)
            if direction > 0:
                ahead = max(ahead, reach)
            else:
                behind = max(behind, reach)
            continue
        a, b = lookaround_reach(item)
        ahead, behind = max(ahead, a), max(behind, b)
    return ahead, behind


_ASSERTS = frozenset({"ASSERT", "ASSERT_NOT"})


def check_config(config: RedactionConfig, builtin_types: frozenset[str]) -> None:
    names = {c.name for c in config.custom}
    if len(names) != len(config.custom):
        raise PolicyConfigError("custom pattern names must be unique")
    for custom in config.custom:
        if not regex.fullmatch(_NAME, custom.name):
            raise PolicyConfigError(f"custom type name {custom.name!r} must be UPPER_SNAKE")
        if custom.name in builtin_types:
            raise PolicyConfigError(f"custom type {custom.name} shadows a built-in type")
        pattern_width(custom.pattern)
        try:
            regex.compile(custom.pattern)
        except regex.error as exc:
            raise PolicyConfigError(f"custom type {custom.name}: {exc}") from exc
    if any(not w.strip() for w in config.deny_words):
        raise PolicyConfigError("deny words must not be blank")
    if config.hash_key is None and Action.HASH in {
        config.default_action,
        *config.actions.values(),
    }:
        raise PolicyConfigError("the hash action needs a hash_key")


__all__ = [
    "Action",
    "CustomPattern",
    "PolicyConfigError",
    "RedactionConfig",
    "check_config",
]
