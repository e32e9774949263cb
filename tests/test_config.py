"""Config loading: defaults, the file, environment overrides, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from veche.config import ConfigError, load_config, render_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "veche.yaml"
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    assert config.server_name == "localhost"
    assert config.data_dir == tmp_path / "data"
    assert config.database == str(tmp_path / "data" / "veche.db")
    assert config.signing_key_path == tmp_path / "data" / "signing.key"
    [listener] = config.listeners
    assert (listener.host, listener.port, listener.resources) == ("127.0.0.1", 8008, {"client"})
    assert config.public_baseurl == "http://127.0.0.1:8008"
    assert config.registration == "closed"
    assert config.rate_limits is True
    assert config.default_room_version == "12"
    assert config.log_level == "INFO"


def test_file_settings_and_relative_paths(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir("/")
    path = write(
        tmp_path,
        """
server_name: example.org
data_dir: store
database: db/veche.sqlite
listeners:
  - address: "[::1]:9000"
    resources: [client]
public_baseurl: https://matrix.example.org/
registration: token
rate_limits: off
default_room_version: 11
log_level: debug
""",
    )
    config = load_config(path, {})
    assert config.server_name == "example.org"
    assert config.data_dir == tmp_path / "store"
    assert config.database == str(tmp_path / "db" / "veche.sqlite")
    assert config.signing_key_path == tmp_path / "store" / "signing.key"
    assert (config.listeners[0].host, config.listeners[0].port) == ("::1", 9000)
    assert config.listeners[0].address == "[::1]:9000"
    assert config.public_baseurl == "https://matrix.example.org/"
    assert config.registration == "token"
    assert config.rate_limits is False
    assert config.default_room_version == "11"
    assert config.log_level == "DEBUG"
    assert config.config_path == path


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, "server_name: example.org\nregistration: closed\n")
    environ = {
        "VECHE_SERVER_NAME": "other.example:8448",
        "VECHE_LISTEN": "0.0.0.0:8080",
        "VECHE_DATA_DIR": "/var/lib/veche",
        "VECHE_DATABASE": "postgresql://veche:secret@db/veche",
        "VECHE_REGISTRATION": "open",
        "VECHE_RATE_LIMITS": "OFF",
        "VECHE_DEFAULT_ROOM_VERSION": "10",
        "VECHE_LOG_LEVEL": "warning",
        "VECHE_PUBLIC_BASEURL": "https://chat.example",
        "VECHE_SIGNING_KEY_PATH": "keys/signing.key",
    }
    config = load_config(path, environ)
    assert config.server_name == "other.example:8448"
    assert (config.listeners[0].host, config.listeners[0].port) == ("0.0.0.0", 8080)
    assert config.data_dir == Path("/var/lib/veche")
    assert config.database == "postgresql://veche:secret@db/veche"
    assert config.registration == "open"
    assert config.rate_limits is False
    assert config.default_room_version == "10"
    assert config.log_level == "WARNING"
    assert config.public_baseurl == "https://chat.example"
    # Paths from the environment are relative to the current directory.
    assert config.signing_key_path == tmp_path / "keys" / "signing.key"


def test_database_defaults_inside_overridden_data_dir(tmp_path: Path) -> None:
    config = load_config(None, {"VECHE_DATA_DIR": str(tmp_path / "d")})
    assert config.database == str(tmp_path / "d" / "veche.db")


def test_wildcard_listen_address_gives_a_usable_baseurl() -> None:
    config = load_config(None, {"VECHE_LISTEN": "0.0.0.0:8008"})
    assert config.public_baseurl == "http://localhost:8008"


def test_listen_override_adds_a_client_listener_if_needed(tmp_path: Path) -> None:
    config = load_config(None, {"VECHE_LISTEN": "127.0.0.1:0"})
    listener = config.listener_for("client")
    assert listener is not None and listener.port == 0


ENV_ERRORS = [
    ("VECHE_SERVER_NAME", "not a server!", "invalid server name"),
    ("VECHE_LISTEN", "8008", "expected host:port"),
    ("VECHE_LISTEN", "localhost:99999", "invalid port"),
    ("VECHE_LISTEN", "::1:8008", "brackets"),
    ("VECHE_LISTEN", "[nope]:8008", "invalid IPv6"),
    ("VECHE_DATABASE", "mysql://db/veche", "unsupported database URL scheme"),
    ("VECHE_REGISTRATION", "maybe", "expected one of closed, token, open"),
    ("VECHE_RATE_LIMITS", "sometimes", "expected on or off"),
    ("VECHE_DEFAULT_ROOM_VERSION", "13", "unknown room version"),
    ("VECHE_LOG_LEVEL", "LOUD", "expected one of DEBUG"),
    ("VECHE_PUBLIC_BASEURL", "matrix.example.org", "expected an http:// or https:// URL"),
    ("VECHE_DATA_DIR", "", "expected a path"),
]


@pytest.mark.parametrize(("name", "value", "problem"), ENV_ERRORS)
def test_environment_errors_name_the_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {name: value})
    message = str(info.value)
    assert message.startswith(f"{name}: ")
    assert problem in message
    assert "\n" not in message


FILE_ERRORS = [
    ("server_name: [a]\n", "server_name", "expected a server name"),
    ("servername: x\n", "servername", "unknown setting"),
    ("listeners: []\n", "listeners", "non-empty list"),
    ("listeners:\n  - address: 1.2.3.4\n    resources: [client]\n", "listeners[0].address", "host:port"),
    ("listeners:\n  - address: 1.2.3.4:80\n", "listeners[0].resources", "non-empty list"),
    (
        "listeners:\n  - address: 1.2.3.4:80\n    resources: [bogus]\n",
        "listeners[0].resources",
        "unknown resource 'bogus'",
    ),
    (
        "listeners:\n  - address: 1.2.3.4:80\n    resources: [client]\n"
        "  - address: 1.2.3.4:81\n    resources: [client]\n",
        "listeners[1]",
        "served by two listeners",
    ),
    ("listeners:\n  - address: 1.2.3.4:80\n    resources: [client]\n    x_forwarded: true\n", "listeners[0].x_forwarded", "unknown setting"),
    ("rate_limits: 1\n", "rate_limits", "expected on or off"),
    ("default_room_version: true\n", "default_room_version", "unknown room version"),
    ("- a\n- b\n", "", "mapping of settings"),
    ("server_name: [unclosed\n", "", "not valid YAML at line"),
]


@pytest.mark.parametrize(("text", "setting", "problem"), FILE_ERRORS)
def test_file_errors_name_the_setting(tmp_path: Path, text: str, setting: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert message.startswith(f"{path}: {setting}".rstrip())
    assert problem in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_config(tmp_path / "absent.yaml", {})


def test_rendered_config_loads_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    text = render_config("example.org:8448", data_dir, data_dir)
    assert yaml.safe_load(text)["data_dir"] == "."
    path = data_dir / "veche.yaml"
    data_dir.mkdir()
    path.write_text(text)
    config = load_config(path, {})
    assert config.server_name == "example.org:8448"
    assert config.data_dir == data_dir
    assert config.registration == "closed" and config.rate_limits is True


def test_rendered_config_outside_data_dir_uses_an_absolute_path(tmp_path: Path) -> None:
    text = render_config("example.org", tmp_path / "data", tmp_path / "etc")
    assert yaml.safe_load(text)["data_dir"] == str(tmp_path / "data")
