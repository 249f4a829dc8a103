"""Structured logs: one JSON object per line, a field whitelist, and the per-request access line.

Leaking is made hard by construction rather than by care at each call site:
- the access record (:class:`AccessLog`) has no free-text field: its strings are identifiers,
  and any value that does not look like one (spaces, newlines, ``@``, over 128 characters) is
  written as ``"<invalid>"``;
- ``extra`` keys outside :data:`EXTRA_FIELDS` are dropped, and whitelisted string values get the
  same identifier check;
- string arguments interpolated into a message get it too (``"<redacted>"``), so a stray
  ``log.info("got %s", body)`` cannot copy a prompt into the log;
- exceptions are logged as their type and stack frames, never their message, which may quote
  the input that caused them (upstream validation errors often do).

Lines are formatted on the caller's thread and written by a writer thread, so a slow log
consumer never blocks the event loop; if it falls more than ``QUEUE_LINES`` behind, lines are
dropped and counted rather than held without bound.
"""

from __future__ import annotations

import atexit
import functools
import logging
import re
import sys
import threading
import time
import traceback
from collections import deque
from contextvars import ContextVar
from typing import Any, Final, TextIO

import msgspec

ACCESS_LOGGER: Final = "gateway.access"
QUEUE_LINES: Final = 10_000
# Empty is allowed: "" is how a request that never got a team or model says so.
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:/+=-]{0,128}")
_INVALID = "<invalid>"
_REDACTED = "<redacted>"

# Whitelisted ``extra`` keys: identifiers, codes and numbers only.
EXTRA_FIELDS: Final = (
    "request_id", "team", "key_id", "model", "stream", "status", "error_code",
    "bedrock_code", "upstream_request_id", "operation", "attempt", "retries",
    "duration_ms", "policy", "window", "reason", "reservation", "pid",
)  # fmt: skip

# Set per request by the HTTP layer; every line logged inside the request then carries it.
request_id_var: ContextVar[str | None] = ContextVar("gateway_request_id", default=None)


class AccessLog(msgspec.Struct, frozen=True, kw_only=True):
    """One finished request. Strings are identifiers only; there is deliberately no field for
    a message, a prompt, a response or a header value."""

    request_id: str
    team: str
    key_id: str
    # The routing-table name (never the raw model string a client sent).
    model: str
    stream: bool
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    duration_ms: float = 0.0
    ttft_ms: float | None = None
    upstream_ms: float | None = None
    overhead_ms: float | None = None
    retries: int = 0
    redactions_request: int = 0
    redactions_response: int = 0
    # "none", or the guardrail's action ("blocked", "anonymized", "intervened").
    guardrail_action: str = "none"
    error_code: str | None = None


_ACCESS_STRINGS: Final = ("request_id", "team", "key_id", "model", "guardrail_action", "error_code")
_ACCESS_MILLIS: Final = ("duration_ms", "ttft_ms", "upstream_ms", "overhead_ms")


def log_access(record: AccessLog) -> None:
    """Write the access line of one request to the ``gateway.access`` logger."""
    logging.getLogger(ACCESS_LOGGER).info("access", extra={"access": record})


def _identifier(value: str) -> str:
    return value if _IDENTIFIER.fullmatch(value) else _INVALID


