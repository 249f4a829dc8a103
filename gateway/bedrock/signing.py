"""botocore at the AWS edge: endpoint, region and credential chain at start-up; request signing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import SplitResult, urlsplit

import botocore.session
from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import BotoCoreError, NoRegionError

from gateway.errors import UpstreamUnavailableError

logger = logging.getLogger("gateway.bedrock")

_UNSIGNED = frozenset(SIGNED_HEADERS_BLACKLIST)
_CONTENT_TYPE = "application/json"


class RequestAuth(Protocol):
    """Produces the headers that authenticate one POST of ``body`` to ``path``."""

    async def headers(self, path: str, body: bytes) -> dict[str, str]: ...


class CredentialSource:
    """Frozen credentials for the hot path; refreshes happen in a worker thread, single-flight.

    botocore refreshes temporary credentials lazily inside ``get_frozen_credentials()`` and may
    block on STS/IMDS while doing so; here that call only ever runs in a thread. Refresh starts in
    the background once botocore's advisory window is reached (15 minutes before expiry by
    default) and requests keep signing with the current credentials until they actually expire.
    """

    def __init__(
        self,
        credentials: Any,
        *,
        check_interval: float = 1.0,
        retry_interval: float = 10.0,
        expiry_margin: float = 30.0,
    ) -> None:
        self._credentials = credentials
        self._refreshable = isinstance(credentials, RefreshableCredentials)
        self._check_interval = check_interval
        self._retry_interval = retry_interval
        self._expiry_margin = expiry_margin
        self._frozen: Any = None
        self._next_check = 0.0
        self._failed_at = -retry_interval
        self._refresh_task: asyncio.Task[None] | None = None
        self.refreshes = 0

    async def start(self) -> None:
        """Load the first credentials (may do I/O: IMDS, SSO, process providers) in a thread."""
        self._frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)

    async def close(self) -> None:
        task = self._refresh_task
        if task is not None and not task.done():
            # The worker thread finishes on its own; only stop waiting for it.
            task.cancel()

    async def get(self) -> Any:
        """Current ``ReadOnlyCredentials``; waits only when they have (nearly) expired."""
        # refresh_needed() reads the wall clock and local timezone: once a second is plenty.
        if not self._refreshable or time.monotonic() < self._next_check:
            return self._frozen
        return await self._check()

    async def _check(self) -> Any:
        now = time.monotonic()
        self._next_check = now + self._check_interval
        credentials = self._credentials
        if not credentials.refresh_needed(self._expiry_margin):
            if credentials.refresh_needed():
                self._refresh_soon()
            return self._frozen
        # Expired: every request waits for the one shared refresh (or fails fast right after a
        # failed one, so an STS outage is not hammered at request rate).
        self._next_check = 0.0
        if now - self._failed_at >= self._retry_interval:
            self._refresh_soon()
            assert self._refresh_task is not None
            # Shield: a cancelled request must not cancel the refresh others are waiting for.
            await asyncio.shield(self._refresh_task)
        if credentials.refresh_needed(self._expiry_margin):
            self._next_check = 0.0
            raise UpstreamUnavailableError(
                "AWS credentials have expired and could not be refreshed",
                code="credentials_unavailable",
            )
        self._next_check = time.monotonic() + self._check_interval
        return self._frozen

    def _refresh_soon(self) -> None:
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.create_task(self._refresh_in_thread())

    async def _refresh_in_thread(self) -> None:
        try:
            frozen = await asyncio.to_thread(self._credentials.get_frozen_credentials)
        except Exception:
            logger.warning("refreshing AWS credentials failed", exc_info=True)
            frozen = None
        # botocore swallows failures inside its advisory window and hands back the same object.
        if frozen is None or (frozen is self._frozen and self._credentials.refresh_needed()):
            # Keep the old credentials (valid until they expire) and try again later.
            self._failed_at = time.monotonic()
            self._next_check = max(self._next_check, self._failed_at + self._retry_interval)
        if frozen is not None and frozen is not self._frozen:
            self.refreshes += 1
            self._frozen = frozen


class _FastSigV4(SigV4Auth):  # type: ignore[misc]
    """botocore's SigV4 with the hot path's allocations trimmed; the algorithm stays botocore's.

    * headers are a plain dict (botocore's HTTPHeaders is an ``email.message`` and dominates),
    * the signing key is derived once per UTC day instead of with four HMACs per request,
    * the canonical (double-encoded) path is computed once per distinct path.
    """

    def __init__(self, credentials: Any, service_name: str, region_name: str) -> None:
        super().__init__(credentials, service_name, region_name)
        self._key_date = ""
        self._key = b""
        self._paths: dict[str, str] = {}

    def headers_to_sign(self, request: Any) -> _SignedHeaders:
        signed = _SignedHeaders()
        for name, value in request.headers.items():
            lower = name.lower()
            if lower not in _UNSIGNED:
                signed[lower] = value
        return signed

    def _normalize_url_path(self, path: str) -> str:
        canonical = self._paths.get(path)
        if canonical is None:
            if len(self._paths) >= 4096:
                self._paths.clear()
            canonical = self._paths[path] = super()._normalize_url_path(path)
        return canonical

    def signature(self, string_to_sign: str, request: Any) -> str:
        date = request.context["timestamp"][0:8]
        if date != self._key_date:
            key = ("AWS4" + self.credentials.secret_key).encode()
            for part in (date, self._region_name, self._service_name, "aws4_request"):
                key = hmac.digest(key, part.encode(), hashlib.sha256)
            self._key, self._key_date = key, date
        return hmac.new(self._key, string_to_sign.encode(), hashlib.sha256).hexdigest()


class _SignedHeaders(dict[str, str]):
    """The subset of botocore's HTTPHeaders interface that SigV4Auth reads."""

    def get_all(self, name: str) -> list[str]:
        return [self[name]]


class _SigningRequest:
    """The attributes of botocore's AWSRequest that SigV4Auth reads and writes."""

    __slots__ = ("body", "context", "headers", "method", "params", "url")

    def __init__(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        self.method = "POST"
        self.url = url
        self.body = body
        self.headers = headers
        self.params: dict[str, str] = {}
        self.context: dict[str, Any] = {}


class SigV4RequestAuth:
    """SigV4 headers for POSTs to one endpoint; one signer per credentials generation."""

    def __init__(
        self, credentials: CredentialSource, *, base_url: str, host: str, region: str, service: str
    ) -> None:
        self._credentials = credentials
        self._base_url = base_url
        self._host = host
        self._region = region
        self._service = service
        self._signer: _FastSigV4 | None = None

    async def headers(self, path: str, body: bytes) -> dict[str, str]:
        return self.sign(await self._credentials.get(), path, body)

    def sign(self, credentials: Any, path: str, body: bytes) -> dict[str, str]:
        """Sign synchronously with ``credentials`` (``ReadOnlyCredentials``)."""
        signer = self._signer
        if signer is None or signer.credentials is not credentials:
            signer = self._signer = _FastSigV4(credentials, self._service, self._region)
        # Host is sent explicitly so the value on the wire is exactly the signed one.
        request = _SigningRequest(
            self._base_url + path, body, {"Host": self._host, "Content-Type": _CONTENT_TYPE}
        )
        signer.add_auth(request)
        headers: dict[str, str] = request.headers
        return headers


class BearerRequestAuth:
    """``Authorization: Bearer`` for Bedrock API keys (AWS_BEARER_TOKEN_BEDROCK)."""

    def __init__(self, token: str) -> None:
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": _CONTENT_TYPE}

    async def headers(self, path: str, body: bytes) -> dict[str, str]:
        return dict(self._headers)


class BedrockConfigurationError(RuntimeError):
    """The gateway cannot talk to Bedrock as configured; raised at start-up only."""


@dataclass(frozen=True, slots=True)
class Upstream:
    """What start-up resolved: where to send requests and how to authenticate them."""

    base_url: str
    region: str
    auth: RequestAuth
    close: Callable[[], Awaitable[None]]


async def resolve_upstream(
    *,
    region: str | None,
    endpoint_url: str | None,
    environ: Mapping[str, str],
    static_credentials: tuple[str, str] | None = None,
) -> Upstream:
    """Endpoint and region from botocore's service model and config chain, plus request auth.

    Runs botocore in worker threads: building a client reads the service model and config
    files, and the credential chain may call IMDS, SSO or an external process.
    """
    # botocore itself reads only AWS_DEFAULT_REGION; AWS_REGION is what the other AWS SDKs
    # (and container runtimes such as Lambda/ECS) set, so it is honoured here, just below
    # an explicit setting.
    session, base_url, signing_region, service = await asyncio.to_thread(
        _resolve_endpoint, region or environ.get("AWS_REGION") or None, endpoint_url
    )
    url = urlsplit(base_url)
    bearer = None if static_credentials else environ.get("AWS_BEARER_TOKEN_BEDROCK")
    if bearer:
        # Same rule as botocore: an API key is a long-lived secret, never sent in clear text.
        if url.scheme != "https":
            raise BedrockConfigurationError(
                f"AWS_BEARER_TOKEN_BEDROCK is set but the Bedrock endpoint {base_url} is not "
                "HTTPS; bearer tokens are only sent over HTTPS (unset it to use SigV4)"
            )
        return Upstream(base_url, signing_region, BearerRequestAuth(bearer), _nothing_to_close)
    try:
        if static_credentials is not None:
            credentials = Credentials(*static_credentials)
        else:
            credentials = await asyncio.to_thread(session.get_credentials)
        if credentials is None:
            raise BedrockConfigurationError(
                "No AWS credentials found (environment, shared files, SSO, container or "
                "instance metadata); configure credentials or set AWS_BEARER_TOKEN_BEDROCK"
            )
        source = CredentialSource(credentials)
        await source.start()
    except BotoCoreError as exc:
        raise BedrockConfigurationError(f"Loading AWS credentials failed: {exc}") from exc
    auth = SigV4RequestAuth(
        source,
        base_url=base_url,
        host=_host_header(url),
        region=signing_region,
        service=service,
    )
    return Upstream(base_url, signing_region, auth, source.close)


def _resolve_endpoint(region: str | None, endpoint_url: str | None) -> tuple[Any, str, str, str]:
    session = botocore.session.get_session()
    try:
        # Built only to read what botocore resolved (AWS_ENDPOINT_URL_BEDROCK_RUNTIME,
        # AWS_ENDPOINT_URL, config files, partitions); it never sends a request.
        client = session.create_client(
            "bedrock-runtime", region_name=region, endpoint_url=endpoint_url
        )
    except NoRegionError as exc:
        raise BedrockConfigurationError(
            "No AWS region for Bedrock: set the gateway's Bedrock region, AWS_REGION, "
            "AWS_DEFAULT_REGION or a region in the AWS profile"
        ) from exc
    except (BotoCoreError, ValueError) as exc:  # ValueError: a malformed endpoint URL
        raise BedrockConfigurationError(f"Cannot resolve the Bedrock endpoint: {exc}") from exc
    try:
        meta = client.meta
        base_url = str(meta.endpoint_url).rstrip("/")
        return session, base_url, str(meta.region_name), str(meta.service_model.signing_name)
    finally:
        client.close()


async def _nothing_to_close() -> None:
    return None


def _host_header(url: SplitResult) -> str:
    """The Host header SigV4 signs: host (IPv6 in brackets) plus the port unless default."""
    host = (url.hostname or "").encode("idna").decode("ascii")
    if ":" in host:
        host = f"[{host}]"
    default = 443 if url.scheme == "https" else 80
    return host if url.port in (None, default) else f"{host}:{url.port}"
