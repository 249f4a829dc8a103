"""Run the app under an ASGI server: uvicorn (uvloop + httptools) by default, or granian."""

from __future__ import annotations

import os

from gateway.settings import Settings

APP_FACTORY = "gateway.app:app_from_env"
SERVERS = ("uvicorn", "granian")


def serve(settings: Settings, *, server: str = "uvicorn") -> None:
    """Blocking. Workers re-read settings from the environment the CLI prepared."""
    s = settings.server
    if server == "granian":
        from granian import Granian  # optional extra: pip install granian

        Granian(
            APP_FACTORY,
            address=s.host,
            port=s.port,
            workers=s.workers,
            interface="asgi",  # type: ignore[arg-type]
            factory=True,
            loop="uvloop",  # type: ignore[arg-type]
            log_access=False,
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        APP_FACTORY,
        factory=True,
        host=s.host,
        port=s.port,
        workers=s.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,  # the gateway writes its own structured access line
        log_config=None,  # uvicorn's loggers go through the gateway's JSON handler
        log_level=s.log_level,
        # Streams may idle between tokens; keep-alive matches typical load-balancer idle timeouts.
        timeout_keep_alive=75,
        timeout_graceful_shutdown=30,
        server_header=False,
    )


def export_to_environ(pairs: dict[str, str]) -> None:
    """Hand CLI flags to worker processes, which build their settings from the environment."""
    os.environ.update(pairs)
