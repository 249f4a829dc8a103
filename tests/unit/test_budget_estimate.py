"""Prompt-token estimates: the per-block cache gives exactly the uncached count, within bounds."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.budgets.estimate import MESSAGE_OVERHEAD, TokenEstimator

# Session-wide: loading the BPE ranks takes a moment.
UNCACHED = TokenEstimator(1.1, cache_entries=0)
CACHED = TokenEstimator(1.1)

# Pieces chosen to sit on cl100k's pre-tokeniser boundaries: newlines, runs of spaces,
# punctuation before newlines, contractions, digits, non-Latin letters, odd whitespace.
pieces = st.sampled_from(
    [
        "a", "Zebra", "é", "ß", "日本", "1", "234", "'s", "'ll", "'", " ", "  ", "\t", "\n",
        "\r\n", "\n\n", ".", "!?", ",", "-", "\u3000", "\xa0", "\x1c", "\u2028", "🙂", "#", "_",
    ]
)  # fmt: skip
blocks = st.lists(pieces, max_size=8).map("".join)
block_lists = st.lists(blocks, min_size=1, max_size=6)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(block_lists)
def test_the_cached_count_is_the_count_of_the_joined_text(texts: list[str]) -> None:
    expected = UNCACHED.count("\n".join(texts))
    assert UNCACHED.joined_tokens(texts) == expected
    assert CACHED.joined_tokens(texts) == expected
    assert CACHED.joined_tokens(texts) == expected  # again, now from the cache


def body(system: list[str], turns: list[str], *, tools: bool = True) -> dict[str, Any]:
    request: dict[str, Any] = {
        "system": [{"text": t} for t in system],
        "messages": [
            {"role": "user" if i % 2 == 0 else "assistant", "content": [{"text": t}]}
            for i, t in enumerate(turns)
        ],
    }
    if tools:
        spec = {"toolSpec": {"name": "lookup", "inputSchema": {"json": {}}}}
        request["toolConfig"] = {"tools": [spec]}
    return request


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(blocks, max_size=2), st.lists(blocks, min_size=1, max_size=5))
def test_prompt_estimates_match_with_and_without_the_cache(
    system: list[str], turns: list[str]
) -> None:
    request = body(system, turns)
    assert CACHED.prompt_tokens(request, "team-a") == UNCACHED.prompt_tokens(request)


def test_a_conversation_reencodes_only_its_new_turns() -> None:
    estimator = TokenEstimator(1.0)
    history = ["You are terse.", "Hello there", "Hi", "What is 2+2?"]
    first = estimator.prompt_tokens(body(history[:1], history[1:], tools=False))
    entries, _ = estimator.cache_size
    # The next turn resends everything: only the previous last turn (now followed by a
    # newline), the new answer and the new question are new units.
    history += ["4", "And 3+3?"]
    second = estimator.prompt_tokens(body(history[:1], history[1:], tools=False))
    assert estimator.cache_size[0] == entries + 3
    assert second > first
    uncached = TokenEstimator(1.0, cache_entries=0)
    assert second == uncached.prompt_tokens(body(history[:1], history[1:], tools=False))


def test_the_cache_is_bounded_in_entries_least_recently_used_first() -> None:
    estimator = TokenEstimator(cache_entries=3)
    for text in ["one", "two", "three"]:
        estimator.joined_tokens([text])
    estimator.joined_tokens(["one"])  # now the most recently used
    estimator.joined_tokens(["four"])  # evicts "two"
    assert estimator.cache_size[0] == 3
    assert set(cached_texts(estimator)) == {"one", "three", "four"}


def test_the_cache_is_bounded_in_characters() -> None:
    estimator = TokenEstimator(cache_entries=1000, cache_chars=1600)
    for i in range(100):
        estimator.joined_tokens([f"block number {i:02d} " * 2])  # 32 characters each
    entries, chars = estimator.cache_size
    assert chars <= 1600
    assert entries == 1600 // 32


def test_a_block_too_large_for_its_share_is_counted_but_not_kept() -> None:
    estimator = TokenEstimator(cache_chars=1600)  # share per block: 100 characters
    huge = "word " * 40
    assert estimator.joined_tokens([huge]) == estimator.count(huge)
    assert estimator.cache_size == (0, 0)
    estimator.joined_tokens(["small"])
    assert estimator.cache_size == (1, 5)


def test_partitions_do_not_share_entries() -> None:
    estimator = TokenEstimator()
    estimator.joined_tokens(["the same system prompt"], "team-a")
    estimator.joined_tokens(["the same system prompt"], "team-a")
    assert estimator.cache_size[0] == 1
    estimator.joined_tokens(["the same system prompt"], "team-b")
    assert estimator.cache_size[0] == 2


def test_images_documents_and_message_framing_count_without_text() -> None:
    estimator = TokenEstimator(1.0)
    request = {
        "messages": [
            {"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": b""}}}]},
            {"role": "user", "content": [{"document": {"source": {"bytes": b"x" * 400}}}]},
        ]
    }
    assert estimator.prompt_tokens(request) == 1600 + 100 + 2 * MESSAGE_OVERHEAD


def test_bounds_and_factor_are_checked() -> None:
    with pytest.raises(ValueError, match="safety_factor"):
        TokenEstimator(0.9)
    with pytest.raises(ValueError, match="negative"):
        TokenEstimator(cache_entries=-1)


def cached_texts(estimator: TokenEstimator) -> list[str]:
    return [text for _, text, _ in estimator._cache]
