"""The `caches` setting: cache bounds from the file or the environment, checked."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import yaml

from veche.config import ConfigError, load_config, render_config
from veche.storage.cache import CacheSizes


def test_unset_caches_keep_their_defaults() -> None:
    assert load_config(None, {}).caches == CacheSizes()


def test_file_sets_some_caches(tmp_path: Path) -> None:
    path = tmp_path / "veche.yaml"
    path.write_text("caches:\n  events: 2000\n  state_entries: 5000\n")
    caches = load_config(path, {}).caches
    assert caches == CacheSizes(events=2000, state_entries=5000)


def test_environment_takes_a_json_object(tmp_path: Path) -> None:
    path = tmp_path / "veche.yaml"
    path.write_text("caches:\n  events: 2000\n")
    caches = load_config(path, {"VECHE_CACHES": '{"interned_ids": 7}'}).caches
    assert caches == CacheSizes(interned_ids=7)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"event": 5}', "unknown cache 'event'"),
        ('{"events": 0}', "expected a positive whole number"),
        ('{"events": "10"}', "expected a positive whole number"),
        ('{"events": true}', "expected a positive whole number"),
        ("[1]", "expected a mapping of cache sizes"),
        ("events=5", "expected a JSON object"),
    ],
)
def test_bad_cache_sizes_name_the_variable(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"VECHE_CACHES": value})
    assert str(info.value).startswith("VECHE_CACHES: ")
    assert problem in str(info.value)


def test_rendered_config_documents_every_cache_with_its_default(tmp_path: Path) -> None:
    text = render_config("example.org", tmp_path, tmp_path)
    lines = text.splitlines()
    start = lines.index("# caches:")
    end = start + 1
    while lines[end].startswith("#   "):
        end += 1
    block = [line.removeprefix("#") for line in lines[start:end]]
    assert yaml.safe_load("\n".join(block))["caches"] == asdict(CacheSizes())
