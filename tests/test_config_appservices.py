"""The appservice_config_files setting: registration files loaded and checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from veche.config import ConfigError, load_config

REGISTRATION = {
    "id": "bridge",
    "url": None,
    "as_token": "a",
    "hs_token": "h",
    "sender_localpart": "bot",
    "namespaces": {"users": [{"exclusive": True, "regex": "@b_.*"}]},
}


def _write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_registrations_load_from_the_file_and_the_environment(tmp_path: Path) -> None:
    _write(tmp_path / "bridge.yaml", REGISTRATION)
    config_file = tmp_path / "veche.yaml"
    config_file.write_text("appservice_config_files: [bridge.yaml]\n", encoding="utf-8")
    config = load_config(config_file, {})
    assert [reg.id for reg in config.appservices] == ["bridge"]
    other = _write(tmp_path / "other.yaml", {**REGISTRATION, "id": "other", "as_token": "a2", "hs_token": "h2"})
    config = load_config(None, {"VECHE_APPSERVICE_CONFIG_FILES": f"{tmp_path / 'bridge.yaml'},{other}"})
    assert [reg.id for reg in config.appservices] == ["bridge", "other"]
    assert load_config(None, {}).appservices == ()


@pytest.mark.parametrize(
    "content, problem",
    [
        ({**REGISTRATION, "hs_token": 5}, "hs_token: expected a non-empty string"),
        ({**REGISTRATION, "namespaces": {"users": [{"regex": "["}]}}, "namespaces.users[0].regex"),
        ("[not: a mapping", "not valid YAML"),
    ],
)
def test_a_bad_registration_is_one_line(tmp_path: Path, content: object, problem: str) -> None:
    path = tmp_path / "bridge.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        _write(path, content)
    with pytest.raises(ConfigError) as info:
        load_config(None, {"VECHE_APPSERVICE_CONFIG_FILES": str(path)})
    message = str(info.value)
    assert str(path) in message and problem in message
    assert "\n" not in message


def test_missing_file_and_duplicate_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the registration"):
        load_config(None, {"VECHE_APPSERVICE_CONFIG_FILES": str(tmp_path / "absent.yaml")})
    first = _write(tmp_path / "a.yaml", REGISTRATION)
    second = _write(tmp_path / "b.yaml", {**REGISTRATION, "id": "two"})
    with pytest.raises(ConfigError, match="VECHE_APPSERVICE_CONFIG_FILES: as_token"):
        load_config(None, {"VECHE_APPSERVICE_CONFIG_FILES": f"{first},{second}"})
