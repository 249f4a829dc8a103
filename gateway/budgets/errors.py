"""Budget errors: the store being unreachable, and a refused reservation as a 429."""

from __future__ import annotations

import math

from gateway.budgets.model import LimitKind, ReserveResult
from gateway.errors import RateLimitError, ServiceUnavailableError


class BudgetStoreUnavailableError(ServiceUnavailableError):
    """The budget store cannot be reached; fail closed (503) unless configured to fail open."""

    default_code = "budget_store_unavailable"


class InsufficientQuotaError(RateLimitError):
    """A token budget is spent until its window resets (OpenAI's ``insufficient_quota``)."""

    type = "insufficient_quota"
    default_code = "insufficient_quota"


def refusal_error(result: ReserveResult, now: float) -> RateLimitError:
    """The 429 for a refused reservation, with ``retry-after`` at the bucket's reset."""
    refused = result.refused
    if refused is None:
        raise ValueError("reservation was granted")
    limit = refused.limit
    headers = {"retry-after": str(max(1, math.ceil(refused.resets_at - now)))}
    if limit.kind is LimitKind.BUDGET:
        # Retrying cannot help before the reset; tell the OpenAI SDK not to.
        headers["x-should-retry"] = "false"
        return InsufficientQuotaError(
            f"The {limit.scope}'s {limit.window} token budget is used up; "
            "it resets at the start of the next window.",
            headers=headers,
        )
    unit = "requests" if limit.kind is LimitKind.RPM else "tokens"
    return RateLimitError(
        f"The {limit.scope}'s {unit}-per-minute limit is reached; retry after the reset.",
        headers=headers,
    )
