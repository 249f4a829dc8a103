"""BedrockClient against the emulator process over real loopback HTTP connections."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from gateway.bedrock.client import (
    BedrockApi,
    BedrockClient,
    BedrockConfigurationError,
    BedrockSettings,
    BedrockStream,
    model_path,
)
from gateway.emulator.eventstream import encode_event
from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.integration

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
ARN = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0"
)
PROMPT = "tell me something private-prompt-text"

ClientFactory = Callable[..., AbstractAsyncContextManager[BedrockClient]]


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """Static test credentials; nothing from the host's AWS configuration leaks in."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    return monkeypatch


@pytest.fixture
def make_client(emu: EmulatorHandle, aws_env: pytest.MonkeyPatch) -> ClientFactory:
    @asynccontextmanager
    async def factory(**overrides: Any) -> AsyncIterator[BedrockClient]:
        knobs: dict[str, Any] = {
            "region": "us-east-1",
            "endpoint_url": emu.url,
            "backoff_base": 0.01,
            "backoff_cap": 0.05,
        }
        knobs.update(overrides)
        client = BedrockClient.from_settings(BedrockSettings(**knobs))
        await client.start()
        try:
            yield client
        finally:
            await client.close()

    return factory


def body(text: str = PROMPT, **directive: Any) -> dict[str, Any]:
    if directive:
        text = f"{text} [[emu {json.dumps(directive)}]]"
    return {
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 200},
    }


async def drain(stream: BedrockStream) -> list[tuple[str, bytes]]:
    return [event async for event in stream]


async def collect(stream: BedrockStream, into: list[tuple[str, bytes]]) -> None:
    """Append events to ``into`` until the stream ends or raises."""
    async for event in stream:
        into.append(event)


