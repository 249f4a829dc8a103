"""to_converse: every row of protocols §6.1, §6.5 and §6.6, plus Converse's history rules."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gateway.bedrock.translate import ConverseCall, to_converse
from gateway.bedrock.translate_media import MAX_DOCUMENT_BYTES, MAX_IMAGE_BYTES
from gateway.bedrock.translate_messages import CONTINUES_TEXT, DOCUMENT_TEXT, EMPTY_TOOL_OUTPUT
from gateway.errors import InvalidRequestError
from gateway.openai.decode import decode_chat_request
from gateway.routing import Route

ROUTE = Route(name="claude", bedrock_id="anthropic.claude-x-v1:0", max_output_tokens=8192)
THINKING = Route(
    name="think", bedrock_id="anthropic.claude-t", max_output_tokens=64000, thinking=True
)
EXCLUSIVE = Route(name="new", bedrock_id="anthropic.new", exclusive_temperature_top_p=True)
USER = {"role": "user", "content": "hi"}
EMPTY_SCHEMA = {"type": "object", "properties": {}}

PNG = b"\x89PNG\r\n\x1a\n" + bytes(16)
JPEG = b"\xff\xd8\xff\xe0" + bytes(16)
GIF = b"GIF89a" + bytes(16)
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8)
PDF = b"%PDF-1.7 tiny"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def file_part(data: str | None = None, filename: str | None = None, **extra: str) -> dict[str, Any]:
    ref: dict[str, Any] = {**extra}
    if data is not None:
        ref["file_data"] = data
    if filename is not None:
        ref["filename"] = filename
    return {"type": "file", "file": ref}


def call(call_id: str, name: str = "get_weather", arguments: str = "{}") -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def assistant_calls(*calls: dict[str, Any], content: str | None = None) -> dict[str, Any]:
    return {"role": "assistant", "content": content, "tool_calls": list(calls)}


def tool(call_id: str, content: Any = "ok") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def fn_tool(name: str = "get_weather", **function: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, **function}}


def convert(
    messages: list[dict[str, Any]] | None = None,
    *,
    route: Route = ROUTE,
    allow_remote_images: bool = False,
    **fields: Any,
) -> ConverseCall:
    raw = json.dumps({"model": route.name, "messages": messages or [USER], **fields}).encode()
    return to_converse(decode_chat_request(raw), route, allow_remote_images=allow_remote_images)


def body(messages: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return convert(messages, **fields).body


def refusal(messages: list[dict[str, Any]] | None = None, **fields: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as info:
        convert(messages, **fields)
    assert info.value.status == 400
    return info.value


# --- model, stream, the call record --------------------------------------------------------


def test_model_maps_to_route_bedrock_id_and_body_has_no_model_id() -> None:
    result = convert()
    assert result.model_id == "anthropic.claude-x-v1:0"
    assert "modelId" not in result.body
    assert result.stream is False
    assert result.include_usage is False


@pytest.mark.parametrize(
    ("fields", "stream", "include_usage"),
    [
        ({"stream": True}, True, False),
        ({"stream": True, "stream_options": {"include_usage": True}}, True, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, True, False),
        # stream_options without stream is ignored, not refused.
        ({"stream_options": {"include_usage": True}}, False, False),
    ],
)
def test_stream_and_include_usage(
    fields: dict[str, Any], stream: bool, include_usage: bool
) -> None:
    result = convert(**fields)
    assert (result.stream, result.include_usage) == (stream, include_usage)


# --- system / developer --------------------------------------------------------------------


def test_system_and_developer_messages_become_system_blocks_in_order_from_anywhere() -> None:
    out = body(
        [
            {"role": "system", "content": "one"},
            USER,
            {
                "role": "developer",
                "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}],
            },
            {"role": "assistant", "content": "a"},
            {"role": "system", "content": "four"},
            {"role": "user", "content": "again"},
        ]
    )
    assert out["system"] == [{"text": "one"}, {"text": "two"}, {"text": "three"}, {"text": "four"}]
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize("empty", ["", "   ", [], [{"type": "text", "text": ""}]])
def test_empty_system_prompts_are_skipped(empty: Any) -> None:
    out = body([{"role": "system", "content": empty}, USER])
    assert "system" not in out


def test_only_system_messages_is_a_400_naming_messages() -> None:
    err = refusal([{"role": "system", "content": "you are helpful"}])
    assert err.param == "messages"


# --- user messages and parts ---------------------------------------------------------------


def test_user_string_becomes_one_text_block() -> None:
    assert body()["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_user_text_parts_become_text_blocks_and_blank_parts_are_dropped() -> None:
    parts = [
        {"type": "text", "text": "a"},
        {"type": "text", "text": " "},
        {"type": "text", "text": "b"},
    ]
    assert body([{"role": "user", "content": parts}])["messages"][0]["content"] == [
        {"text": "a"},
        {"text": "b"},
    ]


@pytest.mark.parametrize("content", ["", "  \n", [], [{"type": "text", "text": ""}]])
def test_user_message_with_nothing_left_is_a_400_naming_it(content: Any) -> None:
    err = refusal(
        [USER, {"role": "assistant", "content": "a"}, {"role": "user", "content": content}]
    )
    assert err.param == "messages[2].content"


def test_message_name_is_ignored() -> None:
    assert body([{"role": "user", "content": "hi", "name": "alice"}]) == body()


def test_same_role_neighbours_are_merged() -> None:
    out = body(
        [
            USER,
            {"role": "user", "content": "more"},
            {"role": "assistant", "content": "a1"},
            {"role": "assistant", "content": "a2"},
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "hi"}, {"text": "more"}]},
        {"role": "assistant", "content": [{"text": "a1"}, {"text": "a2"}]},
    ]


# --- images --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mime", "data", "fmt"),
    [
        ("image/png", PNG, "png"),
        ("image/jpeg", JPEG, "jpeg"),
        ("image/jpg", JPEG, "jpeg"),
        ("image/gif", GIF, "gif"),
        ("image/webp", WEBP, "webp"),
        # The format is read from the bytes, so a mislabelled image still works.
        ("image/jpeg", PNG, "png"),
    ],
)
def test_data_uri_images_become_image_blocks_with_raw_bytes(
    mime: str, data: bytes, fmt: str
) -> None:
    parts = [{"type": "text", "text": "see"}, image(data_uri(mime, data))]
    content = body([{"role": "user", "content": parts}])["messages"][0]["content"]
    assert content[1] == {"image": {"format": fmt, "source": {"bytes": data}}}


def test_image_base64_with_line_breaks_or_without_padding_is_accepted() -> None:
    data = PNG + bytes(61)  # 85 bytes: standard base64 of it ends in "=="
    wrapped = base64.encodebytes(data).decode()  # MIME style: 76-character lines
    assert wrapped.count("\n") == 2
    unpadded = base64.b64encode(data).decode().rstrip("=")
    for payload in (wrapped, unpadded):
        part = image(f"data:image/png;base64,{payload}")
        content = body([{"role": "user", "content": [part]}])["messages"][0]["content"]
        assert content == [{"image": {"format": "png", "source": {"bytes": data}}}]


def test_image_detail_is_ignored() -> None:
    part = {"type": "image_url", "image_url": {"url": data_uri("image/png", PNG), "detail": "low"}}
    content = body([{"role": "user", "content": [part]}])["messages"][0]["content"]
    assert content == [{"image": {"format": "png", "source": {"bytes": PNG}}}]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        (data_uri("image/bmp", b"BM" + bytes(30)), "invalid_image_format"),
        ("data:image/png;base64,!!!not-base64!!!", "invalid_value"),
        ("data:image/png;base64,", "invalid_value"),
        ("data:image/png,rawbytes", "invalid_value"),
        ("ftp://example.com/cat.png", "invalid_value"),
        (data_uri("image/png", b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES)), "invalid_value"),
    ],
)
def test_bad_images_are_a_400_naming_the_part(url: str, code: str) -> None:
    err = refusal([{"role": "user", "content": [{"type": "text", "text": "x"}, image(url)]}])
    assert err.param == "messages[0].content[1].image_url.url"
    assert err.code == code


def test_image_at_the_size_limit_is_accepted() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(MAX_IMAGE_BYTES - 8)
    content = body([{"role": "user", "content": [image(data_uri("image/png", data))]}])
    assert content["messages"][0]["content"][0]["image"]["source"]["bytes"] == data


@pytest.mark.parametrize("allow", [False, True])
@pytest.mark.parametrize("url", ["https://example.com/cat.png", "HTTP://example.com/a.jpg"])
def test_remote_image_urls_are_refused_even_when_allowed(url: str, allow: bool) -> None:
    err = refusal([{"role": "user", "content": [image(url)]}], allow_remote_images=allow)
    assert err.param == "messages[0].content[0].image_url.url"
    assert err.message == (
        "remote image URLs are not supported; send the image as a base64 data: URI"
    )


def test_more_than_20_images_in_one_merged_message_is_a_400() -> None:
    twenty = [image(data_uri("image/png", PNG)) for _ in range(20)]
    assert len(body([{"role": "user", "content": twenty}])["messages"][0]["content"]) == 20
    err = refusal(
        [
            {"role": "user", "content": twenty},
            {"role": "user", "content": [image(data_uri("image/png", PNG))]},
        ]
    )
    assert err.param == "messages[1].content[0]"


# --- files -> documents --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "fmt", "name"),
    [
        (data_uri("application/pdf", PDF), "report.pdf", "pdf", "report"),
        (data_uri("application/octet-stream", PDF), "Q3_results.v2.PDF", "pdf", "Q3 results v2"),
        (base64.b64encode(b"a,b\n1,2").decode(), "table.csv", "csv", "table"),
        (data_uri("text/markdown", b"# hi"), None, "md", "document"),
        (data_uri("text/plain", b"hi"), "  ../etc/**pass wd!!.txt", "txt", "pass wd"),
        (
            data_uri(
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document", b"PK"
            ),
            "cv (final) [v2].docx",
            "docx",
            "cv (final) [v2]",
        ),
        (data_uri("text/html", b"<p>"), "page.htm", "html", "page"),
    ],
)
def test_file_data_becomes_a_document_with_format_and_sanitised_name(
    data: str, filename: str | None, fmt: str, name: str
) -> None:
    content = body(
        [{"role": "user", "content": [file_part(data, filename), {"type": "text", "text": "sum"}]}]
    )["messages"][0]["content"]
    document = content[0]["document"]
    assert (document["format"], document["name"]) == (fmt, name)
    assert isinstance(document["source"]["bytes"], bytes)
    assert content[1] == {"text": "sum"}


def test_document_names_are_deduplicated_across_the_request() -> None:
    pdf = data_uri("application/pdf", PDF)
    out = body(
        [
            {"role": "user", "content": [file_part(pdf, "a.pdf"), file_part(pdf, "a.pdf")]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [file_part(pdf, "a.pdf")]},
        ]
    )
    names = [
        block["document"]["name"]
        for message in out["messages"]
        for block in message["content"]
        if "document" in block
    ]
    assert names == ["a", "a (2)", "a (3)"]


def test_a_text_block_is_added_when_a_message_has_documents_but_no_text() -> None:
    content = body(
        [{"role": "user", "content": [file_part(data_uri("application/pdf", PDF), "a.pdf")]}]
    )["messages"][0]["content"]
    assert content[-1] == {"text": DOCUMENT_TEXT}
    assert sum("text" in block for block in content) == 1


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (file_part(file_id="file-abc"), "messages[0].content[0].file.file_id"),
        (file_part(), "messages[0].content[0].file.file_data"),
        (
            file_part(data_uri("application/zip", b"PK"), "a.zip"),
            "messages[0].content[0].file.file_data",
        ),
        (file_part(base64.b64encode(b"x").decode()), "messages[0].content[0].file.file_data"),
        (file_part("%%%", "a.pdf"), "messages[0].content[0].file.file_data"),
        (
            file_part(data_uri("application/pdf", bytes(MAX_DOCUMENT_BYTES + 1)), "a.pdf"),
            "messages[0].content[0].file.file_data",
        ),
    ],
)
def test_unusable_files_are_a_400_naming_the_part(part: dict[str, Any], param: str) -> None:
    assert refusal([{"role": "user", "content": [part]}]).param == param


def test_more_than_5_documents_in_one_message_is_a_400() -> None:
    pdf = data_uri("application/pdf", PDF)
    err = refusal([{"role": "user", "content": [file_part(pdf, f"d{i}.pdf") for i in range(6)]}])
    assert err.param == "messages[0].content[5]"


def test_input_audio_is_a_400_naming_the_part() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    err = refusal([{"role": "user", "content": [{"type": "text", "text": "x"}, part]}])
    assert err.param == "messages[0].content[1]"


# --- assistant messages --------------------------------------------------------------------


def test_assistant_content_becomes_text_and_tool_calls_become_tool_use() -> None:
    out = body(
        [
            USER,
            assistant_calls(call("call_1", arguments='{"city": "Paris"}'), content="Let me check."),
            tool("call_1"),
        ]
    )
    assert out["messages"][1] == {
        "role": "assistant",
        "content": [
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
        ],
    }


@pytest.mark.parametrize("arguments", ["", "  "])
def test_empty_tool_arguments_become_an_empty_object(arguments: str) -> None:
    out = body([USER, assistant_calls(call("c", arguments=arguments)), tool("c")])
    assert out["messages"][1]["content"][0]["toolUse"]["input"] == {}


@pytest.mark.parametrize("arguments", ["[1, 2]", '"text"', "{not json", "42", "null"])
def test_tool_arguments_that_are_not_a_json_object_are_a_400(arguments: str) -> None:
    err = refusal(
        [USER, assistant_calls(call("a"), call("b", arguments=arguments)), tool("a"), tool("b")]
    )
    assert err.param == "messages[1].tool_calls[1].function.arguments"


@pytest.mark.parametrize("content", [None, "", "   ", []])
def test_assistant_with_no_content_and_no_tool_calls_is_skipped(content: Any) -> None:
    out = body(
        [USER, {"role": "assistant", "content": content}, {"role": "user", "content": "again"}]
    )
    assert out["messages"] == [{"role": "user", "content": [{"text": "hi"}, {"text": "again"}]}]


def test_assistant_refusal_field_and_refusal_parts_become_text() -> None:
    out = body(
        [
            USER,
            {
                "role": "assistant",
                "content": [{"type": "refusal", "refusal": "I can't."}],
                "refusal": "No.",
            },
            {"role": "user", "content": "ok"},
        ]
    )
    assert out["messages"][1]["content"] == [{"text": "I can't."}, {"text": "No."}]


def test_trailing_assistant_prefill_loses_trailing_whitespace() -> None:
    out = body([USER, {"role": "assistant", "content": "The answer is "}])
    assert out["messages"][-1] == {"role": "assistant", "content": [{"text": "The answer is"}]}


def test_custom_tool_calls_in_history_are_a_400() -> None:
    custom = {"id": "c", "type": "custom", "custom": {"name": "g", "input": "x"}}
    assert refusal([USER, assistant_calls(custom)]).param == "messages[1].tool_calls[0]"


# --- assistant-first history -----------------------------------------------------------------


def test_assistant_first_history_gets_a_user_turn_in_front() -> None:
    out = body(
        [
            {"role": "system", "content": "s"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            USER,
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": CONTINUES_TEXT}]},
        {"role": "assistant", "content": [{"text": "Hello! How can I help?"}]},
        {"role": "user", "content": [{"text": "hi"}]},
    ]


# --- tool messages ---------------------------------------------------------------------------


def test_consecutive_tool_messages_become_one_user_message_of_tool_results() -> None:
    out = body([USER, assistant_calls(call("a"), call("b")), tool("a", "sunny"), tool("b", "rain")])
    assert out["messages"][2] == {
        "role": "user",
        "content": [
            {"toolResult": {"toolUseId": "a", "content": [{"text": "sunny"}]}},
            {"toolResult": {"toolUseId": "b", "content": [{"text": "rain"}]}},
        ],
    }


def test_a_following_user_message_is_merged_after_the_tool_results() -> None:
    out = body([USER, assistant_calls(call("a")), tool("a"), {"role": "user", "content": "thanks"}])
    assert out["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "a", "content": [{"text": "ok"}]}},
        {"text": "thanks"},
    ]


def test_tool_results_go_first_even_when_user_text_comes_between_them() -> None:
    out = body(
        [
            USER,
            assistant_calls(call("a"), call("b")),
            tool("a"),
            {"role": "user", "content": "also"},
            tool("b"),
        ]
    )
    kinds = [next(iter(block)) for block in out["messages"][2]["content"]]
    assert kinds == ["toolResult", "toolResult", "text"]


def test_tool_text_parts_become_one_text_block_each() -> None:
    parts = [{"type": "text", "text": "line 1"}, {"type": "text", "text": "line 2"}]
    out = body([USER, assistant_calls(call("a")), tool("a", parts)])
    assert out["messages"][2]["content"][0]["toolResult"]["content"] == [
        {"text": "line 1"},
        {"text": "line 2"},
    ]


@pytest.mark.parametrize("content", ["", "  ", []])
def test_empty_tool_output_is_sent_as_a_placeholder(content: Any) -> None:
    out = body([USER, assistant_calls(call("a")), tool("a", content)])
    assert out["messages"][2]["content"][0]["toolResult"]["content"] == [
        {"text": EMPTY_TOOL_OUTPUT}
    ]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([USER, tool("ghost")], "messages[1].tool_call_id"),
        ([USER, assistant_calls(call("a")), tool("b")], "messages[2].tool_call_id"),
        ([USER, assistant_calls(call("a")), tool("a"), tool("a")], "messages[3].tool_call_id"),
        # The answer must come before the next assistant turn.
        (
            [
                USER,
                assistant_calls(call("a")),
                {"role": "user", "content": "?"},
                {"role": "assistant", "content": "x"},
                tool("a"),
            ],
            "messages[1].tool_calls[0]",
        ),
        ([USER, assistant_calls(call("a"), call("b")), tool("a")], "messages[1].tool_calls[1]"),
        ([USER, assistant_calls(call("a"))], "messages[1].tool_calls[0]"),
        ([USER, assistant_calls(call("a"), call("a"))], "messages[1].tool_calls[1].id"),
    ],
)
def test_unpaired_tool_calls_and_results_are_a_400_naming_the_message(
    messages: list[dict[str, Any]], param: str
) -> None:
    assert refusal(messages).param == param


def test_invalid_tool_call_ids_are_rewritten_consistently() -> None:
    bad = "call#1 with spaces/" + "x" * 80
    out = body([USER, assistant_calls(call(bad)), tool(bad)])
    use_id = out["messages"][1]["content"][0]["toolUse"]["toolUseId"]
    result_id = out["messages"][2]["content"][0]["toolResult"]["toolUseId"]
    assert use_id == result_id
    assert use_id != bad
    assert len(use_id) <= 64
    assert (
        use_id
        == body([USER, assistant_calls(call(bad)), tool(bad)])["messages"][1]["content"][0][
            "toolUse"
        ]["toolUseId"]
    )


def test_ids_reused_across_turns_are_made_unique_and_stay_paired() -> None:
    out = body(
        [
            USER,
            assistant_calls(call("call_0")),
            tool("call_0", "first"),
            assistant_calls(call("call_0")),
            tool("call_0", "second"),
        ]
    )
    uses = [out["messages"][i]["content"][0]["toolUse"]["toolUseId"] for i in (1, 3)]
    results = [out["messages"][i]["content"][0]["toolResult"]["toolUseId"] for i in (2, 4)]
    assert uses == results
    assert uses[0] == "call_0"
    assert uses[1] != "call_0"


# --- deprecated functions / function_call / function messages --------------------------------


def test_deprecated_functions_and_function_messages_map_like_tools() -> None:
    out = body(
        [
            USER,
            {
                "role": "assistant",
                "content": None,
                "function_call": {"name": "lookup", "arguments": '{"q": 1}'},
            },
            {"role": "function", "name": "lookup", "content": "found"},
        ],
        functions=[{"name": "lookup", "description": "Look up", "parameters": {"type": "object"}}],
        function_call={"name": "lookup"},
    )
    use = out["messages"][1]["content"][0]["toolUse"]
    result = out["messages"][2]["content"][0]["toolResult"]
    assert (use["name"], use["input"]) == ("lookup", {"q": 1})
    assert result == {"toolUseId": use["toolUseId"], "content": [{"text": "found"}]}
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "description": "Look up",
                    "inputSchema": {"json": {"type": "object"}},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "lookup"}},
    }


def test_function_message_without_a_matching_function_call_is_a_400() -> None:
    assert (
        refusal([USER, {"role": "function", "name": "f", "content": "x"}]).param
        == "messages[1].name"
    )


@pytest.mark.parametrize(("function_call", "expected"), [("auto", None), ("none", "absent")])
def test_deprecated_function_call_modes(function_call: str, expected: str | None) -> None:
    out = body(functions=[{"name": "f"}], function_call=function_call)
    if expected == "absent":
        assert "toolConfig" not in out
    else:
        assert "toolChoice" not in out["toolConfig"]


def test_tools_and_functions_together_are_a_400() -> None:
    assert refusal(tools=[fn_tool()], functions=[{"name": "f"}]).param == "functions"


# --- tools and tool_choice -----------------------------------------------------------------


def test_tools_become_tool_specs_with_defaults() -> None:
    out = body(
        tools=[
            fn_tool(
                "a",
                description="Does A",
                parameters={"type": "object", "properties": {"x": {"type": "string"}}},
                strict=True,
            ),
            fn_tool("b", description=""),
            fn_tool("c", parameters={}),
            fn_tool("d", parameters={"properties": {"y": {"type": "integer"}}}),
        ]
    )
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "a",
                    "description": "Does A",
                    "inputSchema": {
                        "json": {"type": "object", "properties": {"x": {"type": "string"}}}
                    },
                    "strict": True,
                }
            },
            {"toolSpec": {"name": "b", "inputSchema": {"json": EMPTY_SCHEMA}}},
            {"toolSpec": {"name": "c", "inputSchema": {"json": EMPTY_SCHEMA}}},
            {
                "toolSpec": {
                    "name": "d",
                    "inputSchema": {
                        "json": {"type": "object", "properties": {"y": {"type": "integer"}}}
                    },
                }
            },
        ]
    }


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "custom", "custom": {"name": "g"}}]}, "tools[0]"),
        ({"tools": [fn_tool("a", parameters={"type": "array"})]}, "tools[0].function.parameters"),
        ({"tools": [fn_tool("a"), fn_tool("a")]}, "tools[1].function.name"),
        (
            {
                "tools": [fn_tool("a")],
                "tool_choice": {"type": "function", "function": {"name": "zz"}},
            },
            "tool_choice.function.name",
        ),
        (
            {"tools": [fn_tool("a")], "tool_choice": {"type": "custom", "custom": {"name": "a"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tool_choice": {"type": "function", "function": {"name": "a"}}}, "tool_choice"),
        ({"function_call": {"name": "a"}}, "function_call"),
        (
            {
                "tools": [fn_tool("a")],
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": [fn_tool("zz")]},
                },
            },
            "tool_choice.allowed_tools.tools",
        ),
        (
            {
                "tools": [fn_tool("a")],
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {"mode": "auto", "tools": []},
                },
            },
            "tool_choice.allowed_tools.tools",
        ),
        (
            {
                "tools": [fn_tool("a")],
                "tool_choice": {
                    "type": "allowed_tools",
                    "allowed_tools": {
                        "mode": "auto",
                        "tools": [{"type": "custom", "custom": {"name": "a"}}],
                    },
                },
            },
            "tool_choice.allowed_tools.tools[0]",
        ),
    ],
)
def test_unusable_tool_settings_are_a_400(fields: dict[str, Any], param: str) -> None:
    assert refusal(**fields).param == param


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        (None, None),
        ("auto", None),  # Converse's default; some models refuse an explicit auto
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "b"}}, {"tool": {"name": "b"}}),
    ],
)
def test_tool_choice_forms(tool_choice: Any, expected: dict[str, Any] | None) -> None:
    fields: dict[str, Any] = {"tools": [fn_tool("a"), fn_tool("b")]}
    if tool_choice is not None:
        fields["tool_choice"] = tool_choice
    config = body(**fields)["toolConfig"]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["a", "b"]
    assert config.get("toolChoice") == expected


def test_tool_choice_none_omits_tool_config_without_tool_history() -> None:
    out = body(tools=[fn_tool("a")], tool_choice="none")
    assert "toolConfig" not in out


def test_tool_choice_none_keeps_tools_with_auto_when_history_has_tool_blocks() -> None:
    out = body(
        [USER, assistant_calls(call("c", "a")), tool("c")], tools=[fn_tool("a")], tool_choice="none"
    )
    assert out["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "a", "inputSchema": {"json": EMPTY_SCHEMA}}}]
    }


@pytest.mark.parametrize(("mode", "choice"), [("auto", None), ("required", {"any": {}})])
def test_allowed_tools_filters_tools_and_maps_mode(
    mode: str, choice: dict[str, Any] | None
) -> None:
    allowed = {
        "type": "allowed_tools",
        "allowed_tools": {"mode": mode, "tools": [fn_tool("c"), fn_tool("a")]},
    }
    config = body(tools=[fn_tool("a"), fn_tool("b"), fn_tool("c")], tool_choice=allowed)[
        "toolConfig"
    ]
    assert [t["toolSpec"]["name"] for t in config["tools"]] == ["a", "c"]
    assert config.get("toolChoice") == choice


def test_tool_config_is_synthesised_from_history_when_the_request_has_no_tools() -> None:
    out = body(
        [
            USER,
            assistant_calls(call("c1", "search"), call("c2", "fetch")),
            tool("c1"),
            tool("c2"),
            assistant_calls(call("c3", "search")),
            tool("c3"),
        ]
    )
    assert out["toolConfig"] == {
        "tools": [
            {"toolSpec": {"name": "search", "inputSchema": {"json": EMPTY_SCHEMA}}},
            {"toolSpec": {"name": "fetch", "inputSchema": {"json": EMPTY_SCHEMA}}},
        ]
    }


def test_no_tools_and_no_tool_history_means_no_tool_config() -> None:
    assert "toolConfig" not in body(tool_choice="auto")


def test_parallel_tool_calls_is_ignored() -> None:
    assert body(tools=[fn_tool()], parallel_tool_calls=False) == body(tools=[fn_tool()])


# --- inference parameters ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "max_tokens"),
    [
        ({}, 8192),  # the route's cap, not a small hard-coded default
        ({"max_tokens": 100}, 100),
        ({"max_completion_tokens": 200}, 200),
        ({"max_tokens": 100, "max_completion_tokens": 300}, 300),
        ({"max_completion_tokens": 8192}, 8192),
    ],
)
def test_max_tokens_selection(fields: dict[str, Any], max_tokens: int) -> None:
    result = convert(**fields)
    assert result.body["inferenceConfig"]["maxTokens"] == max_tokens
    assert result.max_tokens == max_tokens


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 8193}, "max_tokens"),
        ({"max_completion_tokens": 9000}, "max_completion_tokens"),
        ({"max_tokens": 10, "max_completion_tokens": 9000}, "max_completion_tokens"),
    ],
)
def test_max_tokens_above_the_route_cap_is_a_400_naming_the_param(
    fields: dict[str, Any], param: str
) -> None:
    err = refusal(**fields)
    assert err.param == param
    assert "8192" in err.message


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0}, {"temperature": 0}),
        ({"temperature": 1}, {"temperature": 1}),
        ({"top_p": 0.9}, {"topP": 0.9}),
        ({"temperature": 0.5, "top_p": 0.5}, {"temperature": 0.5, "topP": 0.5}),
        ({"stop": "END"}, {"stopSequences": ["END"]}),
        ({"stop": ["a", "", "b"]}, {"stopSequences": ["a", "b"]}),
        ({"stop": ""}, {}),
        ({"stop": [""]}, {}),
        ({"stop": None}, {}),
    ],
)
def test_sampling_and_stop_parameters(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert body(**fields)["inferenceConfig"] == {"maxTokens": 8192, **expected}


@pytest.mark.parametrize("temperature", [1.01, 1.5, 2])
def test_temperature_above_bedrock_range_is_a_400(temperature: float) -> None:
    assert refusal(temperature=temperature).param == "temperature"


def test_exclusive_route_refuses_temperature_with_top_p() -> None:
    assert refusal(route=EXCLUSIVE, temperature=0.2, top_p=0.9).param == "top_p"
    assert body(route=EXCLUSIVE, temperature=0.2)["inferenceConfig"]["temperature"] == 0.2


# --- response_format, metadata, service_tier -----------------------------------------------


def test_json_schema_response_format_becomes_output_config_with_schema_string() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    rf = {
        "type": "json_schema",
        "json_schema": {
            "name": "thing",
            "description": "A thing",
            "schema": schema,
            "strict": True,
        },
    }
    out = body(response_format=rf)
    definition = out["outputConfig"]["textFormat"]["structure"]["jsonSchema"]
    assert out["outputConfig"]["textFormat"]["type"] == "json_schema"
    assert isinstance(definition["schema"], str)
    assert json.loads(definition["schema"]) == schema
    assert (definition["name"], definition["description"]) == ("thing", "A thing")


def test_text_response_format_adds_nothing() -> None:
    assert "outputConfig" not in body(response_format={"type": "text"})


@pytest.mark.parametrize(
    ("rf", "param"),
    [
        ({"type": "json_object"}, "response_format"),
        (
            {"type": "json_schema", "json_schema": {"name": "x"}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_unsupported_response_formats_are_a_400(rf: dict[str, Any], param: str) -> None:
    assert refusal(response_format=rf).param == param


def test_metadata_becomes_request_metadata_when_it_fits() -> None:
    metadata = {"team": "search", "trace_id": "a1:b2/c3+d=e@f.g,h-i", "note": "two words"}
    assert body(metadata=metadata)["requestMetadata"] == metadata
    assert "requestMetadata" not in body(metadata={})


@pytest.mark.parametrize(
    "metadata", [{"k": "v" * 257}, {"k": "naïve"}, {"k": "a;b"}, {"ké": "v"}, {"": "v"}]
)
def test_metadata_that_does_not_fit_converse_is_a_400(metadata: dict[str, str]) -> None:
    assert refusal(metadata=metadata).param == "metadata"


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("default", {"type": "default"}),
        ("flex", {"type": "flex"}),
        ("priority", {"type": "priority"}),
        ("auto", None),
        ("scale", None),
        ("fast", None),
    ],
)
def test_service_tier(tier: str, expected: dict[str, str] | None) -> None:
    assert body(service_tier=tier).get("serviceTier") == expected


# --- reasoning_effort (§6.5) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "budget"),
    [("low", 1024), ("medium", 4096), ("high", 16384), ("xhigh", 32000), ("max", 32000)],
)
def test_reasoning_effort_enables_thinking_on_thinking_routes(effort: str, budget: int) -> None:
    out = body(route=THINKING, reasoning_effort=effort)
    assert out["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": budget}
    }
    assert out["inferenceConfig"]["maxTokens"] == 64000


@pytest.mark.parametrize("effort", ["none", "minimal"])
def test_reasoning_effort_none_or_minimal_means_no_thinking(effort: str) -> None:
    assert "additionalModelRequestFields" not in body(route=THINKING, reasoning_effort=effort)


def test_reasoning_effort_is_ignored_on_routes_without_thinking() -> None:
    assert body(reasoning_effort="high") == body()


@pytest.mark.parametrize(
    ("max_tokens", "budget"),
    [(20000, 16384), (10000, 8976), (2000, 1024), (1025, 1024), (1024, None), (500, None)],
)
def test_thinking_budget_is_clamped_below_max_tokens(max_tokens: int, budget: int | None) -> None:
    out = body(route=THINKING, reasoning_effort="high", max_completion_tokens=max_tokens)
    thinking = out.get("additionalModelRequestFields", {}).get("thinking")
    assert (thinking["budget_tokens"] if thinking else None) == budget
    if thinking:
        assert thinking["budget_tokens"] < out["inferenceConfig"]["maxTokens"]


def test_thinking_drops_temperature_and_top_p() -> None:
    out = body(route=THINKING, reasoning_effort="low", temperature=0.3, top_p=0.5)
    assert out["inferenceConfig"] == {"maxTokens": 64000}


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "a"}}])
def test_thinking_with_forced_tool_choice_is_a_400(choice: Any) -> None:
    err = refusal(route=THINKING, reasoning_effort="low", tools=[fn_tool("a")], tool_choice=choice)
    assert err.param == "tool_choice"


def test_thinking_is_off_when_the_history_ends_with_tool_results() -> None:
    messages = [USER, assistant_calls(call("c", "a")), tool("c")]
    out = body(
        messages,
        route=THINKING,
        reasoning_effort="high",
        tools=[fn_tool("a")],
        tool_choice="required",
        temperature=0.2,
    )
    assert "additionalModelRequestFields" not in out
    assert out["inferenceConfig"]["temperature"] == 0.2
    assert out["toolConfig"]["toolChoice"] == {"any": {}}


# --- parameters with no Converse equivalent (§6.6) -----------------------------------------


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -0.5}, "frequency_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"format": "wav", "voice": "alloy"}}, "audio"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
    ],
)
def test_unsupported_parameters_are_a_400_naming_them(fields: dict[str, Any], param: str) -> None:
    err = refusal(**fields)
    assert err.param == param
    assert err.code == "unsupported_parameter"


@pytest.mark.parametrize(
    "fields",
    [
        {"n": 1},
        {"n": None},
        {"logprobs": False},
        {"top_logprobs": 0},
        {"presence_penalty": 0, "frequency_penalty": 0},
        {"logit_bias": {}},
        {"modalities": ["text"]},
        {"seed": 42},
        {"user": "u-1"},
        {"safety_identifier": "s"},
        {"prompt_cache_key": "k"},
        {"store": True},
        {"verbosity": "low"},
        {"prompt_cache_retention": "24h"},
        {"parallel_tool_calls": True},
    ],
)
def test_harmless_or_ignored_parameters_change_nothing(fields: dict[str, Any]) -> None:
    assert body(**fields) == body()
