"""Key-store errors: the store being unreachable, unknown records, conflicts, model refusals."""

from __future__ import annotations

from gateway.errors import (
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
)


class KeyStoreUnavailableError(ServiceUnavailableError):
    """The key store cannot be reached; authentication fails closed (503)."""

    default_code = "key_store_unavailable"


class TeamNotFoundError(NotFoundError):
    default_code = "team_not_found"


class KeyNotFoundError(NotFoundError):
    default_code = "key_not_found"


class ConflictError(InvalidRequestError):
    """The record already exists, or an idempotent retry does not match the first call."""

    # The tree has no 409 class yet; the API layer reads ``status`` from the instance's class.
    status = 409
    default_code = "conflict"


class KeyRevokedError(InvalidRequestError):
    """An admin operation (rotate) on a key that is already revoked."""

    default_code = "key_revoked"


def team_not_found(team_id: str) -> TeamNotFoundError:
    return TeamNotFoundError(f"No team with id '{_printable(team_id)}'.", param="team_id")


def key_not_found(key_id: str) -> KeyNotFoundError:
    return KeyNotFoundError(f"No API key with id '{_printable(key_id)}'.", param="key_id")


def model_not_allowed(model: str) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"This API key is not allowed to use the model '{_printable(model)}'.",
        param="model",
        code="model_not_allowed",
    )


def _printable(text: str) -> str:
    # Ids are echoed back to admins; keep them short and free of control characters.
    return "".join(ch for ch in text[:128] if ch.isprintable())
