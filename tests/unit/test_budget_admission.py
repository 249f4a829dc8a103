"""The admission rule (which both stores apply) and the budget model's validation."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gateway.budgets.admission import decide, report
from gateway.budgets.errors import InsufficientQuotaError, refusal_error
from gateway.budgets.model import (
    BucketUsage,
    Limit,
    LimitKind,
    ReserveRequest,
    ReserveResult,
    Subject,
)
from gateway.budgets.windows import Window
from gateway.errors import RateLimitError

SUBJECT = Subject("k1", "t1")
KEY_DAY = Limit("key", "k1", Window.DAY, 1000)
TEAM_MONTH = Limit("team", "t1", Window.MONTH, 5000)
TPM = Limit.tpm("key", "k1", 800)
RPM = Limit.rpm("key", "k1", 10)


def request(
    limits: tuple[Limit, ...], tokens: int, *, shrink: bool = False, min_tokens: int = 1
) -> ReserveRequest:
    return ReserveRequest(
        reservation_id="r1",
        subject=SUBJECT,
        limits=limits,
        tokens=tokens,
        now=1_700_000_000.0,
        allow_shrink=shrink,
        min_tokens=min_tokens,
    )


@pytest.mark.parametrize(
    ("limits", "used", "held", "tokens", "shrink", "min_tokens", "expected"),
    [
        pytest.param((KEY_DAY,), [0], [0], 1000, False, 1, (1000, None), id="exactly-fits"),
        pytest.param((KEY_DAY,), [1], [0], 1000, False, 1, (0, 0), id="one-over-refused"),
        pytest.param((KEY_DAY,), [400], [500], 100, False, 1, (100, None), id="holds-count"),
        pytest.param((KEY_DAY,), [400], [500], 101, False, 1, (0, 0), id="holds-refuse"),
        pytest.param(
            (KEY_DAY, TEAM_MONTH), [0, 4900], [0, 0], 200, False, 1, (0, 1), id="team-refuses"
        ),
        pytest.param(
            (KEY_DAY, TEAM_MONTH), [950, 4000], [0, 0], 200, False, 1, (0, 0), id="key-tightest"
        ),
        pytest.param(
            (KEY_DAY, TEAM_MONTH), [0, 4900], [0, 0], 200, True, 50, (100, None), id="shrink"
        ),
        pytest.param(
            (KEY_DAY, TEAM_MONTH), [0, 4900], [0, 0], 200, True, 101, (0, 1), id="shrink-floor"
        ),
        pytest.param((KEY_DAY,), [1200], [0], 10, True, 0, (0, 0), id="overspent-no-shrink"),
        pytest.param((KEY_DAY, TPM), [0, 700], [0, 0], 200, False, 1, (0, 1), id="tpm-refuses"),
        pytest.param(
            (KEY_DAY, TPM), [0, 700], [0, 0], 200, True, 1, (0, 1), id="tpm-never-shrinks"
        ),
        pytest.param(
            (KEY_DAY, TPM), [900, 0], [0, 0], 200, True, 1, (100, None), id="tpm-checks-shrunk"
        ),
        pytest.param((RPM,), [9], [0], 5000, False, 1, (5000, None), id="rpm-counts-requests"),
        pytest.param((RPM,), [10], [0], 1, False, 1, (0, 0), id="rpm-full"),
        pytest.param(
            (KEY_DAY, RPM), [1000, 10], [0, 0], 1, False, 1, (0, 0), id="budget-before-rate"
        ),
        pytest.param((KEY_DAY, TPM), [1000, 0], [0, 0], 0, False, 0, (0, None), id="zero-tokens"),
        pytest.param((), [], [], 7, False, 1, (7, None), id="no-limits"),
    ],
)
def test_decide(
    limits: tuple[Limit, ...],
    used: list[int],
    held: list[int],
    tokens: int,
    shrink: bool,
    min_tokens: int,
    expected: tuple[int, int | None],
) -> None:
    req = request(limits, tokens, shrink=shrink, min_tokens=min_tokens)
    assert decide(req, used, held) == expected


def test_report_never_shows_negative_remaining() -> None:
    (state,) = report((KEY_DAY,), [1100], [50], [123])
    assert state == BucketUsage(KEY_DAY, used=1100, reserved=50, remaining=0, resets_at=123)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Limit("key", "k1", Window.DAY, -1), "amount"),
        (lambda: Limit("key", "k1", Window.DAY, 10**13), "amount"),
        (lambda: Limit("key", "", Window.DAY, 1), "owner_id"),
        (lambda: Limit("key", "k1", Window.HOUR, 5, LimitKind.TPM), "minute"),
        (lambda: request((Limit("key", "other", Window.DAY, 5),), 1), "subject"),
        (lambda: request((Limit("team", "t2", Window.DAY, 5),), 1), "subject"),
        (lambda: request((KEY_DAY, Limit("key", "k1", Window.DAY, 9)), 1), "duplicate"),
        (lambda: request((KEY_DAY,), 5, shrink=True, min_tokens=6), "min_tokens"),
        (lambda: request((KEY_DAY,), 5, min_tokens=-1), "min_tokens"),
        (lambda: request((KEY_DAY,), -1), "tokens"),
        (
            lambda: ReserveRequest("r", SUBJECT, (), tokens=1, now=0.0, ttl_s=0),
            "ttl_s",
        ),
        (lambda: ReserveRequest("", SUBJECT, (), tokens=1, now=0.0), "reservation_id"),
    ],
)
def test_invalid_definitions_are_rejected(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_key_and_team_minute_budgets_may_coexist_with_tpm() -> None:
    limits = (
        Limit("key", "k1", Window.MINUTE, 100),
        Limit("team", "t1", Window.MINUTE, 100),
        Limit.tpm("key", "k1", 100),
        Limit.tpm("team", "t1", 100),
    )
    assert request(limits, 1).limits == limits


def test_a_key_without_team_cannot_carry_team_limits() -> None:
    with pytest.raises(ValueError, match="subject"):
        ReserveRequest("r", Subject("k1"), (TEAM_MONTH,), tokens=1, now=0.0)


def refused(limit: Limit, resets_at: int) -> ReserveResult:
    state = BucketUsage(limit, used=limit.amount, reserved=0, remaining=0, resets_at=resets_at)
    return ReserveResult(0, (state,), refused=state)


def test_spent_budget_becomes_insufficient_quota_without_retry() -> None:
    result = refused(TEAM_MONTH, resets_at=1_000_000)
    assert result.refusal_code == "insufficient_quota"
    error = refusal_error(result, now=1_000_000 - 90.5)
    assert isinstance(error, InsufficientQuotaError)
    assert (error.status, error.type, error.code) == (
        429,
        "insufficient_quota",
        "insufficient_quota",
    )
    assert error.headers == {"retry-after": "91", "x-should-retry": "false"}
    assert "team" in error.message
    assert "month" in error.message


@pytest.mark.parametrize(("limit", "unit"), [(RPM, "requests"), (TPM, "tokens")])
def test_rate_limits_become_rate_limit_exceeded(limit: Limit, unit: str) -> None:
    result = refused(limit, resets_at=600)
    assert result.refusal_code == "rate_limit_exceeded"
    error = refusal_error(result, now=600.2)
    assert type(error) is RateLimitError
    assert (error.status, error.code) == (429, "rate_limit_exceeded")
    assert error.headers == {"retry-after": "1"}
    assert unit in error.message


def test_refusal_error_needs_a_refusal() -> None:
    with pytest.raises(ValueError, match="granted"):
        refusal_error(ReserveResult(5, ()), now=0.0)
