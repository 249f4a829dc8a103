"""The gateway's one error tree; every error a client sees is one of these.

    GatewayError                      500 server_error
    ├── InvalidRequestError           400 invalid_request_error   (param names the field)
    │   ├── PayloadTooLargeError      413 invalid_request_error / request_too_large
    │   └── MethodNotAllowedError     405 invalid_request_error / method_not_allowed
    ├── AuthenticationError           401 invalid_request_error / invalid_api_key
    ├── PermissionDeniedError         403 permission_error
    ├── NotFoundError                 404 invalid_request_error / model_not_found
    ├── RateLimitError                429 rate_limit_error / rate_limit_exceeded
    ├── ServiceUnavailableError       503 service_unavailable_error
    └── UpstreamError                 502 server_error / upstream_error
        ├── UpstreamTimeoutError      504 server_error / timeout
        └── UpstreamUnavailableError  503 service_unavailable_error

Each class carries the HTTP status and OpenAI ``type`` it maps to; the API layer turns
any of them into ``{"error": {"message", "type", "param", "code"}}``. Messages never
contain secrets, prompt text or PII: callers pass fixed, descriptive strings.
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    type: str = "server_error"
    default_code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        # Extra response headers (retry-after, rate-limit trio); never secret.
        self.headers = headers or {}
        # The raw Bedrock error code when this came from upstream: for logs, never for clients.
        self.bedrock_code: str | None = None

    def to_dict(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class PayloadTooLargeError(InvalidRequestError):
    status = 413
    default_code = "request_too_large"


class MethodNotAllowedError(InvalidRequestError):
    status = 405
    default_code = "method_not_allowed"


class AuthenticationError(GatewayError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class RateLimitError(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class ServiceUnavailableError(GatewayError):
    status = 503
    type = "service_unavailable_error"


class UpstreamError(GatewayError):
    status = 502
    type = "server_error"
    default_code = "upstream_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    default_code = "timeout"


class UpstreamUnavailableError(UpstreamError):
    status = 503
    type = "service_unavailable_error"
    default_code = "service_unavailable"
