"""Apply-mode guardrail over streamed model text: hold text back until ApplyGuardrail clears it.

``OutputGuard.feed(delta)`` returns the text now cleared for the client; ``finish()`` the
rest. Text is checked in windows: once ``check_every`` new characters have arrived, the
window (everything not yet released) goes to ApplyGuardrail OUTPUT. A clean window is
released except for a short tail (``holdback`` characters, cut back to a whitespace) that
is sent again with the next window, so a word or entity split across two windows is still
seen whole. An anonymised window is released in its masked form. A block stops the
stream: nothing more is released and ``blocked_text`` holds the guardrail's message for
the caller to send before finishing with ``finish_reason: content_filter``.

Why windows rather than the whole text so far: each call is billed per 1,000 characters,
so re-sending everything would cost quadratically in the reply length; the held-back tail
gives each window its neighbour's context at a constant cost.

Why 256 characters: about 60 tokens, one or two seconds of generation at common output
rates. The client sees text in bursts of a sentence or two, and each call stays within one
billed text unit (a smaller window costs the same per call but needs more of them; a
larger one saves calls but makes the pauses between bursts longer).

Latency cost: the first text reaches the client only after ``check_every`` characters
have been generated *and* one ApplyGuardrail round trip has completed (instead of at the
first token), and every later burst waits for one more round trip. ``feed`` awaits the
check inline, so the upstream stream is not read meanwhile (Bedrock keeps generating into
the socket buffers; nothing is lost). ``finish`` adds one final round trip after the model
stops, unless the remaining text was already checked.
"""

from __future__ import annotations

from gateway.policy.guardrail import (
    FALLBACK_BLOCKED_MESSAGE,
    Applied,
    GuardrailGate,
    verdict_for,
)
from gateway.policy.guardrail_summary import Assessment
from gateway.policy.model import GuardrailSettings

DEFAULT_CHECK_EVERY = 256
DEFAULT_HOLDBACK = 32
_SPACES = (" ", "\n", "\t", "\r")


def _cut(text: str, holdback: int) -> int:
    """How much of a checked window to release: all but a tail, cut back to a whitespace."""
    limit = len(text) - holdback
    if limit <= 0:
        return 0
    space = max(text.rfind(c, 0, limit) for c in _SPACES)
    # No whitespace at all (code, a long token): release up to the limit regardless, so a
    # reply with no spaces still flows.
    return space + 1 if space >= 0 else limit


class OutputGuard:
    """One streamed reply's output guardrail (apply mode); not shared between requests."""

    def __init__(
        self,
        gate: GuardrailGate,
        settings: GuardrailSettings,
        *,
        check_every: int = DEFAULT_CHECK_EVERY,
        holdback: int = DEFAULT_HOLDBACK,
    ) -> None:
        if check_every < 1 or holdback < 0 or holdback >= check_every:
            raise ValueError("need check_every >= 1 and 0 <= holdback < check_every")
        self._gate = gate
        self._settings = settings
        self._check_every = check_every
        self._holdback = holdback
        self._pending = ""  # received, not yet released; may start with a checked tail
        self._unchecked = 0  # characters at the end of _pending no check has seen
        self._blocked: str | None = None
        self.assessment = Assessment("OUTPUT")
        self.checks = 0

    @property
    def blocked_text(self) -> str | None:
        """The guardrail's message once it has blocked the reply, else None."""
        return self._blocked

    async def feed(self, text: str) -> str:
        """Take a model text delta; return what may be sent to the client now (maybe "")."""
        if self._blocked is not None or not text:
            return ""
        self._pending += text
        self._unchecked += len(text)
        if self._unchecked < self._check_every:
            return ""
        return await self._check(final=False)

    async def finish(self) -> str:
        """The model has finished: check what is left and return the rest to send."""
        if self._blocked is not None or not self._pending:
            return ""
        if not self._unchecked:
            # Only an already checked tail is left.
            out, self._pending = self._pending, ""
            return out
        return await self._check(final=True)

    async def _check(self, *, final: bool) -> str:
        window = self._pending
        applied: Applied = await self._gate.apply(self._settings, "OUTPUT", [window])
        self.checks += 1
        self.assessment = self.assessment.merged(applied.assessment)
        verdict = verdict_for(window, applied)
        if verdict.blocked:
            self._blocked = verdict.text or FALLBACK_BLOCKED_MESSAGE
            self._pending = ""
            self._unchecked = 0
            return ""
        cleared = verdict.text  # the window, masked if the guardrail anonymised it
        cut = len(cleared) if final else _cut(cleared, self._holdback)
        out, self._pending = cleared[:cut], cleared[cut:]
        self._unchecked = 0
        return out
