"""The chat request pipeline: one ordered set of stages shared by plain and streaming requests.

    authenticate → decode → authorise → translate → call Bedrock → translate back → record

Later stages (redact, guard, reserve/settle budget, filter output) slot in at their place in
``prepare`` / ``complete`` / ``ChatStream``. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from gateway.bedrock.client import BedrockApi, ConverseEvents
from gateway.bedrock.stream import ChunkTranslator
from gateway.bedrock.translate import ConverseCall, encode_completion, from_converse, to_converse
from gateway.errors import GatewayError, PermissionDeniedError
from gateway.keys.principal import Authenticator, Principal
from gateway.openai.decode import decode_chat_request
from gateway.openai.types import ChatCompletionRequest
from gateway.routing import Route, RoutingTable

log = logging.getLogger("gateway.pipeline")


@dataclass(slots=True)
class ChatContext:
    """Everything the later stages need about one accepted request."""

    request_id: str
    principal: Principal
    request: ChatCompletionRequest
    route: Route
    call: ConverseCall
    completion_id: str
    created: int


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_urlsafe(18)


class ChatPipeline:
    def __init__(
        self,
        *,
        routing: RoutingTable,
        authenticator: Authenticator,
        bedrock: BedrockApi,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._routing = routing
        self._auth = authenticator
        self.bedrock = bedrock
        self._clock = clock

    async def authenticate(self, api_key: str | None) -> Principal:
        return await self._auth.authenticate(api_key)

    async def prepare(self, *, principal: Principal, body: bytes, request_id: str) -> ChatContext:
        """Decode, authorise and translate; every failure here is a clean HTTP error."""
        request = decode_chat_request(body)
        route = self._routing.resolve(request.model)
        authorise(principal, route)
        call = to_converse(request, route)
        return ChatContext(
            request_id=request_id,
            principal=principal,
            request=request,
            route=route,
            call=call,
            completion_id=new_completion_id(),
            created=int(self._clock()),
        )

    async def complete(self, ctx: ChatContext) -> bytes:
        result = await self.bedrock.converse(ctx.call.model_id, ctx.call.body)
        completion = from_converse(
            result.response,
            model=ctx.request.model,
            completion_id=ctx.completion_id,
            created=ctx.created,
        )
        return encode_completion(completion)

    async def open_stream(self, ctx: ChatContext) -> ChatStream:
        """Open the upstream stream; errors before its first byte are ordinary HTTP errors."""
        upstream = await self.bedrock.converse_stream(ctx.call.model_id, ctx.call.body)
        translator = ChunkTranslator(
            completion_id=ctx.completion_id,
            created=ctx.created,
            model=ctx.request.model,
            include_usage=ctx.call.include_usage,
        )
        return ChatStream(upstream, translator, ctx)


def authorise(principal: Principal, route: Route) -> None:
    allowed = principal.allowed_models
    if allowed is not None and route.name not in allowed:
        raise PermissionDeniedError(
            f"This API key is not allowed to use the model '{route.name}'.",
            param="model",
            code="model_not_allowed",
        )


class ChatStream:
    """SSE bytes for one streamed completion; every event is yielded as soon as Bedrock sends it."""

    def __init__(self, upstream: ConverseEvents, translator: ChunkTranslator, ctx: ChatContext):
        self.upstream = upstream
        self.translator = translator
        self.ctx = ctx

    async def events(self) -> AsyncIterator[bytes]:
        translator = self.translator
        tail: bytes
        try:
            async for event_type, payload in self.upstream:
                out = translator.feed(event_type, payload)
                if out:
                    yield out
                if translator.done:
                    return
            tail = translator.finish()
        except GatewayError as exc:
            tail = translator.fail(exc)
        except Exception:
            # A bug must still end the stream the way the SDK understands: an error event.
            log.exception("stream failed", extra={"request_id": self.ctx.request_id})
            tail = translator.fail(GatewayError("The gateway failed while streaming."))
        if tail:
            yield tail

    async def aclose(self) -> None:
        await self.upstream.aclose()
