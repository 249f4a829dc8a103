"""Emulator reply generation: word cycle, lengths, stop rules, tools, usage and guardrails."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.emulator import behaviour
from gateway.emulator.behaviour import WORDS, Plan, cut_at_stop, pieces, plan, tokenise, words
from gateway.emulator.directives import NONE, Directives
from gateway.emulator.guardrail import GuardrailPolicy
from gateway.emulator.shapes import ConverseRequest

NO_GUARD = GuardrailPolicy()
TOOL_ID = r"[a-zA-Z0-9_.:-]{1,64}"


def request(**body: Any) -> ConverseRequest:
    body.setdefault("messages", [{"role": "user", "content": [{"text": "hello"}]}])
    return msgspec.convert(body, ConverseRequest)


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def run(
    body: ConverseRequest,
    knobs: Directives = NONE,
    tokens: int = 32,
    policy: GuardrailPolicy = NO_GUARD,
) -> Plan:
    return plan(body, knobs, tokens, policy, has_directives=knobs is not NONE)


WEATHER_TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                        "required": ["city"],
                    }
                },
            }
        },
        {"toolSpec": {"name": "get_time", "inputSchema": {"json": {"type": "object"}}}},
    ]
}


def test_word_cycle_has_at_least_sixteen_distinct_words() -> None:
    assert len(set(WORDS)) >= 16
    assert all(" " not in w for w in WORDS)


@pytest.mark.parametrize("n", [0, 1, 5, len(WORDS), len(WORDS) + 3, 100])
def test_words_cycles_deterministically(n: int) -> None:
    out = words(n)
    assert len(out) == n
    assert out == [WORDS[i % len(WORDS)] for i in range(n)]


@settings(deadline=None)  # a loaded CI machine must not fail a pure test
@given(st.lists(st.text(alphabet=st.characters(exclude_characters=" "), min_size=1), max_size=20))
def test_pieces_join_back_to_the_space_separated_text(tokens: list[str]) -> None:
    parts = pieces(tokens)
    assert "".join(parts) == " ".join(tokens)
    assert all(p.startswith(" ") for p in parts[1:])
    if parts:
        assert parts[0] == tokens[0]


@settings(deadline=None)  # a loaded CI machine must not fail a pure test
@given(st.text(alphabet="ab  c", max_size=30))
def test_tokenise_round_trips_any_text(text: str) -> None:
    assert " ".join(tokenise(text)) == text
    assert "".join(pieces(tokenise(text))) == text


@pytest.mark.parametrize(
    ("stops", "expected_text", "hit"),
    [
        ([], "The quick brown fox", False),
        (["zebra"], "The quick brown fox", False),
        (["brown"], "The quick ", True),
        ([" brown"], "The quick", True),
        (["ick"], "The qu", True),
        (["fox", "quick"], "The ", True),  # the earliest occurrence wins, not the first listed
        (["The"], "", True),
        (["k b"], "The quic", True),  # a stop sequence spanning two tokens
    ],
)
def test_cut_at_stop(stops: list[str], expected_text: str, hit: bool) -> None:
    parts, stopped = cut_at_stop(pieces(["The", "quick", "brown", "fox"]), stops)
    assert "".join(parts) == expected_text
    assert stopped is hit
    assert all(parts)  # no empty deltas


def test_default_reply_is_the_configured_number_of_words() -> None:
    result = run(request(), tokens=32)
    assert result.stop_reason == "end_turn"
    assert result.tool is None
    assert result.output_tokens == 32
    assert "".join(result.pieces) == " ".join(words(32))


@pytest.mark.parametrize(
    ("inference", "knobs", "text", "reason"),
    [
        ({"maxTokens": 3}, NONE, "The quick brown", "max_tokens"),
        ({"maxTokens": 40}, Directives(tokens=4), "The quick brown fox", "end_turn"),
        ({"maxTokens": 4}, Directives(tokens=4), "The quick brown fox", "end_turn"),
        ({"stopSequences": ["fox"]}, Directives(tokens=6), "The quick brown ", "stop_sequence"),
        ({"stopSequences": ["fox"], "maxTokens": 2}, NONE, "The quick", "max_tokens"),
        ({"stopSequences": ["quick"], "maxTokens": 2}, NONE, "The ", "stop_sequence"),
        ({}, Directives(reply="Hello  there world"), "Hello  there world", "end_turn"),
        ({"maxTokens": 2}, Directives(reply="one two three"), "one two", "max_tokens"),
        ({}, Directives(tokens=0), "", "end_turn"),
        ({}, Directives(tokens=2, stop_reason="malformed_model_output"), "The quick", None),
    ],
)
def test_reply_length_and_stop_reason(
    inference: dict[str, Any], knobs: Directives, text: str, reason: str | None
) -> None:
    result = run(request(inferenceConfig=inference), knobs)
    assert "".join(result.pieces) == text
    assert result.stop_reason == (reason or knobs.stop_reason)
    assert result.output_tokens == len(result.pieces)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"messages": [user({"text": "abcd"})]}, 1),
        ({"messages": [user({"text": "abcde"})]}, 2),
        ({"messages": [user({"text": "x" * 40})], "system": [{"text": "y" * 8}]}, 12),
        (
            {
                "messages": [
                    user({"text": "a" * 10}),
                    {"role": "assistant", "content": [{"text": "b" * 10}]},
                    user({"text": "c" * 12}),
                ]
            },
            8,
        ),
        ({"messages": [user({"image": {"format": "png", "source": {"bytes": "AA=="}}})]}, 1),
    ],
)
def test_input_tokens_are_a_quarter_of_the_prompt_characters(
    body: dict[str, Any], expected: int
) -> None:
    assert run(request(**body)).input_tokens == expected


def test_directives_do_not_count_as_input() -> None:
    plain = run(request(messages=[user({"text": "x" * 40})]))
    text = "x" * 20 + '[[emu {"tokens": 3}]]' + "x" * 20
    directed = run(request(messages=[user({"text": text})]), Directives(tokens=3))
    assert directed.input_tokens == plain.input_tokens == 10


def test_tool_use_names_the_first_tool_and_synthesises_its_input() -> None:
    result = run(request(toolConfig=WEATHER_TOOLS))
    assert result.stop_reason == "tool_use"
    assert result.pieces == ()
    assert result.tool is not None
    assert result.tool.name == "get_weather"
    assert result.tool.input == {"city": "emulated", "days": 1}
    assert msgspec.json.decode(result.tool.input_json) == result.tool.input
    assert result.output_tokens >= 1


def test_tool_choice_picks_the_named_tool() -> None:
    config = {**WEATHER_TOOLS, "toolChoice": {"tool": {"name": "get_time"}}}
    result = run(request(toolConfig=config))
    assert result.tool is not None
    assert result.tool.name == "get_time"
    assert result.tool.input == {}


def test_tool_use_ids_are_valid_and_deterministic() -> None:
    import re

    first = run(request(toolConfig=WEATHER_TOOLS)).tool
    again = run(request(toolConfig=WEATHER_TOOLS)).tool
    other = run(
        request(toolConfig=WEATHER_TOOLS, messages=[user({"text": "a longer prompt here"})])
    ).tool
    assert first is not None and again is not None and other is not None
    assert re.fullmatch(TOOL_ID, first.tool_use_id)
    assert first.tool_use_id.startswith("tooluse_")
    assert first.tool_use_id == again.tool_use_id
    assert first.tool_use_id != other.tool_use_id


def test_no_tool_directive_answers_with_text() -> None:
    result = run(request(toolConfig=WEATHER_TOOLS), Directives(no_tool=True, tokens=3))
    assert result.tool is None
    assert result.stop_reason == "end_turn"
    assert "".join(result.pieces) == "The quick brown"


@pytest.mark.parametrize(
    ("content", "echo"),
    [
        ([{"text": "Sunny, 21 degrees in Paris today with a light breeze"}], "Sunny, 21 degrees"),
        ([{"json": {"temp": 21}}], '{"temp":21}'),
    ],
)
def test_tool_result_gets_a_text_reply(content: list[dict[str, Any]], echo: str) -> None:
    messages = [
        user({"text": "weather?"}),
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {}}}
            ],
        },
        user({"toolResult": {"toolUseId": "tooluse_1", "content": content}}),
    ]
    result = run(request(messages=messages, toolConfig=WEATHER_TOOLS), tokens=12)
    text = "".join(result.pieces)
    assert result.tool is None
    assert result.stop_reason == "end_turn"
    assert text.startswith("Tool result received: " + echo)
    result_text = content[0].get("text") or '{"temp":21}'
    assert text.startswith("Tool result received: " + result_text[:40])
    assert len(result.pieces) == 12


def test_guardrail_blocks_input_with_the_input_message() -> None:
    policy = GuardrailPolicy(("secret",), "input blocked", "output blocked")
    body = request(
        messages=[user({"text": "tell me the Secret."})],
        guardrailConfig={"guardrailIdentifier": "g", "guardrailVersion": "1"},
    )
    result = run(body, policy=policy)
    assert result.stop_reason == "guardrail_intervened"
    assert "".join(result.pieces) == "input blocked"
    assert result.verdict is not None and result.verdict.source == "INPUT"


def test_guardrail_blocks_output_with_the_output_message() -> None:
    policy = GuardrailPolicy(("lazy",), "input blocked", "output blocked")
    body = request(guardrailConfig={"guardrailIdentifier": "g", "guardrailVersion": "1"})
    result = run(body, policy=policy)
    assert result.stop_reason == "guardrail_intervened"
    assert "".join(result.pieces) == "output blocked"
    assert result.verdict is not None and result.verdict.source == "OUTPUT"
    assert "lazy" in result.model_output


def test_guardrail_ignores_directive_text_and_unguarded_requests() -> None:
    policy = GuardrailPolicy(("reply",), "in", "out")
    text = 'hi [[emu {"reply": "fine words"}]]'
    body = request(
        messages=[user({"text": text})],
        guardrailConfig={"guardrailIdentifier": "g", "guardrailVersion": "1"},
    )
    assert run(body, Directives(reply="fine words"), policy=policy).stop_reason == "end_turn"
    # Without guardrailConfig on the request, configured words change nothing.
    unguarded = run(request(), policy=GuardrailPolicy(("lazy",)))
    assert unguarded.stop_reason == "end_turn"


def test_guard_content_blocks_narrow_what_is_checked() -> None:
    policy = GuardrailPolicy(("secret",), "in", "out")
    body = request(
        messages=[
            user({"text": "a secret outside"}, {"guardContent": {"text": {"text": "harmless"}}})
        ],
        guardrailConfig={"guardrailIdentifier": "g", "guardrailVersion": "1"},
    )
    assert run(body, Directives(tokens=2), policy=policy).stop_reason == "end_turn"


def test_directive_texts_are_system_and_last_user_text_only() -> None:
    body = request(
        system=[{"text": "sys"}],
        messages=[
            user({"text": "first"}),
            {"role": "assistant", "content": [{"text": "reply"}]},
            user({"text": "last"}, {"toolResult": {"toolUseId": "t", "content": [{"text": "r"}]}}),
        ],
    )
    assert list(behaviour.directive_texts(body)) == ["sys", "last"]
