"""Policy files: schema errors with their line and field, shipped policies, registry reloads."""

from __future__ import annotations

import argparse
import io
import json
import logging
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy.build import builtin_types
from gateway.policy.cli import run
from gateway.policy.config import Action
from gateway.policy.errors import PiiBlockedError, PolicyUnavailableError
from gateway.policy.files import (
    PolicyFileError,
    PolicyLoadError,
    check_directory,
    check_file,
    load_directory,
    load_file,
)
from gateway.policy.model import GuardrailMode, GuardScope, OnError, StreamProcessing
from gateway.policy.pseudonym import PseudonymState
from gateway.policy.registry import PolicyRegistry, policy_names
from tests.fixtures.processes import ROOT

POLICIES = ROOT / "policies"
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def errors_of(directory: Path, text: str, name: str = "p.yaml") -> list[tuple[int | None, str]]:
    policy, errors = check_file(write(directory, name, text))
    assert (policy is None) == bool(errors)
    return [(e.line, e.field) for e in errors]


# (file text, [(line, field)], a fragment of the first message)
ERROR_CASES = [
    pytest.param("", [(1, "(document)")], "empty", id="empty-file"),
    pytest.param("- 1\n- 2\n", [(1, "(document)")], "mapping", id="not-a-mapping"),
    pytest.param("version: 1\npii: [\n", [(3, "(yaml)")], "expected", id="yaml-syntax"),
    pytest.param("version: 1\n---\nversion: 1\n", [(2, "(yaml)")], "single", id="two-documents"),
    pytest.param("description: x\n", [(1, "version")], "missing", id="version-missing"),
    pytest.param("# c\nversion: 2\npii: {zz: 1}\n", [(2, "version")], "version 2", id="version-2"),
    pytest.param("version: '1'\n", [(1, "version")], "unsupported", id="version-string"),
    pytest.param("version: 1\nextra: 1\n", [(2, "extra")], "allowed here: version", id="top-unk"),
    pytest.param(
        """
        version: 1
        pii:
          input: true
          outptu: false
        """,
        [(4, "pii.outptu")],
        "allowed here: input, output",
        id="pii-unknown-field",
    ),
    pytest.param(
        """
        version: 1
        pii:
          input: true
          input: false
        """,
        [(4, "pii.input")],
        "first on line 3",
        id="duplicate-key",
    ),
    pytest.param("version: 1\npii:\n  input: 'yes'\n", [(3, "pii.input")], "bool", id="pii-type"),
    pytest.param(
        """
        version: 1
        pii:
          actions:
            URL: allow
            EMAILS: mask
        """,
        [(5, "pii.actions.EMAILS")],
        "did you mean EMAIL?",
        id="unknown-entity-type",
    ),
    pytest.param(
        """
        version: 1
        pii:
          actions: {PHONE: zap}
        """,
        [(3, "pii.actions.PHONE")],
        "not one of mask | pseudonymize",
        id="bad-action",
    ),
    pytest.param(
        "version: 1\npii:\n  actions: {URL: mask, NAME: mask}\n",
        [(3, "pii.actions.NAME")],
        "use a Bedrock guardrail",
        id="guardrail-only-type",
    ),
    pytest.param(
        "version: 1\npii:\n  actions: {IBAN: block}\n",
        [(3, "pii.actions.IBAN")],
        "did you mean INTERNATIONAL_BANK_ACCOUNT_NUMBER?",
        id="alias-type",
    ),
    pytest.param(
        "version: 1\npii:\n  actions: {ZZZZ: mask}\n",
        [(3, "pii.actions.ZZZZ")],
        "known types: AWS_ACCESS_KEY, AWS_SECRET_KEY, CA_SOCIAL",
        id="far-off-type",
    ),
    pytest.param(
        "version: 1\npii:\n  actions:\n    DENY_WORD: mask\n",
        [(4, "pii.actions.DENY_WORD")],
        "deny_words_action",
        id="deny-word-in-actions",
    ),
    pytest.param(
        "version: 1\npii:\n  default_action: redact\n",
        [(3, "pii.default_action")],
        "not one of",
        id="bad-default-action",
    ),
    pytest.param(
        "version: 1\npii:\n  default_action: hash\n",
        [(3, "pii.default_action")],
        "hash key",
        id="hash-without-key",
    ),
    pytest.param(
        """
        version: 1
        pii:
          custom:
            - name: EMP
              pattern: 'E[0-9]{6}'
            - name: BADGE
              pattern: 'B[0-9]+'
        """,
        [(7, "pii.custom[1].pattern")],
        "bounded repeats",
        id="unbounded-custom-pattern",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: emp_id, pattern: 'E[0-9]{6}'}\n",
        [(4, "pii.custom[0].name")],
        "UPPER_SNAKE",
        id="custom-name-case",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: EMAIL, pattern: 'E[0-9]{6}'}\n",
        [(4, "pii.custom[0].name")],
        "shadows",
        id="custom-shadows-builtin",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: A, pattern: a}\n    - {name: A, pattern: b}\n",
        [(5, "pii.custom[1].name")],
        "twice",
        id="custom-duplicate",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: A, pattern: '(a'}\n",
        [(4, "pii.custom[0].pattern")],
        "cannot be analysed",
        id="custom-bad-regex",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: A, pattern: 'a', action: zap}\n",
        [(4, "pii.custom[0].action")],
        "not one of",
        id="custom-bad-action",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - pattern: 'a'\n",
        [(4, "pii.custom[0].name")],
        "required",
        id="custom-missing-name",
    ),
    pytest.param(
        "version: 1\npii:\n  custom:\n    - {name: A, pattern: a}\n  actions: {A: block}\n",
        [(5, "pii.actions.A")],
        "custom type",
        id="custom-type-in-actions",
    ),
    pytest.param(
        "version: 1\npii:\n  deny_words: [ok, '  ']\n",
        [(3, "pii.deny_words[1]")],
        "blank",
        id="blank-deny-word",
    ),
    pytest.param(
        "version: 1\npii:\n  actions:\n    1: mask\n",
        [(3, "pii.actions")],
        "keys must be strings",
        id="non-string-key",
    ),
    pytest.param(
        """
        version: 1
        guardrail:
          id: gr-abc123
          version: 0
          mode: sideways
          trace: loud
        """,
        [
            (3, "guardrail.id"),
            (4, "guardrail.version"),
            (5, "guardrail.mode"),
            (6, "guardrail.trace"),
        ],
        "guardrail id",
        id="guardrail-fields",
    ),
    pytest.param(
        "version: 1\nguardrail:\n  id: abc\n  version: 1\n  trace: on\n",
        [(5, "guardrail.trace")],
        "quote the value",
        id="yaml-boolean-word",
    ),
    pytest.param(
        "version: 1\nguardrail:\n  version: DRAFT\n",
        [(2, "guardrail.id")],
        "required",
        id="guardrail-missing-id",
    ),
    pytest.param(
        "version: 1\nbudget:\n  on_exhausted: borrow\n",
        [(3, "budget.on_exhausted")],
        "reject | shrink",
        id="budget-bad",
    ),
    pytest.param("version: 1\nname: Not OK\n", [(2, "name")], "policy name", id="bad-name"),
]


