"""decode_chat_request: wire types, malformed bodies, schema errors and OpenAI-level limits."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.errors import InvalidRequestError
from gateway.openai.decode import decode_chat_request
from gateway.openai.types import (
    AllowedToolsChoice,
    AssistantMessage,
    ChatCompletionRequest,
    CustomTool,
    DeveloperMessage,
    FilePart,
    FunctionChoice,
    FunctionMessage,
    FunctionTool,
    ImagePart,
    InputAudioPart,
    JSONSchemaFormat,
    NamedFunction,
    RefusalPart,
    SystemMessage,
    TextPart,
    ToolMessage,
    UserMessage,
)

USER = {"role": "user", "content": "hi"}


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", "messages": [USER], **fields}).encode()


def decode(**fields: Any) -> ChatCompletionRequest:
    return decode_chat_request(body(**fields))


def refused(raw: bytes) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        decode_chat_request(raw)
    assert info.value.status == 400
    return info.value


# --- successful decoding -------------------------------------------------------------------


def test_minimal_request_decodes_with_defaults() -> None:
    req = decode()
    assert req.model == "m"
    assert req.messages == [UserMessage(content="hi")]
    assert req.stream is None
    assert req.tools is None


def test_every_role_decodes_to_its_struct() -> None:
    req = decode(
        messages=[
            {"role": "system", "content": "s"},
            {"role": "developer", "content": [{"type": "text", "text": "d"}]},
            {"role": "user", "content": "u", "name": "alice"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "function", "name": "f", "content": None},
        ]
    )
    kinds = [type(m) for m in req.messages]
    assert kinds == [
        SystemMessage,
        DeveloperMessage,
        UserMessage,
        AssistantMessage,
        ToolMessage,
        FunctionMessage,
    ]


def test_every_user_part_type_decodes() -> None:
    req = decode(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "t"},
                    {"type": "image_url", "image_url": {"url": "data:x", "detail": "high"}},
                    {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "AA==", "filename": "a.pdf"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ]
    )
    user = req.messages[0]
    assert isinstance(user, UserMessage)
    assert [type(p) for p in user.content] == [TextPart, ImagePart, InputAudioPart, FilePart]
    assistant = req.messages[1]
    assert isinstance(assistant, AssistantMessage)
    assert assistant.content == [RefusalPart(refusal="no")]


def test_tools_and_tool_choice_forms_decode() -> None:
    fn = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    custom = {"type": "custom", "custom": {"name": "g"}}
    req = decode(tools=[fn, custom], tool_choice={"type": "function", "function": {"name": "f"}})
    assert isinstance(req.tools, list)
    assert [type(t) for t in req.tools] == [FunctionTool, CustomTool]
    assert req.tool_choice == FunctionChoice(function=NamedFunction(name="f"))
    allowed = {"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [fn]}}
    assert isinstance(decode(tool_choice=allowed).tool_choice, AllowedToolsChoice)
    assert decode(tool_choice="required").tool_choice == "required"
    assert decode(function_call={"name": "f"}).function_call == NamedFunction(name="f")


def test_response_format_json_schema_decodes() -> None:
    rf = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    req = decode(response_format=rf)
    assert isinstance(req.response_format, JSONSchemaFormat)
    assert req.response_format.json_schema.schema == {"type": "object"}


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    req = decode_chat_request(
        json.dumps(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi", "brand_new": 1}],
                "some_future_param": {"x": 1},
            }
        ).encode()
    )
    assert req.messages == [UserMessage(content="hi")]


# --- malformed bodies and schema violations ------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b'{"model": "m",}', b"\xff\xfe"])
def test_malformed_json_is_invalid_json(raw: bytes) -> None:
    err = refused(raw)
    assert err.code == "invalid_json"
    assert err.message.startswith("We could not parse the JSON body of your request.")
    assert err.param is None


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"3"])
def test_non_object_body_is_refused(raw: bytes) -> None:
    err = refused(raw)
    assert err.param is None
    assert "JSON object" in err.message


@pytest.mark.parametrize(
    ("raw", "param", "fragment"),
    [
        (b'{"messages": []}', "model", "Missing required parameter: 'model'"),
        (b'{"model": "m"}', "messages", "Missing required parameter: 'messages'"),
        (
            b'{"model": "m", "messages": [{"content": "x"}]}',
            "messages[0].role",
            "Missing required parameter",
        ),
        (
            b'{"model": "m", "messages": [{"role": "tool", "content": "x"}]}',
            "messages[0].tool_call_id",
            "Missing required parameter",
        ),
        (
            b'{"model": "m", "messages": [{"role": "user", "content": [{"type": "text"}]}]}',
            "messages[0].content[0].text",
            "Missing required parameter",
        ),
    ],
)
def test_missing_fields_name_the_field(raw: bytes, param: str, fragment: str) -> None:
    err = refused(raw)
    assert err.param == param
    assert fragment in err.message


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages[0].content",
            "Invalid type for 'messages[0].content': expected string or array, but got integer.",
        ),
        ({"model": 1}, "model", "Invalid type for 'model': expected string, but got integer."),
        (
            {"temperature": "hot"},
            "temperature",
            "Invalid type for 'temperature': expected number or null, but got string.",
        ),
        ({"stop": [1]}, "stop[0]", "Invalid type for 'stop[0]': expected string, but got integer."),
        (
            {"metadata": {"a": 1}},
            "metadata",
            "Invalid type for 'metadata': expected string, but got integer.",
        ),
        (
            {"messages": "hi"},
            "messages",
            "Invalid type for 'messages': expected array, but got string.",
        ),
    ],
)
def test_wrong_types_name_the_field(fields: dict[str, Any], param: str, message: str) -> None:
    err = refused(body(**fields))
    assert err.param == param
    assert err.message == message


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0].type",
        ),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": {"type": "yaml"}}, "response_format.type"),
        ({"tools": [{"type": "web", "web": {}}]}, "tools[0].type"),
    ],
)
def test_invalid_values_name_the_field_without_echoing_it(
    fields: dict[str, Any], param: str
) -> None:
    err = refused(body(**fields))
    assert err.param == param
    assert f"Invalid value for '{param}'" in err.message
    for value in ("robot", "video", "extreme", "sometimes", "yaml", "web"):
        assert value not in err.message


def test_number_out_of_range_names_the_field() -> None:
    err = refused(b'{"model": "m", "messages": [], "temperature": 1e999}')
    assert err.param == "temperature"


def test_schema_errors_are_400_never_422() -> None:
    err = refused(body(n="two"))
    assert (err.status, err.type) == (400, "invalid_request_error")


# --- OpenAI-level semantic limits ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": 2.01}, "temperature"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_p": -1}, "top_p"),
        ({"n": 0}, "n"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": -5}, "max_completion_tokens"),
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"k" * 65: "v"}}, "metadata"),
        ({"metadata": {"k": "v" * 513}}, "metadata"),
        (
            {"tools": [{"type": "function", "function": {"name": "bad name"}}]},
            "tools[0].function.name",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "x" * 65}}]},
            "tools[0].function.name",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "a.b"}}]}, "tools[0].custom.name"),
        ({"functions": [{"name": ""}]}, "functions[0].name"),
        (
            {"tool_choice": {"type": "function", "function": {"name": "a b"}}},
            "tool_choice.function.name",
        ),
        ({"function_call": {"name": "a/b"}}, "function_call.name"),
        (
            {"messages": [USER, {"role": "tool", "tool_call_id": "", "content": "x"}]},
            "messages[1].tool_call_id",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "b!", "arguments": ""},
                            }
                        ],
                    },
                ]
            },
            "messages[1].tool_calls[0].function.name",
        ),
        (
            {
                "messages": [
                    USER,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ],
                    },
                ]
            },
            "messages[1].tool_calls[0].id",
        ),
    ],
)
def test_semantic_limits_are_refused_with_param(fields: dict[str, Any], param: str) -> None:
    err = refused(body(**fields))
    assert err.param == param


@pytest.mark.parametrize(
    "fields",
    [
        {"temperature": 0},
        {"temperature": 2},
        {"top_p": 0},
        {"top_p": 1},
        {"n": 1},
        {"max_tokens": 1},
        {"stop": ["a", "b", "c", "d"]},
        {"stop": "x"},
        {"metadata": {f"k{i}": "v" * 512 for i in range(16)}},
        {"tools": [{"type": "function", "function": {"name": "A-z_0" + "x" * 59}}]},
        {"frequency_penalty": -2, "presence_penalty": 2},
    ],
)
def test_values_at_the_limits_are_accepted(fields: dict[str, Any]) -> None:
    assert isinstance(decode(**fields), ChatCompletionRequest)
