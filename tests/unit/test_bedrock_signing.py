"""SigV4 signing against botocore's own signer, and credential refresh off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import botocore.auth
import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials, ReadOnlyCredentials, RefreshableCredentials

from gateway.bedrock.client import model_path
from gateway.bedrock.signing import (
    BearerRequestAuth,
    BedrockConfigurationError,
    CredentialSource,
    SigV4RequestAuth,
    resolve_upstream,
)
from gateway.errors import UpstreamUnavailableError

FIXED = dt.datetime(2024, 5, 17, 13, 45, 9)  # botocore uses naive UTC datetimes
BODY = b'{"messages":[{"role":"user","content":[{"text":"hello"}]}]}'
TEMPORARY = ReadOnlyCredentials("ASIAEXAMPLE", "secret/with+chars", "session-token", None)
PERMANENT = ReadOnlyCredentials(
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None
)
MODEL_IDS = [
    "anthropic.claude-3-haiku-20240307-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
    "cohere.embed-english-v3",
    "model with space",
]


@pytest.fixture
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """Freeze botocore's signing clock (the one seam SigV4Auth reads time through)."""
    now = [FIXED]
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: now[0])
    return now


def reference_headers(creds: ReadOnlyCredentials, url: str, region: str) -> dict[str, str]:
    """What unmodified botocore SigV4Auth produces for the same request."""
    request = AWSRequest(
        method="POST", url=url, data=BODY, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(creds, "bedrock", region).add_auth(request)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}


def make_auth(base_url: str, host: str, region: str = "us-east-1") -> SigV4RequestAuth:
    source = CredentialSource(Credentials("unused", "unused"))
    return SigV4RequestAuth(source, base_url=base_url, host=host, region=region, service="bedrock")


@pytest.mark.parametrize("model_id", MODEL_IDS)
@pytest.mark.parametrize("creds", [TEMPORARY, PERMANENT], ids=["temporary", "permanent"])
@pytest.mark.parametrize(
    ("base_url", "host", "region"),
    [
        (
            "https://bedrock-runtime.us-east-1.amazonaws.com",
            "bedrock-runtime.us-east-1.amazonaws.com",
            "us-east-1",
        ),
        ("http://127.0.0.1:8001", "127.0.0.1:8001", "eu-central-1"),
        ("https://proxy.example/prefix", "proxy.example", "us-west-2"),
    ],
)
def test_signature_matches_botocore_sigv4auth(
    fixed_time: list[dt.datetime],
    model_id: str,
    creds: ReadOnlyCredentials,
    base_url: str,
    host: str,
    region: str,
) -> None:
    path = model_path(model_id, "converse")
    ours = make_auth(base_url, host, region).sign(creds, path, BODY)
    theirs = reference_headers(creds, base_url + path, region)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20240517T134509Z"
    assert ours.get("X-Amz-Security-Token") == theirs.get("X-Amz-Security-Token") == creds.token
    assert ours["Host"] == host
    assert f"/20240517/{region}/bedrock/aws4_request" in ours["Authorization"]


def test_path_and_signature_match_a_real_botocore_client(fixed_time: list[dt.datetime]) -> None:
    """Capture what botocore's own bedrock-runtime client would send, and sign the same bytes."""
    session = botocore.session.get_session()
    client = session.create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id=PERMANENT.access_key,
        aws_secret_access_key=PERMANENT.secret_key,
    )
    sent: list[Any] = []

    reply = (
        b'{"output":{"message":{"role":"assistant","content":[{"text":"ok"}]}},'
        b'"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},'
        b'"metrics":{"latencyMs":1}}'
    )

    class _Raw:
        def stream(self) -> Iterator[bytes]:
            return iter([reply])

    def capture(request: Any, **_: Any) -> AWSResponse:
        # Answer in place of the network: botocore stops before sending anything.
        sent.append(request)
        return AWSResponse(request.url, 200, {}, _Raw())

    client.meta.events.register("before-send", capture)
    model_id = MODEL_IDS[1]
    try:
        result = client.converse(
            modelId=model_id, messages=[{"role": "user", "content": [{"text": "x"}]}]
        )
    finally:
        client.close()
    assert result["stopReason"] == "end_turn"
    (request,) = sent
    path = model_path(model_id, "converse")
    assert request.url == "http://127.0.0.1:9" + path
    ours = make_auth("http://127.0.0.1:9", "127.0.0.1:9").sign(PERMANENT, path, request.body)
    assert ours["Authorization"] == request.headers["Authorization"].decode()