@pytest.mark.parametrize(("text", "expected", "fragment"), ERROR_CASES)
def test_each_error_names_its_line_and_field(
    tmp_path: Path, text: str, expected: list[tuple[int, str]], fragment: str
) -> None:
    policy, errors = check_file(write(tmp_path, "p.yaml", text))
    assert policy is None
    assert [(e.line, e.field) for e in errors] == expected
    assert fragment in errors[0].message
    assert all(e.path == tmp_path / "p.yaml" for e in errors)


def test_error_text_is_path_line_field_message(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "version: 1\npii:\n  actions: {PHONE: zap}\n")
    with pytest.raises(PolicyLoadError) as caught:
        load_file(path)
    assert str(caught.value).startswith(f"{path}:3: pii.actions.PHONE: 'zap' is not one of")
    assert str(PolicyFileError(path, None, "(file)", "gone")) == f"{path}: (file): gone"


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"version: 1\ndescription: caf\xe9\n")
    assert [(e.line, e.field) for e in check_file(path)[1]] == [(2, "(file)")]


def test_every_error_in_a_file_is_reported_in_line_order(tmp_path: Path) -> None:
    text = """
        version: 1
        pii:
          deny_words: ['']
          actions: {NOPE: mask, EMAIL: zap}
          default_action: nah
        """
    assert errors_of(tmp_path, text) == [
        (3, "pii.deny_words[0]"),
        (4, "pii.actions.NOPE"),
        (4, "pii.actions.EMAIL"),
        (5, "pii.default_action"),
    ]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chosen=st.lists(st.sampled_from(sorted(builtin_types())), unique=True, max_size=8).flatmap(
        lambda names: st.tuples(
            st.just(names),
            st.lists(st.sampled_from(list(Action)), min_size=len(names), max_size=len(names)),
            st.integers(min_value=0, max_value=len(names)),
        )
    ),
)
def test_an_unknown_type_anywhere_in_actions_is_reported_on_its_own_line(
    tmp_path: Path, chosen: tuple[list[str], list[Action], int]
) -> None:
    names, actions, bad_at = chosen
    entries = [(n, a.value) for n, a in zip(names, actions, strict=True) if a is not Action.HASH]
    bad_at = min(bad_at, len(entries))
    entries.insert(bad_at, ("NOT_A_TYPE", "mask"))
    lines = ["version: 1", "pii:", "  actions:", *(f"    {n}: {a}" for n, a in entries)]
    errors = errors_of(tmp_path, "\n".join(lines) + "\n")
    assert errors == [(4 + bad_at, "pii.actions.NOT_A_TYPE")]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    actions=st.dictionaries(
        st.sampled_from(sorted(builtin_types())),
        st.sampled_from([a for a in Action if a is not Action.HASH]),
        max_size=10,
    ),
    default=st.sampled_from([a for a in Action if a is not Action.HASH]),
)
def test_a_valid_document_round_trips_into_the_redaction_config(
    tmp_path: Path, actions: dict[str, Action], default: Action
) -> None:
    document = {
        "version": 1,
        "pii": {
            "default_action": default.value,
            "actions": {k: v.value for k, v in actions.items()},
        },
    }
    policy = load_file(write(tmp_path, "p.yaml", yaml.safe_dump(document)))
    for entity in builtin_types():
        assert policy.redaction.action_for(entity) is actions.get(entity, default)


