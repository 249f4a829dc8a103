"""The redaction engine's entry point: ``Redactor(config)`` and whole-text redaction."""

from __future__ import annotations

from collections.abc import Sequence

import regex

from gateway.policy.builtin import builtin_detectors
from gateway.policy.config import (
    MAX_LOOKBEHIND,
    Action,
    RedactionConfig,
    check_config,
    pattern_width,
)
from gateway.policy.cursor import PLACEHOLDER, Cursor, Plan, Redaction
from gateway.policy.detector import Detector, RegexDetector
from gateway.policy.pseudonym import PseudonymState
from gateway.policy.regions import find_gate
from gateway.policy.stream import OutputFilter

DENY_WORD = "DENY_WORD"

_PLACEHOLDER = r"<[A-Z][A-Z0-9_]{0,39}_[1-9][0-9]{0,5}>"
_PLACEHOLDER_CHARS = "<>_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class Redactor:
    """Pure and reusable: build one per policy at start-up and share it across requests.

    ``redact`` is for text the model will see; ``redact_output`` and ``output_filter``
    are for the model's answer, where placeholders are restored and values the client
    sent come back as they were.
    """

    __slots__ = ("_plan", "_restore_plan")

    def __init__(
        self, config: RedactionConfig | None = None, *, extra: Sequence[Detector] = ()
    ) -> None:
        config = config or RedactionConfig()
        builtins: list[Detector] = list(builtin_detectors())
        check_config(config, frozenset().union(*(d.entity_types for d in builtins)))
        detectors = [*builtins, *extra, *_custom_detectors(config)]
        detectors = [
            d for d in detectors if any(config.action_for(t) is not Action.ALLOW
                                        for t in d.entity_types)
        ]  # fmt: skip
        types = frozenset().union(*(d.entity_types for d in detectors))
        actions = {t: config.action_for(t) for t in types}
        pseudonymized = frozenset(t for t, a in actions.items() if a is Action.PSEUDONYMIZE)
        self._restore_plan: Plan | None = None
        if pseudonymized:
            placeholders = RegexDetector(
                types=(PLACEHOLDER,),
                pattern=regex.compile(_PLACEHOLDER, regex.VERSION0),
                max_length=49,
                run_chars=_PLACEHOLDER_CHARS,
                gate=find_gate("<"),
            )
            # First, so a placeholder wins ties and is never re-detected as something else.
            detectors.insert(0, placeholders)
            self._restore_plan = Plan(
                detectors=(placeholders,), actions={}, hash_key=None, pseudonymized=frozenset(),
                keep_left=MAX_LOOKBEHIND,  # reads no context words or table headers
            )  # fmt: skip
        self._plan = Plan(
            detectors=tuple(detectors),
            actions=actions,
            hash_key=config.hash_key,
            pseudonymized=pseudonymized,
        )

    @property
    def hold_back(self) -> int:
        """H: the most characters a streaming filter ever holds back."""
        held = max((d.max_length for d in self._plan.detectors), default=0)
        if self._restore_plan is not None:
            held += max(d.max_length for d in self._restore_plan.detectors)
        return held

    @property
    def entity_types(self) -> frozenset[str]:
        return frozenset(self._plan.actions)

    def redact(self, text: str, state: PseudonymState | None = None) -> tuple[str, list[Redaction]]:
        """Redact text bound for the model; raises ``PiiBlockedError`` for blocked types."""
        cursor = Cursor(self._plan, PseudonymState() if state is None else state, "input")
        return cursor.push(text, final=True), cursor.redactions

    def redact_output(
        self, text: str, state: PseudonymState | None = None
    ) -> tuple[str, list[Redaction]]:
        """Restore the client's values behind this request's placeholders in a whole
        answer, then redact it; the client's own values stay, the model's own PII keeps its
        placeholder. Offsets in the redactions refer to the restored text."""
        state = PseudonymState() if state is None else state
        if self._restore_plan is not None:
            text = Cursor(self._restore_plan, state, "restore").push(text, final=True)
        cursor = Cursor(self._plan, state, "output")
        return cursor.push(text, final=True), cursor.redactions

    def output_filter(self, state: PseudonymState, *, restore: bool = True) -> OutputFilter:
        """A streaming filter for one answer; ``restore=False`` redacts as for input."""
        if not restore:
            return OutputFilter(Cursor(self._plan, state, "input"))
        restorer = None
        if self._restore_plan is not None:
            restorer = Cursor(self._restore_plan, state, "restore")
        return OutputFilter(Cursor(self._plan, state, "output"), restorer)


def _custom_detectors(config: RedactionConfig) -> list[Detector]:
    found: list[Detector] = []
    for custom in config.custom:
        flags = regex.VERSION0 | (regex.IGNORECASE if custom.ignore_case else 0)
        found.append(
            RegexDetector(
                types=(custom.name,),
                pattern=regex.compile(custom.pattern, flags),
                max_length=pattern_width(custom.pattern),
            )
        )
    if config.deny_words:
        words = sorted({w.strip() for w in config.deny_words}, key=len, reverse=True)
        found.append(
            RegexDetector(
                types=(DENY_WORD,),
                pattern=regex.compile(
                    r"(?<![A-Za-z0-9_])\L<words>(?![A-Za-z0-9_])",
                    regex.VERSION0 | regex.IGNORECASE,
                    words=words,
                ),
                max_length=max(len(w) for w in words),
                run_chars=_word_chars(words),
            )
        )
    return found


def _word_chars(words: list[str]) -> str | None:
    """Characters a case-insensitive match of ``words`` can consume, when that is knowable
    (ASCII); lets a stream release text as soon as a word cannot be one of them."""
    joined = "".join(words)
    if not joined.isascii():
        return None
    return "".join(sorted(set(joined.lower() + joined.upper())))
