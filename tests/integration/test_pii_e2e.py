"""PII policies end to end: openai SDK → gateway process → emulator. What the emulator received
proves Bedrock never saw the PII; what the SDK got proves none leaked back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.fixtures.emulator import EmulatorHandle
from tests.fixtures.gateway import API_KEY, gateway_env
from tests.fixtures.processes import ROOT, free_port, running

MODEL = "claude-3-haiku"
CARD = "4111 1111 1111 1111"
EMAIL = "alice.doe@corp-mail.com"
PHONE = "+1 415 555 0134"
SSN = "123-45-6789"
# The reply the emulator "generates": PII written with JSON escapes so the gateway's input
# redaction cannot see it in the directive, while the emulator decodes it.
REPLY = "Call +1 (415) 555-0199 or write to bob\\u0040example.org about it."


@pytest.fixture(scope="module")
def policy_gateways(
    emulator: EmulatorHandle, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """One gateway per shipped policy, each with that policy as its default."""
    urls: dict[str, str] = {}
    stack = []
    try:
        for name in ("default", "pseudonymize", "strict"):
            directory = tmp_path_factory.mktemp(f"policies-{name}")
            shutil.copy(ROOT / "policies" / f"{name}.yaml", directory / "default.yaml")
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            env = gateway_env(emulator.url, GATEWAY_POLICY_DIR=str(directory))
            ctx = running(
                ["serve", "--port", str(port)], f"{url}/readyz", env, directory / "gateway.log"
            )
            ctx.__enter__()
            stack.append(ctx)
            urls[name] = url
            urls[f"{name}.log"] = str(directory / "gateway.log")
        yield urls
    finally:
        for ctx in reversed(stack):
            ctx.__exit__(None, None, None)


def sdk(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=API_KEY, max_retries=0)


def seen_by_bedrock(emu: EmulatorHandle) -> str:
    return json.dumps([r["body"] for r in emu.requests()])


def test_default_policy_masks_prompt_and_answer(
    policy_gateways: dict[str, str], emu: EmulatorHandle
) -> None:
    prompt = f'My card is {CARD}, mail {EMAIL}, phone {PHONE}. [[emu {{"reply": "{REPLY}"}}]]'
    result = sdk(policy_gateways["default"]).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": f"Escalate to {EMAIL} when unsure."},
            {"role": "user", "content": prompt},
        ],
    )
    upstream = seen_by_bedrock(emu)
    for value in (CARD, EMAIL, PHONE):
        assert value not in upstream
    assert "[CREDIT_DEBIT_CARD_NUMBER]" in upstream
    assert "[EMAIL]" in upstream
    answer = result.choices[0].message.content or ""
    assert "555-0199" not in answer
    assert "bob@example.org" not in answer
    assert "[PHONE]" in answer
    assert "[EMAIL]" in answer


def test_default_policy_masks_streamed_answer_split_across_tokens(
    policy_gateways: dict[str, str], emu: EmulatorHandle
) -> None:
    stream = sdk(policy_gateways["default"]).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": f'hi [[emu {{"reply": "{REPLY}"}}]]'}],
        stream=True,
    )
    deltas = [c.choices[0].delta.content or "" for c in stream if c.choices]
    text = "".join(deltas)
    assert len([d for d in deltas if d]) > 3  # still streamed, not collapsed into one chunk
    assert "555" not in text
    assert "bob@example.org" not in text
    assert text == "Call [PHONE] or write to [EMAIL] about it."


def test_tool_results_and_arguments_are_redacted(
    policy_gateways: dict[str, str], emu: EmulatorHandle
) -> None:
    sdk(policy_gateways["default"]).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "look up the customer"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "crm", "arguments": json.dumps({"email": EMAIL})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": f"SSN {SSN}, card {CARD}"},
        ],
    )
    upstream = seen_by_bedrock(emu)
    assert EMAIL not in upstream
    assert SSN not in upstream
    assert CARD not in upstream


@pytest.mark.parametrize("stream", [False, True])
def test_pseudonymised_values_come_back_to_the_client(
    policy_gateways: dict[str, str], emu: EmulatorHandle, stream: bool
) -> None:
    reply = "Sure, I will write to \\u003cEMAIL_1\\u003e today."
    content = f'Please email {EMAIL} [[emu {{"reply": "{reply}"}}]]'
    client = sdk(policy_gateways["pseudonymize"])
    if stream:
        chunks = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}], stream=True
        )
        answer = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        result = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": content}]
        )
        answer = result.choices[0].message.content or ""
    upstream = seen_by_bedrock(emu)
    assert EMAIL not in upstream
    assert "<EMAIL_1>" in upstream
    assert answer == f"Sure, I will write to {EMAIL} today."


@pytest.mark.parametrize("stream", [False, True])
def test_pii_only_the_model_produced_never_comes_back_raw(
    policy_gateways: dict[str, str], emu: EmulatorHandle, stream: bool
) -> None:
    """The emulated model calls a tool whose arguments repeat an e-mail the client never sent
    in its messages and write placeholders itself: only the client's own value is restored.
    (Tool schemas are not redacted, so a ``const`` there is how the emulator "invents" it.)"""
    invented = "mallory@model-made.org"
    schema = {
        "type": "object",
        "properties": {
            "to": {"const": invented},
            "cc": {"const": invented},
            "note": {"const": "see <EMAIL_2>"},
            "bcc": {"const": "<EMAIL_1>"},
        },
    }
    client = sdk(policy_gateways["pseudonymize"])
    kwargs: dict[str, Any] = {
        "model": MODEL,
        "messages": [{"role": "user", "content": f"Mail {EMAIL} about it"}],
        "tools": [{"type": "function", "function": {"name": "send", "parameters": schema}}],
    }
    if stream:
        chunks = list(client.chat.completions.create(**kwargs, stream=True))
        raw = json.dumps([c.model_dump() for c in chunks])
        arguments = "".join(
            call.function.arguments or ""
            for c in chunks
            if c.choices
            for call in c.choices[0].delta.tool_calls or ()
            if call.function is not None
        )
    else:
        result = client.chat.completions.create(**kwargs)
        raw = result.model_dump_json()
        [call] = result.choices[0].message.tool_calls or []
        arguments = call.function.arguments
    assert invented not in raw
    assert json.loads(arguments) == {
        "to": "<EMAIL_2>",
        "cc": "<EMAIL_2>",
        "note": "see <EMAIL_2>",
        "bcc": EMAIL,
    }


def test_strict_policy_blocks_naming_types_not_values(
    policy_gateways: dict[str, str], emu: EmulatorHandle
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        sdk(policy_gateways["strict"]).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"charge {CARD} now"}]
        )
    assert info.value.code == "pii_blocked"
    assert "CREDIT_DEBIT_CARD_NUMBER" in info.value.message
    assert CARD not in json.dumps(info.value.body)
    assert emu.requests() == []


def test_no_pii_in_gateway_logs(policy_gateways: dict[str, str], emu: EmulatorHandle) -> None:
    client = sdk(policy_gateways["strict"])
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"mail {EMAIL} card {CARD}"}]
        )
    sdk(policy_gateways["default"]).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": f"mail {EMAIL} ssn {SSN}"}]
    )
    for name in ("default", "pseudonymize", "strict"):
        logs = Path(policy_gateways[f"{name}.log"]).read_text(errors="replace")
        for value in (EMAIL, CARD, SSN, PHONE, API_KEY):
            assert value not in logs, (name, value)
