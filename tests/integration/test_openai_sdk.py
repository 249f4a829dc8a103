"""The real openai SDK against a real gateway process in front of the real emulator process."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.request
from typing import Any

import openai
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import GatewayHandle

MODEL = "claude-3-haiku"
BEDROCK_ID = "anthropic.claude-3-haiku-20240307-v1:0"
# A 1x1 transparent PNG.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )
).decode()


def directive(d: dict[str, Any], text: str = "Hello there") -> str:
    return f"{text} [[emu {json.dumps(d)}]]"


def test_plain_completion(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    result = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": directive({"reply": "Paris is the capital."})},
        ],
    )
    assert result.object == "chat.completion"
    assert result.id.startswith("chatcmpl-")
    assert result.model == MODEL
    choice = result.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Paris is the capital."
    assert choice.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.completion_tokens == 4
    assert result.usage.total_tokens == result.usage.prompt_tokens + 4
    seen = emu.requests()[-1]
    assert seen["operation"] == "Converse"
    assert seen["model_id"] == BEDROCK_ID
    assert seen["body"]["system"] == [{"text": "You are terse."}]
    assert "/us-east-1/bedrock/aws4_request" in seen["headers"]["authorization"]


def test_max_tokens_and_stop_sequences(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    cut = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": directive({"tokens": 30})}], max_tokens=5
    )
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage is not None and cut.usage.completion_tokens == 5
    stopped = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": directive({"reply": "one two three four"})}],
        stop="three",
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content is not None
    assert "three" not in stopped.choices[0].message.content
    body = emu.requests()[-1]["body"]
    assert body["inferenceConfig"]["stopSequences"] == ["three"]


def test_streaming_with_usage(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": directive({"reply": "alpha beta gamma"})}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    ids = {c.id for c in chunks}
    assert len(ids) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "alpha beta gamma"
    finishes = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishes == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_tool_round_trip(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "emulated"}
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "sunny, 21C"})
    second = client.chat.completions.create(model=MODEL, messages=messages, tools=tools)
    assert second.choices[0].finish_reason == "stop"
    assert "sunny" in (second.choices[0].message.content or "")
    body = emu.requests()[-1]["body"]
    result_msg = body["messages"][-1]
    assert result_msg["role"] == "user"
    assert result_msg["content"][0]["toolResult"]["toolUseId"] == call.id


def test_streamed_tool_call(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        }
    ]
    with client.chat.completions.stream(
        model=MODEL, messages=[{"role": "user", "content": "find it"}], tools=tools
    ) as stream:
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert calls and calls[0].function.name == "lookup"
    assert json.loads(calls[0].function.arguments) == {"q": "emulated"}
    assert final.choices[0].finish_reason == "tool_calls"


def test_image_input(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    result = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            }
        ],
    )
    assert result.choices[0].message.content
    block = emu.requests()[-1]["body"]["messages"][0]["content"][1]
    assert block["image"]["format"] == "png"
    assert block["image"]["source"]["bytes"] == PNG


def test_remote_image_url_refused(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(
            model=MODEL,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
                    ],
                }
            ],
        )
    assert info.value.param is not None and "image_url" in info.value.param
    assert emu.requests() == []


@pytest.mark.parametrize(
    ("bedrock_error", "sdk_error", "status"),
    [
        ("ValidationException", openai.BadRequestError, 400),
        ("AccessDeniedException", openai.PermissionDeniedError, 403),
        ("ResourceNotFoundException", openai.NotFoundError, 404),
        ("ThrottlingException", openai.RateLimitError, 429),
        ("ServiceUnavailableException", openai.InternalServerError, 503),
        ("ModelNotReadyException", openai.InternalServerError, 503),
        ("ModelTimeoutException", openai.InternalServerError, 504),
        ("ModelErrorException", openai.InternalServerError, 502),
        ("InternalServerException", openai.InternalServerError, 502),
    ],
)
def test_upstream_errors_raise_matching_sdk_exception(
    client: openai.OpenAI,
    emu: EmulatorHandle,
    bedrock_error: str,
    sdk_error: type[openai.APIStatusError],
    status: int,
) -> None:
    with pytest.raises(sdk_error) as info:
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": directive({"error": bedrock_error})}]
        )
    assert info.value.status_code == status
    body = info.value.body
    assert isinstance(body, dict) and set(body) >= {"message", "type", "param", "code"}


def test_mid_stream_error_becomes_error_event(client: openai.OpenAI, emu: EmulatorHandle) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": directive(
                    {"stream_error": "throttlingException", "stream_error_after": 2}
                ),
            }
        ],
        stream=True,
    )
    received: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert len(received) == 2
    assert info.value.code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("kwargs", "error", "param"),
    [
        ({"model": "no-such-model"}, openai.NotFoundError, "model"),
        ({"n": 2}, openai.BadRequestError, "n"),
        ({"temperature": 1.5}, openai.BadRequestError, "temperature"),
        ({"logprobs": True}, openai.BadRequestError, "logprobs"),
    ],
)
def test_bad_requests_name_the_param(
    client: openai.OpenAI,
    emu: EmulatorHandle,
    kwargs: dict[str, Any],
    error: type[Exception],
    param: str,
) -> None:
    args: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        **kwargs,
    }
    with pytest.raises(error) as info:
        client.chat.completions.create(**args)
    assert getattr(info.value, "param", None) == param
    assert emu.requests() == []


def _raw(
    gateway: GatewayHandle, body: bytes, key: str | None = None, path: str = "/v1/chat/completions"
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(
        gateway.url + path,
        data=body,
        method="POST",
        headers={
            "Authorization": f"Bearer {key or gateway.api_key}",
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def test_malformed_json_is_400_not_422(gateway: GatewayHandle, emu: EmulatorHandle) -> None:
    status, body, _ = _raw(gateway, b'{"model": "claude-3-haiku", "messages": [')
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"


def test_schema_violation_names_field(gateway: GatewayHandle, emu: EmulatorHandle) -> None:
    status, body, _ = _raw(
        gateway, json.dumps({"model": MODEL, "messages": [{"role": "user", "content": 5}]}).encode()
    )
    assert status == 400
    assert body["error"]["param"] == "messages[0].content"
    assert "Traceback" not in json.dumps(body)


def test_body_over_limit_is_413(gateway: GatewayHandle, emu: EmulatorHandle) -> None:
    big = json.dumps(
        {"model": MODEL, "messages": [{"role": "user", "content": "x" * (9 * 1024 * 1024)}]}
    )
    status, body, _ = _raw(gateway, big.encode())
    assert status == 413
    assert body["error"]["code"] == "request_too_large"


def test_bad_key_is_401(client: openai.OpenAI, gateway: GatewayHandle, emu: EmulatorHandle) -> None:
    bad = openai.OpenAI(
        base_url=gateway.base_url, api_key="sk-wrong-key-000000000000", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(info.value)


def test_request_id_is_echoed(gateway: GatewayHandle, emu: EmulatorHandle) -> None:
    request = urllib.request.Request(
        gateway.url + "/v1/chat/completions",
        data=json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {gateway.api_key}", "x-request-id": "req-abc.123"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["x-request-id"] == "req-abc.123"


def test_models_endpoints(client: openai.OpenAI) -> None:
    models = client.models.list()
    names = {m.id for m in models.data}
    assert MODEL in names
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_health_and_openapi(gateway: GatewayHandle) -> None:
    for path in ("/healthz", "/readyz", "/schema/openapi.json"):
        with urllib.request.urlopen(gateway.url + path, timeout=5) as response:
            assert response.status == 200


async def _wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_client_disconnect_closes_upstream_stream(
    aclient: openai.AsyncOpenAI, emu: EmulatorHandle
) -> None:
    before = emu.stats()
    stream = await aclient.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": directive({"tokens": 200, "token_delay_ms": 50})}],
        stream=True,
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            break
    await stream.close()
    closed = await _wait_for(
        lambda: (
            emu.stats()["streams_cancelled"] > before["streams_cancelled"]
            and emu.stats()["active_streams"] == 0
        ),
        timeout=3.0,
    )
    assert closed, emu.stats()


async def test_stalled_stream_does_not_delay_other_requests(
    aclient: openai.AsyncOpenAI, emu: EmulatorHandle
) -> None:
    async def stalled() -> None:
        stream = await aclient.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": directive({"stall_after": 1, "stall_ms": 2500})}],
            stream=True,
        )
        async for _ in stream:
            pass

    slow = asyncio.create_task(stalled())
    await asyncio.sleep(0.3)
    started = time.monotonic()
    result = await aclient.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "quick"}]
    )
    elapsed = time.monotonic() - started
    assert result.choices[0].message.content
    assert not slow.done()
    assert elapsed < 1.0, elapsed
    await slow
