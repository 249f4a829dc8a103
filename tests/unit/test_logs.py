"""Structured logs: one JSON line per access, and nothing secret or textual gets through."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.logs import (
    ACCESS_LOGGER,
    EXTRA_FIELDS,
    AccessLog,
    QueueingHandler,
    StructuredFormatter,
    configure_logging,
    log_access,
    request_id_var,
)

RECORD_ATTRIBUTES = frozenset(logging.LogRecord("n", 0, "p", 0, "m", None, None).__dict__)
SECRET_KEY = "sk-live-0123456789abcdef0123456789abcdef"
PROMPT = "Please summarise my medical history: diabetes, HIV positive"
EMAIL = "alice.smith@example.com"


class Logs:
    """The configured handler writing into a buffer; ``lines()`` drains it and parses."""

    def __init__(self, handler: QueueingHandler, buffer: io.StringIO) -> None:
        self.handler = handler
        self.buffer = buffer

    def lines(self) -> list[dict[str, Any]]:
        self.handler.close()
        return [json.loads(line) for line in self.buffer.getvalue().splitlines()]

    def text(self) -> str:
        self.handler.close()
        return self.buffer.getvalue()


@pytest.fixture
def logging_state() -> Iterator[None]:
    """Put the root and access loggers back as they were (pytest's own handlers included)."""
    root = logging.getLogger()
    access = logging.getLogger(ACCESS_LOGGER)
    handlers, level, access_level = list(root.handlers), root.level, access.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)
    access.setLevel(access_level)


@pytest.fixture
def logs(logging_state: None) -> Logs:
    buffer = io.StringIO()
    return Logs(configure_logging("info", stream=buffer), buffer)


def access_record(**overrides: Any) -> AccessLog:
    fields: dict[str, Any] = {
        "request_id": "req-123",
        "team": "team-a",
        "key_id": "key_01HX",
        "model": "claude-3-haiku",
        "stream": True,
        "status": 200,
        "prompt_tokens": 31,
        "completion_tokens": 40,
        "cache_read_tokens": 5,
        "cache_write_tokens": 0,
        "duration_ms": 812.34567,
        "ttft_ms": 120.5,
        "upstream_ms": 811.0,
        "overhead_ms": 1.34567,
        "retries": 1,
        "redactions_request": 2,
        "redactions_response": 0,
        "guardrail_action": "none",
        "error_code": None,
    }
    fields.update(overrides)
    return AccessLog(**fields)


def test_access_line_is_one_json_object_with_every_field(logs: Logs) -> None:
    log_access(access_record())
    [line] = logs.lines()
    assert set(line) == {"ts", "level", "logger", "message", *AccessLog.__struct_fields__}
    assert line["logger"] == "gateway.access"
    assert line["level"] == "info"
    assert line["message"] == "access"
    assert line["request_id"] == "req-123"
    assert line["stream"] is True
    assert line["status"] == 200
    assert (line["prompt_tokens"], line["completion_tokens"]) == (31, 40)
    assert line["duration_ms"] == 812.346
    assert line["overhead_ms"] == 1.346
    assert line["error_code"] is None
    assert line["ts"].endswith("Z") and line["ts"][10] == "T"


def test_one_line_per_access(logs: Logs) -> None:
    for i in range(50):
        log_access(access_record(request_id=f"req-{i}"))
    lines = logs.lines()
    assert [line["request_id"] for line in lines] == [f"req-{i}" for i in range(50)]


def test_access_record_has_no_free_text_field() -> None:
    # Adding a field is a deliberate act: it must be an identifier, a number or a flag.
    assert AccessLog.__struct_fields__ == (
        "request_id", "team", "key_id", "model", "stream", "status", "prompt_tokens",
        "completion_tokens", "cache_read_tokens", "cache_write_tokens", "duration_ms",
        "ttft_ms", "upstream_ms", "overhead_ms", "retries", "redactions_request",
        "redactions_response", "guardrail_action", "error_code",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model", PROMPT),
        ("model", "line1\nline2"),
        ("team", EMAIL),
        ("key_id", "x" * 129),
        ("request_id", "req 1"),
        ("error_code", "validation error: " + PROMPT),
        ("guardrail_action", "blocked because " + PROMPT),
    ],
)
def test_access_strings_that_are_not_identifiers_are_replaced(
    logs: Logs, field: str, value: str
) -> None:
    log_access(access_record(**{field: value}))
    text = logs.text()
    assert value not in text
    assert json.loads(text)[field] == "<invalid>"


def test_a_request_refused_before_auth_logs_empty_identifiers(logs: Logs) -> None:
    log_access(
        access_record(team="", key_id="", model="", status=401, error_code="invalid_api_key")
    )
    [line] = logs.lines()
    assert (line["team"], line["key_id"], line["model"]) == ("", "", "")
    assert line["error_code"] == "invalid_api_key"


def test_secrets_and_text_passed_as_extra_are_dropped(logs: Logs) -> None:
    log = logging.getLogger("gateway.pipeline")
    log.info(
        "chat request failed",
        extra={
            "api_key": SECRET_KEY,
            "authorization": f"Bearer {SECRET_KEY}",
            "prompt": PROMPT,
            "messages": [{"role": "user", "content": PROMPT}],
            "email": EMAIL,
            "model": PROMPT,  # whitelisted key, textual value
            "team": "team-a",
            "status": 502,
        },
    )
    text = logs.text()
    for leaked in (SECRET_KEY, PROMPT, "medical", EMAIL, "alice"):
        assert leaked not in text
    line = json.loads(text)
    assert line["model"] == "<invalid>"
    assert (line["team"], line["status"]) == ("team-a", 502)
    assert not {"api_key", "authorization", "prompt", "messages", "email"} & set(line)


