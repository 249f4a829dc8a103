"""The JSON admin API under /admin/: teams, keys, usage. Off unless GATEWAY_ADMIN_TOKEN is set.

A key or team may only name a policy the running registry knows (checked at each call, so
a reload that adds a policy makes its name usable at once).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any

import msgspec
from litestar import Request, Router, get, patch, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from gateway.budgets.model import Limit, Subject
from gateway.budgets.store import BudgetStore
from gateway.budgets.usage import usage_report
from gateway.composition import Stores
from gateway.errors import AuthenticationError, ServiceUnavailableError
from gateway.keys.limits import budget_limits, subject_for, team_limits
from gateway.keys.service import KeyService
from gateway.openai.decode import decode_json
from gateway.policy.registry import PolicyRegistry

Result = dict[str, Any]


class Budgets(msgspec.Struct, forbid_unknown_fields=True):
    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    month: int | None = None


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    id: str | None = None
    allowed_models: list[str] | None = None
    policy: str = "default"
    budgets: Budgets | None = None


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    allowed_models: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    policy: str | msgspec.UnsetType = msgspec.UNSET
    budgets: Budgets | None = None


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    team_id: str
    name: str
    allowed_models: list[str] | None = None
    policy: str | None = None
    metadata: dict[str, str] | None = None
    budgets: Budgets | None = None
    rpm: int | None = None
    tpm: int | None = None
    expires_at: float | None = None


class KeyRotate(msgspec.Struct, forbid_unknown_fields=True):
    grace_s: float = 0.0
    rotation_id: str | None = None


_TEAM_CREATE = msgspec.json.Decoder(TeamCreate)
_TEAM_UPDATE = msgspec.json.Decoder(TeamUpdate)
_KEY_CREATE = msgspec.json.Decoder(KeyCreate)
_KEY_ROTATE = msgspec.json.Decoder(KeyRotate)


def _budgets(b: Budgets | None) -> dict[str, int | None] | None:
    return None if b is None else msgspec.structs.asdict(b)


def admin_router(
    token: str, stores: Stores, budget_store: BudgetStore | None, policies: PolicyRegistry
) -> Router:
    """All admin routes behind one bearer-token guard (constant-time comparison)."""
    expected = hashlib.sha256(token.encode()).digest()
    service = None
    if stores.keys is not None:
        service = KeyService(stores.keys, stores.hasher, known_policies=lambda: policies.names)

    def guard(connection: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
        scheme, _, given = connection.headers.get("authorization", "").partition(" ")
        digest = hashlib.sha256(given.strip().encode()).digest()
        if scheme.lower() != "bearer" or not hmac.compare_digest(digest, expected):
            raise AuthenticationError("Invalid admin token.", code="invalid_admin_token")

    def keys() -> KeyService:
        if service is None:
            raise ServiceUnavailableError(
                "No key store is configured (set GATEWAY_REDIS_URL).", code="no_key_store"
            )
        return service

    @get("/teams")
    async def list_teams() -> list[Result]:
        return await keys().list_teams()

    @post("/teams", status_code=201)
    async def create_team(request: Request[Any, Any, Any]) -> Result:
        data = decode_json(await request.body(), _TEAM_CREATE, "the team's fields")
        return await keys().create_team(
            name=data.name,
            team_id=data.id,
            allowed_models=data.allowed_models,
            policy=data.policy,
            budgets=_budgets(data.budgets),
        )

    @get("/teams/{team_id:str}")
    async def show_team(team_id: str) -> Result:
        return await keys().show_team(team_id)

    @patch("/teams/{team_id:str}")
    async def update_team(team_id: str, request: Request[Any, Any, Any]) -> Result:
        data = decode_json(await request.body(), _TEAM_UPDATE, "the fields to change")
        return await keys().update_team(
            team_id,
            name=data.name,
            allowed_models=data.allowed_models,
            policy=data.policy,
            budgets=_budgets(data.budgets),
        )

    @get("/keys")
    async def list_keys(team: str | None = None) -> list[Result]:
        return await keys().list_keys(team)

    @post("/keys", status_code=201)
    async def create_key(request: Request[Any, Any, Any]) -> Result:
        data = decode_json(await request.body(), _KEY_CREATE, "the key's fields")
        return await keys().create_key(
            team_id=data.team_id,
            name=data.name,
            allowed_models=data.allowed_models,
            policy=data.policy,
            metadata=data.metadata,
            budgets=_budgets(data.budgets),
            rpm=data.rpm,
            tpm=data.tpm,
            expires_at=data.expires_at,
        )

    @get("/keys/{key_id:str}")
    async def show_key(key_id: str) -> Result:
        return await keys().show_key(key_id)

    @post("/keys/{key_id:str}/revoke", status_code=200)
    async def revoke_key(key_id: str) -> Result:
        return await keys().revoke_key(key_id)

    @post("/keys/{key_id:str}/rotate", status_code=200)
    async def rotate_key(key_id: str, request: Request[Any, Any, Any]) -> Result:
        raw = await request.body()
        data = decode_json(raw, _KEY_ROTATE, "the rotation options") if raw else KeyRotate()
        return await keys().rotate_key(key_id, grace_s=data.grace_s, rotation_id=data.rotation_id)

    async def usage_of(subject: Subject, limits: tuple[Limit, ...]) -> list[Result]:
        if budget_store is None or not limits:
            return []
        return usage_report(await budget_store.usage(subject, limits, time.time()))

    @get("/keys/{key_id:str}/usage")
    async def key_usage(key_id: str) -> Result:
        key, team = await keys().key_and_team(key_id)
        buckets = await usage_of(subject_for(key), budget_limits(key, team))
        return {"key_id": key.id, "team_id": team.id, "buckets": buckets}

    @get("/teams/{team_id:str}/usage")
    async def team_usage(team_id: str) -> Result:
        team = await keys().team(team_id)
        # Team buckets are shared by its keys; any subject of the team reads them.
        subject = Subject(key_id="-", team_id=team.id)
        buckets = await usage_of(subject, team_limits(team))
        return {"team_id": team.id, "buckets": buckets}

    return Router(
        path="/admin",
        guards=[guard],
        route_handlers=[
            list_teams,
            create_team,
            show_team,
            update_team,
            list_keys,
            create_key,
            show_key,
            revoke_key,
            rotate_key,
            key_usage,
            team_usage,
        ],
        include_in_schema=True,
    )
