"""Keyed hashing of secrets, the hashing-secret settings, and generated secrets."""

from __future__ import annotations

import base64
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.keys.hashing import (
    HashSecretError,
    KeyHasher,
    generate_secret,
    secret_hint,
)

SECRET = b"s" * 32


def test_hash_is_hmac_sha256_known_answer() -> None:
    # RFC 4231 test case 6: a 131-byte key (longer than the block size).
    hasher = KeyHasher(b"\xaa" * 131)
    digest = hasher.hash("Test Using Larger Than Block-Size Key - Hash Key First").value
    assert digest == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "GATEWAY_KEY_HASH_SECRET is not set"),
        ({"GATEWAY_KEY_HASH_SECRET": ""}, "GATEWAY_KEY_HASH_SECRET is not set"),
        ({"GATEWAY_KEY_HASH_SECRET": "x" * 31}, "GATEWAY_KEY_HASH_SECRET must be at least 32"),
        (
            {"GATEWAY_KEY_HASH_SECRET": "x" * 32, "GATEWAY_KEY_HASH_SECRET_PREVIOUS": "short"},
            "GATEWAY_KEY_HASH_SECRET_PREVIOUS must be at least 32",
        ),
    ],
)
def test_weak_or_missing_secrets_are_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(HashSecretError, match=message):
        KeyHasher.from_environ(environ)


def test_from_environ_reads_both_secrets() -> None:
    hasher = KeyHasher.from_environ(
        {"GATEWAY_KEY_HASH_SECRET": "n" * 32, "GATEWAY_KEY_HASH_SECRET_PREVIOUS": "o" * 40}
    )
    assert hasher.hash("sk-x") == KeyHasher(b"n" * 32).hash("sk-x")
    previous = hasher.previous_hash("sk-x")
    assert previous == KeyHasher(b"o" * 40).hash("sk-x")


def test_versions_identify_secrets_without_revealing_them() -> None:
    a, b = KeyHasher(b"a" * 32), KeyHasher(b"b" * 32)
    assert a.version != b.version
    assert a.version == KeyHasher(b"a" * 32).version
    assert len(a.version) == 12


def test_no_previous_hash_without_a_previous_secret() -> None:
    assert KeyHasher(SECRET).previous_hash("sk-x") is None
    # The same secret twice is no rotation: no pointless second lookup.
    assert KeyHasher(SECRET, previous=SECRET).previous_hash("sk-x") is None


def test_secrets_carry_at_least_128_bits() -> None:
    secrets_made = {generate_secret() for _ in range(1000)}
    assert len(secrets_made) == 1000
    for secret in secrets_made:
        assert secret.startswith("sk-")
        body = secret[3:]
        assert set(body) <= set(string.ascii_letters + string.digits + "-_")
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        assert len(raw) * 8 >= 128
        assert len(raw) == 32


def test_hint_shows_only_the_last_four_characters() -> None:
    assert secret_hint("sk-abcdefghijklmnop") == "sk-...mnop"


# Any text, lone surrogates included (st.characters() leaves them out by default).
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])))


@given(ANY_TEXT, ANY_TEXT)
def test_any_text_hashes_and_distinct_texts_differ(first: str, second: str) -> None:
    hasher = KeyHasher(SECRET)
    # Lone surrogates included: a hostile header hashes to a miss instead of raising.
    one, two = hasher.hash(first), hasher.hash(second)
    assert len(one.value) == 64
    assert (one == two) == (first == second)
