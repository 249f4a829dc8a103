"""RESP request encoding: what we send must be exactly what a RESP parser reads back."""

from __future__ import annotations

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.budgets.resp import Script, array_header, bulk, bulk_int, bulk_str, command

args = st.lists(
    st.one_of(st.binary(max_size=40), st.text(max_size=20), st.integers(-(10**15), 10**15)),
    min_size=1,
    max_size=12,
)


def as_bytes(value: bytes | str | int) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(value)).encode()


def parse(data: bytes) -> object:
    reader = hiredis.Reader()
    reader.feed(data)
    parsed = reader.gets()
    assert reader.gets() is False, "bytes left over"
    return parsed


@given(args)
def test_a_command_reads_back_as_its_arguments(values: list[bytes | str | int]) -> None:
    assert parse(command(*values)) == [as_bytes(v) for v in values]


@given(st.lists(st.integers(0, 10**13), min_size=1, max_size=8), st.text(max_size=30))
def test_joined_parts_read_back_like_a_whole_command(numbers: list[int], text: str) -> None:
    joined = array_header(len(numbers) + 2) + bulk(b"CMD") + bulk_str(text)
    joined += b"".join(bulk_int(n) for n in numbers)
    assert parse(joined) == [b"CMD", text.encode(), *(str(n).encode() for n in numbers)]


def test_bulk_strings_carry_their_length_in_bytes_not_characters() -> None:
    assert bulk_str("é") == b"$2\r\n\xc3\xa9\r\n"
    assert bulk_int(-12) == b"$3\r\n-12\r\n"


def test_a_script_call_and_its_eval_form() -> None:
    script = Script("return ARGV[1]")
    tail = bulk_int(1) + bulk_str("k") + bulk_str("v")
    call = script.call(3, tail)
    assert parse(call) == [b"EVALSHA", script.sha.encode(), b"1", b"k", b"v"]
    assert parse(script.as_eval(call)) == [b"EVAL", b"return ARGV[1]", b"1", b"k", b"v"]
    assert len(script.sha) == 40


def test_as_eval_refuses_a_call_of_another_script() -> None:
    call = Script("return 1").call(1, bulk_int(0))
    with pytest.raises(ValueError, match="not an EVALSHA"):
        Script("return 2").as_eval(call)
