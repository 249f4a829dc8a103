"""The budget buckets a key draws on: its own budgets and RPM/TPM, and its team's budgets."""

from __future__ import annotations

from gateway.budgets.model import Limit, Scope, Subject
from gateway.budgets.windows import Window
from gateway.keys.models import ApiKey, Budgets, Team


def subject_for(key: ApiKey) -> Subject:
    return Subject(key_id=key.id, team_id=key.team_id)


def budget_limits(key: ApiKey, team: Team) -> tuple[Limit, ...]:
    """Every limit that applies to a request made with ``key`` (order: key, then team)."""
    limits = [*_window_limits("key", key.id, key.budgets)]
    if key.rpm is not None:
        limits.append(Limit.rpm("key", key.id, key.rpm))
    if key.tpm is not None:
        limits.append(Limit.tpm("key", key.id, key.tpm))
    limits.extend(_window_limits("team", team.id, team.budgets))
    return tuple(limits)


def _window_limits(scope: Scope, owner_id: str, budgets: Budgets) -> list[Limit]:
    return [
        Limit(scope, owner_id, window, amount)
        for window in Window
        if (amount := getattr(budgets, window.value)) is not None
    ]


def team_limits(team: Team) -> tuple[Limit, ...]:
    """The team's own budget buckets (shared by all its keys)."""
    return tuple(_window_limits("team", team.id, team.budgets))
