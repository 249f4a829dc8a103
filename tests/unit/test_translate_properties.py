"""Property tests: to_converse either refuses with a 400 or builds a body Bedrock would accept.

"Accept" means botocore's own ParamValidator finds nothing for Converse and ConverseStream, the
service model's max/pattern constraints (which botocore leaves to the service) hold, and the
service-side conversation rules hold: user first, strict alternation, every toolUse answered in
the next user turn and every toolResult matching a toolUse of the previous assistant turn, no
blank text, toolConfig whenever tool blocks exist. Inputs we claim to support never raise.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from typing import Any

import botocore.session
from botocore.validate import ParamValidator
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gateway.bedrock.translate import ConverseCall, to_converse
from gateway.errors import InvalidRequestError
from gateway.openai.decode import decode_chat_request
from gateway.routing import Route

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUTES = [
    Route(name="plain", bedrock_id="anthropic.claude-x-v1:0", max_output_tokens=8192),
    Route(
        name="think", bedrock_id="anthropic.claude-t-v1:0", max_output_tokens=64000, thinking=True
    ),
    Route(
        name="small", bedrock_id="anthropic.claude-s-v1:0", max_output_tokens=1000, thinking=True
    ),
    Route(name="excl", bedrock_id="anthropic.claude-e-v1:0", exclusive_temperature_top_p=True),
]
TOOL_NAMES = ["get_weather", "search", "fetch-page", "x", "run_code_2"]
IMAGE_HEADERS = [
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff\xe0"),
    ("image/jpg", b"\xff\xd8\xff\xdb"),
    ("image/gif", b"GIF89a"),
    ("image/webp", b"RIFF\x00\x00\x00\x00WEBP"),
]
_DOC_NAME = re.compile(r"[A-Za-z0-9\-()\[\]]+( [A-Za-z0-9\-()\[\]]+)*")
METADATA_CHARS = "abcXYZ019 :_@$#=/+,-."


@functools.cache
def _shapes() -> tuple[Any, Any]:
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    return (
        model.operation_model("Converse").input_shape,
        model.operation_model("ConverseStream").input_shape,
    )


# --- strategies: inputs we support ---------------------------------------------------------

blank = st.sampled_from(["", " ", "\n\t"])
words = st.text(min_size=1, max_size=12).filter(str.strip)
call_ids = st.one_of(
    st.sampled_from(["call_0", "call_1", "tooluse_Ab-1.x:y"]),
    st.text(min_size=1, max_size=80),
)
json_objects = st.dictionaries(
    st.text(max_size=6),
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6)),
    max_size=3,
)


@st.composite
def image_parts(draw: st.DrawFn) -> dict[str, Any]:
    mime, header = draw(st.sampled_from(IMAGE_HEADERS))
    payload = base64.b64encode(header + draw(st.binary(max_size=24))).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{payload}"}}


@st.composite
def file_parts(draw: st.DrawFn) -> dict[str, Any]:
    stem = draw(st.text(max_size=30))
    ext, mime = draw(
        st.sampled_from([("pdf", "application/pdf"), ("csv", "text/csv"), ("md", "text/markdown")])
    )
    data = base64.b64encode(draw(st.binary(min_size=1, max_size=24))).decode()
    uri = draw(st.sampled_from([f"data:{mime};base64,{data}", data]))
    return {"type": "file", "file": {"file_data": uri, "filename": f"{stem}.{ext}"}}


def text_part(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    return text.map(lambda t: {"type": "text", "text": t})


def _non_empty(parts: list[dict[str, Any]]) -> bool:
    return any(p["type"] != "text" or p["text"].strip() for p in parts)


user_messages = st.one_of(
    words,
    st.lists(
        st.one_of(text_part(words | blank), image_parts(), file_parts()), min_size=1, max_size=4
    ).filter(_non_empty),
).map(lambda content: {"role": "user", "content": content})

system_messages = st.builds(
    lambda role, content: {"role": role, "content": content},
    st.sampled_from(["system", "developer"]),
    st.one_of(words, blank, st.lists(text_part(words | blank), max_size=2)),
)

assistant_texts = st.one_of(
    words.map(lambda t: {"role": "assistant", "content": t}),
    st.lists(
        st.one_of(
            text_part(words),
            words.map(lambda t: {"type": "refusal", "refusal": t}),
        ),
        min_size=1,
        max_size=2,
    ).map(lambda parts: {"role": "assistant", "content": parts}),
    st.sampled_from([None, "", "  "]).map(lambda c: {"role": "assistant", "content": c}),
)


@st.composite
def tool_rounds(draw: st.DrawFn) -> list[dict[str, Any]]:
    """An assistant turn with tool calls, then an answer for every call (any order)."""
    if draw(st.integers(0, 5)) == 0:  # deprecated function_call round
        name = draw(st.sampled_from(TOOL_NAMES))
        return [
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": name, "arguments": json.dumps(draw(json_objects))},
            },
            {"role": "function", "name": name, "content": draw(st.one_of(st.none(), words, blank))},
        ]
    ids = draw(st.lists(call_ids, min_size=1, max_size=3, unique=True))
    calls = [
        {
            "id": call_id,
            "type": "function",
            "function": {
                "name": draw(st.sampled_from(TOOL_NAMES)),
                "arguments": draw(st.one_of(st.just(""), json_objects.map(json.dumps))),
            },
        }
        for call_id in ids
    ]
    content = draw(st.one_of(st.none(), words))
    answers: list[dict[str, Any]] = [
        {
            "role": "tool",
            "tool_call_id": call_id,
            "content": draw(
                st.one_of(words, blank, st.lists(text_part(words | blank), max_size=2))
            ),
        }
        for call_id in draw(st.permutations(ids))
    ]
    if draw(st.booleans()):
        answers.insert(draw(st.integers(0, len(answers))), draw(user_messages))
    return [{"role": "assistant", "content": content, "tool_calls": calls}, *answers]


conversations = st.lists(
    st.one_of(
        user_messages.map(lambda m: [m]),
        system_messages.map(lambda m: [m]),
        assistant_texts.map(lambda m: [m]),
        tool_rounds(),
    ),
    min_size=1,
    max_size=7,
).map(lambda segments: [m for segment in segments for m in segment])


def _substantive(messages: list[dict[str, Any]]) -> bool:
    for m in messages:
        if m["role"] in ("user", "tool", "function"):
            return True
        if m["role"] == "assistant" and (
            m.get("tool_calls") or m.get("function_call") or _has_text(m.get("content"))
        ):
            return True
    return False


def _has_text(content: Any) -> bool:
    if isinstance(content, str):
        return bool(content.strip())
    return any((p.get("text") or p.get("refusal") or "").strip() for p in content or ())


def _count(messages: list[dict[str, Any]], kind: str) -> int:
    return sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if p["type"] == kind
    )


@st.composite
def supported_requests(draw: st.DrawFn) -> tuple[dict[str, Any], Route]:
    route = draw(st.sampled_from(ROUTES))
    messages = draw(conversations)
    req: dict[str, Any] = {"model": route.name, "messages": messages}
    names = draw(st.lists(st.sampled_from(TOOL_NAMES), unique=True, max_size=4))
    if names:
        req["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": n,
                    "description": draw(st.sampled_from(["", "Does it."])),
                    "parameters": draw(
                        st.sampled_from(
                            [
                                {},
                                {"type": "object", "properties": {"a": {"type": "string"}}},
                                {"properties": {}},
                            ]
                        )
                    ),
                },
            }
            for n in names
        ]
    effort = draw(
        st.sampled_from([None, "none", "minimal", "low", "medium", "high", "xhigh", "max"])
    )
    if effort is not None:
        req["reasoning_effort"] = effort
    choices: list[Any] = [None, "auto", "none"]
    if names and not (route.thinking and effort not in (None, "none", "minimal")):
        choices += ["required", {"type": "function", "function": {"name": names[0]}}]
    if names:
        allowed = {
            "type": "allowed_tools",
            "allowed_tools": {
                "mode": "auto",
                "tools": [{"type": "function", "function": {"name": names[-1]}}],
            },
        }
        choices.append(allowed)
    choice = draw(st.sampled_from(choices))
    if choice is not None:
        req["tool_choice"] = choice
    if draw(st.booleans()):
        req["temperature"] = draw(st.floats(0, 1))
    if draw(st.booleans()) and not (route.exclusive_temperature_top_p and "temperature" in req):
        req["top_p"] = draw(st.floats(0, 1))
    limit = st.integers(1, route.max_output_tokens)
    for key in ("max_tokens", "max_completion_tokens"):
        if draw(st.booleans()):
            req[key] = draw(limit)
    stop = draw(
        st.one_of(st.none(), st.text(max_size=5), st.lists(st.text(max_size=5), max_size=4))
    )
    if stop is not None:
        req["stop"] = stop
    if draw(st.booleans()):
        req["metadata"] = draw(
            st.dictionaries(
                st.text(METADATA_CHARS, min_size=1, max_size=20),
                st.text(METADATA_CHARS, max_size=40),
                max_size=16,
            )
        )
    req["service_tier"] = draw(
        st.sampled_from([None, "auto", "default", "flex", "scale", "priority", "fast"])
    )
    rf = draw(
        st.sampled_from(
            [
                None,
                {"type": "text"},
                {
                    "type": "json_schema",
                    "json_schema": {"name": "out", "schema": {"type": "object"}},
                },
            ]
        )
    )
    if rf is not None:
        req["response_format"] = rf
    req["stream"] = draw(st.booleans())
    req["stream_options"] = {"include_usage": draw(st.booleans())}
    req.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "n": st.just(1),
                    "logprobs": st.just(False),
                    "seed": st.integers(0, 9),
                    "user": st.text(max_size=8),
                    "parallel_tool_calls": st.booleans(),
                },
            )
        )
    )
    return req, route


# --- strategies: anything decodable (may be refused) ---------------------------------------

any_messages = st.lists(
    st.one_of(
        user_messages,
        system_messages,
        assistant_texts,
        st.builds(
            lambda i, name, args, content: {
                "role": "assistant",
                "content": content,
                "tool_calls": [
                    {"id": i, "type": "function", "function": {"name": name, "arguments": args}}
                ],
            },
            st.sampled_from(["a", "b", "c d"]),
            st.sampled_from(TOOL_NAMES),
            st.sampled_from(["", "{}", "[]", "{bad", '{"k": 1}']),
            st.one_of(st.none(), words),
        ),
        st.builds(
            lambda i, c: {"role": "tool", "tool_call_id": i, "content": c},
            st.sampled_from(["a", "b", "c d", "zz"]),
            st.one_of(words, blank),
        ),
        st.builds(lambda c: {"role": "user", "content": c}, blank),
        st.builds(
            lambda u: {"role": "user", "content": [{"type": "image_url", "image_url": {"url": u}}]},
            st.sampled_from(
                ["https://x/y.png", "data:image/png;base64,@@", "data:text/plain;base64,aGk="]
            ),
        ),
    ),
    min_size=1,
    max_size=8,
)


@st.composite
def any_requests(draw: st.DrawFn) -> tuple[dict[str, Any], Route]:
    route = draw(st.sampled_from(ROUTES))
    req: dict[str, Any] = {"model": route.name, "messages": draw(any_messages)}
    optional = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "n": st.sampled_from([1, 1, 1, 2]),
        "max_tokens": st.integers(1, 2 * route.max_output_tokens),
        "max_completion_tokens": st.integers(1, 2 * route.max_output_tokens),
        "stop": st.one_of(st.text(max_size=3), st.lists(st.text(max_size=3), max_size=4)),
        "tools": st.lists(
            st.sampled_from(TOOL_NAMES).map(
                lambda n: {"type": "function", "function": {"name": n}}
            ),
            max_size=3,
        ),
        "tool_choice": st.one_of(
            st.sampled_from(["none", "auto", "required"]),
            st.sampled_from(TOOL_NAMES).map(
                lambda n: {"type": "function", "function": {"name": n}}
            ),
        ),
        "reasoning_effort": st.sampled_from(["none", "low", "high", "max"]),
        "metadata": st.dictionaries(
            st.text(min_size=1, max_size=8), st.text(max_size=300), max_size=3
        ),
        "response_format": st.sampled_from(
            [
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "x"}},
                {"type": "text"},
            ]
        ),
        "presence_penalty": st.sampled_from([0, 0, 0, 0.5]),
        "logprobs": st.sampled_from([False, False, False, True]),
        "service_tier": st.sampled_from(["auto", "flex", "priority", "reserved"]),
    }
    req.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return req, route


# --- the checks ----------------------------------------------------------------------------


def _strict_errors(value: Any, shape: Any, path: str) -> list[str]:
    """Constraints botocore leaves to the service: max lengths/values and patterns."""
    kind = shape.type_name
    meta = shape.metadata
    errors: list[str] = []
    if kind == "structure":
        if shape.is_document_type:
            return []
        if shape.is_tagged_union and len(value) != 1:
            errors.append(f"{path}: union with {len(value)} members")
        for key, item in value.items():
            errors += _strict_errors(item, shape.members[key], f"{path}.{key}")
    elif kind in ("list", "map", "string", "blob"):
        if not meta.get("min", 0) <= len(value) <= meta.get("max", len(value)):
            errors.append(f"{path}: length {len(value)} outside {meta}")
        if kind == "list":
            for k, item in enumerate(value):
                errors += _strict_errors(item, shape.member, f"{path}[{k}]")
        elif kind == "map":
            for key, item in value.items():
                errors += _strict_errors(key, shape.key, f"{path} key")
                errors += _strict_errors(item, shape.value, f"{path}[{key!r}]")
        elif kind == "string":
            # modelId's pattern is a long alternation of ID forms; the route supplies it.
            pattern = meta.get("pattern") if path != ".modelId" else None
            if pattern is not None and re.fullmatch(pattern, value) is None:
                errors.append(f"{path}: {value!r} does not match {pattern}")
            if shape.enum and value not in shape.enum:
                errors.append(f"{path}: {value!r} not in enum")
    elif kind in ("integer", "long", "float", "double") and not (
        meta.get("min", value) <= value <= meta.get("max", value)
    ):
        errors.append(f"{path}: {value} outside {meta}")
    return errors


def _texts(blocks: list[dict[str, Any]]) -> list[str]:
    found = [b["text"] for b in blocks if "text" in b]
    for b in blocks:
        if "toolResult" in b:
            found += [c["text"] for c in b["toolResult"]["content"] if "text" in c]
    return found


def assert_bedrock_accepts(result: ConverseCall, route: Route) -> None:
    body = result.body
    params = {"modelId": result.model_id, **body}
    for shape in _shapes():
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert _strict_errors(params, shape, "") == []
    messages = body["messages"]
    assert messages[0]["role"] == "user"
    assert [m["role"] for m in messages] == ["user", "assistant"] * (len(messages) // 2) + [
        "user"
    ] * (len(messages) % 2)
    assert all(
        t.strip()
        for t in _texts([b for m in messages for b in m["content"]])
        + [s["text"] for s in body.get("system", [])]
    )
    seen_ids: set[str] = set()
    for k, message in enumerate(messages):
        content = message["content"]
        assert content
        uses = [b["toolUse"]["toolUseId"] for b in content if "toolUse" in b]
        results = [b["toolResult"]["toolUseId"] for b in content if "toolResult" in b]
        if uses:
            assert seen_ids.isdisjoint(uses)
            assert len(set(uses)) == len(uses)
            seen_ids.update(uses)
            follow = messages[k + 1]["content"]
            assert sorted(
                b["toolResult"]["toolUseId"] for b in follow if "toolResult" in b
            ) == sorted(uses)
        if results:
            previous = messages[k - 1]["content"]
            assert set(results) <= {b["toolUse"]["toolUseId"] for b in previous if "toolUse" in b}
            assert all("toolResult" in b for b in content[: len(results)])
        documents = [b["document"] for b in content if "document" in b]
        assert len(documents) <= 5
        assert sum("image" in b for b in content) <= 20
        if documents:
            assert any("text" in b for b in content)
        for document in documents:
            assert _DOC_NAME.fullmatch(document["name"]), document["name"]
    names = [b["document"]["name"] for m in messages for b in m["content"] if "document" in b]
    assert len(names) == len(set(names))
    has_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    if has_tools:
        assert "toolConfig" in body
    if "toolConfig" in body:
        tool_names = [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]]
        assert len(tool_names) == len(set(tool_names))
        forced = body["toolConfig"].get("toolChoice", {}).get("tool")
        assert forced is None or forced["name"] in tool_names
    config = body["inferenceConfig"]
    assert config["maxTokens"] == result.max_tokens <= route.max_output_tokens
    thinking = body.get("additionalModelRequestFields", {}).get("thinking")
    if thinking is not None:
        assert route.thinking
        assert 1024 <= thinking["budget_tokens"] < config["maxTokens"]
        assert "temperature" not in config
        assert "topP" not in config
    if route.exclusive_temperature_top_p:
        assert not ("temperature" in config and "topP" in config)


def _convert(req: dict[str, Any], route: Route) -> ConverseCall:
    return to_converse(decode_chat_request(json.dumps(req).encode()), route)


@SETTINGS
@given(supported_requests())
def test_supported_requests_translate_to_bodies_bedrock_accepts(
    case: tuple[dict[str, Any], Route],
) -> None:
    req, route = case
    assume(_substantive(req["messages"]))
    assume(_count(req["messages"], "file") <= 5 and _count(req["messages"], "image_url") <= 20)
    result = _convert(req, route)  # must not raise
    assert_bedrock_accepts(result, route)
    assert result.stream is req["stream"]
    assert result.include_usage is (req["stream"] and req["stream_options"]["include_usage"])


@SETTINGS
@given(any_requests())
def test_any_request_is_refused_with_a_400_or_translated_validly(
    case: tuple[dict[str, Any], Route],
) -> None:
    req, route = case
    refused: InvalidRequestError | None = None
    try:
        result = _convert(req, route)
    except InvalidRequestError as exc:
        refused = exc
    if refused is not None:
        assert refused.status == 400
        assert refused.message
        event(f"refused: {refused.param}")
    else:
        event("translated")
        assert_bedrock_accepts(result, route)


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "model",
        "messages",
        "role",
        "content",
        "type",
        "text",
        "tools",
        "tool_choice",
        "stop",
        "temperature",
        "metadata",
        "tool_call_id",
        "function",
        "name",
    ]
)


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=64),
        st.dictionaries(field_names, json_values, max_size=6).map(lambda d: json.dumps(d).encode()),
    )
)
def test_decoding_arbitrary_bodies_only_ever_raises_invalid_request(raw: bytes) -> None:
    refused: InvalidRequestError | None = None
    try:
        decode_chat_request(raw)
    except InvalidRequestError as exc:
        refused = exc
    assert refused is None or refused.status == 400
