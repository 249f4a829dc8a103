"""Pseudonym restore never leaks: only values the client sent come back raw; PII the model
produced keeps its placeholder in every content block, tool argument and chunk."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.bedrock.stream import ChunkTranslator
from gateway.bedrock.translate import from_converse
from gateway.policy import Action, PseudonymState, RedactionConfig, Redactor
from gateway.policy.apply import redact_request, redact_response
from gateway.policy.pseudonym import Origin

PSEUDO = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
# The shipped pseudonymize policy's shape, plus a hashed type: a hash is never restored.
MIXED = Redactor(
    RedactionConfig(
        actions={
            "EMAIL": Action.PSEUDONYMIZE,
            "PHONE": Action.PSEUDONYMIZE,
            "URL": Action.PSEUDONYMIZE,
            "IP_ADDRESS": Action.HASH,
        },
        hash_key=b"k" * 32,
    )
)

CLIENT_MAIL = "alice.doe@corp-mail.com"
MODEL_MAIL = "bob@model-made.org"
# Two disjoint pools, no value a substring of any other or of the glue below: a model value
# found in what the client receives can only be a leak.
CLIENT = [
    CLIENT_MAIL, "+1 (415) 555-0132", "192.168.10.4", "https://client.example.com/a?q=1",
    "carol@client.example",
]  # fmt: skip
MODEL = [
    MODEL_MAIL, "+44 20 7946 0958", "10.20.30.40", "https://model.example.net/x/y",
    "dave@made-up.example", "www.invented.example/page",
]  # fmt: skip
PLACEHOLDERS = [f"<{t}_{n}>" for t in ("EMAIL", "PHONE", "URL", "IP_ADDRESS") for n in (1, 2, 3)]
GLUE = st.text(alphabet="abc xyz,.", max_size=6)


def blocks_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = response["output"]["message"]["content"]
    return content


def answer(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": list(blocks)}},
        "stopReason": "end_turn",
    }


def client_view(response: dict[str, Any]) -> str:
    """Everything the client receives of a whole (non-streamed) answer."""
    completion = from_converse(response, model="m", completion_id="c", created=0)
    message = completion.choices[0].message
    calls = [call.function.arguments for call in message.tool_calls or ()]
    return (message.content or "") + "".join(calls)


# --- the state ---------------------------------------------------------------------------


def test_state_restores_only_values_the_client_sent() -> None:
    state = PseudonymState()
    assert state.placeholder("EMAIL", CLIENT_MAIL, origin=Origin.REQUEST) == "<EMAIL_1>"
    assert state.placeholder("EMAIL", MODEL_MAIL, origin=Origin.ANSWER) == "<EMAIL_2>"
    assert state.restore("<EMAIL_1>") == CLIENT_MAIL
    assert state.restore("<EMAIL_2>") is None
    assert state.restore("<EMAIL_3>") is None
    assert state.from_client("EMAIL", CLIENT_MAIL)
    assert not state.from_client("EMAIL", MODEL_MAIL)
    # Stable numbering whatever the origin; the first sighting's origin never changes.
    assert state.placeholder("EMAIL", MODEL_MAIL, origin=Origin.REQUEST) == "<EMAIL_2>"
    assert state.restore("<EMAIL_2>") is None
    assert state.placeholder("EMAIL", CLIENT_MAIL, origin=Origin.ANSWER) == "<EMAIL_1>"
    assert state.restore("<EMAIL_1>") == CLIENT_MAIL
    assert repr(state) == "PseudonymState({'EMAIL': 2})"


# --- the cases that leaked ---------------------------------------------------------------


def test_model_value_repeated_in_a_second_text_block_keeps_its_placeholder() -> None:
    state = PseudonymState()
    out, _ = redact_response(
        answer({"text": f"mail {MODEL_MAIL}"}, {"text": f"again {MODEL_MAIL}"}), PSEUDO, state
    )
    assert blocks_of(out) == [{"text": "mail <EMAIL_1>"}, {"text": "again <EMAIL_1>"}]


def test_model_placeholder_written_in_another_block_is_not_restored() -> None:
    state = PseudonymState()
    redact_request(
        {"messages": [{"role": "user", "content": [{"text": CLIENT_MAIL}]}]}, PSEUDO, state
    )
    out, _ = redact_response(
        answer({"text": f"new {MODEL_MAIL}"}, {"text": "<EMAIL_2> and <EMAIL_1>"}), PSEUDO, state
    )
    assert blocks_of(out) == [{"text": "new <EMAIL_2>"}, {"text": f"<EMAIL_2> and {CLIENT_MAIL}"}]


def test_every_string_of_a_tool_input_keeps_the_model_values_placeholder() -> None:
    state = PseudonymState()
    use = {"toolUseId": "t1", "name": "send", "input": {
        "to": MODEL_MAIL, "cc": [MODEL_MAIL], "note": {"text": "see <EMAIL_1>"},
    }}  # fmt: skip
    out, _ = redact_response(answer({"toolUse": use}), PSEUDO, state)
    assert blocks_of(out)[0]["toolUse"]["input"] == {
        "to": "<EMAIL_1>", "cc": ["<EMAIL_1>"], "note": {"text": "see <EMAIL_1>"},
    }  # fmt: skip


def test_successive_whole_answers_on_one_state_do_not_restore_model_values() -> None:
    state = PseudonymState()
    assert PSEUDO.redact_output(f"x {MODEL_MAIL}", state)[0] == "x <EMAIL_1>"
    assert PSEUDO.redact_output(f"y <EMAIL_1> {MODEL_MAIL}", state)[0] == "y <EMAIL_1> <EMAIL_1>"


def test_separate_stream_filters_do_not_restore_each_others_model_values() -> None:
    state = PseudonymState()
    content, tool = PSEUDO.output_filter(state), PSEUDO.output_filter(state)
    said = content.feed(f"mail {MODEL_MAIL} now") + content.flush()
    args = tool.feed(json.dumps({"to": MODEL_MAIL, "cc": "<EMAIL_1>"})) + tool.flush()
    assert said == "mail <EMAIL_1> now"
    assert json.loads(args) == {"to": "<EMAIL_1>", "cc": "<EMAIL_1>"}


def deltas(block: int, key: str, text: str, size: int) -> list[tuple[str, dict[str, Any]]]:
    """A content block streamed as Bedrock does: ``text`` or ``toolUse.input`` deltas."""
    out = []
    for i in range(0, len(text), size):
        piece = text[i : i + size]
        delta = {"text": piece} if key == "text" else {"toolUse": {"input": piece}}
        out.append(("contentBlockDelta", {"contentBlockIndex": block, "delta": delta}))
    return out


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_streamed_text_then_tool_call_never_leaks_the_model_value(size: int) -> None:
    """The pipeline's seam: ChunkTranslator with one filter for the content and one per tool
    call, all sharing the request's state."""
    state = PseudonymState()
    PSEUDO.redact(f"from {CLIENT_MAIL}", state)
    translator = ChunkTranslator(
        completion_id="c", created=0, model="m", include_usage=False,
        filters=lambda: PSEUDO.output_filter(state),
    )  # fmt: skip
    said = f"I will write to {MODEL_MAIL} and <EMAIL_1>."
    args = json.dumps({"to": MODEL_MAIL, "cc": "<EMAIL_2>", "bcc": "<EMAIL_1>"})
    tool = {"toolUse": {"toolUseId": "t", "name": "send"}}
    events = [
        ("messageStart", {"role": "assistant"}),
        *deltas(0, "text", said, size),
        ("contentBlockStart", {"contentBlockIndex": 1, "start": tool}),
        *deltas(1, "toolUse", args, size),
        ("messageStop", {"stopReason": "tool_use"}),
    ]
    out = b"".join(translator.feed(kind, json.dumps(body).encode()) for kind, body in events)
    out += translator.finish()
    assert MODEL_MAIL not in out.decode()
    chunks = [
        json.loads(line[len(b"data: ") :])
        for line in out.split(b"\n")
        if line.startswith(b"data: {")
    ]
    choices = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    text = "".join(d.get("content") or "" for d in choices)
    calls = [call for d in choices for call in d.get("tool_calls") or ()]
    assert text == f"I will write to <EMAIL_2> and {CLIENT_MAIL}."
    arguments = "".join(call["function"]["arguments"] for call in calls)
    assert json.loads(arguments) == {"to": "<EMAIL_2>", "cc": "<EMAIL_2>", "bcc": CLIENT_MAIL}


