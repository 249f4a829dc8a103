"""Starting and stopping the emulator: in-process (``start``) or as a command (``run``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

from gateway.emulator.app import EmulatorApp
from gateway.emulator.protocol import HttpProtocol
from gateway.emulator.state import State

logger = logging.getLogger(__name__)

# Room for a thousand-connection burst (the paced-stream benchmark opens them all at once).
BACKLOG = 4096


class EmulatorServer:
    """A listening emulator on the current event loop."""

    def __init__(
        self, server: asyncio.Server, connections: set[HttpProtocol], state: State, host: str
    ) -> None:
        self._server = server
        self._connections = connections
        self.state = state
        self.port: int = server.sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}"

    async def close(self) -> None:
        """Stop listening, drop open connections and wait for their responders to end."""
        self._server.close()
        tasks = [t for t in (c.abort() for c in list(self._connections)) if t is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()


async def start(host: str = "127.0.0.1", port: int = 0) -> EmulatorServer:
    """Listen on ``host:port`` (0 picks a free port) inside the running event loop."""
    loop = asyncio.get_running_loop()
    state = State()
    app = EmulatorApp(state)
    connections: set[HttpProtocol] = set()
    server = await loop.create_server(
        lambda: HttpProtocol(app, connections), host, port, backlog=BACKLOG, reuse_address=True
    )
    return EmulatorServer(server, connections, state, host)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


async def _serve(host: str, port: int) -> None:
    server = await start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
            loop.add_signal_handler(sig, stop.set)
    logger.info("Bedrock Runtime emulator listening on %s", server.url)
    try:
        await stop.wait()
    finally:
        await server.close()


def run(host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT (blocking); uses uvloop when it is installed."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_serve(host, port))
