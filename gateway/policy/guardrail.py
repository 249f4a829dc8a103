"""The Bedrock Guardrails stage: inline guardrailConfig, and ApplyGuardrail checks in apply mode.

Inline mode only rewrites the Converse call (``apply_inline``); Bedrock does the rest and
reports ``stopReason: guardrail_intervened``. Apply mode calls ApplyGuardrail on the input
before the model (``GuardrailGate.check_input``) and on the output after it
(``check_output``; streams use ``guardrail_stream.OutputGuard``).

A guardrail that cannot be consulted fails closed (``GuardrailUnavailableError``) unless the
policy says ``on_error: fail_open``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from gateway.errors import GatewayError, InvalidRequestError, ServiceUnavailableError
from gateway.policy.guardrail_input import guarded_slots, replace_texts, wrap_latest_user
from gateway.policy.guardrail_summary import Assessment, Source, summarise_response
from gateway.policy.model import GuardrailSettings, GuardScope, OnError

if TYPE_CHECKING:
    # Types only: the policy package does not pull the Bedrock client (and botocore) in.
    from gateway.bedrock.client import BedrockApi
    from gateway.bedrock.translate import ConverseCall

logger = logging.getLogger("gateway.guardrail")

# Used only when Bedrock reports a block but returns no text to show (not expected).
FALLBACK_BLOCKED_MESSAGE = "The request was blocked by a content guardrail."

__all__ = [
    "Applied",
    "ContentFilterError",
    "GuardedInput",
    "GuardrailGate",
    "GuardrailUnavailableError",
    "OutputVerdict",
    "apply_inline",
    "verdict_for",
]


class ContentFilterError(InvalidRequestError):
    """400 ``content_filter``: the guardrail blocked the input.

    The message is the guardrail's own blocked message, which the operator configured in
    Bedrock; it is not user content.
    """

    default_code = "content_filter"

    def __init__(self, message: str, assessment: Assessment) -> None:
        super().__init__(message, param="messages")
        self.assessment = assessment


class GuardrailUnavailableError(ServiceUnavailableError):
    """503 ``guardrail_unavailable``: ApplyGuardrail failed and the policy fails closed."""

    default_code = "guardrail_unavailable"

    def __init__(self, message: str = "The content guardrail could not be applied.") -> None:
        super().__init__(message)


def apply_inline(settings: GuardrailSettings, call: ConverseCall) -> ConverseCall:
    """``call`` with ``guardrailConfig`` added (inline mode); pure, ``call`` is not changed.

    ``guard: latest_user`` wraps the latest user message's text blocks in ``guardContent``
    so only that turn is evaluated; ``all`` leaves the messages as they are.
    """
    body = dict(call.body)
    body["guardrailConfig"] = settings.converse_config(stream=call.stream)
    if settings.guard == GuardScope.LATEST_USER and "messages" in body:
        body["messages"] = wrap_latest_user(body["messages"])
    return dataclasses.replace(call, body=body)


class Applied(NamedTuple):
    """One ApplyGuardrail outcome: the summary and the guardrail's output texts."""

    assessment: Assessment
    outputs: tuple[str, ...]

    def text(self) -> str:
        return "".join(self.outputs)


class GuardedInput(NamedTuple):
    """The call to send (its texts masked if the guardrail anonymised them) and the summary."""

    call: ConverseCall
    assessment: Assessment


class OutputVerdict(NamedTuple):
    """What the client gets: the model's text, its masked form, or the blocked message."""

    blocked: bool
    text: str
    assessment: Assessment


def _outputs(response: dict[str, Any]) -> tuple[str, ...] | None:
    outputs = response.get("outputs")
    if not isinstance(outputs, list):
        return None
    texts = [o.get("text") for o in outputs if isinstance(o, dict)]
    if len(texts) != len(outputs) or not all(isinstance(t, str) for t in texts):
        return None
    return tuple(t for t in texts if isinstance(t, str))


class GuardrailGate:
    """ApplyGuardrail calls for one policy's guardrail, with its fail-open/closed rule."""

    def __init__(self, bedrock: BedrockApi) -> None:
        self._bedrock = bedrock

    async def apply(
        self, settings: GuardrailSettings, source: Source, texts: Sequence[str]
    ) -> Applied:
        """Evaluate ``texts`` (one content block each).

        Raises GuardrailUnavailableError when the call fails or its answer is unusable and
        the policy fails closed; fails open with an unchecked, non-intervening result.
        """
        body = {"source": source, "content": [{"text": {"text": t}} for t in texts]}
        try:
            response = await self._bedrock.apply_guardrail(
                settings.identifier, settings.version, body
            )
        except GatewayError as exc:
            return self._failed(settings, source, exc.code or type(exc).__name__, exc)
        action = response.get("action")
        outputs = _outputs(response)
        if action not in ("NONE", "GUARDRAIL_INTERVENED") or outputs is None:
            return self._failed(settings, source, "malformed_response", None)
        return Applied(summarise_response(source, response), outputs)

    def _failed(
        self, settings: GuardrailSettings, source: Source, reason: str, exc: Exception | None
    ) -> Applied:
        if settings.on_error == OnError.FAIL_OPEN:
            logger.warning(
                "guardrail %s check of %s failed (%s); failing open",
                settings.identifier, source, reason,
            )  # fmt: skip
            return Applied(Assessment(source, checked=False), ())
        logger.warning(
            "guardrail %s check of %s failed (%s); failing closed",
            settings.identifier, source, reason,
        )  # fmt: skip
        raise GuardrailUnavailableError() from exc

    async def check_input(self, settings: GuardrailSettings, call: ConverseCall) -> GuardedInput:
        """Apply mode, before the model: INPUT check over the guarded texts.

        A block raises ContentFilterError with the guardrail's message. An anonymisation
        returns the call with the masked texts in place of the originals (Bedrock returns
        one output per content block sent); any other shape of answer counts as a failure.
        """
        slots = guarded_slots(call.body, settings.guard)
        if not slots:
            return GuardedInput(call, Assessment("INPUT"))
        applied = await self.apply(settings, "INPUT", [s.text for s in slots])
        assessment = applied.assessment
        if not assessment.intervened:
            return GuardedInput(call, assessment)
        if assessment.blocked:
            raise ContentFilterError(applied.text() or FALLBACK_BLOCKED_MESSAGE, assessment)
        if len(applied.outputs) != len(slots):
            failed = self._failed(settings, "INPUT", "unmatched_outputs", None)
            return GuardedInput(call, failed.assessment)
        body = replace_texts(call.body, slots, applied.outputs)
        return GuardedInput(dataclasses.replace(call, body=body), assessment)

    async def check_output(self, settings: GuardrailSettings, text: str) -> OutputVerdict:
        """Apply mode, after the model: OUTPUT check of the whole reply text."""
        if not text:
            return OutputVerdict(False, text, Assessment("OUTPUT"))
        applied = await self.apply(settings, "OUTPUT", [text])
        return verdict_for(text, applied)


def verdict_for(text: str, applied: Applied) -> OutputVerdict:
    """The client's text after an OUTPUT check of ``text``."""
    assessment = applied.assessment
    if not assessment.intervened:
        return OutputVerdict(False, text, assessment)
    if assessment.blocked or not applied.outputs:
        return OutputVerdict(True, applied.text() or FALLBACK_BLOCKED_MESSAGE, assessment)
    return OutputVerdict(False, applied.text(), assessment)