def test_signing_key_follows_the_date(fixed_time: list[dt.datetime]) -> None:
    auth = make_auth("http://127.0.0.1:8001", "127.0.0.1:8001")
    path = model_path(MODEL_IDS[0], "converse-stream")
    for day in range(3):
        fixed_time[0] = FIXED + dt.timedelta(days=day, hours=11)
        ours = auth.sign(TEMPORARY, path, BODY)
        theirs = reference_headers(TEMPORARY, "http://127.0.0.1:8001" + path, "us-east-1")
        assert ours["Authorization"] == theirs["Authorization"]


def test_new_credentials_generation_gets_a_new_signer(fixed_time: list[dt.datetime]) -> None:
    auth = make_auth("http://127.0.0.1:8001", "127.0.0.1:8001")
    path = model_path(MODEL_IDS[0], "converse")
    first = auth.sign(TEMPORARY, path, BODY)
    rotated = ReadOnlyCredentials("ASIANEW", "another-secret", "token-2", None)
    second = auth.sign(rotated, path, BODY)
    assert second["Authorization"] != first["Authorization"]
    url = "http://127.0.0.1:8001" + path
    assert second == {"Host": "127.0.0.1:8001", **reference_headers(rotated, url, "us-east-1")}


def test_signing_does_not_share_header_dicts(fixed_time: list[dt.datetime]) -> None:
    auth = make_auth("http://127.0.0.1:8001", "127.0.0.1:8001")
    first = auth.sign(TEMPORARY, "/a", BODY)
    second = auth.sign(TEMPORARY, "/b", BODY)
    assert first is not second
    assert first["Authorization"] != second["Authorization"]


async def test_bearer_auth_headers() -> None:
    auth = BearerRequestAuth("bedrock-api-key-abc")
    headers = await auth.headers("/model/x/converse", BODY)
    assert headers == {
        "Authorization": "Bearer bedrock-api-key-abc",
        "Content-Type": "application/json",
    }
    headers["Authorization"] = "tampered"
    assert (await auth.headers("/", b""))["Authorization"] == "Bearer bedrock-api-key-abc"


# --- credentials ----------------------------------------------------------------------------


class Refresher:
    """refresh_using callback: records the calling thread and serves numbered credentials."""

    def __init__(self, clock: WallClock, fail: bool = False) -> None:
        self.clock = clock
        self.fail = fail
        self.calls = 0
        self.threads: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        self.threads.append(threading.get_ident())
        assert self.release.wait(10)
        if self.fail:
            raise RuntimeError("STS is down")
        expiry = self.clock.now + dt.timedelta(hours=1)
        return {
            "access_key": f"ASIA{self.calls}",
            "secret_key": "s",
            "token": f"t{self.calls}",
            "expiry_time": expiry.isoformat(),
        }


