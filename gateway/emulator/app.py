"""Routing: which handler answers a request, from its method and raw (percent-encoded) path."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import unquote

from gateway.emulator import control, handlers, responses
from gateway.emulator.converse import ConverseHandler
from gateway.emulator.handlers import Reply
from gateway.emulator.pacer import Pacer
from gateway.emulator.protocol import Request
from gateway.emulator.state import State


@lru_cache(maxsize=1024)
def _model_id(segment: bytes) -> str:
    # Clients reuse a handful of model IDs; decode each once.
    return unquote(segment.decode("latin-1"))


class EmulatorApp:
    """The emulator as an ``App`` for the HTTP protocol; all of its state lives in ``state``."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._converse = ConverseHandler(state, Pacer())

    def __call__(self, request: Request) -> Reply:
        # Split the raw path before decoding: a model ID is one segment that may contain %2F.
        parts = request.path.split(b"/")
        if len(parts) == 4 and parts[1] == b"model" and request.method == b"POST":
            model_id = _model_id(parts[2])
            if model_id and parts[3] == b"converse":
                return self._converse(request, model_id, streaming=False)
            if model_id and parts[3] == b"converse-stream":
                return self._converse(request, model_id, streaming=True)
        elif (
            len(parts) == 6
            and parts[1] == b"guardrail"
            and parts[3] == b"version"
            and parts[5] == b"apply"
            and request.method == b"POST"
        ):
            return handlers.apply_guardrail(self.state, request)
        elif len(parts) == 3 and parts[1] == b"_emulator":
            return control.handle(self.state, request, parts[2].decode("latin-1"))
        # What AWS answers for a path no operation owns; botocore makes it a plain ClientError.
        return responses.error(
            "UnknownOperationException",
            f"no operation for {request.method.decode()} {request.path.decode('latin-1')}",
            self.state.request_id(),
            request.keep_alive,
            status=404,
        )
