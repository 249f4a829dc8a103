"""ConnectionPool / Response against scripted loopback HTTP servers (real sockets, real TLS)."""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.bedrock.transport import (
    BadResponse,
    ConnectionFailed,
    ConnectionPool,
    ConnectTimeout,
    Response,
)
from tests.fixtures.processes import free_port

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Server"], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class Server:
    """What a scripted server saw: connections accepted and raw request heads."""

    url: str = ""
    accepted: int = 0
    heads: list[bytes] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    closed: int = 0  # connections whose client went away


async def read_request(reader: asyncio.StreamReader, server: Server) -> bool:
    """Read one request (head + Content-Length body); False at end of connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        server.closed += 1
        return False
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    server.heads.append(head)
    server.bodies.append(await reader.readexactly(length))
    return True


def answer_each(*replies: bytes) -> Handler:
    """Answer the requests on every connection with ``replies`` in turn (the last repeats)."""

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter, server: Server) -> None:
        n = 0
        while await read_request(r, server):
            w.write(replies[min(n, len(replies) - 1)])
            await w.drain()
            n += 1

    return handle


@asynccontextmanager
async def serving(
    handle: Handler, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1"
) -> AsyncIterator[Server]:
    server = Server()
    tasks: set[asyncio.Task[None]] = set()

    async def on_connect(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        server.accepted += 1
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        try:
            await handle(r, w, server)
        except ConnectionError:
            pass
        finally:
            w.close()

    listener = await asyncio.start_server(on_connect, host, 0, ssl=tls)
    port = listener.sockets[0].getsockname()[1]
    server.url = f"{'https' if tls else 'http'}://{host}:{port}"
    try:
        yield server
    finally:
        listener.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await listener.wait_closed()


def make_pool(
    url: str,
    *,
    limit: int = 10,
    keepalive_timeout: float = 30.0,
    connect_timeout: float = 2.0,
    ssl_context: ssl.SSLContext | None = None,
) -> ConnectionPool:
    return ConnectionPool(
        url,
        limit=limit,
        keepalive_timeout=keepalive_timeout,
        connect_timeout=connect_timeout,
        user_agent="test-agent",
        ssl_context=ssl_context,
    )


async def post(pool: ConnectionPool, body: bytes = b"{}") -> tuple[Response, bytes]:
    response = await pool.post("/model/m%3A1/converse", {"Content-Type": "application/json"}, body)
    return response, await response.read()


# --- the request on the wire -----------------------------------------------------------------


async def test_request_line_and_headers_on_the_wire() -> None:
    async with serving(answer_each(OK)) as server:
        pool = make_pool(server.url + "/prefix/")
        try:
            response, body = await post(pool, b'{"a":1}')
        finally:
            await pool.close()
    assert (response.status, body) == (200, b"ok")
    head = server.heads[0].decode()
    lines = head.split("\r\n")
    assert lines[0] == "POST /prefix/model/m%3A1/converse HTTP/1.1"
    assert f"Host: {server.url.removeprefix('http://')}" in lines
    assert "User-Agent: test-agent" in lines
    assert "Content-Type: application/json" in lines
    assert "Content-Length: 7" in lines
    assert server.bodies == [b'{"a":1}']


async def test_a_given_host_header_is_sent_instead_of_the_default() -> None:
    async with serving(answer_each(OK)) as server:
        pool = make_pool(server.url)
        try:
            await pool.post("/x", {"Host": "signed.example:1234"}, b"")
        finally:
            await pool.close()
    lines = server.heads[0].decode().split("\r\n")
    assert [line for line in lines if line.lower().startswith("host:")] == [
        "Host: signed.example:1234"
    ]


async def test_header_values_with_line_breaks_are_refused() -> None:
    pool = make_pool("http://127.0.0.1:9")
    with pytest.raises(ValueError, match="line break"):
        await pool.post("/x", {"X-Evil": "a\r\nInjected: 1"}, b"")
    await pool.close()


# --- keep-alive and pool bookkeeping ---------------------------------------------------------


async def test_connections_are_kept_alive_and_reused() -> None:
    async with serving(answer_each(OK)) as server:
        pool = make_pool(server.url)
        try:
            for _ in range(5):
                assert (await post(pool))[1] == b"ok"
            assert pool.open_connections == 1
            assert pool.idle_connections == 1
        finally:
            await pool.close()
    assert server.accepted == 1


async def test_connection_close_is_honoured() -> None:
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
    async with serving(answer_each(reply)) as server:
        pool = make_pool(server.url)
        try:
            for _ in range(3):
                assert (await post(pool))[1] == b"ok"
        finally:
            await pool.close()
    assert server.accepted == 3


async def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    async def once_then_close(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(OK)
        await w.drain()

    async with serving(once_then_close) as server:
        pool = make_pool(server.url)
        try:
            await post(pool)
            for _ in range(100):  # until the pool has seen the close
                if pool.open_connections == 0:
                    break
                await asyncio.sleep(0.01)
            assert pool.open_connections == 0
            assert (await post(pool))[1] == b"ok"
        finally:
            await pool.close()
    assert server.accepted == 2


async def test_idle_connections_expire_after_the_keepalive_timeout() -> None:
    async with serving(answer_each(OK)) as server:
        pool = make_pool(server.url, keepalive_timeout=0.1)
        try:
            await post(pool)
            await asyncio.sleep(0.3)
            # Closed by the pool's own timer, not only skipped on the next request.
            assert pool.open_connections == 0
            for _ in range(100):
                if server.closed:
                    break
                await asyncio.sleep(0.01)
            assert server.closed == 1
            await post(pool)
        finally:
            await pool.close()
    assert server.accepted == 2


async def test_unsolicited_bytes_on_an_idle_connection_drop_it() -> None:
    async def chatty(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(OK + b"garbage")
        await w.drain()
        while await read_request(r, s):
            w.write(OK)

    async with serving(chatty) as server:
        pool = make_pool(server.url)
        try:
            await post(pool)
            await asyncio.sleep(0.05)
            assert (await post(pool))[1] == b"ok"
        finally:
            await pool.close()
    assert server.accepted == 2


async def test_at_most_limit_connections_and_waiters_get_freed_ones() -> None:
    gate = asyncio.Event()

    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s):
            await gate.wait()
            w.write(OK)
            await w.drain()

    async with serving(slow) as server:
        pool = make_pool(server.url, limit=2)
        try:
            calls = [asyncio.create_task(post(pool)) for _ in range(6)]
            await asyncio.sleep(0.1)
            assert server.accepted == 2
            assert pool.open_connections == 2
            gate.set()
            results = await asyncio.gather(*calls)
        finally:
            await pool.close()
    assert [body for _, body in results] == [b"ok"] * 6
    assert server.accepted == 2


async def test_a_waiter_that_times_out_leaves_the_pool_usable() -> None:
    gate = asyncio.Event()

    async def slow(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        while await read_request(r, s):
            await gate.wait()
            w.write(OK)
            await w.drain()

    async with serving(slow) as server:
        pool = make_pool(server.url, limit=1)
        try:
            busy = asyncio.create_task(post(pool))
            await asyncio.sleep(0.05)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await post(pool)  # waits for the only connection, then gives up
            gate.set()
            assert (await busy)[1] == b"ok"
            assert (await post(pool))[1] == b"ok"
        finally:
            await pool.close()
    assert server.accepted == 1


async def test_cancelling_a_request_in_flight_closes_its_connection() -> None:
    async def never(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        await r.read()  # until the client goes away

    async with serving(never) as server:
        pool = make_pool(server.url)
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await post(pool)
            assert pool.open_connections == 0
        finally:
            await pool.close()


# --- response bodies -------------------------------------------------------------------------


async def test_chunked_body_arrives_piece_by_piece() -> None:
    step = asyncio.Event()

    async def chunked(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        await w.drain()
        await step.wait()
        w.write(b"6\r\n world\r\n0\r\n\r\n")
        await w.drain()
        while await read_request(r, s):
            w.write(OK)

    async with serving(chunked) as server:
        pool = make_pool(server.url)
        try:
            response = await pool.post("/s", {}, b"")
            assert await response.read_some() == b"hello"
            assert not response.complete
            step.set()
            assert await response.read_some() == b" world"
            assert await response.read_some() == b""
            assert response.complete
            response.release()
            assert (await post(pool))[1] == b"ok"  # the same connection, reused
        finally:
            await pool.close()
    assert server.accepted == 1


async def test_body_delimited_by_connection_close() -> None:
    async def until_close(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil ")
        await w.drain()
        await asyncio.sleep(0.05)
        w.write(b"the end")  # then the connection closes

    async with serving(until_close) as server:
        pool = make_pool(server.url)
        try:
            assert (await post(pool))[1] == b"until the end"
        finally:
            await pool.close()


async def test_truncated_body_raises_after_the_bytes_that_came() -> None:
    async def short(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        await w.drain()

    async with serving(short) as server:
        pool = make_pool(server.url)
        try:
            response = await pool.post("/s", {}, b"")
            assert await response.read_some() == b"partial"
            with pytest.raises(ConnectionFailed):
                await response.read_some()
            response.close()
        finally:
            await pool.close()


async def test_headers_are_lower_cased_and_errors_keep_their_body() -> None:
    reply = (
        b"HTTP/1.1 429 Too Many Requests\r\nX-Amzn-ErrorType: ThrottlingException\r\n"
        b'x-amzn-RequestId: rid-1\r\nContent-Length: 13\r\n\r\n{"message":1}'
    )
    async with serving(answer_each(reply)) as server:
        pool = make_pool(server.url)
        try:
            response, body = await post(pool)
        finally:
            await pool.close()
    assert response.status == 429
    assert response.headers["x-amzn-errortype"] == "ThrottlingException"
    assert response.headers["x-amzn-requestid"] == "rid-1"
    assert body == b'{"message":1}'


async def test_fail_wakes_a_waiting_reader() -> None:
    async def hold(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await w.drain()
        await r.read()

    class Stop(Exception):
        pass

    async with serving(hold) as server:
        pool = make_pool(server.url)
        try:
            response = await pool.post("/s", {}, b"")
            reader = asyncio.create_task(response.read_some())
            await asyncio.sleep(0.05)
            response.fail(Stop())
            with pytest.raises(Stop):
                await reader
            response.close()
            assert pool.open_connections == 0  # an unfinished body is never reused
        finally:
            await pool.close()


async def test_a_reader_that_falls_behind_pauses_the_socket() -> None:
    total = 32 * 1024 * 1024
    sent = 0

    async def flood(r: asyncio.StreamReader, w: asyncio.StreamWriter, s: Server) -> None:
        nonlocal sent
        await read_request(r, s)
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % total)
        piece = b"x" * 65536
        while sent < total:
            w.write(piece)
            sent += len(piece)
            await w.drain()

    async with serving(flood) as server:
        pool = make_pool(server.url)
        try:
            response = await pool.post("/s", {}, b"")
            await asyncio.sleep(0.3)  # not reading: the server must be held back
            assert sent < total
            received = 0
            while data := await response.read_some():
                received += len(data)
            assert received == total
            response.release()
        finally:
            await pool.close()


async def test_invalid_http_is_a_bad_response() -> None:
    async with serving(answer_each(b"SMTP ready\r\n\r\n")) as server:
        pool = make_pool(server.url)
        try:
            with pytest.raises(BadResponse):
                await post(pool)
            assert pool.open_connections == 0
        finally:
            await pool.close()


# --- connecting ------------------------------------------------------------------------------


async def test_refused_connection_fails() -> None:
    pool = make_pool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionFailed):
        await post(pool)
    assert pool.open_connections == 0
    await pool.close()


async def test_a_host_name_is_resolved_and_every_address_tried() -> None:
    # "localhost" may resolve to ::1 first; the server listens on 127.0.0.1 only.
    async with serving(answer_each(OK)) as server:
        port = server.url.rsplit(":", 1)[1]
        pool = make_pool(f"http://localhost:{port}")
        try:
            assert (await post(pool))[1] == b"ok"
            assert (await post(pool))[1] == b"ok"
        finally:
            await pool.close()
    assert server.accepted == 1


async def test_connect_timeout() -> None:
    # A listener that never accepts, with its backlog filled: further SYNs go unanswered.
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        pool = make_pool(f"http://127.0.0.1:{port}", connect_timeout=0.2)
        with pytest.raises(ConnectTimeout):
            await post(pool)
        assert pool.open_connections == 0
        await pool.close()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    san = "subjectAltName=DNS:localhost,IP:127.0.0.1"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=localhost", "-addext", san, "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_with_certificate_verification(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    async with serving(answer_each(OK), tls=server_tls) as server:
        trusted = make_pool(server.url, ssl_context=ssl.create_default_context(cafile=cert))
        try:
            assert (await post(trusted))[1] == b"ok"
            assert (await post(trusted))[1] == b"ok"
        finally:
            await trusted.close()
        # The system trust store does not know this certificate.
        untrusted = make_pool(server.url)
        try:
            with pytest.raises(ConnectionFailed):
                await post(untrusted)
        finally:
            await untrusted.close()
    # One kept-alive connection; the refused handshake never reached the server's handler.
    assert server.accepted == 1
