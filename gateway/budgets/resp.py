"""RESP2 request encoding: commands as arrays of bulk strings, built from pre-encoded parts.

Redis reads every command as ``*<argc>\\r\\n`` followed by one ``$<len>\\r\\n<bytes>\\r\\n`` per
argument. The budget store keeps the parts that rarely change (script ids, bucket keys,
limit amounts) as ready bytes and joins them with the few per-call numbers, which costs a
fraction of packing every argument anew through a generic client.
"""

from __future__ import annotations

import hashlib
from typing import Final


def bulk(data: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(data), data)


def bulk_str(text: str) -> bytes:
    return bulk(text.encode())


def bulk_int(number: int) -> bytes:
    digits = b"%d" % number
    return b"$%d\r\n%b\r\n" % (len(digits), digits)


def array_header(count: int) -> bytes:
    return b"*%d\r\n" % count


def command(*args: bytes | str | int) -> bytes:
    """A whole command from plain values (for the rare calls; hot paths join parts)."""
    parts = [array_header(len(args))]
    for arg in args:
        if isinstance(arg, bytes):
            parts.append(bulk(arg))
        elif isinstance(arg, str):
            parts.append(bulk_str(arg))
        else:
            parts.append(bulk_int(arg))
    return b"".join(parts)


_EVALSHA: Final = bulk(b"EVALSHA")
_EVAL: Final = bulk(b"EVAL")


class Script:
    """A Lua script called by SHA; its EVAL form is built only when Redis lacks the script."""

    __slots__ = ("_eval_part", "_sha_part", "sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()
        self._sha_part = _EVALSHA + bulk_str(self.sha)
        self._eval_part = _EVAL + bulk_str(source)

    def call(self, argc: int, tail: bytes) -> bytes:
        """``EVALSHA <sha> <tail>`` where ``tail`` holds ``argc`` encoded arguments
        (numkeys, the keys, then ARGV)."""
        return array_header(argc + 2) + self._sha_part + tail

    def as_eval(self, payload: bytes) -> bytes:
        """The same call as EVAL with the source (after a NOSCRIPT reply)."""
        head = payload.index(b"\r\n") + 2
        if payload[head : head + len(self._sha_part)] != self._sha_part:
            raise ValueError("not an EVALSHA call of this script")
        return payload[:head] + self._eval_part + payload[head + len(self._sha_part) :]
