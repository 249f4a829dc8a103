"""create_app(settings): the composition root. Long-lived clients are built in the lifespan."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig

from gateway.api.admin import admin_router
from gateway.api.chat import chat_route
from gateway.api.models import model_routes
from gateway.api.responses import error_body, internal_error
from gateway.bedrock.client import BedrockApi, BedrockClient, BedrockSettings
from gateway.composition import (
    build_authenticator,
    build_budget_gate,
    build_policies,
    build_stores,
    seed_demo,
)
from gateway.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
)
from gateway.logs import configure_logging
from gateway.metrics import Metrics
from gateway.observe import Recorder
from gateway.pipeline import ChatPipeline
from gateway.settings import Settings, load_settings

log = logging.getLogger("gateway")


@dataclass(slots=True)
class Health:
    ready: bool = False


def bedrock_settings(settings: Settings, endpoint_url: str | None = None) -> BedrockSettings:
    b = settings.bedrock
    return BedrockSettings(
        endpoint_url=endpoint_url,
        connect_timeout=b.connect_timeout_s,
        read_timeout=b.first_byte_timeout_s,
        stream_header_timeout=b.stream_first_byte_timeout_s,
        idle_timeout=b.idle_timeout_s,
        max_attempts=b.max_attempts,
        retry_deadline=b.retry_deadline_s,
        pool_size=b.pool_size,
    )


def create_app(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    bedrock: BedrockApi | None = None,
) -> Litestar:
    """Build the app; ``bedrock`` may be injected (a fake at the AWS edge). No I/O here."""
    env = os.environ if environ is None else environ
    routing = settings.routing_table()
    stores = build_stores(settings, env)
    policies = build_policies(settings, env)
    health = Health()
    client: BedrockApi = bedrock or BedrockClient.from_settings(bedrock_settings(settings))
    pipeline = ChatPipeline(
        routing=routing,
        authenticator=build_authenticator(settings, stores),
        bedrock=client,
        budgets=build_budget_gate(settings, stores),
        policies=policies,
    )

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        emulator = None
        if settings.demo and bedrock is None:
            # The bundled emulator runs in this event loop as the upstream.
            from gateway.emulator.server import start

            emulator = await start("127.0.0.1", 0)
            demo_client = BedrockClient.from_settings(
                replace(
                    bedrock_settings(settings, emulator.url),
                    region="us-east-1",
                    static_credentials=("demo", "demo"),
                )
            )
            pipeline.bedrock = demo_client
        if settings.demo:
            await seed_demo(stores)
        if settings.policy_dir is not None:
            # Reload policy files on SIGHUP; a bad file keeps the running set.
            try:
                policies.install_sighup(asyncio.get_running_loop())
            except (NotImplementedError, RuntimeError, ValueError) as exc:
                # No signal handlers here (not the main thread, or a loop without them).
                log.warning("policy reload on SIGHUP unavailable: %s", type(exc).__name__)
        await pipeline.bedrock.start()
        health.ready = True
        try:
            yield
        finally:
            health.ready = False
            if pipeline.budgets is not None:
                await pipeline.budgets.drain()
            await pipeline.bedrock.close()
            for close in stores.closers:
                await close()
            if emulator is not None:
                await emulator.close()

    @get("/healthz", include_in_schema=True)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz")
    async def readyz() -> Response[dict[str, str]]:
        if health.ready:
            return Response({"status": "ready"})
        return Response({"status": "starting"}, status_code=503)

    metrics = Metrics([r.name for r in routing.routes()], team_cap=settings.server.metrics_team_cap)
    recorder = Recorder(metrics)
    metrics_token = env.get("GATEWAY_METRICS_TOKEN")
    expected_token = hashlib.sha256(metrics_token.encode()).digest() if metrics_token else None

    @get("/metrics", include_in_schema=False)
    async def metrics_endpoint(request: Request[Any, Any, Any]) -> Response[bytes]:
        if expected_token is not None:
            _, _, given = request.headers.get("authorization", "").partition(" ")
            digest = hashlib.sha256(given.strip().encode()).digest()
            if not hmac.compare_digest(digest, expected_token):
                raise AuthenticationError("Invalid metrics token.", code="invalid_metrics_token")
        # Rendering reads every worker's files in multiprocess mode: keep it off the loop.
        body, content_type = await asyncio.to_thread(metrics.render)
        return Response(body, media_type=content_type)

    handlers: list[Any] = [
        chat_route(pipeline, recorder, settings.server.max_body_bytes),
        metrics_endpoint,
        *model_routes(pipeline, routing),
        healthz,
        readyz,
    ]
    admin_token = env.get("GATEWAY_ADMIN_TOKEN")
    if admin_token:
        # Secure by default: without a token the admin API does not exist.
        handlers.append(admin_router(admin_token, stores, stores.budgets, policies))
    return Litestar(
        route_handlers=handlers,
        lifespan=[lifespan],
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
        openapi_config=OpenAPIConfig(title="bedrock-gateway", version="0.1.0", path="/schema"),
        logging_config=None,
        debug=False,
    )


def app_from_env() -> Litestar:
    """Factory for ASGI servers (``gateway.app:app_from_env``): settings from the environment."""
    settings = load_settings()
    configure_logging(settings.server.log_level, json=settings.server.log_json)
    return create_app(settings)


def _gateway_error(_: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    return Response(
        error_body(exc),
        status_code=exc.status,
        media_type="application/json",
        headers=dict(exc.headers),
    )


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    error: GatewayError
    if exc.status_code == 404:
        error = NotFoundError(
            f"Invalid URL ({request.method} {request.url.path})", code="unknown_url"
        )
    elif exc.status_code == 405:
        error = MethodNotAllowedError(
            f"Method {request.method} is not allowed on {request.url.path}"
        )
    elif exc.status_code == 413:
        error = PayloadTooLargeError(str(exc.detail))
    elif 400 <= exc.status_code < 500:
        error = InvalidRequestError(str(exc.detail))
    else:
        return _unexpected_error(request, exc)
    return _gateway_error(request, error)


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.error("unhandled error on %s", request.url.path, exc_info=exc)
    return _gateway_error(request, internal_error())
