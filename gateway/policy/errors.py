"""The errors a policy raises per request: PII it blocks, and a policy that is not loaded."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.errors import InvalidRequestError, ServiceUnavailableError


class PiiBlockedError(InvalidRequestError):
    """400 ``pii_blocked``. Names the entity types found, never the values."""

    default_code = "pii_blocked"

    def __init__(self, types: Iterable[str], *, param: str | None = None) -> None:
        self.types = tuple(sorted(set(types)))
        super().__init__(
            "The request contains personal data that this policy blocks: " + ", ".join(self.types),
            param=param,
        )


class PolicyUnavailableError(ServiceUnavailableError):
    """503 ``policy_unavailable``: the caller's key or team names a policy that no loaded
    file defines. The request is refused rather than run under another (weaker) policy.

    The message names neither the policy nor anything else about the configuration; the
    operator finds the name and the key in the gateway's log.
    """

    default_code = "policy_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The policy assigned to this API key is not loaded on the gateway, so the request "
            "was refused rather than run under a different policy. Ask the gateway's operator "
            "to restore it, quoting the x-request-id of this response."
        )
