"""Shared scans and gates: the spans they report cover what the detectors need."""

from __future__ import annotations

import pytest

from gateway.policy.charsets import ALNUM, DIGITS, UPPER
from gateway.policy.regions import (
    FLOOR,
    ClassMap,
    RunRegion,
    TriggerRegion,
    holds_any,
    word_gate,
)

ALNUM_MAP = ClassMap("test-alnum", {"x": ALNUM})
SHAPES = ClassMap("test-shapes", {"0": DIGITS, "A": UPPER, "_": " "})


def spans(region: RunRegion | TriggerRegion, text: str, start: int = 0) -> list[str]:
    return [text[lo:hi] for lo, hi, _, _ in region.spans(text, start, {})]


def test_class_map_keeps_offsets_for_non_ascii_text() -> None:
    assert ALNUM_MAP.of("aé1 İb", 0, {}) == b"x x  x"
    assert ALNUM_MAP.of("aé1 İb", 2, {}) == b"x  x"


def test_class_map_refuses_a_class_holding_the_replacement_character() -> None:
    with pytest.raises(AssertionError):
        ClassMap("bad", {"x": "?"})


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a 1HGCM82633A004352 b", ["1HGCM82633A004352"]),
        ("1HGCM82633A004352", ["1HGCM82633A004352"]),
        ("x1HGCM82633A004352", []),  # 18 long
        ("1HGCM82633A00435 é1HGCM82633A004352é", ["1HGCM82633A004352"]),
    ],
)
def test_run_region_reports_runs_of_the_given_lengths(text: str, found: list[str]) -> None:
    assert spans(RunRegion(ALNUM_MAP, 17, 17), text) == found


@pytest.mark.parametrize(
    ("region", "text", "found"),
    [
        # Widened by lead and tail.
        (TriggerRegion("-[0-9a-f]{2}-", lead=2, tail=2), "x aa-bb-cc y", ["aa-bb-cc"]),
        # Widened over the run, at most ``reach`` each way; overlapping spans merged.
        (TriggerRegion(":[0-9a-f]{0,4}:", run="0123456789abcdef:.", reach=6),
         "x 2001:db8::1 y", ["2001:db8::1"]),
        (TriggerRegion(":[0-9a-f]{0,4}:", run="0123456789abcdef:", reach=2),
         "abcdef:1:2:3:4:5:6:7:8 y", ["ef:1:2:3:4:5:6:7:8"]),
        # In a class map: the trigger and the run are written in class bytes.
        (TriggerRegion("AA_?00", SHAPES, run="A0_", reach=44),
         "iban GB82 WEST 1234 5698 7654 32, x", [" GB82 WEST 1234 5698 7654 32"]),
        (TriggerRegion("AA_?00", SHAPES), "x AB 12 34", ["AB 12"]),
    ],
)  # fmt: skip
def test_trigger_region(region: TriggerRegion, text: str, found: list[str]) -> None:
    assert spans(region, text) == found


def test_trigger_region_counts_digits_through_its_class_map() -> None:
    region = TriggerRegion("0[0_]{4,}", SHAPES)
    assert [(d, dots) for _, _, d, dots in region.spans("a 12 34 56.7 b", 0, {})] == [(6, 0)]


def test_regions_start_at_the_pass_floor_and_reuse_it() -> None:
    region = TriggerRegion("-[0-9a-f]{2}-", lead=2, tail=2)
    text = "aa-bb-cc and dd-ee-ff"
    cache: dict[str, object] = {FLOOR: 0}
    assert [text[lo:hi] for lo, hi, _, _ in region.spans(text, 10, cache)] == [
        "aa-bb-cc",
        "dd-ee-ff",
    ]
    # A later detector resuming further on gets the same (covering) spans.
    assert region.spans(text, 15, cache) is region.spans(text, 10, cache)


@pytest.mark.parametrize(
    ("text", "pos", "passes"),
    [
        ("ab 1", 0, True),
        ("ab 1", 3, True),
        ("ab 1", 4, False),
        ("1 ab", 1, False),
        ("", 0, False),
    ],
)
def test_holds_any(text: str, pos: int, passes: bool) -> None:
    assert holds_any(DIGITS)(text, pos, {}) is passes
    assert holds_any(DIGITS)(text, pos, {FLOOR: 0}) is passes


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("routing 1", True),
        ("bank_routing 1", True),
        ("ROUTING", True),
        ("prerouting", False),
        ("sin", True),
        ("sinus", False),
        ("İİİİ sin", True),  # lower-casing must not shift offsets
    ],
)
def test_word_gate(text: str, passes: bool) -> None:
    assert word_gate("routing", "sin$")(text, 0, {}) is passes


def test_word_gate_looks_back_only_as_far_as_asked() -> None:
    text = "routing " + "x" * 50
    assert word_gate("routing", back=60)(text, 55, {})
    assert not word_gate("routing", back=10)(text, 55, {})
