"""Metrics: closed label sets, every family with its type and labels, values, exposition format."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import botocore.session
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import multiprocess
from prometheus_client.parser import text_string_to_metric_families

from gateway.bedrock.errors import map_bedrock_error, upstream_timeout, upstream_unreachable
from gateway.bedrock.eventstream import PROTOCOL_ERROR_CODE
from gateway.bedrock.stream import MALFORMED_OUTPUT_CODE
from gateway.metrics import CONTENT_TYPE, Metrics, WorkerFilesCollector
from gateway.metrics_labels import (
    OTHER,
    UPSTREAM_ERRORS,
    CappedLabel,
    ClosedLabel,
    guardrail_action,
    guardrail_source,
    status_class,
)
from gateway.metrics_multiproc import MULTIPROC_ENV, prepare_multiprocess_dir
from gateway.metrics_workers import live_gauge_pids, pid_alive

MODELS = ("claude-3-haiku", "claude-sonnet")

# (family name as the parser reports it, type, label names) — the contract in metrics_names.md.
FAMILIES = [
    ("gateway_requests", "counter", {"model", "team", "stream", "status_class"}),
    ("gateway_request_duration_seconds", "histogram", {"model", "stream"}),
    ("gateway_time_to_first_token_seconds", "histogram", {"model"}),
    ("gateway_upstream_duration_seconds", "histogram", {"model", "operation"}),
    ("gateway_overhead_seconds", "histogram", {"stream"}),
    ("gateway_tokens", "counter", {"model", "team", "kind"}),
    ("gateway_budget_rejections", "counter", {"team", "reason"}),
    ("gateway_budget_limit_tokens", "gauge", {"team", "window"}),
    ("gateway_budget_remaining_tokens", "gauge", {"team", "window"}),
    ("gateway_guardrail_interventions", "counter", {"policy", "source", "action"}),
    ("gateway_pii_redactions", "counter", {"entity_type", "direction", "action"}),
    ("gateway_upstream_errors", "counter", {"model", "error"}),
    ("gateway_upstream_retries", "counter", {"model"}),
    ("gateway_in_flight_requests", "gauge", set()),
    ("gateway_active_streams", "gauge", set()),
    ("gateway_build_info", "gauge", {"version", "python"}),
]


def scrape(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a render, keyed by (sample name, labels)."""
    body, _ = metrics.render()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples[(name, frozenset(labels.items()))]


def populated() -> Metrics:
    m = Metrics(MODELS, team_cap=3)
    m.record_request(
        model="claude-3-haiku",
        team="t1",
        stream=True,
        status=200,
        duration_s=2.0,
        upstream_s=1.9998,
    )
    m.record_tokens(
        model="claude-3-haiku",
        team="t1",
        input_tokens=10,
        output_tokens=20,
        cache_read_tokens=3,
        cache_write_tokens=4,
    )
    m.record_ttft("claude-3-haiku", 0.3)
    m.record_upstream("claude-3-haiku", "converse_stream", 1.9)
    m.record_upstream_error("claude-3-haiku", "timeout")
    m.record_retry("claude-3-haiku", 2)
    m.record_budget_rejection("t2", "insufficient_quota")
    m.set_budget("t1", "day", limit=1000, remaining=250)
    m.record_guardrail("default", "input", "blocked")
    m.record_pii("EMAIL", "request", "mask", 2)
    m.request_started()
    m.stream_started()
    return m


# -- label normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, "2xx"), (299, "2xx"), (400, "4xx"), (404, "4xx"), (429, "4xx"), (499, "4xx"),
     (500, "5xx"), (502, "5xx"), (504, "5xx")],
)  # fmt: skip
def test_status_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-3-haiku", "claude-3-haiku"),
        ("claude-sonnet", "claude-sonnet"),
        ("gpt-4o", OTHER),
        ("CLAUDE-3-HAIKU", OTHER),
        ("", OTHER),
        ("sk-live-secret-key", OTHER),
        ("tell me about my medical history", OTHER),
    ],
)
def test_model_label_is_a_routing_name_or_other(model: str, expected: str) -> None:
    assert Metrics(MODELS).model_label(model) == expected


def test_team_cap_keeps_first_teams_and_folds_the_rest() -> None:
    m = Metrics(MODELS, team_cap=2)
    seen = [m.team_label(t) for t in ("a", "b", "c", "a", "d", "b")]
    assert seen == ["a", "b", OTHER, "a", OTHER, "b"]


