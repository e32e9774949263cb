"""Application services over HTTP (application-service-api.md): identity assertion,
appservice registration, exclusive namespaces, transactions, queries and ping, against a
small fake application service (tests/api/appservice_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.api.appservice_helpers import AS_TOKEN, IRC_PROTOCOL, FakeAppService, write_registration
from tests.api.conftest import FAST_PASSWORDS, SERVER_NAME, TestUser
from veche.config import load_config
from veche.homeserver import HomeServer
from veche.services.passwords import PasswordHasher

AS_HEADERS = {"Authorization": f"Bearer {AS_TOKEN}"}
BOT = f"@bridgebot:{SERVER_NAME}"
GHOST = f"@bridge_alice:{SERVER_NAME}"


@pytest.fixture
async def fake_as() -> AsyncIterator[FakeAppService]:
    async with FakeAppService() as service:
        yield service


@pytest.fixture
def server_settings(fake_as: FakeAppService, tmp_path: Path) -> dict[str, str]:
    path = write_registration(tmp_path / "bridge.yaml", fake_as.url, receive_ephemeral=True, protocols=["irc"])
    return {"VECHE_APPSERVICE_CONFIG_FILES": str(path), "VECHE_REGISTRATION": "open"}


@pytest.fixture(autouse=True)
def quick_retries(homeserver: HomeServer) -> None:
    assert homeserver.appservice_pusher is not None
    homeserver.appservice_pusher.initial_retry_seconds = 0.05


async def _register_as_service(
    http: aiohttp.ClientSession, localpart: str, headers: dict[str, str] = AS_HEADERS
) -> tuple[int, dict[str, Any]]:
    """POST /register with the m.login.application_service type: the status and body."""
    async with http.post(
        "/_matrix/client/v3/register",
        json={"type": "m.login.application_service", "username": localpart, "inhibit_login": True},
        headers=headers,
    ) as response:
        return response.status, await response.json()


async def _register_ghost(http: aiohttp.ClientSession, localpart: str = "bridge_alice") -> dict[str, Any]:
    status, body = await _register_as_service(http, localpart)
    assert status == 200, body
    return body


async def _public_room(http: aiohttp.ClientSession, headers: dict[str, str]) -> str:
    async with http.post("/_matrix/client/v3/createRoom", json={"preset": "public_chat"}, headers=headers) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["room_id"]


async def _send(http: aiohttp.ClientSession, room_id: str, headers: dict[str, str], text: str, query: str = "") -> str:
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/{text}{query}",
        json={"msgtype": "m.text", "body": text},
        headers=headers,
    ) as response:
        assert response.status == 200, await response.text()
        return (await response.json())["event_id"]


async def _join(http: aiohttp.ClientSession, room_id: str, headers: dict[str, str], query: str = "") -> None:
    async with http.post(f"/_matrix/client/v3/join/{room_id}{query}", json={}, headers=headers) as response:
        assert response.status == 200, await response.text()


# Identity assertion


async def test_as_token_acts_as_the_sender_localpart(http: aiohttp.ClientSession) -> None:
    async with http.get("/_matrix/client/v3/account/whoami", headers=AS_HEADERS) as response:
        assert response.status == 200
        body = await response.json()
    assert body["user_id"] == BOT
    assert "device_id" not in body


async def test_masquerading_needs_a_registered_user_of_the_namespace(http: aiohttp.ClientSession) -> None:
    whoami = "/_matrix/client/v3/account/whoami?user_id="
    async with http.get(whoami + f"@someone:{SERVER_NAME}", headers=AS_HEADERS) as response:
        assert response.status == 403
    async with http.get(whoami + GHOST, headers=AS_HEADERS) as response:
        assert response.status == 403  # not registered yet
    await _register_ghost(http)
    async with http.get(whoami + GHOST, headers=AS_HEADERS) as response:
        assert response.status == 200
        assert (await response.json())["user_id"] == GHOST
    async with http.get(whoami + GHOST + "&device_id=NOPE", headers=AS_HEADERS) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_UNKNOWN_DEVICE"


async def test_a_deactivated_ghost_cannot_be_acted_as(http: aiohttp.ClientSession, homeserver: HomeServer) -> None:
    await _register_ghost(http)
    whoami = f"/_matrix/client/v3/account/whoami?user_id={GHOST}"
    async with http.get(whoami, headers=AS_HEADERS) as response:
        assert response.status == 200
    await homeserver.auth_service.deactivate(GHOST)
    async with http.get(whoami, headers=AS_HEADERS) as response:
        assert response.status == 403
    login = {"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": GHOST}}
    async with http.post("/_matrix/client/v3/login", json=login, headers=AS_HEADERS) as response:
        assert response.status == 403
        assert (await response.json())["errcode"] == "M_USER_DEACTIVATED"


async def test_masquerading_on_a_device(http: aiohttp.ClientSession) -> None:
    async with http.post(
        "/_matrix/client/v3/register",
        json={"type": "m.login.application_service", "username": "bridge_dev", "device_id": "GHOSTDEV"},
        headers=AS_HEADERS,
    ) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["device_id"] == "GHOSTDEV"
    user = f"@bridge_dev:{SERVER_NAME}"
    async with http.get(f"/_matrix/client/v3/account/whoami?user_id={user}&device_id=GHOSTDEV", headers=AS_HEADERS) as response:
        assert response.status == 200
        assert (await response.json())["device_id"] == "GHOSTDEV"


# Registration and exclusive namespaces


async def test_appservice_registration_and_exclusivity(http: aiohttp.ClientSession) -> None:
    body = await _register_ghost(http)
    assert body["user_id"] == GHOST
    assert "access_token" not in body
    status, body = await _register_as_service(http, "bridge_alice")
    assert status == 400
    assert body["errcode"] == "M_USER_IN_USE"
    # Outside the namespace.
    status, body = await _register_as_service(http, "carol")
    assert status == 400
    assert body["errcode"] == "M_EXCLUSIVE"
    # Ordinary registration cannot take a name the service owns.
    async with http.post(
        "/_matrix/client/v3/register",
        json={"username": "bridge_bob", "password": "pw", "auth": {"type": "m.login.dummy"}},
    ) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_EXCLUSIVE"
    async with http.get("/_matrix/client/v3/register/available?username=bridge_bob") as response:
        assert (await response.json())["errcode"] == "M_EXCLUSIVE"


async def test_appservice_type_needs_an_as_token(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    status, _ = await _register_as_service(http, "bridge_x", alice.headers)
    assert status == 401


async def test_appservice_login(http: aiohttp.ClientSession) -> None:
    await _register_ghost(http)
    async with http.get("/_matrix/client/v3/login") as response:
        types = [flow["type"] for flow in (await response.json())["flows"]]
    assert "m.login.application_service" in types
    login = {"type": "m.login.application_service", "identifier": {"type": "m.id.user", "user": "bridge_alice"}}
    async with http.post("/_matrix/client/v3/login", json=login, headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
        token = (await response.json())["access_token"]
    async with http.get("/_matrix/client/v3/account/whoami", headers={"Authorization": f"Bearer {token}"}) as response:
        assert (await response.json())["user_id"] == GHOST
    async with http.post("/_matrix/client/v3/login", json=login) as response:
        assert response.status == 401
    for outside in ("carol", "bridge_unregistered"):
        other = {**login, "identifier": {"type": "m.id.user", "user": outside}}
        async with http.post("/_matrix/client/v3/login", json=other, headers=AS_HEADERS) as response:
            assert response.status == 403
            assert (await response.json())["errcode"] == "M_FORBIDDEN"


async def test_exclusive_aliases(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    alias = f"%23bridge_x:{SERVER_NAME}"
    async with http.put(f"/_matrix/client/v3/directory/room/{alias}", json={"room_id": room_id}, headers=alice.headers) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_EXCLUSIVE"
    await _join(http, room_id, AS_HEADERS)
    async with http.put(f"/_matrix/client/v3/directory/room/{alias}", json={"room_id": room_id}, headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
    async with http.post(
        "/_matrix/client/v3/createRoom", json={"room_alias_name": "bridge_y"}, headers=alice.headers
    ) as response:
        assert response.status == 400
        assert (await response.json())["errcode"] == "M_EXCLUSIVE"
    async with http.post("/_matrix/client/v3/createRoom", json={"room_alias_name": "bridge_y"}, headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()


# Transactions


async def test_events_of_rooms_with_service_users_are_pushed_in_order(
    http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService
) -> None:
    alice: TestUser = await make_user("alice")
    elsewhere = await _public_room(http, alice.headers)
    room_id = await _public_room(http, alice.headers)
    await _join(http, room_id, AS_HEADERS)
    await _send(http, elsewhere, alice.headers, "unseen")
    sent = [await _send(http, room_id, alice.headers, f"m{i}") for i in range(5)]
    await fake_as.wait_for(lambda: sent[-1] in [e["event_id"] for e in fake_as.events()])
    events = fake_as.events()
    ids = [event["event_id"] for event in events]
    assert [i for i in ids if i in sent] == sent
    assert all(event["room_id"] == room_id for event in events)
    assert fake_as.bad_auth == []
    member = next(e for e in events if e["type"] == "m.room.member")
    assert member["state_key"] == BOT


async def test_failed_transactions_are_retried_with_the_same_id(
    http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService
) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    await _join(http, room_id, AS_HEADERS)
    await fake_as.wait_for(lambda: bool(fake_as.transactions))
    fake_as.fail_next = [500, 503]
    event_id = await _send(http, room_id, alice.headers, "retried")
    await fake_as.wait_for(lambda: event_id in [e["event_id"] for e in fake_as.events()])
    assert fake_as.fail_next == []
    txn_ids = [txn_id for txn_id, _ in fake_as.transactions]
    assert len(txn_ids) == len(set(txn_ids))


async def test_masqueraded_send_with_massaged_timestamp(
    http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService
) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    await _register_ghost(http)
    await _join(http, room_id, AS_HEADERS, f"?user_id={GHOST}")
    event_id = await _send(http, room_id, AS_HEADERS, "from the bridge", f"?user_id={GHOST}&ts=1234567890")
    async with http.get(f"/_matrix/client/v3/rooms/{room_id}/event/{event_id}", headers=alice.headers) as response:
        event = await response.json()
    assert event["sender"] == GHOST
    assert event["origin_server_ts"] == 1234567890
    # Alice's timestamp parameter is ignored.
    own = await _send(http, room_id, alice.headers, "mine", "?ts=5")
    async with http.get(f"/_matrix/client/v3/rooms/{room_id}/event/{own}", headers=alice.headers) as response:
        assert (await response.json())["origin_server_ts"] != 5
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/send/m.room.message/bad?ts=soon",
        json={"body": "x"},
        headers=AS_HEADERS,
    ) as response:
        assert response.status == 400
    await fake_as.wait_for(lambda: event_id in [e["event_id"] for e in fake_as.events()])


async def test_position_survives_a_restart(
    homeserver: HomeServer, http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService, tmp_path: Path
) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    await _join(http, room_id, AS_HEADERS)
    await fake_as.wait_for(lambda: bool(fake_as.transactions))
    fake_as.fail_next = [500] * 10_000
    event_id = await _send(http, room_id, alice.headers, "while down")
    await homeserver.stop()
    delivered = len(fake_as.transactions)
    fake_as.fail_next = []
    restarted = await HomeServer.create(homeserver.config, passwords=PasswordHasher(**FAST_PASSWORDS))
    try:
        await restarted.start()
        await fake_as.wait_for(lambda: event_id in [e["event_id"] for e in fake_as.events()])
    finally:
        await restarted.stop()
    assert len(fake_as.transactions) > delivered


async def test_typing_and_receipts_are_pushed_as_ephemeral_data(
    http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService
) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    await _join(http, room_id, AS_HEADERS)
    event_id = await _send(http, room_id, alice.headers, "typed")
    async with http.put(
        f"/_matrix/client/v3/rooms/{room_id}/typing/{alice.user_id}",
        json={"typing": True, "timeout": 30000},
        headers=alice.headers,
    ) as response:
        assert response.status == 200
    async with http.post(
        f"/_matrix/client/v3/rooms/{room_id}/receipt/m.read/{event_id}", json={}, headers=alice.headers
    ) as response:
        assert response.status == 200

    def ephemeral() -> list[dict[str, Any]]:
        return [edu for _, body in fake_as.transactions for edu in body.get("ephemeral", [])]

    await fake_as.wait_for(lambda: {"m.typing", "m.receipt"} <= {edu["type"] for edu in ephemeral()})
    typing = next(edu for edu in ephemeral() if edu["type"] == "m.typing")
    assert typing == {"type": "m.typing", "room_id": room_id, "content": {"user_ids": [alice.user_id]}}
    receipt = next(edu for edu in ephemeral() if edu["type"] == "m.receipt")
    assert receipt["room_id"] == room_id
    assert alice.user_id in receipt["content"][event_id]["m.read"]


# Queries and ping


async def test_unknown_alias_and_user_are_queried(http: aiohttp.ClientSession, fake_as: FakeAppService) -> None:
    alias = f"#bridge_portal:{SERVER_NAME}"

    async def create_portal(queried: str) -> bool:
        async with aiohttp.ClientSession() as session:
            base = str(http._base_url)
            async with session.post(
                base + "/_matrix/client/v3/createRoom",
                json={"room_alias_name": "bridge_portal"},
                headers=AS_HEADERS,
            ) as response:
                return response.status == 200

    fake_as.on_alias_query = create_portal
    async with http.get(f"/_matrix/client/v3/directory/room/{alias.replace('#', '%23')}", headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["room_id"].startswith("!")
    assert fake_as.queried_aliases == [alias]
    async with http.get(f"/_matrix/client/v3/directory/room/%23other:{SERVER_NAME}", headers=AS_HEADERS) as response:
        assert response.status == 404
    assert fake_as.queried_aliases == [alias]

    async def register(user_id: str) -> bool:
        await _register_ghost(http, user_id[1:].split(":")[0])
        return True

    fake_as.on_user_query = register
    async with http.get(f"/_matrix/client/v3/profile/@bridge_new:{SERVER_NAME}", headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
    assert fake_as.queried_users == [f"@bridge_new:{SERVER_NAME}"]


async def test_ping(http: aiohttp.ClientSession, make_user: Any, fake_as: FakeAppService) -> None:
    async with http.post("/_matrix/client/v1/appservice/bridge/ping", json={"transaction_id": "t1"}, headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
        assert isinstance((await response.json())["duration_ms"], int)
    assert fake_as.pings == [{"transaction_id": "t1"}]
    async with http.post("/_matrix/client/v1/appservice/other/ping", json={}, headers=AS_HEADERS) as response:
        assert response.status == 403
    alice: TestUser = await make_user("alice")
    async with http.post("/_matrix/client/v1/appservice/bridge/ping", json={}, headers=alice.headers) as response:
        assert response.status == 403
    await fake_as.stop()
    async with http.post("/_matrix/client/v1/appservice/bridge/ping", json={}, headers=AS_HEADERS) as response:
        assert response.status == 502
        assert (await response.json())["errcode"] == "M_CONNECTION_FAILED"


async def test_appservice_directory_listing(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    room_id = await _public_room(http, alice.headers)
    path = f"/_matrix/client/v3/directory/list/appservice/irc/{room_id}"
    async with http.put(path, json={"visibility": "public"}, headers=alice.headers) as response:
        assert response.status == 403
    async with http.put(path, json={"visibility": "public"}, headers=AS_HEADERS) as response:
        assert response.status == 200, await response.text()
    async with http.get(f"/_matrix/client/v3/directory/list/room/{room_id}") as response:
        assert (await response.json())["visibility"] == "public"
    async with http.put(path, json={"visibility": "sideways"}, headers=AS_HEADERS) as response:
        assert response.status == 400


async def test_third_party_lookups_are_forwarded(http: aiohttp.ClientSession, make_user: Any) -> None:
    alice: TestUser = await make_user("alice")
    async with http.get("/_matrix/client/v3/thirdparty/protocols", headers=alice.headers) as response:
        assert response.status == 200
        assert (await response.json()) == {"irc": IRC_PROTOCOL}
    async with http.get("/_matrix/client/v3/thirdparty/protocol/xmpp", headers=alice.headers) as response:
        assert response.status == 404
    async with http.get("/_matrix/client/v3/thirdparty/location/irc?channel=foo", headers=alice.headers) as response:
        assert response.status == 200
        assert (await response.json())[0]["alias"] == "#bridge_foo:veche.test"
    async with http.get(f"/_matrix/client/v3/thirdparty/user?userid={GHOST}", headers=alice.headers) as response:
        assert response.status == 200
        assert (await response.json())[0]["userid"] == GHOST
    async with http.get("/_matrix/client/v3/thirdparty/location?alias=%23x:veche.test", headers=alice.headers) as response:
        assert response.status == 404  # the fake answers no reverse location look-ups
