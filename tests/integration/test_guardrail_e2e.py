"""Bedrock Guardrails through the gateway (apply and inline modes), driven by the openai SDK."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import API_KEY, gateway_env
from tests.fixtures.processes import free_port, running

MODEL = "claude-3-haiku"
IN_MSG = "Sorry, your request was blocked by policy."
OUT_MSG = "Sorry, the answer was blocked by policy."
POLICY = """version: 1
pii: {{input: false, output: false}}
guardrail: {{id: testguard, version: "1", mode: {mode}, guard: latest_user}}
"""


@pytest.fixture(scope="module")
def guarded(
    emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, openai.OpenAI]]:
    clients: dict[str, openai.OpenAI] = {}
    contexts = []
    try:
        for mode in ("apply", "inline"):
            directory = tmp_path_factory.mktemp(f"guard-{mode}")
            (directory / "default.yaml").write_text(POLICY.format(mode=mode))
            port = free_port()
            env = gateway_env(emulator.url, GATEWAY_POLICY_DIR=str(directory))
            ctx = running(
                ["serve", "--port", str(port)],
                f"http://127.0.0.1:{port}/readyz",
                env,
                directory / "gw.log",
            )
            ctx.__enter__()
            contexts.append(ctx)
            clients[mode] = openai.OpenAI(
                base_url=f"http://127.0.0.1:{port}/v1", api_key=API_KEY, max_retries=0
            )
        yield clients
    finally:
        for ctx in reversed(contexts):
            ctx.__exit__(None, None, None)


@pytest.fixture
def words(emu: EmulatorHandle) -> EmulatorHandle:
    emu.config(
        guardrail={
            "blocked_words": ["forbidden"],
            "blocked_input_message": IN_MSG,
            "blocked_output_message": OUT_MSG,
        }
    )
    return emu


def test_apply_mode_blocks_input_with_400_before_the_model(
    guarded: dict[str, openai.OpenAI], words: EmulatorHandle
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        guarded["apply"].chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "tell me the forbidden thing"}]
        )
    assert info.value.code == "content_filter"
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"] == IN_MSG
    assert [r["operation"] for r in words.requests()] == ["ApplyGuardrail"]


def test_apply_mode_blocks_output_plain(
    guarded: dict[str, openai.OpenAI], words: EmulatorHandle
) -> None:
    result = guarded["apply"].chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": 'hi [[emu {"reply": "the forbidden answer"}]]'}],
    )
    assert result.choices[0].finish_reason == "content_filter"
    assert result.choices[0].message.content == OUT_MSG
    ops = [r["operation"] for r in words.requests()]
    assert ops == ["ApplyGuardrail", "Converse", "ApplyGuardrail"]


def test_apply_mode_blocks_streamed_output_without_leaking(
    guarded: dict[str, openai.OpenAI], words: EmulatorHandle
) -> None:
    stream = guarded["apply"].chat.completions.create(
        model=MODEL,
        stream=True,
        messages=[{"role": "user", "content": 'hi [[emu {"reply": "one two forbidden three"}]]'}],
    )
    chunks = [c for c in stream if c.choices]
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "forbidden" not in text
    assert text.endswith(OUT_MSG)
    assert chunks[-1].choices[0].finish_reason == "content_filter"


def test_apply_mode_passes_clean_streams(
    guarded: dict[str, openai.OpenAI], words: EmulatorHandle
) -> None:
    stream = guarded["apply"].chat.completions.create(
        model=MODEL,
        stream=True,
        messages=[{"role": "user", "content": 'hi [[emu {"reply": "all clear here"}]]'}],
    )
    chunks = [c for c in stream if c.choices]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "all clear here"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_inline_mode_sends_guardrail_config_and_maps_the_stop_reason(
    guarded: dict[str, openai.OpenAI], words: EmulatorHandle
) -> None:
    result = guarded["inline"].chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "the forbidden question"}]
    )
    assert result.choices[0].finish_reason == "content_filter"
    assert result.choices[0].message.content == IN_MSG
    body = words.requests()[-1]["body"]
    assert body["guardrailConfig"]["guardrailIdentifier"] == "testguard"
    assert "guardContent" in body["messages"][-1]["content"][0]
