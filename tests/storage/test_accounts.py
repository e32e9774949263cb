"""AccountStore on both engines: accounts, devices, hashed tokens and the token cache."""

from __future__ import annotations

import pytest

from veche.storage.accounts import (
    AccountStore,
    RegistrationTokenUnusable,
    UserIdTaken,
    hash_token,
)
from veche.storage.database import Database
from veche.storage.registration_tokens import RegistrationTokenStore
from veche.storage.uia_sessions import UiaSessionStore

ALICE = "@alice:example.org"


@pytest.fixture
async def accounts(database: Database) -> AccountStore:
    store = AccountStore(database)
    await store.create_account(ALICE, "hash-1")
    return store


async def test_create_and_get_account(accounts: AccountStore) -> None:
    account = await accounts.get_account(ALICE)
    assert account is not None
    assert (account.user_id, account.password_hash) == (ALICE, "hash-1")
    assert not account.is_admin and not account.is_guest and not account.deactivated
    assert account.created_ts > 0
    assert await accounts.get_account("@bob:example.org") is None


async def test_taken_user_id_is_refused(accounts: AccountStore) -> None:
    with pytest.raises(UserIdTaken):
        await accounts.create_account(ALICE, None)
    assert await accounts.user_id_exists(ALICE)
    assert not await accounts.user_id_exists("@bob:example.org")


async def test_admin_and_guest_flags(accounts: AccountStore) -> None:
    await accounts.create_account("@root:example.org", "h", is_admin=True)
    await accounts.create_account("@guest1:example.org", None, is_guest=True)
    root = await accounts.get_account("@root:example.org")
    guest = await accounts.get_account("@guest1:example.org")
    assert root is not None and root.is_admin
    assert guest is not None and guest.is_guest and guest.password_hash is None


async def test_set_password_hash(accounts: AccountStore) -> None:
    await accounts.set_password_hash(ALICE, "hash-2")
    account = await accounts.get_account(ALICE)
    assert account is not None and account.password_hash == "hash-2"


async def test_devices(accounts: AccountStore) -> None:
    assert await accounts.create_device(ALICE, "PHONE", "Alice's phone")
    assert not await accounts.create_device(ALICE, "PHONE", "renamed")
    assert await accounts.create_device(ALICE, "LAPTOP")
    device = await accounts.get_device(ALICE, "PHONE")
    assert device is not None and device.display_name == "Alice's phone"
    assert [d.device_id for d in await accounts.list_devices(ALICE)] == ["LAPTOP", "PHONE"]
    await accounts.delete_device(ALICE, "PHONE")
    assert await accounts.get_device(ALICE, "PHONE") is None
    assert [d.device_id for d in await accounts.list_devices(ALICE)] == ["LAPTOP"]


async def test_access_token_is_stored_hashed(accounts: AccountStore, database: Database) -> None:
    await accounts.create_device(ALICE, "PHONE")
    token = await accounts.create_access_token(ALICE, "PHONE", expires_ts=123)
    stored = await database.fetchall("SELECT token_hash FROM access_tokens")
    assert [bytes(row[0]) for row in stored] == [hash_token(token)]
    info = await accounts.lookup_access_token(token)
    assert info is not None
    assert (info.user_id, info.device_id, info.is_guest, info.expires_ts) == (
        ALICE,
        "PHONE",
        False,
        123,
    )
    assert await accounts.lookup_access_token(token + "x") is None


async def test_logout_evicts_the_cached_token(accounts: AccountStore) -> None:
    await accounts.create_device(ALICE, "PHONE")
    token = await accounts.create_access_token(ALICE, "PHONE")
    info = await accounts.lookup_access_token(token)
    assert info is not None
    assert await accounts.lookup_access_token(token) == info  # now from the cache
    await accounts.delete_access_token(info.token_id)
    assert await accounts.lookup_access_token(token) is None


async def test_deleting_a_device_revokes_its_tokens(accounts: AccountStore) -> None:
    await accounts.create_device(ALICE, "PHONE")
    await accounts.create_device(ALICE, "LAPTOP")
    phone = await accounts.create_access_token(ALICE, "PHONE")
    laptop = await accounts.create_access_token(ALICE, "LAPTOP")
    refresh = await accounts.create_refresh_token(ALICE, "PHONE")
    assert await accounts.lookup_access_token(phone) is not None
    await accounts.delete_devices(ALICE, ["PHONE"])
    assert await accounts.lookup_access_token(phone) is None
    assert await accounts.lookup_refresh_token(refresh) is None
    assert await accounts.lookup_access_token(laptop) is not None


