"""POST /v1/chat/completions as a raw ASGI handler: we own body reading, errors and streaming."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from typing import Any

from litestar import asgi
from litestar.handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from gateway.api.responses import internal_error, read_body, send_error, send_json
from gateway.errors import GatewayError, MethodNotAllowedError
from gateway.logs import request_id_var
from gateway.observe import Outcome, Recorder
from gateway.pipeline import ChatPipeline, ChatStream

log = logging.getLogger("gateway.api")

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class RequestHeaders:
    """The few request headers the gateway reads, picked out in one pass."""

    __slots__ = ("authorization", "content_length", "request_id")

    def __init__(self, scope: Scope) -> None:
        self.authorization: bytes | None = None
        self.content_length: int | None = None
        self.request_id: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                self.authorization = value
            elif name == b"content-length":
                self.content_length = int(value) if value.isdigit() else None
            elif name == b"x-request-id" and _REQUEST_ID.match(value):
                self.request_id = value

    def bearer(self) -> str | None:
        value = self.authorization
        if value is None:
            return None
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"bearer":
            return None
        return token.strip().decode("latin-1") or None


def chat_route(pipeline: ChatPipeline, recorder: Recorder, max_body_bytes: int) -> ASGIRouteHandler:
    metrics = recorder.metrics
    # Request ids: a per-app random prefix and a counter (no syscall per request).
    id_prefix = secrets.token_hex(6)
    id_counter = itertools.count(1)

    def new_request_id() -> bytes:
        return f"{id_prefix}{next(id_counter):012x}".encode()

    @asgi("/v1/chat/completions", copy_scope=False)
    async def chat_completions(scope: Scope, receive: Receive, send: Send) -> None:
        request = RequestHeaders(scope)
        request_id = request.request_id or new_request_id()
        id_header = [(b"x-request-id", request_id)]
        if scope.get("method") != "POST":
            exc = MethodNotAllowedError("Only POST is supported on this endpoint.")
            await send_error(send, exc, [*id_header, (b"allow", b"POST")])
            return
        outcome = Outcome(request_id.decode(), time.perf_counter(), stream=False)
        request_id_var.set(outcome.request_id)
        metrics.request_started()
        try:
            await _handle(outcome, request, receive, send, id_header)
        finally:
            metrics.request_finished()
            recorder.finish(outcome)

    async def _handle(
        outcome: Outcome,
        request: RequestHeaders,
        receive: Receive,
        send: Send,
        id_header: list[tuple[bytes, bytes]],
    ) -> None:
        try:
            outcome.principal = await pipeline.authenticate(request.bearer())
            body = await read_body(receive, request.content_length, max_body_bytes)
            ctx = await pipeline.prepare(
                principal=outcome.principal,
                body=body,
                request_id=outcome.request_id,
                started=outcome.started,
            )
            outcome.ctx = ctx
            outcome.stream = ctx.call.stream
            headers = [*id_header, *ctx.admission.headers]
            if not ctx.call.stream:
                payload = await pipeline.complete(ctx)
                await send_json(send, 200, payload, headers)
                return
            stream = await pipeline.open_stream(ctx)
        except GatewayError as exc:
            outcome.status, outcome.error_code = exc.status, exc.code
            await send_error(send, exc, id_header)
            return
        except Exception:
            log.exception("chat request failed")
            error = internal_error()
            outcome.status, outcome.error_code = error.status, error.code
            await send_error(send, error, id_header)
            return
        metrics.stream_started()
        try:
            await _send_stream(stream, receive, send, headers)
        finally:
            metrics.stream_finished()
            if stream.translator.error is not None:
                outcome.error_code = stream.translator.error.code

    return chat_completions


async def _send_stream(
    stream: ChatStream, receive: Receive, send: Send, headers: list[tuple[bytes, bytes]]
) -> None:
    """Write SSE events as they come; a client disconnect closes the upstream stream at once."""
    task = asyncio.current_task()
    assert task is not None
    watch = _DisconnectWatch(receive, task)
    try:
        await send(
            {"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS + headers}
        )
        async for chunk in stream.events():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except asyncio.CancelledError:
        if not watch.disconnected:
            raise
        task.uncancel()
    except OSError:
        # The server reports a write to a closed connection; the client is gone.
        pass
    finally:
        watch.stop()
        await stream.aclose()


class _DisconnectWatch:
    """Cancels ``target`` as soon as the client disconnects.

    The watching task is made on the loop's next turn, which is when ``target`` first waits (for
    Bedrock or for the client's socket): it could not run any earlier, and making it before the
    first write would only delay the first token.
    """

    __slots__ = ("_receive", "_start", "_target", "_watcher", "disconnected")

    def __init__(self, receive: Receive, target: asyncio.Task[Any]) -> None:
        self._receive = receive
        self._target = target
        self._watcher: asyncio.Task[None] | None = None
        self.disconnected = False
        self._start = asyncio.get_running_loop().call_soon(self._begin)

    def _begin(self) -> None:
        self._watcher = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                self._target.cancel()
                return

    def stop(self) -> None:
        self._start.cancel()
        if self._watcher is not None:
            self._watcher.cancel()
