"""How a streamed completion is cut into writes: one per upstream read, never held back.

The pipeline and the real Bedrock client against the emulator, whose paced replies send the
headers, ``messageStart`` and the first token in one write and every later token on its own.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.bedrock.client import BedrockClient, BedrockSettings
from gateway.keys.principal import Principal
from gateway.pipeline import ChatPipeline
from gateway.routing import Route, RoutingTable
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.integration

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


class _NoAuth:
    async def authenticate(self, api_key: str | None) -> Principal:
        return Principal(key_id="k", team_id="t")


@pytest.fixture
async def pipeline(emu: EmulatorHandle) -> AsyncIterator[ChatPipeline]:
    client = BedrockClient.from_settings(
        BedrockSettings(
            region="us-east-1", endpoint_url=emu.url, static_credentials=("AKID", "secret")
        )
    )
    await client.start()
    try:
        yield ChatPipeline(
            routing=RoutingTable([Route(name="haiku", bedrock_id=MODEL)]),
            authenticator=_NoAuth(),
            bedrock=client,
        )
    finally:
        await client.close()


async def writes_of(pipeline: ChatPipeline, **directive: Any) -> list[tuple[float, bytes]]:
    """(seconds since the stream opened, bytes) for every write of one streamed completion."""
    body = {
        "model": "haiku",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": f"hi [[emu {json.dumps(directive)}]]"}],
    }
    ctx = await pipeline.prepare(
        principal=Principal(key_id="k", team_id="t"),
        body=json.dumps(body).encode(),
        request_id="r",
    )
    stream = await pipeline.open_stream(ctx)
    began = time.perf_counter()
    try:
        return [(time.perf_counter() - began, out) async for out in stream.events()]
    finally:
        await stream.aclose()


def chunks(write: bytes) -> list[dict[str, Any]]:
    events = [e for e in write.decode().split("\n\n") if e]
    return [json.loads(e.removeprefix("data: ")) for e in events if e != "data: [DONE]"]


def contents(write: bytes) -> list[str | None]:
    return [c["choices"][0]["delta"].get("content") for c in chunks(write) if c.get("choices")]


async def test_events_that_arrive_together_leave_together(pipeline: ChatPipeline) -> None:
    writes = await writes_of(pipeline, tokens=3, token_delay_ms=200)
    # The role chunk and the first token came in one read; each later token in its own; the
    # last token, the finish chunk, usage and [DONE] together (the emulator's last write).
    assert [contents(out) for _, out in writes] == [
        ["", "The"],
        [" quick"],
        [" brown", None],
    ]
    last = writes[-1][1]
    assert chunks(last)[-1]["usage"]["completion_tokens"] == 3
    assert last.endswith(b"data: [DONE]\n\n")
    # Nothing waited for the next token: each write left when its own token arrived.
    times = [at for at, _ in writes]
    assert times[0] < 0.15
    assert all(b - a > 0.1 for a, b in itertools.pairwise(times)), times


async def test_an_error_after_tokens_in_the_same_read_is_one_write(
    pipeline: ChatPipeline,
) -> None:
    writes = await writes_of(
        pipeline, tokens=5, stream_error="throttlingException", stream_error_after=2
    )
    # Unpaced: the whole reply is one read, so one write: tokens, then the error, then [DONE].
    assert len(writes) == 1
    out = writes[0][1]
    assert contents(out) == ["", "The", " quick"]
    assert b'"code":"rate_limit_exceeded"' in out
    assert out.endswith(b"data: [DONE]\n\n")


async def test_a_stalled_upstream_does_not_hold_back_what_came_before(
    pipeline: ChatPipeline,
) -> None:
    collected: list[bytes] = []
    body = {
        "model": "haiku",
        "stream": True,
        "messages": [
            {
                "role": "user",
                "content": 'hi [[emu {"tokens": 3, "stall_after": 1, "stall_ms": 3000}]]',
            }
        ],
    }
    ctx = await pipeline.prepare(
        principal=Principal(key_id="k", team_id="t"),
        body=json.dumps(body).encode(),
        request_id="r",
    )
    stream = await pipeline.open_stream(ctx)
    events = stream.events()
    try:
        # The first token is delivered while the emulator is still stalling (3 s).
        collected.append(await asyncio.wait_for(anext(events), timeout=1.0))
        assert contents(collected[0]) == ["", "The"]
    finally:
        await events.aclose()
        await stream.aclose()
