"""Checks on admin input (names, model lists, budgets, metadata, secrets): 400s naming the field."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.budgets.model import MAX_AMOUNT
from gateway.errors import InvalidRequestError
from gateway.keys.hashing import SECRET_PREFIX
from gateway.keys.models import (
    BUDGET_WINDOWS,
    MAX_METADATA_ITEMS,
    MAX_NAME_LENGTH,
    Budgets,
    valid_name,
)

MAX_TEXT_LENGTH = 128
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
# Operator-supplied secrets: long enough that guessing is hopeless, short enough for a header.
MIN_SECRET_LENGTH = 32
MAX_SECRET_LENGTH = 256


def check_name(name: str) -> str:
    if not valid_name(name):
        raise InvalidRequestError(
            f"name must be 1-{MAX_NAME_LENGTH} printable characters.", param="name"
        )
    return name


def check_text(value: str, param: str) -> str:
    if not 0 < len(value) <= MAX_TEXT_LENGTH or not value.isprintable():
        raise InvalidRequestError(
            f"{param} must be 1-{MAX_TEXT_LENGTH} printable characters.", param=param
        )
    return value


def check_models(models: list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
    """None allows every routed model; a list must name at least one (order kept, no repeats)."""
    if models is None:
        return None
    cleaned = tuple(dict.fromkeys(check_text(m, "allowed_models") for m in models))
    if not cleaned:
        raise InvalidRequestError(
            "allowed_models must name at least one model (omit it to allow every model).",
            param="allowed_models",
        )
    return cleaned


def check_budgets(budgets: Mapping[str, int | None]) -> Budgets:
    unknown = sorted(set(budgets) - set(BUDGET_WINDOWS))
    if unknown:
        raise InvalidRequestError(
            f"Unknown budget windows: {', '.join(unknown)} (use {', '.join(BUDGET_WINDOWS)}).",
            param="budgets",
        )
    for window, amount in budgets.items():
        _check_amount(amount, f"budgets.{window}")
    return Budgets(**budgets)


def check_rate(value: int | None, param: str) -> int | None:
    _check_amount(value, param)
    return value


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    if len(metadata) > MAX_METADATA_ITEMS:
        raise InvalidRequestError(
            f"metadata holds at most {MAX_METADATA_ITEMS} entries.", param="metadata"
        )
    for key, value in metadata.items():
        if not (0 < len(key) <= MAX_METADATA_KEY and key.isprintable()):
            raise InvalidRequestError(
                f"metadata keys must be 1-{MAX_METADATA_KEY} printable characters.",
                param="metadata",
            )
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            raise InvalidRequestError(
                f"metadata values must be strings of at most {MAX_METADATA_VALUE} characters.",
                param="metadata",
            )
    return dict(metadata)


def check_secret(secret: str) -> str:
    if (
        not secret.startswith(SECRET_PREFIX)
        or not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH
        or not secret.isascii()
        or not secret.isprintable()
        or " " in secret
    ):
        raise InvalidRequestError(
            f"A supplied secret must start with '{SECRET_PREFIX}' and be "
            f"{MIN_SECRET_LENGTH}-{MAX_SECRET_LENGTH} printable ASCII characters without spaces.",
            param="secret",
        )
    return secret


def _check_amount(amount: int | None, param: str) -> None:
    if amount is None:
        return
    # bool is an int subclass; True as a budget is a caller bug, not "1".
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= MAX_AMOUNT:
        raise InvalidRequestError(
            f"{param} must be an integer within 0..{MAX_AMOUNT}.", param=param
        )