async def test_logout_all_but_one(accounts: AccountStore) -> None:
    await accounts.create_device(ALICE, "PHONE")
    await accounts.create_device(ALICE, "LAPTOP")
    phone = await accounts.create_access_token(ALICE, "PHONE")
    laptop = await accounts.create_access_token(ALICE, "LAPTOP")
    keep = await accounts.lookup_access_token(laptop)
    assert keep is not None and await accounts.lookup_access_token(phone) is not None
    await accounts.delete_access_tokens_for_user(ALICE, except_token_id=keep.token_id)
    assert await accounts.lookup_access_token(phone) is None
    assert await accounts.lookup_access_token(laptop) == keep
    await accounts.delete_access_tokens_for_user(ALICE)
    assert await accounts.lookup_access_token(laptop) is None


async def test_refresh_tokens(accounts: AccountStore) -> None:
    await accounts.create_device(ALICE, "PHONE")
    token = await accounts.create_refresh_token(ALICE, "PHONE", expires_ts=99)
    info = await accounts.lookup_refresh_token(token)
    assert info is not None
    assert (info.user_id, info.device_id, info.expires_ts) == (ALICE, "PHONE", 99)
    await accounts.delete_refresh_token(info.token_id)
    assert await accounts.lookup_refresh_token(token) is None


async def test_registration_token_is_spent_with_the_account(
    accounts: AccountStore, database: Database
) -> None:
    tokens = RegistrationTokenStore(database)
    assert await tokens.create("once", 1, None)
    assert not await tokens.create("once", 5, None)
    # A taken user ID rolls the token use back.
    with pytest.raises(UserIdTaken):
        await accounts.create_account(ALICE, None, registration_token="once")
    token = await tokens.get("once")
    assert token is not None and token.completed == 0
    await accounts.create_account("@bob:example.org", None, registration_token="once")
    with pytest.raises(RegistrationTokenUnusable):
        await accounts.create_account("@carol:example.org", None, registration_token="once")
    assert not await accounts.user_id_exists("@carol:example.org")
    await tokens.create("expired", None, 1)
    with pytest.raises(RegistrationTokenUnusable):
        await accounts.create_account("@carol:example.org", None, registration_token="expired")
    assert [t.token for t in await tokens.list()] == ["once", "expired"]
    assert await tokens.delete("once") and not await tokens.delete("once")


async def test_deactivation_and_device_management(accounts: AccountStore) -> None:
    for device_id in ("A", "B", "C"):
        await accounts.create_device(ALICE, device_id)
    token = await accounts.create_access_token(ALICE, "A")
    assert await accounts.set_device_display_name(ALICE, "A", "Phone")
    assert not await accounts.set_device_display_name(ALICE, "NOPE", "x")
    await accounts.record_device_seen(ALICE, "A", "10.0.0.1")
    device = await accounts.get_device(ALICE, "A")
    assert device is not None and device.display_name == "Phone"
    assert device.last_seen_ip == "10.0.0.1" and device.last_seen_ts
    assert sorted(await accounts.delete_all_devices(ALICE, except_device_id="A")) == ["B", "C"]
    assert await accounts.lookup_access_token(token) is not None
    assert await accounts.deactivate_account(ALICE) == ["A"]
    assert await accounts.lookup_access_token(token) is None
    account = await accounts.get_account(ALICE)
    assert account is not None and account.deactivated


async def test_refresh_token_rotation(accounts: AccountStore) -> None:
    await accounts.create_device(ALICE, "PHONE")
    first = await accounts.issue_tokens(
        ALICE, "PHONE", access_expires_ts=None, with_refresh_token=True
    )
    assert first.refresh_token is not None
    rt1 = await accounts.lookup_refresh_token(first.refresh_token)
    assert rt1 is not None and rt1.prev_token_id is None
    second = await accounts.rotate_refresh_token(rt1, access_expires_ts=5)
    assert await accounts.lookup_access_token(first.access_token) is None
    assert second.refresh_token is not None
    # The old refresh token survives until the new access token is used.
    assert await accounts.lookup_refresh_token(first.refresh_token) is not None
    info = await accounts.lookup_access_token(second.access_token)
    assert info is not None and info.expires_ts == 5
    assert await accounts.lookup_refresh_token(first.refresh_token) is None
    rt2 = await accounts.lookup_refresh_token(second.refresh_token)
    assert rt2 is not None and rt2.prev_token_id is None


async def test_uia_sessions(database: Database) -> None:
    sessions = UiaSessionStore(database)
    await sessions.create("s1", "POST /x", ALICE, 1000)
    await sessions.create("s2", "POST /y", None, 5000)
    await sessions.set_completed("s1", [("m.login.password", ALICE)])
    s1 = await sessions.get("s1")
    assert s1 is not None
    assert (s1.action, s1.user_id, s1.completed) == ("POST /x", ALICE, [("m.login.password", ALICE)])
    await sessions.delete_created_before(2000)
    assert await sessions.get("s1") is None and await sessions.get("s2") is not None
