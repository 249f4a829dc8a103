"""Pairs assistant tool calls with their answers and keeps ``toolUseId`` values valid and unique.

Converse wants every toolUse of an assistant turn answered by a toolResult in the next user
turn, ids of ``[a-zA-Z0-9_.:-]{1,64}``, and no id reused across the conversation. OpenAI ids
that break these rules are replaced by a hash of the client id (so the same request always
translates the same way); answers are looked up through the call's entry, so they always agree.
"""

from __future__ import annotations

import hashlib
import re

from gateway.errors import InvalidRequestError

_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")


class ToolCalls:
    """Pairs the calls of the latest assistant turn with their answers."""

    __slots__ = ("_answered", "_functions", "_open", "_used", "names")

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._open: dict[str, tuple[str, str]] = {}  # client id -> (toolUseId, param)
        self._functions: dict[str, str] = {}  # deprecated function_call name -> client id
        self._answered: set[str] = set()
        self.names: dict[str, None] = {}  # ordered set

    def new_turn(self) -> None:
        for client_id, (_, param) in self._open.items():
            if client_id not in self._answered:
                raise InvalidRequestError(
                    "An assistant message with 'tool_calls' must be followed by tool messages "
                    "responding to each 'tool_call_id'; this tool call has no response.",
                    param=param,
                )
        self._open.clear()
        self._functions.clear()
        self._answered.clear()

    def call(self, client_id: str, name: str, param: str) -> str:
        """Register a call (``param`` names it for errors); return its Converse toolUseId."""
        if client_id in self._open:
            raise InvalidRequestError(
                "Tool call ids must be unique within an assistant turn.", param=f"{param}.id"
            )
        use_id = client_id if _TOOL_USE_ID.fullmatch(client_id) else _rewrite(client_id)
        n = 1
        while use_id in self._used:
            n += 1
            use_id = _rewrite(f"{client_id}#{n}")
        self._used.add(use_id)
        self._open[client_id] = (use_id, param)
        self.names[name] = None
        return use_id

    def function_call(self, name: str, index: int) -> str:
        client_id = f"function_call#{index}"
        self._functions[name] = client_id
        return self.call(client_id, name, f"messages[{index}].function_call")

    def answer(self, client_id: str, param: str) -> str:
        opened = self._open.get(client_id)
        if opened is None:
            raise InvalidRequestError(
                "Messages with role 'tool' must be a response to a tool call of the preceding "
                "assistant message; no such tool call has this 'tool_call_id'.",
                param=param,
            )
        if client_id in self._answered:
            raise InvalidRequestError("This tool call was already answered.", param=param)
        self._answered.add(client_id)
        return opened[0]

    def answer_function(self, name: str, param: str) -> str:
        client_id = self._functions.get(name)
        if client_id is None:
            raise InvalidRequestError(
                "Messages with role 'function' must answer a 'function_call' of the preceding "
                "assistant message with the same name.",
                param=param,
            )
        return self.answer(client_id, param)


def _rewrite(client_id: str) -> str:
    # Deterministic, so retries of one request send identical bodies (and hit prompt caches).
    return "call_" + hashlib.sha256(client_id.encode()).hexdigest()[:32]
