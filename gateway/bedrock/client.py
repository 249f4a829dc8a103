"""The asynchronous Bedrock Runtime client: HTTP calls, timeouts, retries, streaming."""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from gateway.bedrock.errors import (
    is_retryable,
    map_bedrock_error,
    upstream_timeout,
    upstream_unreachable,
)
from gateway.bedrock.eventstream import PROTOCOL_ERROR_CODE, EventStreamDecoder, StreamItem
from gateway.bedrock.retry import RetryPolicy
from gateway.bedrock.signing import BedrockConfigurationError, RequestAuth, resolve_upstream
from gateway.bedrock.transport import (
    BadResponse,
    ConnectionFailed,
    ConnectionPool,
    ConnectTimeout,
    Response,
    TransportError,
)
from gateway.errors import GatewayError, UpstreamError

logger = logging.getLogger("gateway.bedrock")

_ENCODER = msgspec.json.Encoder()
_RESPONSE_DECODER = msgspec.json.Decoder(dict[str, Any])
_ERROR_DECODER = msgspec.json.Decoder()
_MAX_CACHED_PATHS = 4096

__all__ = [
    "BedrockApi",
    "BedrockClient",
    "BedrockConfigurationError",
    "BedrockSettings",
    "BedrockStream",
    "ConverseEvents",
    "ConverseResult",
    "model_path",
]


@dataclass(frozen=True, slots=True)
class BedrockSettings:
    """Client knobs; None for region/endpoint means botocore's resolution (env, config files)."""

    region: str | None = None
    endpoint_url: str | None = None
    connect_timeout: float = 3.0
    # Until the whole response of a Converse / ApplyGuardrail call (the model runs before the
    # first byte; the JSON follows at once).
    read_timeout: float = 60.0
    # Until the 200 headers of a ConverseStream call.
    stream_header_timeout: float = 30.0
    # Longest silence while reading a ConverseStream body.
    idle_timeout: float = 30.0
    max_attempts: int = 3
    retry_deadline: float = 5.0
    backoff_base: float = 0.1
    backoff_cap: float = 1.0
    # Most connections open at once. A stream holds one for its whole life, so size this for
    # concurrent streams; a request waiting for a free connection spends its header timeout.
    pool_size: int = 1024
    keepalive_timeout: float = 30.0
    # Fixed (access key, secret) instead of the credential chain: only for the bundled
    # emulator in demo mode, which checks no signature.
    static_credentials: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "stream_header_timeout", "idle_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"BedrockSettings.{name} must be positive")
        if self.pool_size < 1:
            raise ValueError("BedrockSettings.pool_size must be at least 1")

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_delay=self.backoff_base,
            max_delay=self.backoff_cap,
            deadline=self.retry_deadline,
        )


@dataclass(frozen=True, slots=True)
class ConverseResult:
    response: dict[str, Any]
    retries: int


class ConverseEvents(Protocol):
    """What a ConverseStream call returns; see BedrockStream."""

    retries: int

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    @property
    def ready(self) -> bool:
        """True when the next event is already here: iterating will not wait for the network."""
        ...

    async def aclose(self) -> None: ...


class BedrockApi(Protocol):
    """The client interface the pipeline depends on (fakes implement it at the AWS edge)."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def converse(self, model_id: str, body: dict[str, Any]) -> ConverseResult: ...

    async def converse_stream(self, model_id: str, body: dict[str, Any]) -> ConverseEvents: ...

    async def apply_guardrail(
        self, guardrail_id: str, version: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...


class _AttemptFailed(Exception):
    """One attempt's outcome when it produced no result; ``retryable`` says if another may help."""

    def __init__(self, error: GatewayError, *, retryable: bool) -> None:
        super().__init__(error.message)
        self.error = error
        self.retryable = retryable


class _IdleTimeout(Exception):
    """Set on the response's byte stream by the idle watchdog; never leaves this module."""


