"""The Redis store's RESERVE and SETTLE calls, read back by a RESP parser: every argument
where the Lua scripts expect it, whatever plans the store has cached from earlier calls."""

from __future__ import annotations

from urllib.parse import quote

import hiredis
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.budgets import redis_lua
from gateway.budgets.model import Limit, LimitKind, Reservation, ReserveRequest, Subject
from gateway.budgets.redis_store import RedisBudgetStore
from gateway.budgets.resp import Script
from gateway.budgets.windows import Window, bounds, duration_ms, epoch_ms, window_id

SLACK_S = 3600.0
KIND_CODE = {LimitKind.BUDGET: "b", LimitKind.TPM: "t", LimitKind.RPM: "r"}
# Around 2026-11-25: minute, hour, day and month edges all fall inside the range.
START = 1_764_028_740.0
times = st.floats(START, START + 40 * 86400, allow_nan=False)
ids = st.one_of(st.sampled_from(["k1", "team-a", "x.y~z"]), st.text(min_size=1, max_size=8))


def store() -> RedisBudgetStore:
    # No I/O: nothing is submitted, only encoded.
    return RedisBudgetStore.from_url("redis://127.0.0.1:1/0", key_slack_s=SLACK_S)


def argv(payload: bytes) -> list[str]:
    reader = hiredis.Reader()
    reader.feed(payload)
    parsed = reader.gets()
    assert reader.gets() is False, "bytes left over"
    assert isinstance(parsed, list)
    return [part.decode() for part in parsed]


def part(text: str) -> str:
    return quote(text, safe="")


def prefix(subject: Subject) -> str:
    if subject.team_id is not None:
        return f"gw:b:{{team:{part(subject.team_id)}}}:"
    return f"gw:b:{{key:{part(subject.key_id)}}}:"


def bucket_keys(subject: Subject, limit: Limit, at: float) -> list[str]:
    start, _ = bounds(limit.window, at)
    key = (
        f"{prefix(subject)}{limit.kind}:{limit.scope}:{part(limit.owner_id)}:"
        f"{limit.window}:{window_id(limit.window, start)}"
    )
    return [key, key + ":z"]


@st.composite
def subjects_and_limits(draw: st.DrawFn) -> tuple[Subject, tuple[Limit, ...]]:
    key_id = draw(ids)
    team_id = draw(st.one_of(st.none(), ids))
    subject = Subject(key_id, team_id)
    pool = [
        Limit("key", key_id, draw(st.sampled_from(list(Window))), draw(st.integers(0, 10**12))),
        Limit.rpm("key", key_id, draw(st.integers(0, 10**9))),
        Limit.tpm("key", key_id, draw(st.integers(0, 10**9))),
    ]
    if team_id is not None:
        pool.append(
            Limit(
                "team", team_id, draw(st.sampled_from(list(Window))), draw(st.integers(0, 10**12))
            )
        )
    chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=len(pool), unique=True))
    return subject, tuple(chosen)


calls = st.lists(
    st.tuples(
        times,
        st.integers(0, 10**9),  # tokens
        st.booleans(),  # allow_shrink
        st.floats(1.0, 7200.0),  # ttl_s
        st.integers(0, 10**6),  # used tokens at settle
        st.floats(0.0, 4000.0),  # settle delay
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(subjects_and_limits(), subjects_and_limits(), calls, st.text(min_size=1, max_size=12))
def test_reserve_and_settle_put_every_argument_in_its_place(
    first: tuple[Subject, tuple[Limit, ...]],
    second: tuple[Subject, tuple[Limit, ...]],
    steps: list[tuple[float, int, bool, float, int, float]],
    rid: str,
) -> None:
    encoder = store()
    reserve_sha = Script(redis_lua.RESERVE).sha
    settle_sha = Script(redis_lua.SETTLE).sha
    # The same limits objects again and again (as a cached principal gives them), across
    # window edges and alternating subjects: cached plans must never leak between them.
    for i, (now, tokens, shrink, ttl_s, used, delay) in enumerate(steps):
        subject, limits = first if i % 2 == 0 else second
        if i % 3 == 2 and all(limit.scope == "key" for limit in limits):
            # The same limits under another team: another key prefix.
            subject = Subject(subject.key_id, None if subject.team_id else "other")
        req = ReserveRequest(
            reservation_id=rid,
            subject=subject,
            limits=limits,
            tokens=tokens,
            now=now,
            ttl_s=ttl_s,
            allow_shrink=shrink,
            min_tokens=min(tokens, 7),
        )
        payload, _ = encoder._reserve_call(req)
        now_ms, ttl_ms = epoch_ms(now), duration_ms(ttl_s)
        expected = [
            "EVALSHA",
            reserve_sha,
            str(1 + 2 * len(limits)),
            f"{prefix(subject)}r:{part(rid)}",
        ]
        for limit in limits:
            expected += bucket_keys(subject, limit, now)
        expected += [rid, str(now_ms), str(now_ms + ttl_ms), str(ttl_ms), str(tokens), "1"]
        expected += ["1" if shrink else "0", str(min(tokens, 7))]
        for limit in limits:
            _, end = bounds(limit.window, now)
            expected += [KIND_CODE[limit.kind], str(limit.amount)]
            expected.append(str(duration_ms(end + SLACK_S - now)))
        assert argv(payload) == expected

        reservation = Reservation(rid, subject, limits, now, tokens, now + ttl_s)
        settle_at = now + delay
        got = argv(encoder._settle_call(reservation, used, settle_at))
        settle_ms = epoch_ms(settle_at)
        # The record's TTL as the reservation gives it (float rounding may differ from ttl_s).
        ttl_ms = duration_ms(reservation.expires_at - reservation.reserved_at)
        keys, key_ttls = [], []
        for limit in limits:
            _, end = bounds(limit.window, now)
            key_ttl = duration_ms(end + SLACK_S - settle_at)
            if limit.kind is LimitKind.RPM or key_ttl <= 0:
                continue
            keys += bucket_keys(subject, limit, now)
            key_ttls.append(str(key_ttl))
        assert got == [
            "EVALSHA",
            settle_sha,
            str(1 + len(keys)),
            f"{prefix(subject)}r:{part(rid)}",
            *keys,
            rid,
            str(used),
            str(settle_ms),
            str(settle_ms + ttl_ms),
            str(ttl_ms),
            *key_ttls,
        ]


def test_equal_limits_in_a_new_tuple_encode_alike() -> None:
    encoder = store()
    subject = Subject("k1", "t1")

    def limits() -> tuple[Limit, ...]:
        return (Limit("key", "k1", Window.HOUR, 100), Limit("team", "t1", Window.DAY, 500))

    req = ReserveRequest("r1", subject, limits(), tokens=10, now=START)
    again = ReserveRequest("r1", subject, limits(), tokens=10, now=START)
    assert again.limits is not req.limits
    assert encoder._reserve_call(req)[0] == encoder._reserve_call(again)[0]
