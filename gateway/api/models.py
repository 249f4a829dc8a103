"""GET /v1/models and /v1/models/{id}: the routing table as OpenAI model objects."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.handlers import HTTPRouteHandler

from gateway.keys.principal import Principal
from gateway.pipeline import ChatPipeline
from gateway.routing import Route, RoutingTable, model_not_found


def _model(route: Route) -> dict[str, Any]:
    return {"id": route.name, "object": "model", "created": 0, "owned_by": route.owned_by}


def _visible(principal: Principal, route: Route) -> bool:
    return principal.allowed_models is None or route.name in principal.allowed_models


def model_routes(pipeline: ChatPipeline, routing: RoutingTable) -> list[HTTPRouteHandler]:
    async def _principal(request: Request[Any, Any, Any]) -> Principal:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return await pipeline.authenticate(token.strip() if scheme.lower() == "bearer" else None)

    @get("/v1/models")
    async def list_models(request: Request[Any, Any, Any]) -> dict[str, Any]:
        principal = await _principal(request)
        data = [_model(r) for r in routing.routes() if _visible(principal, r)]
        return {"object": "list", "data": data}

    @get("/v1/models/{model_id:path}")
    async def get_model(request: Request[Any, Any, Any], model_id: str) -> dict[str, Any]:
        principal = await _principal(request)
        route = routing.resolve(model_id.lstrip("/"))
        if not _visible(principal, route):
            raise model_not_found(model_id)  # the same 404 as unknown: no existence oracle
        return _model(route)

    return [list_models, get_model]