class BedrockStream:
    """A ConverseStream body: async iterator of ``(event_type, payload_bytes)``.

    Exception events, corrupt frames, an idle read beyond the timeout and a broken connection
    are raised as GatewayError in stream order (after the events before them). Consumers must
    ``aclose()`` (or use ``async with``) when they stop early.
    """

    __slots__ = (
        "_decoder",
        "_done",
        "_idle_timeout",
        "_loop",
        "_pending",
        "_response",
        "_timer",
        "_waiting_since",
        "retries",
    )

    def __init__(self, response: Response, idle_timeout: float, retries: int) -> None:
        self._response = response
        self._idle_timeout = idle_timeout
        self._decoder = EventStreamDecoder()
        self._pending: deque[StreamItem] = deque()
        self._done = False
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None
        self.retries = retries

    def __aiter__(self) -> BedrockStream:
        return self

    @property
    def ready(self) -> bool:
        """True when the next item arrived with an earlier read (``__anext__`` will not wait)."""
        return bool(self._pending)

    async def __anext__(self) -> tuple[str, bytes]:
        while not self._pending:
            if self._done:
                raise StopAsyncIteration
            self._pending.extend(await self._read())
        item = self._pending.popleft()
        if isinstance(item, GatewayError):
            # Nothing after an error is meaningful; drop the connection rather than drain it.
            await self.aclose()
            raise item
        return item

    async def _read(self) -> list[StreamItem]:
        # A per-read asyncio.timeout() costs a timer per token; instead one watchdog timer per
        # idle period checks whether the read it finds in progress has waited too long.
        self._waiting_since = now = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(now + self._idle_timeout, self._check_idle)
        try:
            data = await self._response.read_some()
        except _IdleTimeout:
            await self.aclose()
            raise upstream_timeout("stream idle") from None
        except TransportError as exc:
            await self.aclose()
            raise UpstreamError("The Bedrock stream was interrupted") from exc
        finally:
            self._waiting_since = None
        if data:
            return self._decoder.feed(data)
        self._done = True
        self._cancel_timer()
        # End of body: the connection goes back to the pool for the next request.
        self._response.release()
        return self._decoder.end()

    def _check_idle(self) -> None:
        self._timer = None
        since = self._waiting_since
        if since is None or self._done:
            return  # no read in progress; the next one re-arms the watchdog
        deadline = since + self._idle_timeout
        if self._loop.time() >= deadline:
            self._response.fail(_IdleTimeout())
        else:
            self._timer = self._loop.call_at(deadline, self._check_idle)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def aclose(self) -> None:
        """Stop at once; mid-stream the connection is closed, never returned to the pool."""
        self._done = True
        self._pending.clear()
        self._cancel_timer()
        self._response.close()

    async def __aenter__(self) -> BedrockStream:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class BedrockClient:
    """Converse / ConverseStream / ApplyGuardrail over one keep-alive connection pool."""

    def __init__(self, settings: BedrockSettings, environ: Mapping[str, str] | None = None) -> None:
        self._settings = settings
        # AWS_REGION / AWS_BEARER_TOKEN_BEDROCK; botocore reads the rest of its chain itself.
        self._environ = environ
        self._retry = settings.retry_policy()
        self._pool: ConnectionPool | None = None
        self._auth: RequestAuth | None = None
        self._close_auth: Callable[[], Awaitable[None]] | None = None
        self._base_url = ""
        # (operation, model id) -> path: model ids come from the routing table.
        self._paths: dict[tuple[str, str], str] = {}
        self.region = ""

    @classmethod
    def from_settings(
        cls, settings: BedrockSettings, environ: Mapping[str, str] | None = None
    ) -> BedrockClient:
        """No I/O: everything that talks to botocore or the network happens in start()."""
        return cls(settings, environ)

    async def start(self) -> None:
        """Resolve endpoint, region and credentials (in threads), then open the pool."""
        if self._pool is not None:
            return
        s = self._settings
        upstream = await resolve_upstream(
            region=s.region,
            endpoint_url=s.endpoint_url,
            environ=self._environ if self._environ is not None else os.environ,
            static_credentials=s.static_credentials,
        )
        self._auth, self._close_auth = upstream.auth, upstream.close
        self._base_url, self.region = upstream.base_url, upstream.region
        # The pool times the connect phase itself; the other timeouts are per call below.
        self._pool = await asyncio.to_thread(
            ConnectionPool,  # an https origin loads the system CA bundle: file I/O
            self._base_url,
            limit=s.pool_size,
            keepalive_timeout=s.keepalive_timeout,
            connect_timeout=s.connect_timeout,
            user_agent="bedrock-gateway",
        )
        logger.info("Bedrock endpoint %s (region %s)", self._base_url, self.region)

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        close_auth, self._close_auth = self._close_auth, None
        if close_auth is not None:
            await close_auth()

    async def converse(self, model_id: str, body: dict[str, Any]) -> ConverseResult:
        path = self._model_path("converse", model_id)
        _, raw, retries = await self._call(path, _ENCODER.encode(body), read_body=True)
        return ConverseResult(_decode_response(raw), retries)

    async def converse_stream(self, model_id: str, body: dict[str, Any]) -> BedrockStream:
        path = self._model_path("converse-stream", model_id)
        response, _, retries = await self._call(path, _ENCODER.encode(body), read_body=False)
        return BedrockStream(response, self._settings.idle_timeout, retries)

    async def apply_guardrail(
        self, guardrail_id: str, version: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        path = f"/guardrail/{quote(guardrail_id, safe='')}/version/{quote(version, safe='')}/apply"
        _, raw, _ = await self._call(path, _ENCODER.encode(body), read_body=True)
        return _decode_response(raw)

    def _model_path(self, operation: str, model_id: str) -> str:
        key = (operation, model_id)
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= _MAX_CACHED_PATHS:
                self._paths.clear()
            path = self._paths[key] = model_path(model_id, operation)
        return path

    async def _call(
        self, path: str, body: bytes, *, read_body: bool
    ) -> tuple[Response, bytes, int]:
        """Send with retries: (2xx response, its body if ``read_body``, retries made)."""
        state = self._retry.begin()
        while True:
            try:
                response, raw = await self._attempt(path, body, read_body)
            except _AttemptFailed as failed:
                delay = state.next_delay() if failed.retryable else None
                if delay is None:
                    raise failed.error from failed.__cause__
                logger.info(
                    "Bedrock %s attempt %d failed (%s); retrying in %.3fs",
                    path, state.retries, failed.error.code, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
            else:
                return response, raw, state.retries

    async def _attempt(self, path: str, body: bytes, read_body: bool) -> tuple[Response, bytes]:
        if self._pool is None or self._auth is None:
            raise RuntimeError("BedrockClient.start() was not awaited")
        s = self._settings
        headers = await self._auth.headers(path, body)
        response: Response | None = None
        try:
            # Converse: the whole response (the model runs before the headers; the body follows
            # at once). ConverseStream: only the headers; the stream has its idle watchdog.
            async with asyncio.timeout(s.read_timeout if read_body else s.stream_header_timeout):
                response = await self._pool.post(path, headers, body)
                ok = 200 <= response.status < 300
                raw = await response.read() if read_body or not ok else b""
        except BaseException as exc:
            if response is not None:
                response.close()
            failed = _classify(exc)
            if failed is None:
                raise  # cancellation and the like pass through untouched
            raise failed from exc
        if ok:
            return response, raw
        raise self._http_error(path, response, raw)

    def _http_error(self, path: str, response: Response, raw: bytes) -> _AttemptFailed:
        headers = response.headers  # names are lower-case
        code, message = _error_fields(headers.get("x-amzn-errortype"), raw)
        retryable = is_retryable(code, response.status)
        logger.log(
            logging.WARNING if retryable or response.status >= 500 else logging.INFO,
            "Bedrock %s answered %d %s (request id %s)",
            path, response.status, code, headers.get("x-amzn-requestid"),
        )  # fmt: skip
        return _AttemptFailed(
            map_bedrock_error(code, message, response.status), retryable=retryable
        )


def _classify(exc: BaseException) -> _AttemptFailed | None:
    """What a transport-level failure of one attempt means; None for anything else."""
    if isinstance(exc, ConnectTimeout):
        return _AttemptFailed(upstream_timeout("connect"), retryable=True)
    if isinstance(exc, TimeoutError):
        # The model may still be working: another attempt would likely time out as well.
        return _AttemptFailed(upstream_timeout("response"), retryable=False)
    if isinstance(exc, ConnectionFailed):
        # Refused, reset, closed keep-alive connection, truncated body: nothing reached the
        # caller yet, so another attempt is safe.
        return _AttemptFailed(upstream_unreachable(), retryable=True)
    if isinstance(exc, BadResponse):
        error = UpstreamError("Bedrock sent an invalid HTTP response", code=PROTOCOL_ERROR_CODE)
        return _AttemptFailed(error, retryable=False)
    return None


def model_path(model_id: str, operation: str) -> str:
    """``/model/{modelId}/{operation}``; the ID is one path label, so ':' and '/' are encoded."""
    return f"/model/{quote(model_id, safe='')}/{operation}"


def _decode_response(raw: bytes) -> dict[str, Any]:
    try:
        return _RESPONSE_DECODER.decode(raw)
    except msgspec.DecodeError as exc:
        raise UpstreamError(
            "Bedrock sent an invalid JSON response", code=PROTOCOL_ERROR_CODE
        ) from exc


def _error_fields(header_code: str | None, raw: bytes) -> tuple[str | None, str | None]:
    """Error code and message as botocore reads them (protocols §4.2)."""
    body: Any = None
    if raw:
        try:
            body = _ERROR_DECODER.decode(raw)
        except msgspec.DecodeError:
            # Proxies answer with HTML; its text is no use to the client.
            body = None
    if not isinstance(body, dict):
        body = {}
    code = header_code or body.get("code") or body.get("Code") or body.get("__type")
    message = body.get("message") or body.get("Message")
    return (
        code if isinstance(code, str) else None,
        message if isinstance(message, str) else None,
    )
