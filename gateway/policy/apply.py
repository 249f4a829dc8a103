"""Redaction applied to Converse requests and responses: every text the model sees or says.

Pure functions over the boto3-shaped Converse dicts: system text, message text, tool-use
inputs (every string inside), tool results (text and every string inside JSON) and guarded
content on the way in; text and tool-use inputs on the way out. Images and documents are
binary and pass unchanged (the policy README says so).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from gateway.policy.cursor import Redaction
from gateway.policy.pseudonym import PseudonymState
from gateway.policy.redactor import Redactor

Findings = Counter[tuple[str, str]]  # (entity type, action) -> count; never values


class _Pass:
    """One walk over a body with one redactor and one per-request pseudonym state."""

    __slots__ = ("findings", "output", "redactor", "state")

    def __init__(self, redactor: Redactor, state: PseudonymState, *, output: bool) -> None:
        self.redactor = redactor
        self.state = state
        self.output = output
        self.findings: Findings = Counter()

    def text(self, value: str) -> str:
        if not value:
            return value
        if self.output:
            out, found = self.redactor.redact_output(value, self.state)
        else:
            out, found = self.redactor.redact(value, self.state)
        self._count(found)
        return out

    def json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return value

    def block(self, block: dict[str, Any]) -> dict[str, Any]:
        if "text" in block:
            return {**block, "text": self.text(block["text"])}
        if "toolUse" in block:
            use = block["toolUse"]
            return {**block, "toolUse": {**use, "input": self.json(use.get("input", {}))}}
        if "toolResult" in block:
            result = block["toolResult"]
            parts = [
                {"json": self.json(p["json"])} if "json" in p else self.block(p)
                for p in result.get("content", ())
            ]
            return {**block, "toolResult": {**result, "content": parts}}
        if "guardContent" in block and "text" in block["guardContent"]:
            inner = block["guardContent"]["text"]
            return {"guardContent": {"text": {**inner, "text": self.text(inner["text"])}}}
        return block

    def _count(self, found: list[Redaction]) -> None:
        for r in found:
            self.findings[(r.type, str(r.action))] += 1


def redact_request(
    body: dict[str, Any], redactor: Redactor, state: PseudonymState
) -> tuple[dict[str, Any], Findings]:
    """A copy of a Converse body with PII redacted; raises PiiBlockedError for blocked types."""
    walk = _Pass(redactor, state, output=False)
    out = dict(body)
    if "system" in body:
        out["system"] = [walk.block(b) for b in body["system"]]
    out["messages"] = [
        {**m, "content": [walk.block(b) for b in m.get("content", ())]} for m in body["messages"]
    ]
    return out, walk.findings


def redact_response(
    response: dict[str, Any], redactor: Redactor, state: PseudonymState
) -> tuple[dict[str, Any], Findings]:
    """A copy of a Converse response with placeholders restored and the answer redacted."""
    walk = _Pass(redactor, state, output=True)
    message = (response.get("output") or {}).get("message")
    if not message:
        return response, walk.findings
    content = [walk.block(b) for b in message.get("content", ())]
    return {**response, "output": {"message": {**message, "content": content}}}, walk.findings
