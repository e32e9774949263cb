"""AppServices: exclusive namespaces between services and users, rate-limit exemption."""

from __future__ import annotations

from typing import Any

import pytest

from veche.errors import MatrixError
from veche.protocol.appservice import parse_registration
from veche.services.appservices.client import AppServiceClient
from veche.services.appservices.registry import AppServices

SERVER = "example.org"


def _registration(name: str, *, rate_limited: bool = True) -> Any:
    return parse_registration(
        {
            "id": name,
            "url": None,
            "as_token": f"as-{name}",
            "hs_token": f"hs-{name}",
            "sender_localpart": f"{name}bot",
            "rate_limited": rate_limited,
            "namespaces": {
                "users": [{"exclusive": True, "regex": f"@{name}_.*:example\\.org"}],
                "aliases": [{"exclusive": True, "regex": f"#{name}_.*:example\\.org"}],
            },
        }
    )


@pytest.fixture
def services() -> AppServices:
    registrations = [_registration("irc"), _registration("free", rate_limited=False)]
    return AppServices(SERVER, registrations, accounts=None, client=AppServiceClient())  # type: ignore[arg-type]


def test_exclusive_users(services: AppServices) -> None:
    services.check_user_id("@alice:example.org")
    services.check_user_id("@irc_x:example.org", "irc")
    for owner in (None, "free"):
        with pytest.raises(MatrixError) as caught:
            services.check_user_id("@irc_x:example.org", owner)
        assert caught.value.errcode == "M_EXCLUSIVE"


def test_exclusive_aliases(services: AppServices) -> None:
    services.check_alias("@ircbot:example.org", "#irc_chan:example.org")
    services.check_alias("@irc_x:example.org", "#irc_chan:example.org")
    services.check_alias("@alice:example.org", "#chan:example.org")
    with pytest.raises(MatrixError):
        services.check_alias("@alice:example.org", "#irc_chan:example.org")
    with pytest.raises(MatrixError):
        services.check_alias("@free_x:example.org", "#irc_chan:example.org")


def test_rate_limit_exemption_follows_the_registration(services: AppServices) -> None:
    assert services.is_rate_limit_exempt("@free_x:example.org")
    assert services.is_rate_limit_exempt("@freebot:example.org")
    assert not services.is_rate_limit_exempt("@irc_x:example.org")
    assert not services.is_rate_limit_exempt("@alice:example.org")
