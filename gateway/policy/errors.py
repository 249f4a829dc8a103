"""The error raised when a policy blocks a request because of the PII it contains."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import InvalidRequestError


class PiiBlockedError(InvalidRequestError):
    """400 ``pii_blocked``. Names the entity types found, never the values."""

    default_code = "pii_blocked"

    def __init__(self, types: Iterable[str], *, param: str | None = None) -> None:
        self.types = tuple(sorted(set(types)))
        super().__init__(
            "The request contains personal data that this policy blocks: " + ", ".join(self.types),
            param=param,
        )
