"""The one place Bedrock errors (HTTP, exception events, transport) become gateway errors.

Codes follow the service model: HTTP errors carry the shape name (``ThrottlingException``),
stream exception events the member name (``throttlingException``). Both spellings map the
same way; see protocols §6.7.
"""

from __future__ import annotations

from gateway.errors import (
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

# Shape name (lower-cased) -> (error class, OpenAI code).
_TABLE: dict[str, tuple[type[GatewayError], str]] = {
    "validationexception": (InvalidRequestError, "validation_error"),
    "accessdeniedexception": (PermissionDeniedError, "access_denied"),
    "resourcenotfoundexception": (NotFoundError, "model_not_found"),
    "throttlingexception": (RateLimitError, "rate_limit_exceeded"),
    "servicequotaexceededexception": (RateLimitError, "rate_limit_exceeded"),
    "modelnotreadyexception": (UpstreamUnavailableError, "model_not_ready"),
    "serviceunavailableexception": (UpstreamUnavailableError, "service_unavailable"),
    "modeltimeoutexception": (UpstreamTimeoutError, "timeout"),
    "modelerrorexception": (UpstreamError, "upstream_error"),
    "modelstreamerrorexception": (UpstreamError, "upstream_error"),
    "internalserverexception": (UpstreamError, "upstream_error"),
}

# Codes worth another attempt (before anything reached the client): throttling and 5xx.
RETRYABLE_CODES = frozenset(
    {
        "throttlingexception",
        "modelnotreadyexception",
        "serviceunavailableexception",
        "internalserverexception",
    }
)

_MAX_MESSAGE = 500


def normalise_code(raw: str) -> str:
    """Reduce an ``x-amzn-ErrorType``/``__type`` value to the bare shape name (§4.2)."""
    code = raw.split(":", 1)[0]
    return code.rsplit("#", 1)[-1]


def is_retryable(code: str | None, status: int | None) -> bool:
    if code is not None and normalise_code(code).lower() in RETRYABLE_CODES:
        return True
    return status is not None and status >= 500


def map_bedrock_error(
    code: str | None, message: str | None, status: int | None = None
) -> GatewayError:
    """Map a Bedrock error code (shape or member name) and message to a gateway error."""
    text = (message or "").strip() or "Bedrock returned an error"
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    key = normalise_code(code).lower() if code else ""
    found = _TABLE.get(key)
    if found is not None:
        cls, oa_code = found
        return cls(text, code=oa_code)
    if status is not None:
        if status == 429:
            return RateLimitError(text)
        if status in (408, 504):
            return UpstreamTimeoutError(text)
        if status == 503:
            return UpstreamUnavailableError(text)
        if 400 <= status < 500:
            return InvalidRequestError(text, code="validation_error")
    return UpstreamError(text)


def upstream_timeout(what: str) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(f"Bedrock did not answer in time ({what})")


def upstream_unreachable() -> UpstreamError:
    return UpstreamError("Could not connect to Bedrock", code="upstream_unreachable")