def test_reasoning_never_reaches_the_client_so_it_has_no_restore_path() -> None:
    """Chat Completions has no reasoning field: both paths drop it, so nothing in it can
    leak. If that ever changes, it must go through the output filters like text."""
    state = PseudonymState()
    thought = {"reasoningContent": {"reasoningText": {"text": f"{MODEL_MAIL} <EMAIL_1>"}}}
    out, _ = redact_response(answer(thought, {"text": "done"}), PSEUDO, state)
    assert client_view(out) == "done"
    translator = ChunkTranslator(
        completion_id="c", created=0, model="m", include_usage=False,
        filters=lambda: PSEUDO.output_filter(state),
    )  # fmt: skip
    delta = {"reasoningContent": {"text": MODEL_MAIL}}
    streamed = translator.feed(
        "contentBlockDelta", json.dumps({"contentBlockIndex": 0, "delta": delta}).encode()
    )
    assert MODEL_MAIL not in streamed.decode()


# --- properties --------------------------------------------------------------------------

REQUEST_PIECES = st.one_of(st.sampled_from(CLIENT), st.sampled_from(PLACEHOLDERS), GLUE)
ANSWER_PIECES = st.one_of(
    st.sampled_from(CLIENT), st.sampled_from(MODEL), st.sampled_from(PLACEHOLDERS), GLUE
)
# " ; " keeps every model value a whole entity whatever its neighbours, so each one in an
# answer is detected there; a block ends with it too, as text blocks share one stream.
REQUESTS = st.lists(REQUEST_PIECES, max_size=8).map(" ; ".join)
BLOCKS = st.lists(
    st.tuples(
        st.booleans(), st.lists(ANSWER_PIECES, max_size=6).map(lambda p: " ; ".join(p) + " ; ")
    ),
    min_size=1,
    max_size=4,
)
SIZES = st.lists(st.integers(1, 9), max_size=5)
REDACTORS = st.sampled_from([PSEUDO, MIXED])


