"""Admin operations on teams and keys, shared by the CLI and the admin API; plain-dict results.

Results never hold a secret hash. A secret appears once: in the result of the create or
rotate call that made it. A policy name is accepted only if the gateway knows it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import msgspec

from gateway.errors import InvalidRequestError
from gateway.keys.errors import ConflictError, key_not_found, team_not_found
from gateway.keys.hashing import HashSecretError, KeyHasher, generate_secret, secret_hint
from gateway.keys.models import ApiKey, Team, new_key_id, new_team_id, valid_id
from gateway.keys.store import KeyStore, Rotation, TeamUpdate
from gateway.keys.validation import (
    check_budgets,
    check_metadata,
    check_models,
    check_name,
    check_rate,
    check_secret,
    check_text,
)
from gateway.keys.views import key_view, team_view

# The demo key (``--demo``): fixed ids and a published secret, for local trials only.
DEMO_TEAM_ID = "demo"
DEMO_KEY_ID = "key_demo"
DEMO_SECRET = "sk-bedrock-gateway-demo-key"  # noqa: S105 (published on purpose)
MAX_GRACE_S = 30 * 86400
# Every gateway has this policy (it refuses to start without one), so it needs no lookup.
DEFAULT_POLICY = "default"
# Enough for an admin to spot a typo; a long list would bury the message.
_LISTED_POLICIES = 20

Result = dict[str, Any]


class KeyService:
    """``known_policies`` returns the policy names keys and teams may name (the running
    registry's, or those a CLI loaded); it is called only when a name other than
    ``default`` is set. None skips the check: only for callers that set no policy."""

    def __init__(
        self,
        store: KeyStore,
        hasher: KeyHasher | None = None,
        clock: Callable[[], float] = time.time,
        *,
        known_policies: Callable[[], Collection[str]] | None = None,
    ) -> None:
        self._store = store
        # Listing and showing need no hashing secret; creating and rotating do.
        self._hasher = hasher
        self._clock = clock
        self._known_policies = known_policies

    # -- teams ----------------------------------------------------------------------------

    async def create_team(
        self,
        *,
        name: str,
        team_id: str | None = None,
        allowed_models: list[str] | None = None,
        policy: str = DEFAULT_POLICY,
        budgets: Mapping[str, int | None] | None = None,
    ) -> Result:
        if team_id is not None and not valid_id(team_id):
            raise InvalidRequestError(
                "Team ids use a-z, 0-9, '_' and '-' (1-64 characters).", param="id"
            )
        team = Team(
            id=team_id or new_team_id(),
            name=check_name(name),
            allowed_models=check_models(allowed_models),
            policy=self._policy(policy),
            budgets=check_budgets(budgets or {}),
            created_at=self._clock(),
        )
        await self._store.create_team(team)
        return team_view(team)

    async def list_teams(self) -> list[Result]:
        return [team_view(team) for team in await self._store.list_teams()]

    async def show_team(self, team_id: str) -> Result:
        return team_view(await self._team(team_id))

    async def update_team(
        self,
        team_id: str,
        *,
        name: str | msgspec.UnsetType = msgspec.UNSET,
        allowed_models: list[str] | msgspec.UnsetType | None = msgspec.UNSET,
        policy: str | msgspec.UnsetType = msgspec.UNSET,
        budgets: Mapping[str, int | None] | None = None,
    ) -> Result:
        update = TeamUpdate(
            name=msgspec.UNSET if name is msgspec.UNSET else check_name(name),
            allowed_models=(
                msgspec.UNSET if allowed_models is msgspec.UNSET else check_models(allowed_models)
            ),
            policy=msgspec.UNSET if policy is msgspec.UNSET else self._policy(policy),
            budgets=dict(budgets or {}),
        )
        check_budgets(update.budgets)
        return team_view(await self._store.update_team(team_id, update))

    # -- keys -----------------------------------------------------------------------------

    async def create_key(
        self,
        *,
        team_id: str,
        name: str,
        allowed_models: list[str] | None = None,
        policy: str | None = None,
        metadata: Mapping[str, str] | None = None,
        budgets: Mapping[str, int | None] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        expires_at: float | None = None,
        secret: str | None = None,
    ) -> Result:
        """Create a key; the result holds its ``secret``, which is never shown again."""
        hasher = self._require_hasher()
        now = self._clock()
        team = await self._team(team_id)
        models = check_models(allowed_models)
        if models is not None and team.allowed_models is not None:
            outside = sorted(set(models) - set(team.allowed_models))
            if outside:
                raise InvalidRequestError(
                    f"The team does not allow these models: {', '.join(outside)}.",
                    param="allowed_models",
                )
        if expires_at is not None and expires_at <= now:
            raise InvalidRequestError("expires_at must be in the future.", param="expires_at")
        plain = generate_secret() if secret is None else check_secret(secret)
        return await self._insert(
            ApiKey(
                id=new_key_id(),
                team_id=team.id,
                name=check_name(name),
                secret_hash=hasher.hash(plain).value,
                hash_version=hasher.version,
                secret_hint=secret_hint(plain),
                created_at=now,
                expires_at=expires_at,
                allowed_models=models,
                policy=None if policy is None else self._policy(policy),
                metadata=check_metadata(metadata or {}),
                budgets=check_budgets(budgets or {}),
                rpm=check_rate(rpm, "rpm"),
                tpm=check_rate(tpm, "tpm"),
            ),
            plain,
        )

    async def list_keys(self, team_id: str | None = None) -> list[Result]:
        now = self._clock()
        if team_id is not None:
            await self._team(team_id)
        return [key_view(key, now) for key in await self._store.list_keys(team_id)]

    async def show_key(self, key_id: str) -> Result:
        key = await self._store.get_key(key_id)
        if key is None:
            raise key_not_found(key_id)
        return key_view(key, self._clock())

    async def revoke_key(self, key_id: str) -> Result:
        now = self._clock()
        return key_view(await self._store.revoke_key(key_id, now), now)

    async def rotate_key(
        self,
        key_id: str,
        *,
        grace_s: float = 0.0,
        rotation_id: str | None = None,
        secret: str | None = None,
    ) -> Result:
        """New secret, same id. The old secret stops working at once, or after ``grace_s``.

        With ``rotation_id``, a retry of a rotation whose answer was lost is not applied
        twice: it reports ``replayed: true``. A generated secret cannot be shown again, so
        callers that need a recoverable retry pass their own ``secret``; a retry with the
        same id and a different secret is a conflict.
        """
        hasher = self._require_hasher()
        if not 0 <= grace_s <= MAX_GRACE_S:
            raise InvalidRequestError(
                f"grace period must be within 0..{MAX_GRACE_S} seconds.", param="grace_period"
            )
        if rotation_id is not None:
            check_text(rotation_id, "rotation_id")
        plain = generate_secret() if secret is None else check_secret(secret)
        new_hash = hasher.hash(plain)
        now = self._clock()
        outcome = await self._store.rotate_key(
            key_id, Rotation(new_hash, secret_hint(plain), now, grace_s, rotation_id)
        )
        key = outcome.key
        result = {**key_view(key, now), "rotation_id": rotation_id, "replayed": not outcome.applied}
        if outcome.applied:
            result["secret"] = plain
        elif secret is not None and key.secret_hash != new_hash.value:
            raise ConflictError(
                "This rotation_id was already used with a different secret.", param="rotation_id"
            )
        return result

    async def ensure_demo_key(self, secret: str = DEMO_SECRET) -> Result:
        """Create the demo team and key if missing (idempotent); the secret is the fixed one."""
        hasher = self._require_hasher()
        if await self._store.get_team(DEMO_TEAM_ID) is None:
            # Another process may create it at the same moment: the goal is met either way.
            with contextlib.suppress(ConflictError):
                await self._store.create_team(
                    Team(id=DEMO_TEAM_ID, name="Demo", created_at=self._clock())
                )
        key = await self._store.get_key(DEMO_KEY_ID)
        if key is None:
            key = ApiKey(
                id=DEMO_KEY_ID,
                team_id=DEMO_TEAM_ID,
                name="demo key",
                secret_hash=hasher.hash(secret).value,
                hash_version=hasher.version,
                secret_hint=secret_hint(secret),
                created_at=self._clock(),
            )
            try:
                await self._store.create_key(key)
            except ConflictError:
                key = await self._store.get_key(DEMO_KEY_ID) or key
        return {**key_view(key, self._clock()), "secret": secret, "demo": True}

    async def key_and_team(self, key_id: str) -> tuple[ApiKey, Team]:
        """The stored records (for usage reports); 404 when either is missing."""
        key = await self._store.get_key(key_id)
        if key is None:
            raise key_not_found(key_id)
        return key, await self._team(key.team_id)

    async def team(self, team_id: str) -> Team:
        return await self._team(team_id)

    # -- helpers --------------------------------------------------------------------------

    async def _team(self, team_id: str) -> Team:
        team = await self._store.get_team(team_id)
        if team is None:
            raise team_not_found(team_id)
        return team

    def _policy(self, name: str) -> str:
        """A valid policy name the gateway knows; a 400 naming ``policy`` otherwise."""
        check_text(name, "policy")
        if name == DEFAULT_POLICY or self._known_policies is None:
            return name
        known = sorted(self._known_policies())
        if name in known:
            return name
        listed = ", ".join(known[:_LISTED_POLICIES]) + (
            ", …" if len(known) > _LISTED_POLICIES else ""
        )
        raise InvalidRequestError(
            f"No policy named '{name}' is defined (known: {listed}); add its file to the "
            "gateway's policy directory and reload the gateway first.",
            param="policy",
            code="unknown_policy",
        )

    async def _insert(self, key: ApiKey, plain: str) -> Result:
        await self._store.create_key(key)
        return {**key_view(key, key.created_at), "secret": plain}

    def _require_hasher(self) -> KeyHasher:
        if self._hasher is None:
            raise HashSecretError("creating or rotating keys needs GATEWAY_KEY_HASH_SECRET")
        return self._hasher
