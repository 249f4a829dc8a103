"""Request bodies and URLs for both targets: a ~1 KB prompt carrying the emulator directive."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from benchmarks.scenarios import Kind, Scenario

MODEL_ID = "anthropic.claude-3-haiku-20240307-v1:0"
GATEWAY_MODEL = "claude-3-haiku"
# The gateway wants keys of at least 16 characters.
API_KEY = "sk-bench-key-00000000000000000000001"
PROMPT_BYTES = 1024

# Plain prose: nothing a PII detector would flag, so every request costs the same to scan.
_FILLER = (
    "Summarise the following design notes for a chat gateway in three short bullet points. "
    "The gateway accepts requests in one format, checks them, forwards them to a model "
    "service and returns the answer in the same format it received. "
)


def prompt(directive: dict[str, int]) -> str:
    """About ``PROMPT_BYTES`` of text ending with ``[[emu {...}]]``."""
    tail = f" [[emu {json.dumps(directive, separators=(',', ':'))}]]"
    room = PROMPT_BYTES - len(tail)
    text = (_FILLER * (room // len(_FILLER) + 1))[:room]
    return text + tail


@dataclass(frozen=True, slots=True)
class Request:
    """Everything a load generator needs for one scenario against one target."""

    url: str
    body: bytes
    authorization: str  # empty for the emulator, which checks no signature
    wire: str  # "json", "eventstream" or "sse": how to read the reply


def direct(base_url: str, scenario: Scenario) -> Request:
    """A Converse / ConverseStream call straight to the emulator."""
    op = "converse-stream" if scenario.kind is Kind.STREAM else "converse"
    body = {
        "messages": [{"role": "user", "content": [{"text": prompt(scenario.directive())}]}],
        "inferenceConfig": {"maxTokens": 256},
    }
    return Request(
        url=f"{base_url}/model/{quote(MODEL_ID, safe='')}/{op}",
        body=json.dumps(body).encode(),
        authorization="",
        wire="eventstream" if scenario.kind is Kind.STREAM else "json",
    )


def gateway(base_url: str, scenario: Scenario) -> Request:
    """An OpenAI chat completion through the gateway."""
    body: dict[str, object] = {
        "model": GATEWAY_MODEL,
        "messages": [{"role": "user", "content": prompt(scenario.directive())}],
        "max_tokens": 256,
    }
    if scenario.kind is Kind.STREAM:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return Request(
        url=f"{base_url}/v1/chat/completions",
        body=json.dumps(body).encode(),
        authorization=f"Bearer {API_KEY}",
        wire="sse" if scenario.kind is Kind.STREAM else "json",
    )