class WallClock:
    """botocore's time_fetcher: the wall clock as the credentials see it."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def refreshable(clock: WallClock, refresher: Refresher) -> RefreshableCredentials:
    """Temporary credentials valid for two hours of ``clock`` time."""
    return RefreshableCredentials(
        "ASIA0",
        "s",
        "t0",
        clock.now + dt.timedelta(hours=2),
        refresher,
        "test",
        time_fetcher=clock,
    )


async def test_static_credentials_never_refresh() -> None:
    source = CredentialSource(Credentials("AK", "SK"), check_interval=0.0)
    await source.start()
    first = await source.get()
    assert (first.access_key, first.secret_key) == ("AK", "SK")
    assert await source.get() is first
    assert source.refreshes == 0


async def test_refreshes_in_a_thread_ahead_of_expiry_without_making_anyone_wait() -> None:
    clock = WallClock()
    refresher = Refresher(clock)
    source = CredentialSource(refreshable(clock, refresher), check_interval=0.0)
    await source.start()
    assert refresher.calls == 0
    # Inside botocore's 15-minute advisory window, still valid for 5 minutes.
    clock.now += dt.timedelta(hours=1, minutes=55)
    refresher.release.clear()  # the refresh hangs in its thread until released
    served = await asyncio.gather(*(source.get() for _ in range(20)))
    assert {c.access_key for c in served} == {"ASIA0"}
    refresher.release.set()
    for _ in range(500):
        if source.refreshes:
            break
        await asyncio.sleep(0.01)
    assert refresher.calls == 1  # single-flight
    assert threading.get_ident() not in refresher.threads
    assert (await source.get()).access_key == "ASIA1"
    await source.close()


async def test_expired_credentials_wait_for_one_shared_refresh() -> None:
    clock = WallClock()
    refresher = Refresher(clock)
    source = CredentialSource(refreshable(clock, refresher), check_interval=0.0)
    await source.start()
    clock.now += dt.timedelta(hours=3)
    refresher.release.clear()
    waiters = [asyncio.create_task(source.get()) for _ in range(20)]
    await asyncio.sleep(0.05)
    # They wait for the refresh, yet the loop keeps running (this test is executing).
    assert not any(w.done() for w in waiters)
    refresher.release.set()
    served = await asyncio.gather(*waiters)
    assert {c.access_key for c in served} == {"ASIA1"}
    assert refresher.calls == 1
    assert threading.get_ident() not in refresher.threads


async def test_a_cancelled_waiter_does_not_cancel_the_shared_refresh() -> None:
    clock = WallClock()
    refresher = Refresher(clock)
    source = CredentialSource(refreshable(clock, refresher), check_interval=0.0)
    await source.start()
    clock.now += dt.timedelta(hours=3)
    refresher.release.clear()
    first = asyncio.create_task(source.get())
    second = asyncio.create_task(source.get())
    await asyncio.sleep(0.05)
    first.cancel()
    refresher.release.set()
    assert (await second).access_key == "ASIA1"
    assert first.cancelled()


async def test_failed_refresh_of_expired_credentials_fails_fast_then_retries() -> None:
    clock = WallClock()
    refresher = Refresher(clock, fail=True)
    source = CredentialSource(refreshable(clock, refresher), check_interval=0.0, retry_interval=0.2)
    await source.start()
    clock.now += dt.timedelta(hours=3)
    with pytest.raises(UpstreamUnavailableError) as info:
        await source.get()
    assert info.value.code == "credentials_unavailable"
    # Within the retry interval: fail without calling the credential provider again.
    with pytest.raises(UpstreamUnavailableError):
        await source.get()
    assert refresher.calls == 1
    await asyncio.sleep(0.25)
    refresher.fail = False
    assert (await source.get()).access_key == "ASIA2"
    assert refresher.calls == 2


# 12 minutes left: botocore's advisory window, where it swallows the failure; 5 minutes left:
# its mandatory window, where it raises.
@pytest.mark.parametrize("minutes_left", [12, 5])
async def test_failed_background_refresh_keeps_valid_credentials(minutes_left: int) -> None:
    clock = WallClock()
    refresher = Refresher(clock, fail=True)
    source = CredentialSource(
        refreshable(clock, refresher), check_interval=0.0, retry_interval=60.0
    )
    await source.start()
    clock.now += dt.timedelta(hours=2, minutes=-minutes_left)
    assert (await source.get()).access_key == "ASIA0"
    for _ in range(500):
        if source._refresh_task is not None and source._refresh_task.done():
            break
        await asyncio.sleep(0.01)
    # Still valid: keep serving them, and do not retry before retry_interval.
    for _ in range(10):
        assert (await source.get()).access_key == "ASIA0"
    assert refresher.calls == 1


# --- start-up resolution --------------------------------------------------------------------


@pytest.fixture
def isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


async def test_bearer_token_requires_https(isolated_aws_env: pytest.MonkeyPatch) -> None:
    env = {"AWS_BEARER_TOKEN_BEDROCK": "key"}
    with pytest.raises(BedrockConfigurationError, match="not HTTPS"):
        await resolve_upstream(region="us-east-1", endpoint_url="http://127.0.0.1:1", environ=env)
    upstream = await resolve_upstream(region="us-east-1", endpoint_url=None, environ=env)
    assert upstream.base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    assert isinstance(upstream.auth, BearerRequestAuth)


async def test_missing_region_is_a_clear_startup_error(
    isolated_aws_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(BedrockConfigurationError, match="region"):
        await resolve_upstream(region=None, endpoint_url=None, environ={})


async def test_malformed_endpoint_is_a_clear_startup_error(
    isolated_aws_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(BedrockConfigurationError, match="endpoint"):
        await resolve_upstream(region="us-east-1", endpoint_url="not a url", environ={})


async def test_missing_credentials_is_a_clear_startup_error(
    isolated_aws_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(BedrockConfigurationError, match="No AWS credentials"):
        await resolve_upstream(region="us-east-1", endpoint_url=None, environ={})


@pytest.mark.parametrize(
    ("setting", "environ", "expected"),
    [
        ("eu-west-1", {"AWS_REGION": "us-west-2"}, "eu-west-1"),
        (None, {"AWS_REGION": "us-west-2"}, "us-west-2"),
        (None, {}, "ap-south-1"),  # AWS_DEFAULT_REGION, read by botocore itself
    ],
)
async def test_region_precedence(
    isolated_aws_env: pytest.MonkeyPatch,
    setting: str | None,
    environ: dict[str, str],
    expected: str,
) -> None:
    isolated_aws_env.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    isolated_aws_env.setenv("AWS_ACCESS_KEY_ID", "AK")
    isolated_aws_env.setenv("AWS_SECRET_ACCESS_KEY", "SK")
    upstream = await resolve_upstream(region=setting, endpoint_url=None, environ=environ)
    assert upstream.region == expected
    assert upstream.base_url == f"https://bedrock-runtime.{expected}.amazonaws.com"
    await upstream.close()