@pytest.mark.parametrize(
    ("cap", "seed", "values", "expected"),
    [
        (0, (), ("a",), (OTHER,)),
        (1, ("seeded",), ("a", "seeded"), (OTHER, "seeded")),
        (3, (), ("", "x" * 129, "ok"), (OTHER, OTHER, "ok")),
        (2, ("a", "b", "c"), ("c", "a"), (OTHER, "a")),
    ],
)
def test_capped_label_table(
    cap: int, seed: tuple[str, ...], values: tuple[str, ...], expected: tuple[str, ...]
) -> None:
    label = CappedLabel(cap, seed)
    assert tuple(label(v) for v in values) == expected
    assert len(label) <= cap


@given(st.lists(st.text(max_size=20), max_size=300), st.integers(min_value=0, max_value=20))
def test_capped_label_never_exceeds_cap(values: list[str], cap: int) -> None:
    label = CappedLabel(cap)
    out = [label(v) for v in values]
    assert len(set(out) - {OTHER}) <= cap
    assert all(o in (v, OTHER) for o, v in zip(out, values, strict=True))
    # Stable: a value keeps the label it got the first time.
    first: dict[str, str] = {}
    for v, o in zip(values, out, strict=True):
        assert first.setdefault(v, o) == o


def test_capped_label_rejects_negative_cap() -> None:
    with pytest.raises(ValueError, match="cap"):
        CappedLabel(-1)


@pytest.mark.parametrize(
    ("normaliser", "raw", "expected"),
    [
        (guardrail_source(), "input", "input"),
        (guardrail_source(), "OUTPUT", "output"),
        (guardrail_source(), "sideways", OTHER),
        (guardrail_action(), "BLOCKED", "blocked"),
        (guardrail_action(), "ANONYMIZED", "anonymized"),
        (guardrail_action(), "GUARDRAIL_INTERVENED", "intervened"),
        (guardrail_action(), "NONE", OTHER),
    ],
)
def test_closed_label_aliases(normaliser: ClosedLabel, raw: str, expected: str) -> None:
    assert normaliser(raw) == expected


def test_closed_label_alias_must_name_a_member() -> None:
    with pytest.raises(ValueError, match="not in the set"):
        ClosedLabel(("a",), {"A": "b"})


def _bedrock_error_codes() -> set[str]:
    """Every error a Bedrock operation we call can return, per botocore's service model."""
    model = botocore.session.get_session().get_service_model("bedrock-runtime")
    codes: set[str] = set()
    for op in ("Converse", "ConverseStream", "ApplyGuardrail"):
        codes.update(shape.name for shape in model.operation_model(op).error_shapes)
    stream = model.operation_model("ConverseStream").output_shape.members["stream"]
    codes.update(n for n, s in stream.members.items() if s.metadata.get("exception"))
    return codes


def test_upstream_error_set_covers_every_mapped_bedrock_error() -> None:
    produced = {map_bedrock_error(code, "m").code for code in _bedrock_error_codes()}
    produced |= {map_bedrock_error(None, "m", status).code for status in (400, 408, 429, 500, 503)}
    produced |= {
        upstream_timeout("x").code,
        upstream_unreachable().code,
        PROTOCOL_ERROR_CODE,
        MALFORMED_OUTPUT_CODE,
    }
    assert produced <= set(UPSTREAM_ERRORS), produced - set(UPSTREAM_ERRORS)


# -- families, types, values ----------------------------------------------------------------


def test_every_family_present_with_its_type_and_labels() -> None:
    body, content_type = populated().render()
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert content_type == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
    assert sorted(families) == sorted(name for name, _, _ in FAMILIES)
    for name, kind, labels in FAMILIES:
        family = families[name]
        assert family.type == kind, name
        assert family.samples, name
        for sample in family.samples:
            assert set(sample.labels) - {"le"} == labels, (name, sample.labels)