def cut(text: str, sizes: list[int]) -> list[str]:
    out, i, k = [], 0, 0
    while i < len(text):
        n = sizes[k % len(sizes)] if sizes else 1  # no sizes: one character at a time
        out.append(text[i : i + n])
        i += n
        k += 1
    return out


def sent_by_client(redactor: Redactor, request: str) -> PseudonymState:
    state = PseudonymState()
    redact_request(
        {"messages": [{"role": "user", "content": [{"text": request}]}]}, redactor, state
    )
    return state


def assert_no_model_value(seen: str) -> None:
    leaked = [value for value in MODEL if value in seen]
    assert not leaked, leaked


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redactor=REDACTORS, request=REQUESTS, blocks=BLOCKS)
def test_whole_answers_never_return_a_value_only_the_model_produced(
    redactor: Redactor, request: str, blocks: list[tuple[bool, str]]
) -> None:
    state = sent_by_client(redactor, request)
    content = [
        {"toolUse": {"toolUseId": f"t{i}", "name": "f", "input": {"a": text, "b": [text]}}}
        if is_tool
        else {"text": text}
        for i, (is_tool, text) in enumerate(blocks)
    ]
    out, _ = redact_response(answer(*content), redactor, state)
    assert_no_model_value(client_view(out))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redactor=REDACTORS, request=REQUESTS, blocks=BLOCKS, sizes=SIZES)