def _scalar(value: object) -> object:
    """A whitelisted extra value as logged: numbers and booleans as they are, identifiers,
    anything else replaced."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _identifier(value)
    return _INVALID


def _safe_arg(value: object) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if _IDENTIFIER.fullmatch(text) else _REDACTED


def _message(record: logging.LogRecord) -> str:
    msg = str(record.msg)
    args = record.args
    if not args:
        return msg
    if isinstance(args, dict):
        return msg % {key: _safe_arg(value) for key, value in args.items()}
    return msg % tuple(_safe_arg(value) for value in args)


@functools.lru_cache(maxsize=4)
def _second(whole: int) -> str:
    # Formatting the date is most of a timestamp's cost; lines come many per second.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _timestamp(created: float) -> str:
    whole = int(created)
    return f"{_second(whole)}.{int((created - whole) * 1000):03d}Z"


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The whitelisted, sanitised fields of one log record, in output order."""
    try:
        message = _message(record)
    except (TypeError, ValueError):
        # A format string that does not fit its arguments: keep the template, lose the values.
        message = str(record.msg)
    fields: dict[str, Any] = {
        "ts": _timestamp(record.created),
        "level": record.levelname.lower(),
        "logger": record.name,
        "message": message,
    }
    attrs = record.__dict__
    access = attrs.get("access")
    if isinstance(access, AccessLog):
        values = msgspec.structs.asdict(access)
        for name in _ACCESS_STRINGS:
            text = values[name]
            if text is not None:
                values[name] = _identifier(text)
        for name in _ACCESS_MILLIS:
            millis = values[name]
            if millis is not None:
                values[name] = round(millis, 3)
        fields.update(values)
    for name in EXTRA_FIELDS:
        if name in attrs and name not in fields:
            fields[name] = _scalar(attrs[name])
    if "request_id" not in fields:
        bound = request_id_var.get()
        if bound is not None:
            fields["request_id"] = _identifier(bound)
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        fields["exc_type"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
        fields["stack"] = [
            f"{frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(exc.__traceback__)
        ]
    return fields


class StructuredFormatter(logging.Formatter):
    """JSON (one object per line) or, for people at a terminal, ``key=value`` text."""

    def __init__(self, *, json: bool = True) -> None:
        super().__init__()
        self._json = json
        self._encoder = msgspec.json.Encoder()

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if self._json:
            return self._encoder.encode(fields).decode()
        head = f"{fields.pop('ts')} {fields.pop('level'):<7} {fields.pop('logger')}: "
        head += fields.pop("message")
        stack = fields.pop("stack", None)
        tail = " ".join(f"{key}={value}" for key, value in fields.items())
        text = f"{head} {tail}" if tail else head
        if stack:
            text += "\n  " + "\n  ".join(stack)
        return text


class QueueingHandler(logging.Handler):
    """Formats on the caller's thread; a writer thread does the (possibly blocking) writes.

    The caller only appends to a deque and sets an event that is usually set already, so a
    burst of lines costs one wake-up of the writer, which then writes them as one chunk.
    """

    def __init__(self, stream: TextIO, capacity: int = QUEUE_LINES) -> None:
        super().__init__()
        # Two counters, one per thread, so neither increment can lose the other's.
        self._dropped_full = 0
        self._dropped_write = 0
        self._stream = stream
        self._capacity = capacity
        self._lines: deque[str] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="gateway-log-writer", daemon=True)
        self._writer.start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bug in a formatter must not take a request down with it
            self.handleError(record)
            return
        if len(self._lines) >= self._capacity:
            self._dropped_full += 1
            return
        self._lines.append(line)
        if not self._wake.is_set():
            self._wake.set()

    @property
    def dropped(self) -> int:
        """Lines lost: queue full (writer too far behind) or the stream refused the write."""
        return self._dropped_full + self._dropped_write

    def _write(self) -> None:
        lines, wake, stream = self._lines, self._wake, self._stream
        while True:
            wake.wait()
            wake.clear()
            batch: list[str] = []
            while lines:
                batch.append(lines.popleft())
            if batch:
                batch.append("")
                try:
                    stream.write("\n".join(batch))
                    stream.flush()
                except OSError:
                    # The reader is gone (closed pipe): count the loss, keep the thread alive.
                    self._dropped_write += len(batch) - 1
            if self._closing and not lines:
                return

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        if self._writer.is_alive():
            self._closing = True
            self._wake.set()
            self._writer.join(timeout=5.0)
        super().close()


def configure_logging(
    level: str, json: bool = True, *, stream: TextIO | None = None
) -> QueueingHandler:
    """Route every logger through one structured handler on ``stream`` (default stderr).

    Call once per process (each worker; threads do not survive a fork). Calling again replaces
    the handler installed before; handlers installed by others are left alone. Access lines are
    written at any ``level``: they are the record of what the gateway served.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    handler = QueueingHandler(stream or sys.stderr)
    handler.setFormatter(StructuredFormatter(json=json))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, QueueingHandler)]:
        root.removeHandler(previous)
        atexit.unregister(previous.close)
        previous.close()
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO)
    # Lines still queued at interpreter exit are written, not lost.
    atexit.register(handler.close)
    return handler
