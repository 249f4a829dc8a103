"""The authenticated caller, and the interface every key source implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.budgets.model import Limit
from gateway.errors import AuthenticationError

INVALID_KEY_MESSAGE = "Incorrect API key provided. Check the key and try again."


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: its public key id (never the secret) and team, and what it may use."""

    key_id: str
    team_id: str
    # None: every routed model; otherwise only these public model names.
    allowed_models: frozenset[str] | None = None
    policy: str = "default"
    metadata: dict[str, str] = field(default_factory=dict)
    # Every budget / RPM / TPM bucket this caller draws on (key's, then team's).
    limits: tuple[Limit, ...] = ()


class Authenticator(Protocol):
    async def authenticate(self, api_key: str | None) -> Principal:
        """Return the caller or raise AuthenticationError (one message for every failure)."""
        ...


def invalid_key() -> AuthenticationError:
    return AuthenticationError(INVALID_KEY_MESSAGE)
