"""Bucket usage as JSON for the admin API and CLI: used, reserved, remaining, resets_at."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from gateway.budgets.model import BucketUsage


def usage_report(buckets: Iterable[BucketUsage]) -> list[dict[str, Any]]:
    return [
        {
            "scope": b.limit.scope,
            "owner_id": b.limit.owner_id,
            "kind": str(b.limit.kind),
            "window": str(b.limit.window),
            "limit": b.limit.amount,
            "used": b.used,
            "reserved": b.reserved,
            "remaining": b.remaining,
            "resets_at": datetime.fromtimestamp(b.resets_at, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        for b in buckets
    ]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
