"""Actions, configuration and the whole-text redaction API."""

from __future__ import annotations

import re

import pytest

from gateway.errors import InvalidRequestError
from gateway.policy import (
    DENY_WORD,
    Action,
    CustomPattern,
    PiiBlockedError,
    PolicyConfigError,
    PseudonymState,
    RedactionConfig,
    Redactor,
)
from gateway.policy.builtin import URL_CAP

TEXT = "Mail bob@example.com or alice@example.org, then bob@example.com again; 10.0.0.7."


def test_mask_is_the_default() -> None:
    out, found = Redactor().redact(TEXT)
    assert out == "Mail [EMAIL] or [EMAIL], then [EMAIL] again; [IP_ADDRESS]."
    assert [(r.type, r.action) for r in found] == [("EMAIL", Action.MASK)] * 3 + [
        ("IP_ADDRESS", Action.MASK)
    ]


def test_pseudonyms_are_stable_per_value_and_numbered_per_type() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    state = PseudonymState()
    out, _ = redactor.redact(TEXT, state)
    assert out == "Mail <EMAIL_1> or <EMAIL_2>, then <EMAIL_1> again; <IP_ADDRESS_1>."
    # A later message of the same request keeps the numbering.
    again, _ = redactor.redact("cc alice@example.org", state)
    assert again == "cc <EMAIL_2>"


def test_restore_brings_back_values_and_leaves_unknown_placeholders() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    state = PseudonymState()
    redactor.redact(TEXT, state)
    answer = "Sure, <EMAIL_2> and <EMAIL_1>; <EMAIL_9> is not ours."
    out, _ = redactor.redact_output(answer, state)
    assert out == "Sure, alice@example.org and bob@example.com; <EMAIL_9> is not ours."


def test_output_keeps_clients_values_and_pseudonymizes_new_ones() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    state = PseudonymState()
    redactor.redact("me: bob@example.com", state)
    out, found = redactor.redact_output("bob@example.com and eve@evil.example", state)
    assert out == "bob@example.com and <EMAIL_2>"
    assert [(r.type, r.start) for r in found] == [("EMAIL", 20)]


def test_literal_placeholder_in_input_survives_the_round_trip() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    state = PseudonymState()
    text = "template <EMAIL_1> for bob@example.com"
    sent, _ = redactor.redact(text, state)
    assert "bob@example.com" not in sent
    assert sent.count("<EMAIL_") == 2
    back, _ = redactor.redact_output(sent, state)
    assert back == text


def test_hash_is_keyed_stable_and_type_tagged() -> None:
    a = Redactor(RedactionConfig(default_action=Action.HASH, hash_key=b"k1"))
    b = Redactor(RedactionConfig(default_action=Action.HASH, hash_key=b"k2"))
    out1, _ = a.redact("x bob@example.com y bob@example.com")
    out2, _ = b.redact("x bob@example.com")
    tags = re.findall(r"\[EMAIL:([0-9a-f]{12})\]", out1)
    assert len(tags) == 2 and tags[0] == tags[1]
    assert tags[0] not in out2  # another key gives another digest
    assert "bob" not in out1


def test_hash_without_key_is_a_config_error() -> None:
    with pytest.raises(PolicyConfigError, match="hash_key"):
        Redactor(RedactionConfig(actions={"EMAIL": Action.HASH}))


def test_block_names_types_never_values() -> None:
    redactor = Redactor(
        RedactionConfig(actions={"US_SOCIAL_SECURITY_NUMBER": Action.BLOCK, "EMAIL": Action.BLOCK})
    )
    with pytest.raises(PiiBlockedError) as info:
        redactor.redact("ssn 123-45-6789, mail bob@example.com, ip 10.0.0.1")
    err = info.value
    assert isinstance(err, InvalidRequestError)
    assert err.status == 400 and err.code == "pii_blocked"
    assert err.types == ("EMAIL", "US_SOCIAL_SECURITY_NUMBER")
    body = str(err.to_dict())
    assert "EMAIL" in body and "123-45-6789" not in body and "bob@" not in body


def test_allow_turns_a_detector_off_so_inner_entities_are_still_found() -> None:
    redactor = Redactor(RedactionConfig(actions={"URL": Action.ALLOW}))
    out, _ = redactor.redact("see https://10.0.0.1/x?to=bob@example.com")
    assert out == "see https://[IP_ADDRESS]/x?to=[EMAIL]"
    assert "URL" not in redactor.entity_types


def test_longest_leftmost_wins_overlaps() -> None:
    out, found = Redactor().redact("go http://10.0.0.1:8080/a now")
    assert out == "go [URL] now"
    assert [r.type for r in found] == ["URL"]


def test_overlong_url_is_masked_whole_whatever_the_action() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    url = "https://example.com/" + "a" * (3 * URL_CAP) + "?x=1"
    out, found = redactor.redact(f"link {url}. done", PseudonymState())
    assert out == "link [URL]. done"
    assert {r.action for r in found} == {Action.MASK}
    assert found[0].start == 5 and found[-1].end == 5 + len(url)


def test_custom_patterns_and_deny_words() -> None:
    redactor = Redactor(
        RedactionConfig(
            actions={"EMPLOYEE_ID": Action.PSEUDONYMIZE, DENY_WORD: Action.MASK},
            custom=[CustomPattern("EMPLOYEE_ID", r"\bEMP-[0-9]{4,6}\b")],
            deny_words=["Project Falcon", "acme"],
        )
    )
    out, _ = redactor.redact("EMP-12345 works on project falcon at ACME, not acmes.")
    assert out == "<EMPLOYEE_ID_1> works on [DENY_WORD] at [DENY_WORD], not acmes."


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (RedactionConfig(custom=[CustomPattern("X_ID", r"X-\d+")]), "bounded"),
        (RedactionConfig(custom=[CustomPattern("lower", r"a{1,3}")]), "UPPER_SNAKE"),
        (RedactionConfig(custom=[CustomPattern("EMAIL", r"a{1,3}")]), "shadows"),
        (
            RedactionConfig(custom=[CustomPattern("A", "a{1,2}"), CustomPattern("A", "b")]),
            "unique",
        ),
        (RedactionConfig(custom=[CustomPattern("B", "(")]), "cannot be analysed"),
        (RedactionConfig(deny_words=["ok", "  "]), "blank"),
        (RedactionConfig(custom=[CustomPattern("C", "a(?=" + "b" * 300 + ")")]), "look at"),
        (RedactionConfig(custom=[CustomPattern("C", "(?<=" + "b" * 70 + ")a")]), "look-behind"),
    ],
)
def test_bad_configs_are_rejected_at_construction(config: RedactionConfig, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=message):
        Redactor(config)


def test_state_repr_shows_counts_not_values() -> None:
    redactor = Redactor(RedactionConfig(default_action=Action.PSEUDONYMIZE))
    state = PseudonymState()
    redactor.redact(TEXT, state)
    assert "example" not in repr(state) and "EMAIL" in repr(state)
    assert len(state) == 3


def test_findings_hold_no_values() -> None:
    _, found = Redactor().redact(TEXT)
    assert all("example" not in repr(r) for r in found)


def test_hold_back_bound_is_reported() -> None:
    assert Redactor().hold_back == 8 + URL_CAP + 4