def test_streamed_answers_never_return_a_value_only_the_model_produced(
    redactor: Redactor, request: str, blocks: list[tuple[bool, str]], sizes: list[int]
) -> None:
    """As the stream translator does it: one filter for the text, one per tool call; empty
    ``sizes`` is the one-character chunking."""
    state = sent_by_client(redactor, request)
    text_filter = redactor.output_filter(state)
    filters = [text_filter]
    seen = []
    for is_tool, text in blocks:
        flt = redactor.output_filter(state) if is_tool else text_filter
        if is_tool:
            filters.append(flt)
            text = json.dumps({"a": text})
        seen += [flt.feed(part) for part in cut(text, sizes)]
    seen += [flt.flush() for flt in filters]
    assert_no_model_value("".join(seen))


CLIENT_TEXTS = st.lists(REQUEST_PIECES, max_size=8).map("".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CLIENT_TEXTS, model_said=BLOCKS, sizes=SIZES)
def test_pseudonymise_then_restore_stays_the_identity_after_model_values(
    text: str, model_said: list[tuple[bool, str]], sizes: list[int]
) -> None:
    """Placeholders issued for the model's PII do not disturb the client's: its text, echoed
    by the model after other blocks, comes back exactly (whole and streamed)."""
    redactor = PSEUDO  # every type pseudonymized: a masked or hashed one never comes back
    state = PseudonymState()
    sent, _ = redactor.redact(text, state)
    for _, other in model_said:
        redactor.redact_output(other, state)
    assert redactor.redact_output(sent, state)[0] == text
    flt = redactor.output_filter(state)
    assert "".join(flt.feed(part) for part in cut(sent, sizes)) + flt.flush() == text


# Restoring a model value and relying on the output stage to find it again is not enough:
# glued to its neighbours, a restored value is often no longer detected (e.g. "9+44 20 …").
GLUED = ["9<PHONE_1>", "12-<PHONE_1>", "<EMAIL_1>@x", "<IP_ADDRESS_1>5", "1.<IP_ADDRESS_1>",
         "v<IP_ADDRESS_1>", "version <IP_ADDRESS_1>", "x<URL_1>y", "<EMAIL_2>"]  # fmt: skip
FIRST = "call +44 20 7946 0958 or bob@model-made.org at 10.20.30.40 https://model.example.net/x/y"


@pytest.mark.parametrize("later", GLUED)
def test_model_placeholders_glued_to_text_are_not_restored(later: str) -> None:
    whole = PseudonymState()
    PSEUDO.redact_output(FIRST, whole)
    assert PSEUDO.redact_output(later, whole)[0] == later
    streamed = PseudonymState()
    first, then = PSEUDO.output_filter(streamed), PSEUDO.output_filter(streamed)
    assert "".join(map(first.feed, FIRST)) + first.flush() == PSEUDO.redact_output(FIRST)[0]
    assert "".join(map(then.feed, later)) + then.flush() == later


# No digit 0, 2 or 4 and few letters: glue can never spell a model value by itself.
TIGHT_GLUE = st.text(alphabet="19-.:/@ abcxyz", max_size=4)
LATER = st.lists(
    st.one_of(st.sampled_from(PLACEHOLDERS), st.sampled_from(CLIENT), TIGHT_GLUE), max_size=8
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(redactor=REDACTORS, request=REQUESTS, later=LATER, sizes=SIZES)
def test_placeholders_in_any_context_never_bring_back_a_model_value(
    redactor: Redactor, request: str, later: str, sizes: list[int]
) -> None:
    """The model names every value of its own, then writes placeholders glued to anything."""
    state = sent_by_client(redactor, request)
    first = redactor.output_filter(state)
    said = "".join(first.feed(part) for part in cut(" ; ".join(MODEL), sizes)) + first.flush()
    assert_no_model_value(said)
    assert_no_model_value(redactor.redact_output(later, state)[0])
    then = redactor.output_filter(state)
    assert_no_model_value("".join(then.feed(part) for part in cut(later, sizes)) + then.flush())
