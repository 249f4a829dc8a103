"""The emulator's HTTP server in-process over loopback sockets: framing, connection life."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer

from gateway.emulator.server import EmulatorServer, start

MODEL_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0"


@pytest.fixture
async def server() -> AsyncIterator[EmulatorServer]:
    emulator = await start()
    try:
        yield emulator
    finally:
        await emulator.close()


def converse_body(text: str = "hello", **directive: Any) -> bytes:
    if directive:
        text += f" [[emu {json.dumps(directive)}]]"
    return json.dumps({"messages": [{"role": "user", "content": [{"text": text}]}]}).encode()


def post(path: str, body: bytes, *headers: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: emulator", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


async def read_response(reader: asyncio.StreamReader) -> Response:
    status_line = await reader.readline()
    assert status_line, "connection closed before a response"
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) != b"\r\n":
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    if status == 100:
        return Response(status, headers, b"")
    if headers.get("transfer-encoding") == "chunked":
        body = bytearray()
        while size := int((await reader.readline()).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readline()
        return Response(status, headers, bytes(body))
    return Response(status, headers, await reader.readexactly(int(headers["content-length"])))


async def connect(server: EmulatorServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def exchange(server: EmulatorServer, raw: bytes) -> Response:
    reader, writer = await connect(server)
    try:
        writer.write(raw)
        return await read_response(reader)
    finally:
        writer.close()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait (generously) for asynchronous server bookkeeping to catch up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def events(body: bytes) -> list[tuple[str, Any]]:
    buffer = EventStreamBuffer()
    buffer.add_data(body)
    return [(m.headers.get(":event-type", ""), json.loads(m.payload or b"null")) for m in buffer]


async def test_keep_alive_serves_many_requests_on_one_connection(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    ids = set()
    for n in (1, 2, 3):
        writer.write(post(f"{MODEL_PATH}/converse", converse_body(tokens=n)))
        response = await read_response(reader)
        assert response.status == 200
        assert response.json()["usage"]["outputTokens"] == n
        ids.add(response.headers["x-amzn-requestid"])
    writer.close()
    assert len(ids) == 3
    assert server.state.stats.requests == 3


async def test_pipelined_requests_are_answered_in_order(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    slow = post(f"{MODEL_PATH}/converse", converse_body(tokens=1, ttfb_ms=100))
    stream = post(f"{MODEL_PATH}/converse-stream", converse_body(tokens=2))
    fast = post(f"{MODEL_PATH}/converse", converse_body(tokens=3))
    writer.write(slow + stream + fast)
    first, second, third = [await read_response(reader) for _ in range(3)]
    writer.close()
    assert first.json()["usage"]["outputTokens"] == 1
    assert [t for t, _ in events(second.body)].count("contentBlockDelta") == 2
    assert third.json()["usage"]["outputTokens"] == 3


async def test_chunked_request_bodies(server: EmulatorServer) -> None:
    body = converse_body(tokens=4)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:]))
    raw = (
        (
            f"POST {MODEL_PATH}/converse HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        + chunked
        + b"0\r\n\r\n"
    )
    response = await exchange(server, raw)
    assert response.status == 200
    assert response.json()["usage"]["outputTokens"] == 4


async def test_expect_continue(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    body = converse_body(tokens=1)
    head = post(f"{MODEL_PATH}/converse", b"", "Expect: 100-continue")
    writer.write(head.replace(b"Content-Length: 0", b"Content-Length: %d" % len(body)))
    assert (await read_response(reader)).status == 100
    writer.write(body)
    assert (await read_response(reader)).status == 200
    writer.close()


async def test_malformed_request_gets_400_and_a_closed_connection(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    response = await read_response(reader)
    assert response.status == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert await reader.read() == b""
    writer.close()


@pytest.mark.parametrize(
    ("raw", "status", "error_type"),
    [
        (post("/model/m/invoke", b"{}"), 404, "UnknownOperationException"),
        (post("/model/a/b/converse", b"{}"), 404, "UnknownOperationException"),
        (b"GET /model/m/converse HTTP/1.1\r\nHost: e\r\n\r\n", 404, "UnknownOperationException"),
        (post(f"{MODEL_PATH}/converse", b"{not json"), 400, "ValidationException"),
        (post(f"{MODEL_PATH}/converse", b'{"messages": 3}'), 400, "ValidationException"),
        (post(f"{MODEL_PATH}/converse", converse_body(bogus=1)), 400, "ValidationException"),
        (post(f"{MODEL_PATH}/converse", converse_body(error="NoSuchShape")), 400,
         "ValidationException"),
        (post(f"{MODEL_PATH}/converse", converse_body(stream_error="nope")), 400,
         "ValidationException"),
        (post("/guardrail/g/version/1/apply", b'{"source": "SIDEWAYS", "content": []}'), 400,
         "ValidationException"),
        (post("/_emulator/config", b'{"tokens": -3}'), 400, "ValidationException"),
        (post("/_emulator/nothing", b""), 404, "ResourceNotFoundException"),
    ],
)  # fmt: skip
async def test_error_answers(
    server: EmulatorServer, raw: bytes, status: int, error_type: str
) -> None:
    response = await exchange(server, raw)
    assert response.status == status
    assert response.headers["x-amzn-errortype"] == error_type
    assert response.headers["x-amzn-requestid"]
    assert response.json()["message"]


async def test_connection_close_is_honoured(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    writer.write(post(f"{MODEL_PATH}/converse", converse_body(tokens=1), "Connection: close"))
    response = await read_response(reader)
    assert response.status == 200
    assert response.headers["connection"] == "close"
    assert await reader.read() == b""
    writer.close()


async def test_a_hanging_request_does_not_block_other_connections(
    server: EmulatorServer,
) -> None:
    hanging = asyncio.create_task(
        exchange(server, post(f"{MODEL_PATH}/converse", converse_body(hang_ms=30_000)))
    )
    quick = await exchange(server, post(f"{MODEL_PATH}/converse", converse_body(tokens=1)))
    assert quick.status == 200
    assert not hanging.done()
    hanging.cancel()
    await asyncio.gather(hanging, return_exceptions=True)


async def test_paced_tokens_take_at_least_their_delays(server: EmulatorServer) -> None:
    loop = asyncio.get_running_loop()
    begun = loop.time()
    body = converse_body(tokens=5, token_delay_ms=40, ttfb_ms=50)
    response = await exchange(server, post(f"{MODEL_PATH}/converse-stream", body))
    elapsed = loop.time() - begun
    assert [t for t, _ in events(response.body)].count("contentBlockDelta") == 5
    # Only a lower bound (the machine may be slow), with slack for timer rounding.
    assert elapsed >= 0.05 + 4 * 0.04 - 0.01


async def test_non_streaming_replies_wait_for_the_whole_generation(
    server: EmulatorServer,
) -> None:
    loop = asyncio.get_running_loop()
    begun = loop.time()
    body = converse_body(tokens=4, token_delay_ms=30, stall_after=2, stall_ms=100)
    response = await exchange(server, post(f"{MODEL_PATH}/converse", body))
    assert response.status == 200
    assert loop.time() - begun >= 3 * 0.03 + 0.1 - 0.01
    assert response.json()["metrics"]["latencyMs"] >= 180


async def test_client_leaving_mid_stream_is_counted_and_stops_generation(
    server: EmulatorServer,
) -> None:
    reader, writer = await connect(server)
    writer.write(post(f"{MODEL_PATH}/converse-stream", converse_body(tokens=50, token_delay_ms=50)))
    await reader.readuntil(b"messageStart")
    assert server.state.stats.active_streams == 1
    writer.close()
    stats = server.state.stats
    await eventually(lambda: stats.streams_cancelled == 1)
    assert stats.active_streams == 0
    assert stats.streams_completed == 0


async def test_long_streams_arrive_intact_through_a_small_receive_buffer(
    server: EmulatorServer,
) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.write(post(f"{MODEL_PATH}/converse-stream", converse_body(tokens=3000)))
    await asyncio.sleep(0.2)  # let the server run ahead of the reader
    response = await read_response(reader)
    writer.close()
    types = [t for t, _ in events(response.body)]
    assert types.count("contentBlockDelta") == 3000
    assert types[-2:] == ["messageStop", "metadata"]


async def test_close_ends_open_streams(server: EmulatorServer) -> None:
    reader, writer = await connect(server)
    writer.write(
        post(f"{MODEL_PATH}/converse-stream", converse_body(tokens=100, token_delay_ms=100))
    )
    await reader.readuntil(b"messageStart")
    await server.close()
    assert server.state.stats.active_streams == 0
    assert server.state.stats.streams_cancelled == 1
    writer.close()


async def test_control_api_round_trip(server: EmulatorServer) -> None:
    async def call(method: str, name: str, body: bytes = b"") -> Response:
        head = f"{method} /_emulator/{name} HTTP/1.1\r\nHost: e\r\nContent-Length: {len(body)}"
        return await exchange(server, head.encode() + b"\r\n\r\n" + body)

    assert (await call("GET", "health")).status == 200
    config = (await call("POST", "config", b'{"tokens": 3, "record": true}')).json()
    assert config["tokens"] == 3
    assert (await call("GET", "config")).json() == config
    await exchange(server, post(f"{MODEL_PATH}/converse", converse_body()))
    (logged,) = (await call("GET", "requests")).json()
    assert logged["operation"] == "Converse"
    assert logged["model_id"] == "anthropic.claude-3-haiku-20240307-v1:0"
    assert logged["body"]["messages"][0]["content"][0]["text"] == "hello"
    assert (await call("DELETE", "requests")).status == 200
    assert (await call("GET", "requests")).json() == []
    assert (await call("GET", "stats")).json()["requests"] == 1
    await call("POST", "config", b'{"record": false}')
    await exchange(server, post(f"{MODEL_PATH}/converse", converse_body()))
    assert (await call("GET", "requests")).json() == []
    reset = (await call("POST", "reset")).json()
    assert reset["tokens"] == 32 and reset["record"] is True
    assert (await call("GET", "stats")).json() == {
        "requests": 0,
        "active_streams": 0,
        "streams_completed": 0,
        "streams_cancelled": 0,
    }
