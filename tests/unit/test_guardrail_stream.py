"""OutputGuard: streamed text held back and released window by window (fake Bedrock edge)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from gateway.errors import ServiceUnavailableError
from gateway.policy.guardrail import GuardrailGate, GuardrailUnavailableError
from gateway.policy.guardrail_stream import DEFAULT_CHECK_EVERY, OutputGuard
from gateway.policy.guardrail_summary import Finding
from gateway.policy.model import OnError
from tests.unit.test_guardrail_gate import BLOCK_MESSAGE, FakeBedrock, settings

WORDS = st.text(alphabet="abcdeghijklmnopqrstuvwxyz", min_size=1, max_size=10)


def split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(points) if b > a]


async def run(guard: OutputGuard, deltas: list[str]) -> tuple[list[str], str]:
    released = [await guard.feed(d) for d in deltas]
    return released, await guard.finish()


def guard(fake: FakeBedrock, **knobs: Any) -> OutputGuard:
    policy = knobs.pop("policy", settings())
    return OutputGuard(GuardrailGate(fake), policy, **knobs)


async def test_nothing_is_released_before_the_first_check() -> None:
    fake = FakeBedrock()
    g = guard(fake, check_every=50, holdback=10)
    assert await g.feed("a" * 20 + " ") == ""
    assert await g.feed("b" * 20 + " ") == ""
    assert fake.calls == []
    out = await g.feed("c" * 20 + " ")  # 63 characters: first check
    assert len(fake.calls) == 1
    assert out == "a" * 20 + " " + "b" * 20 + " "  # the tail after the last cut is held
    assert await g.feed("the end") == ""
    assert await g.finish() == "c" * 20 + " the end"
    # The tail gained unchecked text: checked again, together with it.
    assert fake.sent_texts()[1] == ["c" * 20 + " the end"]


async def test_a_checked_tail_alone_needs_no_final_call() -> None:
    fake = FakeBedrock()
    g = guard(fake, check_every=10, holdback=4)
    assert await g.feed("hello there you") == "hello "
    assert await g.finish() == "there you"
    assert len(fake.calls) == 1
    assert g.checks == 1


async def test_windows_resend_only_the_held_back_tail() -> None:
    fake = FakeBedrock()
    g = guard(fake)  # the defaults: 256-character windows
    text = " ".join(["word"] * 600)  # 2,999 characters
    released, rest = await run(g, [text[i : i + 7] for i in range(0, len(text), 7)])
    assert "".join(released) + rest == text
    sent = sum(len(t) for texts in fake.sent_texts() for t in texts)
    # Linear cost: each window re-sends at most a holdback tail (plus one word).
    assert sent <= len(text) + len(fake.calls) * 40
    assert len(fake.calls) <= len(text) // DEFAULT_CHECK_EVERY + 2
    assert all(body["source"] == "OUTPUT" for _, _, body in fake.calls)


async def test_a_block_stops_the_stream_with_the_guardrails_message() -> None:
    fake = FakeBedrock()
    g = guard(fake, check_every=30, holdback=10)
    first = await g.feed("all fine so far, nothing to see here ")
    assert first and "forbidden" not in first
    assert await g.feed("and now the forbid") == ""
    assert await g.feed("den thing and more words to pass the window ") == ""
    assert g.blocked_text == BLOCK_MESSAGE
    assert await g.feed("more text") == ""
    assert await g.finish() == ""
    assert g.assessment.blocked and g.assessment.findings == (Finding("wordPolicy", "BLOCKED"),)
    calls = len(fake.calls)
    await g.feed("x" * 100)
    assert len(fake.calls) == calls  # nothing is checked after a block


async def test_anonymised_windows_are_released_masked() -> None:
    g = guard(FakeBedrock(), check_every=40, holdback=8)
    deltas = ["please write to bob@exa", "mple.com or to ", "amy@example.org when you can "]
    released, rest = await run(g, deltas)
    assert "".join(released) + rest == "please write to {EMAIL} or to {EMAIL} when you can "
    assert g.blocked_text is None
    assert g.assessment.action == "anonymized"


async def test_failure_fails_closed_mid_stream() -> None:
    g = guard(FakeBedrock(error=ServiceUnavailableError("down")), check_every=5, holdback=1)
    with pytest.raises(GuardrailUnavailableError):
        await g.feed("hello world")


async def test_failure_fails_open_when_configured() -> None:
    fake = FakeBedrock(error=ServiceUnavailableError("down"))
    g = guard(fake, check_every=5, holdback=1, policy=settings(on_error=OnError.FAIL_OPEN))
    released, rest = await run(g, ["hello world ", "again"])
    assert "".join(released) + rest == "hello world again"
    assert not g.assessment.checked


@pytest.mark.parametrize(("check_every", "holdback"), [(0, 0), (10, 10), (10, -1), (5, 9)])
def test_bad_window_settings_are_refused(check_every: int, holdback: int) -> None:
    with pytest.raises(ValueError, match="check_every"):
        guard(FakeBedrock(), check_every=check_every, holdback=holdback)


@hyp_settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    words=st.lists(WORDS, min_size=1, max_size=120),
    cuts=st.lists(st.integers(min_value=0), max_size=40),
    check_every=st.integers(min_value=33, max_value=300),
)
async def test_clean_text_comes_out_whole_however_it_is_split(
    words: list[str], cuts: list[int], check_every: int
) -> None:
    text = " ".join(words)
    fake = FakeBedrock()
    g = guard(fake, check_every=check_every, holdback=32)
    released, rest = await run(g, split(text, cuts))
    assert "".join(released) + rest == text
    assert g.blocked_text is None


@hyp_settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    before=st.lists(WORDS, max_size=80),
    after=st.lists(WORDS, max_size=80),
    cuts=st.lists(st.integers(min_value=0), max_size=40),
    check_every=st.integers(min_value=33, max_value=300),
)
async def test_no_part_of_a_blocked_word_is_ever_released(
    before: list[str], after: list[str], cuts: list[int], check_every: int
) -> None:
    text = " ".join([*before, "forbidden", *after])
    g = guard(FakeBedrock(), check_every=check_every, holdback=32)
    released, rest = await run(g, split(text, cuts))
    out = "".join(released) + rest
    assert g.blocked_text == BLOCK_MESSAGE
    assert rest == ""
    assert "forbid" not in out
    assert text.startswith(out)  # what went out is the text, unchanged, up to a word boundary


@hyp_settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    before=st.lists(WORDS, min_size=8, max_size=60),
    inside=st.integers(min_value=1, max_value=8),
    data=st.data(),
)
async def test_a_check_that_ends_inside_a_blocked_word_releases_none_of_it(
    before: list[str], inside: int, data: st.DataObject
) -> None:
    # The worst case, forced: the delta that triggers a check ends mid-word ("forbid|den").
    prefix = " ".join(before) + " "
    first = len(prefix) + inside
    check_every = data.draw(st.integers(min_value=33, max_value=max(33, first)))
    text = prefix + "forbidden and the rest"
    g = guard(FakeBedrock(), check_every=check_every, holdback=32)
    released, rest = await run(g, [text[:first], text[first:]])
    out = "".join(released) + rest
    assert g.blocked_text == BLOCK_MESSAGE
    assert prefix.startswith(out)  # nothing of "forbidden" went out