def test_a_minimal_file_is_secure_by_default(tmp_path: Path) -> None:
    policy = load_file(write(tmp_path, "bare.yaml", "version: 1\n"))
    assert policy.name == "bare"
    assert (policy.redact_input, policy.redact_output) == (True, True)
    assert policy.redactor.entity_types >= builtin_types()
    assert all(policy.redaction.action_for(t) is Action.MASK for t in builtin_types())
    assert policy.guardrail is None
    assert policy.budget_shrink is False


def test_name_field_overrides_the_file_stem(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "x.yaml", "version: 1\nname: team-a\n")).name == "team-a"


def test_hash_is_accepted_when_the_gateway_has_a_key(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "version: 1\npii:\n  actions: {EMAIL: hash}\n")
    policy = load_file(path, hash_key=b"k" * 32)
    text, _ = policy.redactor.redact(f"mail {EMAIL}")
    assert EMAIL not in text
    assert "[EMAIL:" in text


def test_custom_types_and_deny_words_reach_the_redactor(tmp_path: Path) -> None:
    text = """
        version: 1
        pii:
          default_action: allow
          custom:
            - {name: EMPLOYEE_ID, pattern: 'EMP-[0-9]{6}', action: block}
            - {name: TICKET, pattern: 'tk-[0-9]{4}', ignore_case: true}
          deny_words: [project-falcon]
          deny_words_action: mask
        """
    policy = load_file(write(tmp_path, "p.yaml", text))
    redacted, _ = policy.redactor.redact(f"Project-Falcon TK-1234 {EMAIL}")
    assert redacted == f"[DENY_WORD] [TICKET] {EMAIL}"
    with pytest.raises(PiiBlockedError):
        policy.redactor.redact("who is EMP-123456?")


def test_guardrail_settings_and_converse_config(tmp_path: Path) -> None:
    text = """
        version: 1
        guardrail:
          id: arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123
          version: 7
          stream_processing: async
          on_error: fail_open
        """
    guardrail = load_file(write(tmp_path, "p.yaml", text)).guardrail
    assert guardrail is not None
    assert (guardrail.mode, guardrail.guard) == (GuardrailMode.INLINE, GuardScope.LATEST_USER)
    assert (guardrail.stream_processing, guardrail.on_error) == (
        StreamProcessing.ASYNC,
        OnError.FAIL_OPEN,
    )
    assert guardrail.converse_config(stream=False) == {
        "guardrailIdentifier": "arn:aws:bedrock:us-east-1:123456789012:guardrail/abc123",
        "guardrailVersion": "7",
        "trace": "enabled",
    }
    assert guardrail.converse_config(stream=True)["streamProcessingMode"] == "async"