async def wait_for_stats(
    emu: EmulatorHandle, done: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll the emulator's stats (it updates them asynchronously) for up to 10 s."""
    stats: dict[str, Any] = {}
    for _ in range(200):
        stats = emu.stats()
        if done(stats):
            return stats
        await asyncio.sleep(0.05)
    return stats


def text_of(events: list[tuple[str, bytes]]) -> str:
    parts = []
    for event_type, payload in events:
        if event_type == "contentBlockDelta":
            parts.append(json.loads(payload)["delta"].get("text", ""))
    return "".join(parts)


# --- happy paths ----------------------------------------------------------------------------


async def test_converse_returns_the_decoded_response(make_client: ClientFactory) -> None:
    async with make_client() as client:
        result = await client.converse(MODEL, body(tokens=5))
    assert result.retries == 0
    response = result.response
    assert response["stopReason"] == "end_turn"
    assert response["output"]["message"]["role"] == "assistant"
    assert len(response["output"]["message"]["content"][0]["text"].split()) == 5
    assert response["usage"]["outputTokens"] == 5


async def test_emulator_saw_sigv4_scope_and_an_encoded_arn_path(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    async with make_client() as client:
        await client.converse(ARN, body(tokens=2))
    (seen,) = emu.requests()
    assert seen["path"] == model_path(ARN, "converse")
    assert "%3A" in seen["path"]
    assert "%2F" in seen["path"]
    assert seen["model_id"] == ARN
    assert seen["headers"]["authorization"].endswith("/us-east-1/bedrock/aws4_request")
    assert "x-amz-date" in seen["headers"]
    assert seen["headers"]["content-type"] == "application/json"
    assert "x-amz-security-token" not in seen["headers"]  # permanent keys: no token
    assert seen["body"]["messages"][0]["role"] == "user"


async def test_session_token_is_sent_with_temporary_credentials(
    make_client: ClientFactory, emu: EmulatorHandle, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_SESSION_TOKEN", "session-token-xyz")
    async with make_client() as client:
        await client.converse(MODEL, body(tokens=1))
    (seen,) = emu.requests()
    # The emulator log redacts secrets; the header's presence is what matters here.
    assert "x-amz-security-token" in seen["headers"]


async def test_stream_yields_events_in_order(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    async with make_client() as client:
        plain = await client.converse(MODEL, body(tokens=6))
        stream = await client.converse_stream(MODEL, body(tokens=6))
        events = await drain(stream)
        await stream.aclose()  # after a normal end: harmless
    assert stream.retries == 0
    types = [event_type for event_type, _ in events]
    assert types[0] == "messageStart"
    assert types[-2:] == ["messageStop", "metadata"]
    assert types.count("contentBlockDelta") == 6
    assert all(isinstance(json.loads(payload), dict) for _, payload in events)
    assert text_of(events) == plain.response["output"]["message"]["content"][0]["text"]
    assert json.loads(events[-1][1])["usage"]["outputTokens"] == 6
    stats = await wait_for_stats(emu, lambda s: s["streams_completed"] >= 1)
    assert stats["streams_completed"] == 1
    assert stats["active_streams"] == 0


async def test_apply_guardrail(make_client: ClientFactory, emu: EmulatorHandle) -> None:
    emu.config(guardrail={"blocked_words": ["forbidden"]})

    def request(text: str) -> dict[str, Any]:
        return {"source": "INPUT", "content": [{"text": {"text": text}}]}

    async with make_client() as client:
        blocked = await client.apply_guardrail("gr-1:a/b", "DRAFT", request("this is forbidden"))
        allowed = await client.apply_guardrail("gr-1:a/b", "DRAFT", request("this is fine"))
    assert blocked["action"] == "GUARDRAIL_INTERVENED"
    assert allowed["action"] == "NONE"
    assert emu.requests()[0]["path"] == "/guardrail/gr-1%3Aa%2Fb/version/DRAFT/apply"


async def test_client_satisfies_the_protocol(make_client: ClientFactory) -> None:
    async with make_client() as client:
        api: BedrockApi = client
        assert (await api.converse(MODEL, body(tokens=1))).retries == 0


# --- HTTP errors ----------------------------------------------------------------------------

HTTP_ERRORS = [
    ("ValidationException", InvalidRequestError, 400, "invalid_request_error", "validation_error"),
    ("AccessDeniedException", PermissionDeniedError, 403, "permission_error", "access_denied"),
    ("ResourceNotFoundException", NotFoundError, 404, "invalid_request_error", "model_not_found"),
    ("ModelTimeoutException", UpstreamTimeoutError, 504, "server_error", "timeout"),
    ("ModelErrorException", UpstreamError, 502, "server_error", "upstream_error"),
    ("ThrottlingException", RateLimitError, 429, "rate_limit_error", "rate_limit_exceeded"),
    (
        "ServiceQuotaExceededException",
        RateLimitError,
        429,
        "rate_limit_error",
        "rate_limit_exceeded",
    ),
    (
        "ModelNotReadyException",
        UpstreamUnavailableError,
        503,
        "service_unavailable_error",
        "model_not_ready",
    ),
    ("InternalServerException", UpstreamError, 502, "server_error", "upstream_error"),
    (
        "ServiceUnavailableException",
        UpstreamUnavailableError,
        503,
        "service_unavailable_error",
        "service_unavailable",
    ),
]


@pytest.mark.parametrize("streaming", [False, True], ids=["converse", "converse-stream"])
@pytest.mark.parametrize(("shape", "cls", "status", "type_", "code"), HTTP_ERRORS)
async def test_http_errors_map_to_gateway_errors(
    make_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
    streaming: bool,
    shape: str,
    cls: type[GatewayError],
    status: int,
    type_: str,
    code: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.bedrock")
    async with make_client(max_attempts=1) as client:
        call = client.converse_stream if streaming else client.converse
        with pytest.raises(GatewayError) as info:
            await call(MODEL, body(error=shape))
    error = info.value
    assert type(error) is cls
    assert (error.status, error.type, error.code) == (status, type_, code)
    assert "private-prompt-text" not in error.message
    logged = [r.getMessage() for r in caplog.records if r.name == "gateway.bedrock"]
    answered = [m for m in logged if f" {shape} (request id " in m]
    assert answered, logged
    # The request id goes to the log, never into the client-visible message.
    request_id = answered[0].rsplit("request id ", 1)[1].rstrip(")")
    assert request_id not in ("", "None")
    assert request_id not in error.message


# --- stream exception events ----------------------------------------------------------------

STREAM_ERRORS = [
    ("throttlingException", RateLimitError, "rate_limit_exceeded"),
    ("modelStreamErrorException", UpstreamError, "upstream_error"),
    ("validationException", InvalidRequestError, "validation_error"),
    ("internalServerException", UpstreamError, "upstream_error"),
    ("serviceUnavailableException", UpstreamUnavailableError, "service_unavailable"),
]


@pytest.mark.parametrize(("member", "cls", "code"), STREAM_ERRORS)
async def test_stream_exception_event_is_raised_after_earlier_events(
    make_client: ClientFactory, member: str, cls: type[GatewayError], code: str
) -> None:
    events: list[tuple[str, bytes]] = []
    async with make_client() as client:
        stream = await client.converse_stream(
            MODEL, body(tokens=10, stream_error=member, stream_error_after=3)
        )
        with pytest.raises(GatewayError) as info:
            await collect(stream, events)
        # After the error the stream is over.
        assert [e async for e in stream] == []
        await stream.aclose()
    assert type(info.value) is cls
    assert info.value.code == code
    assert [t for t, _ in events].count("contentBlockDelta") == 3
    assert events[0][0] == "messageStart"


async def test_stream_generic_error_message_is_raised(make_client: ClientFactory) -> None:
    async with make_client() as client:
        stream = await client.converse_stream(MODEL, body(tokens=5, stream_error_generic=True))
        with pytest.raises(GatewayError):
            await drain(stream)
        await stream.aclose()


# --- retries --------------------------------------------------------------------------------


@pytest.mark.parametrize("streaming", [False, True], ids=["converse", "converse-stream"])
async def test_throttled_twice_then_success_reports_two_retries(
    make_client: ClientFactory, emu: EmulatorHandle, streaming: bool
) -> None:
    key = uuid.uuid4().hex
    request = body(tokens=3, error="ThrottlingException", error_times=2, error_key=key)
    async with make_client() as client:
        if streaming:
            stream = await client.converse_stream(MODEL, request)
            events = await drain(stream)
            retries = stream.retries
            assert events[-1][0] == "metadata"
        else:
            retries = (await client.converse(MODEL, request)).retries
    assert retries == 2
    assert emu.stats()["requests"] == 3


async def test_a_400_is_never_retried(make_client: ClientFactory, emu: EmulatorHandle) -> None:
    key = uuid.uuid4().hex
    async with make_client(max_attempts=5) as client:
        with pytest.raises(InvalidRequestError):
            await client.converse(
                MODEL, body(error="ValidationException", error_times=1, error_key=key)
            )
    assert emu.stats()["requests"] == 1


async def test_throttling_forever_gives_up_within_the_deadline(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    async with make_client(
        max_attempts=1000, retry_deadline=0.5, backoff_base=0.02, backoff_cap=0.1
    ) as client:
        started = time.monotonic()
        with pytest.raises(RateLimitError):
            await client.converse(MODEL, body(error="ThrottlingException"))
        elapsed = time.monotonic() - started
    # Retried, but stopped by the deadline long before max_attempts.
    assert 1 < emu.stats()["requests"] < 1000
    # The deadline bounds when the last attempt may start (+ one fast attempt); generous.
    assert elapsed < 0.5 + 2.0


async def test_retries_of_one_request_do_not_delay_another(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    async with make_client(
        max_attempts=1000, retry_deadline=3.0, backoff_base=0.5, backoff_cap=0.5
    ) as client:
        throttled = asyncio.create_task(client.converse(MODEL, body(error="ThrottlingException")))
        await asyncio.sleep(0.1)  # let it fail once and start backing off
        started = time.monotonic()
        await client.converse(MODEL, body(tokens=1))
        elapsed = time.monotonic() - started
        throttled.cancel()
    assert elapsed < 1.0


# --- timeouts -------------------------------------------------------------------------------


async def test_converse_first_byte_timeout(make_client: ClientFactory, emu: EmulatorHandle) -> None:
    async with make_client(read_timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeoutError) as info:
            await client.converse(MODEL, body(hang_ms=5000))
        elapsed = time.monotonic() - started
    assert info.value.code == "timeout"
    assert elapsed < 4.0  # well before the emulator would have answered
    assert emu.stats()["requests"] == 1  # a read timeout is not retried


async def test_stream_header_timeout(make_client: ClientFactory) -> None:
    async with make_client(stream_header_timeout=0.3) as client:
        with pytest.raises(UpstreamTimeoutError):
            await client.converse_stream(MODEL, body(ttfb_ms=5000))


async def test_stream_stall_beyond_idle_timeout(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    events: list[tuple[str, bytes]] = []
    async with make_client(idle_timeout=0.3) as client:
        stream = await client.converse_stream(MODEL, body(tokens=10, stall_after=2, stall_ms=5000))
        with pytest.raises(UpstreamTimeoutError) as info:
            await collect(stream, events)
    assert info.value.code == "timeout"
    assert [t for t, _ in events].count("contentBlockDelta") == 2
    # The stalled upstream stream was dropped, not left running.
    stats = await wait_for_stats(emu, lambda s: s["active_streams"] == 0)
    assert stats["active_streams"] == 0


async def test_idle_timeout_is_per_gap_not_per_stream(make_client: ClientFactory) -> None:
    """A steady stream longer than the idle timeout, and a slow consumer, are both fine."""
    async with make_client(idle_timeout=0.4) as client:
        stream = await client.converse_stream(MODEL, body(tokens=8, token_delay_ms=100))
        steady = await drain(stream)
        stream = await client.converse_stream(MODEL, body(tokens=4))
        slow = []
        async for event in stream:
            slow.append(event)
            await asyncio.sleep(0.2)  # data waits in the buffer; no read is waiting
    assert [t for t, _ in steady].count("contentBlockDelta") == 8
    assert slow[-1][0] == "metadata"


# --- stream lifetime and isolation ----------------------------------------------------------


async def test_aclose_mid_stream_cancels_upstream(
    make_client: ClientFactory, emu: EmulatorHandle
) -> None:
    async with make_client() as client:
        stream = await client.converse_stream(MODEL, body(tokens=500, token_delay_ms=20))
        seen = [await anext(aiter(stream)) for _ in range(3)]
        assert seen[0][0] == "messageStart"
        await stream.aclose()
        await stream.aclose()  # idempotent
        assert [e async for e in stream] == []
        stats = await wait_for_stats(
            emu, lambda s: s["streams_cancelled"] >= 1 and s["active_streams"] == 0
        )
        assert stats["streams_cancelled"] == 1
        assert stats["active_streams"] == 0
        # The pool still works after a connection was dropped.
        assert (await client.converse(MODEL, body(tokens=1))).retries == 0


async def test_stalled_stream_does_not_delay_a_concurrent_converse(
    make_client: ClientFactory,
) -> None:
    async with make_client() as client:
        stream = await client.converse_stream(MODEL, body(tokens=5, stall_after=1, stall_ms=5000))
        async with stream:
            first = await anext(aiter(stream))
            assert first[0] == "messageStart"
            pending = asyncio.create_task(drain(stream))  # now blocked in the stall
            await asyncio.sleep(0.05)
            started = time.monotonic()
            result = await client.converse(MODEL, body(tokens=2))
            elapsed = time.monotonic() - started
            assert not pending.done()
            pending.cancel()
    assert result.response["stopReason"] == "end_turn"
    assert elapsed < 1.0


# --- configuration --------------------------------------------------------------------------


async def test_endpoint_and_region_from_the_environment(
    emu: EmulatorHandle, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.url)
    aws_env.setenv("AWS_REGION", "eu-west-3")
    client = BedrockClient.from_settings(BedrockSettings())
    await client.start()
    try:
        await client.converse(MODEL, body(tokens=1))
    finally:
        await client.close()
    assert client.region == "eu-west-3"
    (seen,) = emu.requests()
    assert seen["headers"]["authorization"].endswith("/eu-west-3/bedrock/aws4_request")


async def test_bearer_token_over_http_is_refused_at_start(
    emu: EmulatorHandle, aws_env: pytest.MonkeyPatch
) -> None:
    aws_env.setenv("AWS_BEARER_TOKEN_BEDROCK", "api-key")
    client = BedrockClient.from_settings(BedrockSettings(region="us-east-1", endpoint_url=emu.url))
    with pytest.raises(BedrockConfigurationError, match="HTTPS"):
        await client.start()
    await client.close()


async def test_connection_refused_is_unreachable_after_bounded_retries(
    aws_env: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.bedrock")
    settings = BedrockSettings(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=3,
        backoff_base=0.01,
        backoff_cap=0.05,
    )
    client = BedrockClient.from_settings(settings)
    await client.start()
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            await client.converse(MODEL, body())
        elapsed = time.monotonic() - started
    finally:
        await client.close()
    assert info.value.code == "upstream_unreachable"
    assert info.value.status == 502
    retried = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retried) == 2  # 3 attempts
    assert elapsed < 5.0


async def test_server_closing_connections_is_retried(aws_env: pytest.MonkeyPatch) -> None:
    """A peer that accepts and hangs up (stale keep-alive, restart) is a connection error."""
    accepted = 0

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.read(1)
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = BedrockSettings(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        max_attempts=4,
        backoff_base=0.01,
        backoff_cap=0.02,
    )
    client = BedrockClient.from_settings(settings)
    await client.start()
    try:
        with pytest.raises(UpstreamError) as info:
            await client.converse(MODEL, body())
    finally:
        await client.close()
        server.close()
        await server.wait_closed()
    assert info.value.code == "upstream_unreachable"
    assert accepted == 4


# --- responses the emulator does not produce (a canned loopback server) ----------------------


@asynccontextmanager
async def canned_server(status: int, headers: dict[str, str], body: bytes) -> AsyncIterator[str]:
    """Answer every request with one fixed HTTP/1.1 response, then close the connection."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def canned_client(url: str) -> BedrockClient:
    client = BedrockClient.from_settings(
        BedrockSettings(region="us-east-1", endpoint_url=url, max_attempts=1)
    )
    await client.start()
    return client


@pytest.mark.parametrize(
    ("status", "headers", "payload", "cls", "message"),
    [
        # Code from the body when the header is missing (protocols §4.2), namespace dropped.
        (
            400,
            {},
            b'{"__type":"com.amazon.bedrock#ValidationException","message":"bad input"}',
            InvalidRequestError,
            "bad input",
        ),
        (
            429,
            {},
            b'{"code":"ThrottlingException","Message":"slow down"}',
            RateLimitError,
            "slow down",
        ),
        # Header code with a suffix; message only from the body.
        (
            403,
            {"x-amzn-ErrorType": "AccessDeniedException:http://internal.amazon.com/"},
            b'{"message":"no access"}',
            PermissionDeniedError,
            "no access",
        ),
        # A proxy's HTML page: the status decides, and none of the HTML reaches the client.
        (503, {}, b"<html><body>Service Unavailable</body></html>", UpstreamUnavailableError, None),
    ],
)
async def test_error_code_and_message_like_botocore(
    aws_env: pytest.MonkeyPatch,
    status: int,
    headers: dict[str, str],
    payload: bytes,
    cls: type[GatewayError],
    message: str | None,
) -> None:
    async with canned_server(status, headers, payload) as url:
        client = await canned_client(url)
        try:
            with pytest.raises(GatewayError) as info:
                await client.converse(MODEL, body())
        finally:
            await client.close()
    assert type(info.value) is cls
    if message is not None:
        assert info.value.message == message
    assert "<html>" not in info.value.message


async def test_invalid_json_from_converse_is_a_protocol_error(
    aws_env: pytest.MonkeyPatch,
) -> None:
    async with canned_server(200, {"Content-Type": "application/json"}, b"{not json") as url:
        client = await canned_client(url)
        try:
            with pytest.raises(UpstreamError) as info:
                await client.converse(MODEL, body())
        finally:
            await client.close()
    assert info.value.code == "upstream_protocol_error"


async def test_truncated_event_stream_is_a_protocol_error_after_earlier_events(
    aws_env: pytest.MonkeyPatch,
) -> None:
    first = encode_event("messageStart", b'{"role":"assistant"}')
    second = encode_event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}')
    payload = first + second[: len(second) // 2]
    events: list[tuple[str, bytes]] = []
    async with canned_server(200, {}, payload) as url:
        client = await canned_client(url)
        try:
            stream = await client.converse_stream(MODEL, body())
            with pytest.raises(UpstreamError) as info:
                await collect(stream, events)
        finally:
            await client.close()
    assert events == [("messageStart", b'{"role":"assistant"}')]
    assert info.value.code == "upstream_protocol_error"


@pytest.mark.parametrize(
    "knobs",
    [{"connect_timeout": 0}, {"read_timeout": -1}, {"idle_timeout": 0}, {"pool_size": 0}],
)
def test_settings_reject_nonsense(knobs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="BedrockSettings"):
        BedrockSettings(**knobs)  # type: ignore[arg-type]
