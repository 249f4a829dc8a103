"""Frozen settings parsed once from an injectable environ (``GATEWAY_*``) plus optional YAML.

Precedence: built-in defaults < YAML file (``--config`` or ``GATEWAY_CONFIG``) < environment.
Every problem is reported at start-up as a ``SettingsError`` naming the variable or the field.
AWS settings (region, endpoint, credentials) are not ours: botocore reads the standard AWS
variables and credential chain.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from gateway.routing import Route, RoutingTable


class SettingsError(ValueError):
    """Invalid configuration; the message names the field or variable at fault."""


class ModelConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    name: str
    bedrock_id: str
    max_output_tokens: int = 4096
    thinking: bool = False
    exclusive_temperature_top_p: bool = False


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    max_body_bytes: int = 20 * 1024 * 1024
    log_level: str = "info"
    # One JSON object per log line (production); false gives plain text for terminals.
    log_json: bool = True
    # Teams get their own metric labels up to this many per process; the rest are "other".
    metrics_team_cap: int = 100


class BedrockConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    connect_timeout_s: float = 3.0
    first_byte_timeout_s: float = 60.0
    stream_first_byte_timeout_s: float = 30.0
    idle_timeout_s: float = 30.0
    max_attempts: int = 3
    retry_deadline_s: float = 5.0
    pool_size: int = 1024


class AuthConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Static keys for a single-tenant set-up (no budgets); team keys live in the key store.
    api_keys: tuple[str, ...] = ()
    # Seconds a successful key lookup is cached per process: a revocation elsewhere takes
    # effect within this time.
    key_cache_ttl_s: float = 5.0
    key_namespace: str = "gw:k"


class RedisConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # Unset: keys and budgets live in process memory (single process only).
    url: str | None = None
    timeout_s: float = 0.5
    max_connections: int = 256


class BudgetConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    # A hold lapses after this long if its replica dies; must exceed the longest request.
    reservation_ttl_s: float = 600.0
    # Redis unreachable: refuse with 503 (default) or admit without a reservation.
    fail_open: bool = False
    # Multiplies the tiktoken prompt estimate (other tokenisers count differently).
    token_safety_factor: float = 1.1


class Settings(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    server: ServerConfig = ServerConfig()
    bedrock: BedrockConfig = BedrockConfig()
    auth: AuthConfig = AuthConfig()
    redis: RedisConfig = RedisConfig()
    budgets: BudgetConfig = BudgetConfig()
    models: tuple[ModelConfig, ...] = ()
    include_default_models: bool = True
    passthrough_models: tuple[str, ...] = ()
    # Directory of policy files (default.yaml, …). Unset: the built-in default policy,
    # which masks every pattern-decidable PII type in prompts and answers.
    policy_dir: str | None = None
    demo: bool = False

    def routing_table(self) -> RoutingTable:
        routes = {m.name: m for m in (DEFAULT_MODELS if self.include_default_models else ())}
        routes.update({m.name: m for m in self.models})
        return RoutingTable(
            (
                Route(
                    name=m.name,
                    bedrock_id=m.bedrock_id,
                    max_output_tokens=m.max_output_tokens,
                    thinking=m.thinking,
                    exclusive_temperature_top_p=m.exclusive_temperature_top_p,
                )
                for m in routes.values()
            ),
            passthrough=self.passthrough_models,
        )


# Public names for common Bedrock models; operators add or override them in YAML.
DEFAULT_MODELS: tuple[ModelConfig, ...] = (
    ModelConfig("claude-3-haiku", "anthropic.claude-3-haiku-20240307-v1:0", 4096),
    ModelConfig("claude-3-5-haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0", 8192),
    ModelConfig("claude-3-7-sonnet", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", 64000, True),
    ModelConfig("claude-sonnet-4", "us.anthropic.claude-sonnet-4-20250514-v1:0", 64000, True),
    ModelConfig("nova-micro", "us.amazon.nova-micro-v1:0", 10000),
    ModelConfig("nova-lite", "us.amazon.nova-lite-v1:0", 10000),
    ModelConfig("nova-pro", "us.amazon.nova-pro-v1:0", 10000),
    ModelConfig("llama3-3-70b", "us.meta.llama3-3-70b-instruct-v1:0", 8192),
    ModelConfig("mistral-large", "mistral.mistral-large-2407-v1:0", 8192),
)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


# Environment variable -> (path in the settings document, parser).
_ENV: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "GATEWAY_HOST": (("server", "host"), str),
    "GATEWAY_PORT": (("server", "port"), int),
    "GATEWAY_WORKERS": (("server", "workers"), int),
    "GATEWAY_MAX_BODY_BYTES": (("server", "max_body_bytes"), int),
    "GATEWAY_LOG_LEVEL": (("server", "log_level"), str),
    "GATEWAY_LOG_JSON": (("server", "log_json"), _bool),
    "GATEWAY_METRICS_TEAM_CAP": (("server", "metrics_team_cap"), int),
    "GATEWAY_API_KEYS": (("auth", "api_keys"), _csv),
    "GATEWAY_KEY_CACHE_TTL": (("auth", "key_cache_ttl_s"), float),
    "GATEWAY_KEY_NAMESPACE": (("auth", "key_namespace"), str),
    "GATEWAY_REDIS_URL": (("redis", "url"), str),
    "GATEWAY_BUDGET_RESERVATION_TTL": (("budgets", "reservation_ttl_s"), float),
    "GATEWAY_BUDGET_FAIL_OPEN": (("budgets", "fail_open"), _bool),
    "GATEWAY_TOKEN_SAFETY_FACTOR": (("budgets", "token_safety_factor"), float),
    "GATEWAY_REDIS_TIMEOUT": (("redis", "timeout_s"), float),
    "GATEWAY_REDIS_MAX_CONNECTIONS": (("redis", "max_connections"), int),
    "GATEWAY_PASSTHROUGH_MODELS": (("passthrough_models",), _csv),
    "GATEWAY_INCLUDE_DEFAULT_MODELS": (("include_default_models",), _bool),
    "GATEWAY_DEMO": (("demo",), _bool),
    "GATEWAY_POLICY_DIR": (("policy_dir",), str),
    "GATEWAY_BEDROCK_CONNECT_TIMEOUT": (("bedrock", "connect_timeout_s"), float),
    "GATEWAY_BEDROCK_FIRST_BYTE_TIMEOUT": (("bedrock", "first_byte_timeout_s"), float),
    "GATEWAY_BEDROCK_STREAM_FIRST_BYTE_TIMEOUT": (
        ("bedrock", "stream_first_byte_timeout_s"),
        float,
    ),
    "GATEWAY_BEDROCK_IDLE_TIMEOUT": (("bedrock", "idle_timeout_s"), float),
    "GATEWAY_BEDROCK_MAX_ATTEMPTS": (("bedrock", "max_attempts"), int),
    "GATEWAY_BEDROCK_RETRY_DEADLINE": (("bedrock", "retry_deadline_s"), float),
    "GATEWAY_BEDROCK_POOL_SIZE": (("bedrock", "pool_size"), int),
}

ENV_VARIABLES: tuple[str, ...] = ("GATEWAY_CONFIG", *_ENV)


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Parse and validate settings once; raise SettingsError naming what is wrong."""
    env = os.environ if environ is None else environ
    path = config_file or env.get("GATEWAY_CONFIG")
    document: dict[str, Any] = _read_yaml(Path(path)) if path else {}
    for name, (keys, parse) in _ENV.items():
        raw = env.get(name)
        if raw is None:
            continue
        try:
            value = parse(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: {exc}") from None
        _set_path(document, keys, value)
    try:
        settings = msgspec.convert(document, Settings, strict=False)
    except msgspec.ValidationError as exc:
        where = f" in {path}" if path else ""
        raise SettingsError(f"invalid configuration{where}: {_field_message(exc)}") from None
    _check(settings)
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path}: the top level must be a mapping")
    return data


