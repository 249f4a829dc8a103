"""Streaming output filter: equal to whole-text redaction for every chunking, bounded
hold-back, placeholders restored across chunk boundaries."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.policy import (
    Action,
    CustomPattern,
    PiiBlockedError,
    PseudonymState,
    RedactionConfig,
    Redactor,
)
from gateway.policy.builtin import URL_CAP
from gateway.policy.context import ROW_REACH, TABLE_REACH
from gateway.policy.cursor import KEEP_LEFT, TRIM_SLACK

MASK = Redactor()
PSEUDO = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
CUSTOM = Redactor(
    RedactionConfig(
        custom=[
            CustomPattern("TICKET", r"\bT-[0-9]{2,6}(?=[ ]ok[.!])"),  # looks past its match
            CustomPattern("CODE", r"(?<=code: )[a-z]{3,8}"),
        ],
        deny_words=["Project Falcon", "acme"],
    )
)

# Values every detector finds on its own, plus look-alikes it must not.
PII = [
    "bob.smith@example.com", "+1 (415) 555-0132", "020 7946 0958", "+49 30 12345678",
    "123-45-6789", "4111 1111 1111 1111", "378282246310005", "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000", "192.168.10.4", "2001:db8::1", "00:1A:2B:3C:4D:5E",
    "001a.2b3c.4d5e", "https://example.com/a/b?q=1", "www.example.org/x", "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AB123456C", "1HGCM82633A004352",
    "SSN: 123456789", "phone 4155550132", "NHS 943 476 5919", "routing 021000021",
]  # fmt: skip
LOOKALIKES = [
    "v1.2.3.4", "2024-01-02T10:20:30Z", "10:20:30", "550e8400-e29b-41d4-a716-446655440000",
    "ORD-2024-558812", "4111 1111 1111 1112", "report_2024-01-02.csv", "icon@2x.png",
    "1.3.6.1.4.1", "3f2a9c1b0d4e5f60718293a4b5c6d7e8f9012345", "<EMAIL_1>", "<PHONE_2>",
    "std::vector", "==1.2.3.4", "(555)", "+", "@", "://", "www.", "0", "12", "-",
]  # fmt: skip
GLUE = st.text(alphabet=" ,.;:()\n\t-_/@+<>abcXYZ019", max_size=6)
PIECES = st.one_of(st.sampled_from(PII), st.sampled_from(LOOKALIKES), GLUE)
TEXTS = st.lists(PIECES, max_size=14).map("".join)


def cut(text: str, sizes: list[int]) -> list[str]:
    out, i, k = [], 0, 0
    while i < len(text):
        n = sizes[k % len(sizes)] if sizes else 1
        out.append(text[i : i + n])
        i += n
        k += 1
    return out


def stream(redactor: Redactor, parts: list[str], state: PseudonymState, restore: bool) -> str:
    filt = redactor.output_filter(state, restore=restore)
    out = []
    for part in parts:
        out.append(filt.feed(part))
        assert filt.held <= redactor.hold_back
    out.append(filt.flush())
    assert filt.held == 0
    return "".join(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, sizes=st.lists(st.integers(1, 9), max_size=6))
def test_stream_equals_whole_text_for_every_chunking(text: str, sizes: list[int]) -> None:
    whole, _ = MASK.redact(text)
    assert stream(MASK, cut(text, sizes), PseudonymState(), restore=False) == whole


CUSTOM_TEXTS = st.lists(
    st.one_of(
        st.sampled_from(["T-1234 ok.", "T-99 ok!", "T-5 ok.", "code: abcdef", "project falcon",
                         "ACME", "acmes", "Project  Falcon", "T-123456 no"]),
        PIECES,
    ),
    max_size=12,
).map("".join)  # fmt: skip


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=CUSTOM_TEXTS, sizes=st.lists(st.integers(1, 9), max_size=6))
def test_custom_patterns_and_deny_words_stream_like_whole_text(text: str, sizes: list[int]) -> None:
    whole, _ = CUSTOM.redact(text)
    assert stream(CUSTOM, cut(text, sizes), PseudonymState(), restore=False) == whole


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS)
def test_one_character_chunks_equal_whole_text(text: str) -> None:
    whole, _ = MASK.redact(text)
    assert stream(MASK, list(text), PseudonymState(), restore=False) == whole


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, sizes=st.lists(st.integers(1, 9), max_size=6))
# The output stage issues <PHONE_2> for the invented phone before the restore stage reaches
# the literal <PHONE_2>, which whole-text restore leaves alone.
@example(text="+1 (415) 555-01322001:db8::1<PHONE_2>", sizes=[])
@example(text="+1 (415) 555-01322001:db8::1<PHONE_2>", sizes=[64])
@example(text="020 7946 0958 x <PHONE_2> 020 7946 0958 <PHONE_2>", sizes=[3])
def test_restoring_stream_equals_whole_text_restore(text: str, sizes: list[int]) -> None:
    def seeded() -> PseudonymState:
        state = PseudonymState()
        PSEUDO.redact("seed bob.smith@example.com 192.168.10.4 +1 (415) 555-0132", state)
        return state

    whole, _ = PSEUDO.redact_output(text, seeded())
    assert stream(PSEUDO, cut(text, sizes), seeded(), restore=True) == whole


# Tables whose headers label (or do not label) the cells below them.
HEADERS = ["nhs_number", "NHS No.", "phone", "routing", "sin", "ssn", "swift", "ref", "id"]
CELLS = [
    "943 476 5919", "9434765919", "4010232137", "021000021", "130 692 544", "123456789",
    "DEUTDEFF500", "4155550132", "x", "Bob", '"a, b"', "", " 021000021",
]  # fmt: skip


@st.composite
def tables(draw: st.DrawFn) -> str:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    header = delimiter.join(draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=4)))
    rows = draw(st.lists(st.lists(st.sampled_from(CELLS), min_size=1, max_size=5), max_size=5))
    lines = [header, *(delimiter.join(row) for row in rows)]
    before = draw(st.sampled_from(["", "notes\n", "a,b\n", "\n"]))
    return before + "\n".join(lines) + draw(st.sampled_from(["", "\n", "\nend"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=tables(), sizes=st.lists(st.integers(1, 9), max_size=6))
def test_tables_stream_like_whole_text(text: str, sizes: list[int]) -> None:
    whole, _ = MASK.redact(text)
    assert stream(MASK, cut(text, sizes), PseudonymState(), restore=False) == whole


def test_a_trimmed_window_keeps_what_context_reads() -> None:
    # Long enough that the stream trims its window many times.
    assert len(LONG_TEXT) > 3 * (KEEP_LEFT + TRIM_SLACK)
    rng = random.Random(11)
    for _ in range(3):
        parts, i = [], 0
        while i < len(LONG_TEXT):
            n = rng.choice((1, 2, 3, 5, 8, 13, 40))
            parts.append(LONG_TEXT[i : i + n])
            i += n
        whole, _ = MASK.redact(LONG_TEXT)
        assert stream(MASK, parts, PseudonymState(), restore=False) == whole
    # Both stages of a restoring stream trim too: the model echoing what it saw gives the
    # client its own text back.
    state = PseudonymState()
    sent, _ = PSEUDO.redact(LONG_TEXT, state)
    assert stream(PSEUDO, cut(sent, [1, 7, 40]), state, restore=True) == LONG_TEXT


LONG_TEXT = "".join(
    f"Row {i}: call 020 7946 0958 or mail a{i}@example.com, ticket {4155550132 + i}.\n"
    + ("id,nhs_number,phone\n" if i % 17 == 0 else "")
    + f"{i},943 476 5919,{i}\n"
    for i in range(320)
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    gap=st.integers(-40, 40),
    row=st.integers(-40, 40),
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
)
def test_context_at_the_edge_of_its_reach_streams_like_whole_text(
    gap: int, row: int, sizes: list[int]
) -> None:
    # The header TABLE_REACH + gap characters above the row, the value ROW_REACH + row
    # characters into it, after enough text for the stream to have trimmed its window.
    filler = "lorem ipsum dolor sit amet\n" * 300
    header = "id,nhs\n"
    rows = "1,x\n" * ((TABLE_REACH + gap - len(header)) // 4)
    pad = "a" * max(0, ROW_REACH + row - 1)
    text = filler + header + rows + pad + ",9434765919\n" + "1,9434765919\n"
    whole, _ = MASK.redact(text)
    assert stream(MASK, cut(text, sizes), PseudonymState(), restore=False) == whole


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.one_of(st.sampled_from(PII), st.text("abc xyz", max_size=5)), max_size=10)
)
def test_redacted_text_contains_no_detected_value(pieces: list[str]) -> None:
    text = " ; ".join(pieces)
    out, found = MASK.redact(text)
    for r in found:
        assert text[r.start : r.end] not in out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, sizes=st.lists(st.integers(1, 9), max_size=6))
def test_pseudonymise_then_restore_is_identity_for_the_client(text: str, sizes: list[int]) -> None:
    state = PseudonymState()
    sent, _ = PSEUDO.redact(text, state)
    # The model echoes what it saw; the client must get its own text back, streamed too.
    assert PSEUDO.redact_output(sent, state)[0] == text
    assert stream(PSEUDO, cut(sent, sizes), state, restore=True) == text


def test_placeholder_split_across_one_char_chunks_is_restored() -> None:
    state = PseudonymState()
    sent, _ = PSEUDO.redact("write to bob.smith@example.com", state)
    assert sent == "write to <EMAIL_1>"
    echoed = "Done: <EMAIL_1>."
    assert stream(PSEUDO, list(echoed), state, restore=True) == "Done: bob.smith@example.com."


def test_entity_split_into_single_characters_never_leaks() -> None:
    text = "card 4111 1111 1111 1111 and mail bob.smith@example.com end"
    filt = MASK.output_filter(PseudonymState(), restore=False)
    released = ""
    for ch in text:
        released += filt.feed(ch)
        for secret in ("4111", "1111 1111", "bob.smith", "example.com"):
            assert secret not in released
    released += filt.flush()
    assert released == "card [CREDIT_DEBIT_CARD_NUMBER] and mail [EMAIL] end"


def test_hold_back_is_small_on_prose() -> None:
    filt = MASK.output_filter(PseudonymState(), restore=False)
    held = []
    for word in ("The quick brown fox jumps over the lazy dog " * 20).split():
        filt.feed(word + " ")
        held.append(filt.held)
    assert max(held) <= 1  # only a trailing word can still grow into an entity


def test_overlong_url_streams_with_bounded_hold_back() -> None:
    text = "x https://example.com/" + "a" * (4 * URL_CAP) + " y"
    rng = random.Random(3)
    parts, i = [], 0
    while i < len(text):
        n = rng.randint(1, 40)
        parts.append(text[i : i + n])
        i += n
    assert stream(MASK, parts, PseudonymState(), restore=False) == "x [URL] y"


def test_block_raises_mid_stream_naming_the_type() -> None:
    redactor = Redactor(RedactionConfig(actions={"US_SOCIAL_SECURITY_NUMBER": Action.BLOCK}))
    filt = redactor.output_filter(PseudonymState(), restore=False)
    with pytest.raises(PiiBlockedError) as info:
        for ch in "your ssn is 123-45-6789 right?":
            filt.feed(ch)
        filt.flush()
    assert info.value.types == ("US_SOCIAL_SECURITY_NUMBER",)
