"""Settings: environment over YAML over defaults, and errors that name the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import NotFoundError
from gateway.settings import SettingsError, load_settings


def test_defaults_route_common_models() -> None:
    settings = load_settings({})
    route = settings.routing_table().resolve("claude-3-haiku")
    assert route.bedrock_id == "anthropic.claude-3-haiku-20240307-v1:0"
    assert settings.server.port == 8000
    assert settings.demo is False


def test_environment_overrides_yaml(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "server:\n  port: 9000\n  workers: 2\n"
        "models:\n  - name: house-model\n"
        "    bedrock_id: arn:aws:bedrock:us-east-1:1:inference-profile/x\n"
        "    max_output_tokens: 1000\n    thinking: true\n"
    )
    settings = load_settings({"GATEWAY_CONFIG": str(config), "GATEWAY_PORT": "9100"})
    assert settings.server.port == 9100
    assert settings.server.workers == 2
    route = settings.routing_table().resolve("house-model")
    assert route.max_output_tokens == 1000
    assert route.thinking is True


def test_passthrough_only_for_allowlisted_ids() -> None:
    table = load_settings(
        {"GATEWAY_PASSTHROUGH_MODELS": "amazon.nova-lite-v1:0, x.y"}
    ).routing_table()
    assert table.resolve("amazon.nova-lite-v1:0").bedrock_id == "amazon.nova-lite-v1:0"
    with pytest.raises(NotFoundError) as info:
        table.resolve("amazon.nova-pro-v1:0")
    assert info.value.param == "model"


def test_default_models_can_be_switched_off() -> None:
    table = load_settings({"GATEWAY_INCLUDE_DEFAULT_MODELS": "false"}).routing_table()
    assert table.routes() == []


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        ({"GATEWAY_PORT": "eighty"}, "GATEWAY_PORT"),
        ({"GATEWAY_DEMO": "maybe"}, "GATEWAY_DEMO"),
        ({"GATEWAY_BEDROCK_MAX_ATTEMPTS": "0"}, "bedrock.max_attempts"),
        ({"GATEWAY_API_KEYS": "short"}, "auth.api_keys[0]"),
        ({"GATEWAY_WORKERS": "0"}, "server.workers"),
    ],
)
def test_bad_environment_names_the_field(environ: dict[str, str], fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(environ)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("yaml_text", "fragment"),
    [
        ("server:\n  prot: 1\n", "server"),
        ("models:\n  - name: a\n", "models[0]"),
        (
            "models:\n  - name: a\n    bedrock_id: b\n    max_output_tokens: many\n",
            "models[0].max_output_tokens",
        ),
        ("- just a list\n", "top level"),
        ("server: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_yaml_names_the_field(tmp_path: Path, yaml_text: str, fragment: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(yaml_text)
    with pytest.raises(SettingsError) as info:
        load_settings({}, config_file=config)
    assert fragment in str(info.value)


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read config file"):
        load_settings({"GATEWAY_CONFIG": str(tmp_path / "absent.yaml")})
