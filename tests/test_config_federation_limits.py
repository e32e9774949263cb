"""The `federation_limits` setting: per-origin federation limits from the file or the
environment, checked."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from veche.config import ConfigError, load_config, render_config
from veche.services.ratelimit import FederationLimits


def test_unset_limits_keep_their_defaults() -> None:
    assert load_config(None, {}).federation_limits == FederationLimits()


def test_file_sets_some_limits_and_the_environment_overrides_them(tmp_path: Path) -> None:
    path = tmp_path / "veche.yaml"
    path.write_text("federation_limits:\n  burst: 2000\n  per_second: 0.5\n")
    assert load_config(path, {}).federation_limits == FederationLimits(burst=2000, per_second=0.5)
    limits = load_config(path, {"VECHE_FEDERATION_LIMITS": '{"queued": 0}'}).federation_limits
    assert limits == FederationLimits(queued=0)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"bursts": 5}', "unknown federation limit 'bursts'"),
        ('{"burst": 0}', "expected a whole number of requests of at least 1"),
        ('{"concurrent": 2.5}', "expected a whole number"),
        ('{"queued": -1}', "expected a whole number of requests of at least 0"),
        ('{"per_second": 0}', "expected a positive number"),
        ('{"expensive_per_second": true}', "expected a positive number"),
        ("[1]", "expected a mapping of federation limits"),
        ("burst=5", "expected a JSON object"),
    ],
)
def test_bad_limits_name_the_variable(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"VECHE_FEDERATION_LIMITS": value})
    assert str(info.value).startswith("VECHE_FEDERATION_LIMITS: ")
    assert problem in str(info.value)


def test_rendered_config_documents_every_limit_with_its_default(tmp_path: Path) -> None:
    lines = render_config("example.org", tmp_path, tmp_path).splitlines()
    start = lines.index("# federation_limits:")
    end = start + 1
    while end < len(lines) and lines[end].startswith("#   "):
        end += 1
    block = [line.removeprefix("#") for line in lines[start:end]]
    assert yaml.safe_load("\n".join(block))["federation_limits"] == asdict(FederationLimits())
