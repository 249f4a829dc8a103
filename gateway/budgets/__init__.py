"""Token budgets and rate limits: the store interface, its vocabulary and the memory store.

The Redis store lives in ``gateway.budgets.redis_store`` (imported only where Redis is used).
"""

from gateway.budgets.errors import (
    BudgetStoreUnavailableError,
    InsufficientQuotaError,
    refusal_error,
)
from gateway.budgets.memory_store import MemoryBudgetStore
from gateway.budgets.model import (
    BucketUsage,
    Limit,
    LimitKind,
    Reservation,
    ReserveRequest,
    ReserveResult,
    Subject,
)
from gateway.budgets.store import BudgetStore
from gateway.budgets.windows import Window

__all__ = [
    "BucketUsage",
    "BudgetStore",
    "BudgetStoreUnavailableError",
    "InsufficientQuotaError",
    "Limit",
    "LimitKind",
    "MemoryBudgetStore",
    "Reservation",
    "ReserveRequest",
    "ReserveResult",
    "Subject",
    "Window",
    "refusal_error",
]
