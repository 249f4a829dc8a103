"""The public, JSON-ready form of teams and keys: no secret hashes, times as ISO 8601 UTC."""

from __future__ import annotations

import time
from typing import Any

from gateway.keys.models import ApiKey, Budgets, Team


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def budgets_view(budgets: Budgets) -> dict[str, int | None]:
    return {
        "minute": budgets.minute,
        "hour": budgets.hour,
        "day": budgets.day,
        "month": budgets.month,
    }


def team_view(team: Team) -> dict[str, Any]:
    return {
        "id": team.id,
        "name": team.name,
        "allowed_models": None if team.allowed_models is None else list(team.allowed_models),
        "policy": team.policy,
        "budgets": budgets_view(team.budgets),
        "created_at": iso(team.created_at),
    }


def key_view(key: ApiKey, now: float) -> dict[str, Any]:
    grace_open = key.previous_expires_at is not None and now < key.previous_expires_at
    return {
        "id": key.id,
        "team_id": key.team_id,
        "name": key.name,
        "status": key.status(now),
        "secret_hint": key.secret_hint,
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "rotated_at": iso(key.rotated_at),
        "previous_secret_valid_until": iso(key.previous_expires_at) if grace_open else None,
        "allowed_models": None if key.allowed_models is None else list(key.allowed_models),
        "policy": key.policy,
        "metadata": dict(key.metadata),
        "budgets": budgets_view(key.budgets),
        "rpm": key.rpm,
        "tpm": key.tpm,
        # A fingerprint of the server hashing secret (not of the key): shows which keys
        # still wait for re-hashing after a hashing-secret rotation.
        "hash_version": key.hash_version,
    }