# --- the shipped policies ---------------------------------------------------------------


def test_every_shipped_policy_loads() -> None:
    policies = load_directory(POLICIES)
    assert set(policies) == {"default", "strict", "pseudonymize", "guardrail-only"}
    assert all(p.source is not None and p.source.parent == POLICIES for p in policies.values())


def test_shipped_default_masks_every_type_both_ways() -> None:
    default = load_directory(POLICIES)["default"]
    assert (default.redact_input, default.redact_output, default.guardrail) == (True, True, None)
    assert all(default.redaction.action_for(t) is Action.MASK for t in builtin_types())
    redacted, found = default.redactor.redact(f"card {CARD}, mail {EMAIL}")
    assert redacted == "card [CREDIT_DEBIT_CARD_NUMBER], mail [EMAIL]"
    assert len(found) == 2
    answer, _ = default.redactor.redact_output(f"write to {EMAIL}")
    assert answer == "write to [EMAIL]"


def test_shipped_strict_blocks_cards_and_masks_the_rest() -> None:
    strict = load_directory(POLICIES)["strict"]
    with pytest.raises(PiiBlockedError) as caught:
        strict.redactor.redact(f"pay with {CARD}")
    assert caught.value.types == ("CREDIT_DEBIT_CARD_NUMBER",)
    assert strict.redactor.redact(f"mail {EMAIL}")[0] == "mail [EMAIL]"


def test_shipped_pseudonymize_gives_values_back_in_the_answer() -> None:
    policy = load_directory(POLICIES)["pseudonymize"]
    state = PseudonymState()
    prompt, _ = policy.redactor.redact(f"reply to {EMAIL}", state)
    assert prompt == "reply to <EMAIL_1>"
    answer, _ = policy.redactor.redact_output("Sent to <EMAIL_1>.", state)
    assert answer == f"Sent to {EMAIL}."
    assert policy.budget_shrink is True


def test_shipped_guardrail_only_turns_local_redaction_off() -> None:
    policy = load_directory(POLICIES)["guardrail-only"]
    assert (policy.redact_input, policy.redact_output) == (False, False)
    assert policy.guardrail is not None
    assert policy.guardrail.mode is GuardrailMode.APPLY


# --- directories ------------------------------------------------------------------------


def test_directory_needs_a_default_policy(tmp_path: Path) -> None:
    write(tmp_path, "other.yaml", "version: 1\n")
    policies, errors = check_directory(tmp_path)
    assert set(policies) == {"other"}
    assert [(e.path, e.field) for e in errors] == [(tmp_path, "(directory)")]
    assert "default" in errors[0].message


def test_a_broken_default_is_not_also_reported_missing(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 3\n")
    assert [e.field for e in check_directory(tmp_path)[1]] == ["version"]


def test_directory_rejects_two_files_with_one_name(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "b.yaml", "version: 1\nname: default\n")
    with pytest.raises(PolicyLoadError) as caught:
        load_directory(tmp_path)
    assert [(e.path.name, e.field) for e in caught.value.errors] == [("default.yaml", "name")]


def test_directory_skips_hidden_and_other_files(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "second.yml", "version: 1\n")
    write(tmp_path, ".default.yaml", "broken: [")
    write(tmp_path, "README.md", "not yaml: [")
    (tmp_path / "..data").mkdir()
    assert set(load_directory(tmp_path)) == {"default", "second"}


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    _, errors = check_directory(tmp_path / "absent")
    assert [(e.path, e.line, e.field) for e in errors] == [
        (tmp_path / "absent", None, "(directory)")
    ]


# --- the registry -----------------------------------------------------------------------


def test_registry_refuses_an_unknown_name_and_logs_it_once_per_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "strict.yaml", "version: 1\npii: {default_action: block}\n")
    registry = PolicyRegistry.load(tmp_path)
    assert registry.get("strict").name == "strict"
    assert registry.get(None) is registry.get("default")
    with caplog.at_level(logging.WARNING, logger="gateway.policy"):
        for key_id in ("key_a", "key_b"):
            with pytest.raises(PolicyUnavailableError) as info:
                registry.get("gone", key_id=key_id, team_id="acme")
            # Fails closed: a 503 that names nothing of the configuration.
            assert (info.value.status, info.value.code) == (503, "policy_unavailable")
            assert "gone" not in info.value.message
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            logging.ERROR,
            "unknown policy gone named by key key_a of team acme: its requests are refused "
            "(503 policy_unavailable) until a policy file defines it",
        )
    ]
    assert caplog.records[0].__dict__["key_id"] == "key_a"