def test_recorded_values_appear_in_the_scrape() -> None:
    s = scrape(populated())
    req = {"model": "claude-3-haiku", "team": "t1", "stream": "true"}
    assert value(s, "gateway_requests_total", **req, status_class="2xx") == 1
    assert value(s, "gateway_requests_total", **req, status_class="5xx") == 0
    tok = {"model": "claude-3-haiku", "team": "t1"}
    assert value(s, "gateway_tokens_total", **tok, kind="input") == 10
    assert value(s, "gateway_tokens_total", **tok, kind="output") == 20
    assert value(s, "gateway_tokens_total", **tok, kind="cache_read") == 3
    assert value(s, "gateway_tokens_total", **tok, kind="cache_write") == 4
    dur = {"model": "claude-3-haiku", "stream": "true"}
    assert value(s, "gateway_request_duration_seconds_count", **dur) == 1
    assert value(s, "gateway_request_duration_seconds_sum", **dur) == 2.0
    assert value(s, "gateway_request_duration_seconds_bucket", **dur, le="1.0") == 0
    assert value(s, "gateway_request_duration_seconds_bucket", **dur, le="2.5") == 1
    # Overhead = 2.0 - 1.9998 = 200 µs: above the 100 µs bucket, inside the 250 µs one.
    assert value(s, "gateway_overhead_seconds_bucket", stream="true", le="0.0001") == 0
    assert value(s, "gateway_overhead_seconds_bucket", stream="true", le="0.00025") == 1
    assert value(s, "gateway_time_to_first_token_seconds_count", model="claude-3-haiku") == 1
    up = {"model": "claude-3-haiku", "operation": "converse_stream"}
    assert value(s, "gateway_upstream_duration_seconds_sum", **up) == 1.9
    assert value(s, "gateway_upstream_errors_total", model="claude-3-haiku", error="timeout") == 1
    assert value(s, "gateway_upstream_retries_total", model="claude-3-haiku") == 2
    rej = {"team": "t2", "reason": "insufficient_quota"}
    assert value(s, "gateway_budget_rejections_total", **rej) == 1
    assert value(s, "gateway_budget_limit_tokens", team="t1", window="day") == 1000
    assert value(s, "gateway_budget_remaining_tokens", team="t1", window="day") == 250
    gr = {"policy": "default", "source": "input", "action": "blocked"}
    assert value(s, "gateway_guardrail_interventions_total", **gr) == 1
    pii = {"entity_type": "EMAIL", "direction": "request", "action": "mask"}
    assert value(s, "gateway_pii_redactions_total", **pii) == 2
    assert value(s, "gateway_in_flight_requests") == 1
    assert value(s, "gateway_active_streams") == 1


def test_build_info_names_version_and_python() -> None:
    s = scrape(Metrics(MODELS, version="9.9.9"))
    py = ".".join(str(part) for part in sys.version_info[:3])
    assert value(s, "gateway_build_info", version="9.9.9", python=py) == 1


def test_first_request_of_a_pair_creates_all_its_series_at_zero() -> None:
    m = Metrics(MODELS)
    m.record_request(model="claude-sonnet", team="new", stream=False, status=429, duration_s=0.01)
    s = scrape(m)
    for stream in ("false", "true"):
        for cls in ("2xx", "4xx", "5xx"):
            expected = 1 if (stream, cls) == ("false", "4xx") else 0
            labels = {"model": "claude-sonnet", "team": "new", "stream": stream}
            assert value(s, "gateway_requests_total", **labels, status_class=cls) == expected
    for kind in ("input", "output", "cache_read", "cache_write"):
        assert value(s, "gateway_tokens_total", model="claude-sonnet", team="new", kind=kind) == 0


def test_unknown_values_fold_into_other_and_never_mint_series() -> None:
    m = Metrics(MODELS, team_cap=1)
    for i in range(200):
        m.record_request(
            model=f"typo-{i}", team=f"team-{i}", stream=False, status=404, duration_s=0
        )
        m.record_upstream_error(f"typo-{i}", f"weird_code_{i}")
        m.record_guardrail("default", "input", f"ACTION_{i}")
        m.record_pii("EMAIL", f"dir-{i}", f"act-{i}")
    body, _ = m.render()
    text = body.decode()
    assert "typo-" not in text and "team-1" not in text and "weird_code" not in text
    s = scrape(m)
    labels = {"model": OTHER, "stream": "false", "status_class": "4xx"}
    assert value(s, "gateway_requests_total", **labels, team="team-0") == 1
    assert value(s, "gateway_requests_total", **labels, team=OTHER) == 199
    assert value(s, "gateway_upstream_errors_total", model=OTHER, error=OTHER) == 200
    gr = {"policy": "default", "source": "input", "action": OTHER}
    assert value(s, "gateway_guardrail_interventions_total", **gr) == 200
    pii = {"entity_type": "EMAIL", "direction": OTHER, "action": OTHER}
    assert value(s, "gateway_pii_redactions_total", **pii) == 200


def test_non_positive_amounts_are_ignored() -> None:
    m = Metrics(MODELS)
    m.record_tokens(model="claude-sonnet", team="t", input_tokens=0, output_tokens=-5)
    m.record_retry("claude-sonnet", 0)
    s = scrape(m)
    assert [v for (name, _), v in s.items() if name.endswith("_total") and v != 0] == []
    assert value(s, "gateway_tokens_total", model="claude-sonnet", team="t", kind="output") == 0


