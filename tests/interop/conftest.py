"""Interop tests drive a real Veche with independently written clients from the package
registries. They reuse the API tests' server fixtures, on SQLite only: the clients are
what is under test here, the storage engines are covered by the API tests."""

from __future__ import annotations

import pytest

from tests.api.conftest import base_url, homeserver  # noqa: F401  (fixtures)


@pytest.fixture
def database_engine() -> str:
    return "sqlite"


@pytest.fixture
def server_settings() -> dict[str, str]:
    return {"VECHE_REGISTRATION": "open"}
