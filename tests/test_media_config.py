"""The media settings: defaults, the file, VECHE_* overrides and one-line errors."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from veche.config import ConfigError, load_config, render_config


def test_defaults(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    assert config.max_upload_size == 50 * 1024 * 1024
    assert config.freeze_unauthenticated_media is True
    assert config.url_previews is False
    assert config.url_preview_allowed_ranges == ()
    assert config.media_retention_days is None


def test_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "veche.yaml"
    path.write_text(
        "max_upload_size: 10M\nurl_previews: on\nurl_preview_allowed_ranges: [10.1.0.0/16, 'fd00::/8']\n"
        "media_retention_days: 90\nfreeze_unauthenticated_media: off\n"
    )
    config = load_config(path, {})
    assert config.max_upload_size == 10 * 1024 * 1024
    assert config.url_previews is True
    assert config.url_preview_allowed_ranges == (
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("fd00::/8"),
    )
    assert config.media_retention_days == 90
    assert config.freeze_unauthenticated_media is False
    config = load_config(
        path,
        {
            "VECHE_MAX_UPLOAD_SIZE": "1048576",
            "VECHE_URL_PREVIEW_ALLOWED_RANGES": "127.0.0.1/32, 192.168.0.0/24",
            "VECHE_MEDIA_RETENTION_DAYS": "off",
        },
    )
    assert config.max_upload_size == 1024 * 1024
    assert len(config.url_preview_allowed_ranges) == 2
    assert config.media_retention_days is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("VECHE_MAX_UPLOAD_SIZE", "lots"),
        ("VECHE_MAX_UPLOAD_SIZE", "0"),
        ("VECHE_URL_PREVIEWS", "maybe"),
        ("VECHE_URL_PREVIEW_ALLOWED_RANGES", "10.0.0.0/33"),
        ("VECHE_MEDIA_RETENTION_DAYS", "-3"),
    ],
)
def test_bad_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, {name: value})
    assert str(raised.value).startswith(f"{name}: ")


def test_generated_config_loads_with_the_media_defaults(tmp_path: Path) -> None:
    path = tmp_path / "veche.yaml"
    path.write_text(render_config("example.org", tmp_path / "data", tmp_path))
    config = load_config(path, {})
    assert config.max_upload_size == 50 * 1024 * 1024 and config.url_previews is False