def test_extra_values_that_are_not_scalars_are_replaced(logs: Logs) -> None:
    logging.getLogger("gateway").warning("x", extra={"reason": {"text": PROMPT}})
    line = logs.lines()[0]
    assert line["reason"] == "<invalid>"


def test_textual_message_arguments_are_redacted(logs: Logs) -> None:
    log = logging.getLogger("gateway.api")
    log.warning("client sent %s with key %s", PROMPT, SECRET_KEY[:10] + " " + SECRET_KEY[10:])
    log.info("unhandled error on %s (attempt %d, %.1f s)", "/v1/chat/completions", 2, 0.25)
    log.info("named %(path)s", {"path": "/v1/models"})
    first, second, third = logs.lines()
    assert first["message"] == "client sent <redacted> with key <redacted>"
    assert second["message"] == "unhandled error on /v1/chat/completions (attempt 2, 0.2 s)"
    assert third["message"] == "named /v1/models"


def test_a_template_that_does_not_fit_its_arguments_keeps_the_template() -> None:
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "bad %d", ("x y",), None)
    line = json.loads(StructuredFormatter().format(record))
    assert line["message"] == "bad %d"


def test_exceptions_log_type_and_frames_never_the_message(logs: Logs) -> None:
    def fail() -> None:
        raise ValueError(f"invalid input {PROMPT} from {EMAIL}")

    try:
        fail()
    except ValueError:
        logging.getLogger("gateway.api").exception("chat request failed")
    text = logs.text()
    assert PROMPT not in text and EMAIL not in text
    line = json.loads(text)
    assert line["exc_type"] == "builtins.ValueError"
    assert any(frame.endswith(" in fail") for frame in line["stack"])


def test_request_id_bound_to_the_context_is_added(logs: Logs) -> None:
    token = request_id_var.set("req-ctx-1")
    try:
        logging.getLogger("gateway.bedrock").warning("retrying")
        logging.getLogger("gateway.bedrock").warning("explicit", extra={"request_id": "req-2"})
    finally:
        request_id_var.reset(token)
    logging.getLogger("gateway.bedrock").warning("outside")
    first, second, third = logs.lines()
    assert first["request_id"] == "req-ctx-1"
    assert second["request_id"] == "req-2"
    assert "request_id" not in third


def test_level_filters_application_lines_but_never_access_lines(logging_state: None) -> None:
    buffer = io.StringIO()
    handler = configure_logging("warning", stream=buffer)
    logging.getLogger("gateway.pipeline").info("dropped")
    logging.getLogger("gateway.pipeline").warning("kept")
    log_access(access_record())
    handler.close()
    messages = [json.loads(line)["message"] for line in buffer.getvalue().splitlines()]
    assert messages == ["kept", "access"]


def test_unknown_level_is_refused(logging_state: None) -> None:
    with pytest.raises(ValueError, match="verbose"):
        configure_logging("verbose")


def test_configuring_again_replaces_only_our_handler(logging_state: None) -> None:
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    first = configure_logging("info", stream=io.StringIO())
    second = configure_logging("debug", stream=io.StringIO())
    ours = [h for h in root.handlers if isinstance(h, QueueingHandler)]
    assert ours == [second]
    assert foreign in root.handlers
    assert first not in root.handlers
    assert root.level == logging.DEBUG


def test_text_mode_for_terminals(logging_state: None) -> None:
    buffer = io.StringIO()
    handler = configure_logging("info", json=False, stream=buffer)
    logging.getLogger("gateway").info("started", extra={"pid": 42, "prompt": PROMPT})
    handler.close()
    line = buffer.getvalue().strip()
    assert line.endswith("info    gateway: started pid=42")
    assert PROMPT not in line


def test_full_queue_drops_and_counts_instead_of_blocking() -> None:
    release = threading.Event()

    class SlowStream(io.StringIO):
        def write(self, s: str) -> int:
            release.wait(timeout=10)
            return super().write(s)

    stream = SlowStream()
    handler = QueueingHandler(stream, capacity=2)
    handler.setFormatter(StructuredFormatter())
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "line", None, None)
    for _ in range(10):
        handler.handle(record)  # returns at once even though the writer is stuck
    release.set()
    handler.close()
    written = len(stream.getvalue().splitlines())
    # The stuck writer holds one batch (at most a full queue) and the queue two more lines;
    # everything else was dropped, and nothing was both written and counted as dropped.
    assert handler.dropped >= 10 - 2 * 2
    assert written + handler.dropped == 10


def test_a_closed_stream_loses_lines_without_raising_or_stopping() -> None:
    class ClosedPipe(io.StringIO):
        def write(self, s: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    handler = QueueingHandler(ClosedPipe())
    handler.setFormatter(StructuredFormatter())
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "line", None, None)
    handler.handle(record)
    handler.handle(record)
    handler.close()
    assert handler.dropped == 2


def test_whitelist_holds_only_identifier_and_number_fields() -> None:
    assert not {"message", "prompt", "content", "body", "text", "api_key", "user"} & set(
        EXTRA_FIELDS
    )


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20),
    text=st.text(min_size=1, max_size=60),
)
def test_no_text_with_a_separator_survives_any_extra_key(key: str, text: str) -> None:
    secret = f"SECRET {text}"  # a space: never an identifier
    buffer = io.StringIO()
    handler = QueueingHandler(buffer)
    handler.setFormatter(StructuredFormatter())
    record = logging.LogRecord("gateway", logging.INFO, __file__, 1, "m %s", (secret,), None)
    if key not in RECORD_ATTRIBUTES:
        record.__dict__[key] = secret
    handler.handle(record)
    handler.close()
    assert "SECRET" not in buffer.getvalue()