def _set_path(document: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    node = document
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _field_message(exc: msgspec.ValidationError) -> str:
    # msgspec says "... - at `$.bedrock.max_attempts`"; present the field as bedrock.max_attempts.
    text = str(exc)
    if " - at `$." in text:
        message, _, where = text.partition(" - at `$.")
        return f"{where.rstrip('`')}: {message}"
    return text


def _check(s: Settings) -> None:
    problems: list[str] = []
    if not 0 < s.server.port < 65536:
        problems.append("server.port must be between 1 and 65535")
    if s.server.workers < 1:
        problems.append("server.workers must be at least 1")
    if s.server.max_body_bytes < 1024:
        problems.append("server.max_body_bytes must be at least 1024")
    b = s.bedrock
    for field in ("connect_timeout_s", "first_byte_timeout_s", "stream_first_byte_timeout_s"):
        if getattr(b, field) <= 0:
            problems.append(f"bedrock.{field} must be positive")
    if b.idle_timeout_s <= 0:
        problems.append("bedrock.idle_timeout_s must be positive")
    if b.max_attempts < 1:
        problems.append("bedrock.max_attempts must be at least 1")
    if b.retry_deadline_s < 0:
        problems.append("bedrock.retry_deadline_s must not be negative")
    if b.pool_size < 1:
        problems.append("bedrock.pool_size must be at least 1")
    seen: set[str] = set()
    for i, m in enumerate(s.models):
        if not m.name or not m.bedrock_id:
            problems.append(f"models[{i}]: name and bedrock_id must not be empty")
        if m.max_output_tokens < 1:
            problems.append(f"models[{i}].max_output_tokens must be at least 1")
        if m.name in seen:
            problems.append(f"models[{i}].name {m.name!r} is listed twice")
        seen.add(m.name)
    for i, key in enumerate(s.auth.api_keys):
        if len(key) < 16:
            problems.append(f"auth.api_keys[{i}] is too short (at least 16 characters)")
    if s.auth.key_cache_ttl_s < 0:
        problems.append("auth.key_cache_ttl_s must not be negative")
    if s.redis.url is not None and not s.redis.url.startswith(("redis://", "rediss://", "unix://")):
        problems.append("redis.url must start with redis://, rediss:// or unix://")
    if s.budgets.reservation_ttl_s <= 0:
        problems.append("budgets.reservation_ttl_s must be positive")
    if s.budgets.token_safety_factor < 1:
        problems.append("budgets.token_safety_factor must be at least 1.0")
    if s.redis.timeout_s <= 0:
        problems.append("redis.timeout_s must be positive")
    if problems:
        raise SettingsError("invalid configuration: " + "; ".join(problems))