def test_pii_zero_count_records_nothing_and_remaining_is_clamped() -> None:
    m = Metrics(MODELS)
    m.record_pii("EMAIL", "request", "mask", 0)
    m.set_budget("t", "month", limit=100, remaining=-20)
    s = scrape(m)
    assert not [k for k in s if k[0] == "gateway_pii_redactions_total"]
    assert value(s, "gateway_budget_remaining_tokens", team="t", window="month") == 0


def test_in_flight_and_streams_go_back_down() -> None:
    m = Metrics(MODELS)
    for _ in range(3):
        m.request_started()
        m.stream_started()
    m.request_finished()
    m.stream_finished()
    s = scrape(m)
    assert value(s, "gateway_in_flight_requests") == 2
    assert value(s, "gateway_active_streams") == 2


def test_overhead_never_negative_and_absent_without_upstream_time() -> None:
    m = Metrics(MODELS)
    m.record_request(model="claude-sonnet", team="t", stream=False, status=200, duration_s=0.5)
    m.record_request(
        model="claude-sonnet", team="t", stream=False, status=200, duration_s=0.5, upstream_s=0.6
    )
    s = scrape(m)
    assert value(s, "gateway_overhead_seconds_count", stream="false") == 1
    assert value(s, "gateway_overhead_seconds_sum", stream="false") == 0


def test_unknown_upstream_operation_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="operation"):
        Metrics(MODELS).record_upstream("claude-sonnet", "invoke_model", 0.1)


def test_each_metrics_has_its_own_registry() -> None:
    a, b = Metrics(MODELS), Metrics(MODELS)
    a.record_retry("claude-sonnet")
    assert value(scrape(a), "gateway_upstream_retries_total", model="claude-sonnet") == 1
    assert (
        "gateway_upstream_retries_total",
        frozenset({("model", "claude-sonnet")}),
    ) not in scrape(b)


def test_no_created_series() -> None:
    assert b"_created" not in populated().render()[0]


# -- multiprocess plumbing (the aggregation itself: tests/integration/test_metrics_multiprocess)


def test_multiprocess_dir_set_after_import_fails_loudly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # This test process imported prometheus_client without the variable: the in-memory mode.
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    with pytest.raises(RuntimeError, match="before the process starts"):
        Metrics(MODELS)


def test_a_starting_workers_empty_file_does_not_fail_the_scrape(tmp_path: Path) -> None:
    # A worker creates its file empty and sizes it a moment later; a scrape may land between.
    (tmp_path / "counter_4242.db").write_bytes(b"")
    plain = multiprocess.MultiProcessCollector(None, path=str(tmp_path))  # type: ignore[no-untyped-call]
    with pytest.raises(struct.error):
        list(plain.collect())  # type: ignore[no-untyped-call]
    assert list(WorkerFilesCollector(str(tmp_path)).collect()) == []


def test_the_cli_can_prepare_the_dir_without_importing_prometheus_client() -> None:
    # The whole point of the separate module: importing it must not fix the value class.
    code = "import sys, gateway.metrics_multiproc\nprint('prometheus_client' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_prepare_single_worker_needs_nothing() -> None:
    assert prepare_multiprocess_dir(1, {}) == {}


def test_prepare_several_workers_gets_a_fresh_private_dir() -> None:
    path = Path(prepare_multiprocess_dir(3, {})[MULTIPROC_ENV])
    other = Path(prepare_multiprocess_dir(3, {})[MULTIPROC_ENV])
    try:
        assert path.is_dir() and other.is_dir()
        assert not any(path.iterdir())
        assert other != path
    finally:
        path.rmdir()
        other.rmdir()


def test_prepare_reuses_an_operator_dir_and_clears_stale_files(tmp_path: Path) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"stale")
    (tmp_path / "gauge_livesum_123.db").write_bytes(b"stale")
    (tmp_path / "README").write_text("keep me")
    env = prepare_multiprocess_dir(1, {MULTIPROC_ENV: str(tmp_path)})
    assert env == {MULTIPROC_ENV: str(tmp_path)}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README"]


def test_prepare_creates_a_missing_operator_dir(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    prepare_multiprocess_dir(2, {MULTIPROC_ENV: str(target)})
    assert target.is_dir()


def test_live_gauge_pids_reads_only_live_gauge_files(tmp_path: Path) -> None:
    for name in ("gauge_livesum_11.db", "gauge_liveall_12.db", "gauge_max_13.db",
                 "counter_14.db", "gauge_livesum_x.db"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    assert live_gauge_pids(str(tmp_path)) == {11, 12}


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not pid_alive(proc.pid)