def test_reload_logs_removed_policies_and_refuses_them_from_then_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "strict.yaml", "version: 1\npii: {default_action: block}\n")
    registry = PolicyRegistry.load(tmp_path)
    (tmp_path / "strict.yaml").unlink()
    with caplog.at_level(logging.INFO, logger="gateway.policy"):
        assert registry.reload() is True
    assert "policy strict was removed by the reload" in caplog.text
    with pytest.raises(PolicyUnavailableError):
        registry.get("strict")
    write(tmp_path, "strict.yaml", "version: 1\npii: {default_action: block}\n")
    assert registry.reload() is True
    assert registry.get("strict").name == "strict"


def test_policy_names_are_the_directorys_or_only_the_builtin_default(tmp_path: Path) -> None:
    assert policy_names(None) == {"default"}
    assert policy_names(POLICIES) == {"default", "strict", "pseudonymize", "guardrail-only"}
    # A file using the hash action loads without the gateway's hash secret.
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "hashed.yaml", "version: 1\npii: {default_action: hash}\n")
    assert policy_names(tmp_path) == {"default", "hashed"}
    write(tmp_path, "bad.yaml", "version: 1\npii: {input: maybe}\n")
    with pytest.raises(PolicyLoadError):
        policy_names(tmp_path)


def test_registry_load_fails_on_any_bad_file(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    write(tmp_path, "bad.yaml", "version: 1\npii: {input: maybe}\n")
    with pytest.raises(PolicyLoadError) as caught:
        PolicyRegistry.load(tmp_path)
    assert [(e.path.name, e.line, e.field) for e in caught.value.errors] == [
        ("bad.yaml", 2, "pii.input")
    ]


def test_reload_keeps_the_old_set_on_a_bad_file_and_swaps_on_a_good_one(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    registry = PolicyRegistry.load(tmp_path)
    before = registry.get("default")

    write(tmp_path, "default.yaml", "version: 1\npii: {default_action: block}\n")
    write(tmp_path, "team.yaml", "version: 1\npii: {actions: {NOPE: mask}}\n")
    assert registry.reload() is False
    assert registry.names == {"default"}
    assert registry.get("default") is before  # the valid edit of default.yaml waits too

    write(tmp_path, "team.yaml", "version: 1\n")
    assert registry.reload() is True
    assert registry.names == {"default", "team"}
    assert registry.get("default") is not before
    assert registry.get("default").redaction.default_action is Action.BLOCK


def test_reload_rejects_removing_the_default(tmp_path: Path) -> None:
    write(tmp_path, "default.yaml", "version: 1\n")
    registry = PolicyRegistry.load(tmp_path)
    (tmp_path / "default.yaml").rename(tmp_path / "default.yaml.bak")
    assert registry.reload() is False
    assert registry.names == {"default"}


# --- the check command ------------------------------------------------------------------


def check(*paths: Path, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run(argparse.Namespace(paths=list(paths), json=as_json), out)
    return code, out.getvalue()


def test_check_reports_ok_with_the_policy_count() -> None:
    assert check(POLICIES) == (0, "ok: 4 policies\n")
    assert check(POLICIES / "strict.yaml", POLICIES / "default.yaml") == (0, "ok: 2 policies\n")


def test_check_prints_one_line_per_error_and_fails(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "version: 1\npii:\n  actions: {EMAILS: mask}\n")
    code, out = check(POLICIES / "default.yaml", bad)
    assert code == 1
    assert (
        out == f"{bad}:3: pii.actions.EMAILS: unknown entity type 'EMAILS'; did you mean EMAIL?\n"
    )


def test_check_accepts_hash_actions(tmp_path: Path) -> None:
    # The gateway's key is a secret the check does not read; the rest of the file is checked.
    path = write(tmp_path, "h.yaml", "version: 1\npii: {default_action: hash}\n")
    assert check(path) == (0, "ok: 1 policies\n")


def test_check_json_output(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "version: 1\nbudget: {on_exhausted: borrow}\n")
    code, out = check(POLICIES / "strict.yaml", bad, as_json=True)
    assert code == 1
    assert json.loads(out) == {
        "ok": False,
        "policies": ["strict"],
        "errors": [
            {
                "path": str(bad),
                "line": 2,
                "field": "budget.on_exhausted",
                "message": "'borrow' is not one of reject | shrink",
            }
        ],
    }
