"""Untrusted input limits on inbound federation (issue 6), over real HTTP and TLS: three
Veche servers, `a` with rate limits on (on both engines), `b` and `c` its peers.

- a flood from one origin is answered 429 M_LIMIT_EXCEEDED while another origin is served;
- expensive requests have their own, smaller bucket and slots;
- an origin's transactions are processed one at a time, a retried one once;
- an oversize body is 413 M_TOO_LARGE, bad or too deeply nested JSON 400 M_NOT_JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from veche.api.http import MAX_JSON_BODY
from veche.homeserver import HomeServer
from veche.protocol.x_matrix import sign_request
from veche.services.federation.client import federation_path
from veche.services.federation.tls import federation_client_ssl_context

from .conftest import Certificate, start_federating_server
from .query_helpers import federation_call

V1 = "/_matrix/federation/v1"


@pytest.fixture
def limits() -> dict[str, Any]:
    return {}


@pytest.fixture
async def trio(
    certificate: Certificate, tmp_path: Path, limits: dict[str, Any], migrated_database_target: str
) -> AsyncIterator[tuple[HomeServer, HomeServer, HomeServer]]:
    """`a` on SQLite and (with VECHE_TEST_POSTGRES) PostgreSQL, its peers on SQLite."""
    started: list[HomeServer] = []
    try:
        for name in ("a", "b", "c"):
            settings = {}
            if name == "a":
                settings = {
                    "VECHE_DATABASE": migrated_database_target,
                    "VECHE_RATE_LIMITS": "on",
                    "VECHE_FEDERATION_LIMITS": json.dumps(limits),
                }
            started.append(await start_federating_server(certificate, tmp_path / name, settings))
        for hs in started:
            await hs.federation_events.outbox.stop()
        yield started[0], started[1], started[2]
    finally:
        for hs in started:
            await hs.stop()


def profile_path(hs: HomeServer) -> str:
    return f"{V1}/query/profile?user_id=%40nobody%3A{hs.server_name.replace(':', '%3A')}"


def backfill_path(room_id: str) -> str:
    return federation_path(f"{V1}/backfill/{{}}", room_id) + "?v=%24e&limit=5"


@pytest.mark.parametrize("limits", [{"per_second": 0.01, "burst": 5}])
async def test_a_flood_from_one_origin_is_refused_while_others_are_served(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate
) -> None:
    a, b, c = trio
    statuses = []
    for _ in range(8):
        status, answer = await federation_call(c, a, "GET", profile_path(a), certificate)
        statuses.append(status)
    assert statuses == [404] * 5 + [429] * 3
    assert answer["errcode"] == "M_LIMIT_EXCEEDED" and answer["retry_after_ms"] > 0

    status, answer = await federation_call(b, a, "GET", profile_path(a), certificate)
    assert status == 404 and answer["errcode"] == "M_NOT_FOUND"


@pytest.mark.parametrize("limits", [{"expensive_per_second": 0.01, "expensive_burst": 2}])
async def test_expensive_requests_have_a_smaller_bucket(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate
) -> None:
    a, _, c = trio
    path = backfill_path(f"!nowhere:{a.server_name}")
    statuses = [(await federation_call(c, a, "GET", path, certificate))[0] for _ in range(3)]
    # Not in the room (403) twice, then out of expensive tokens; cheap requests still pass.
    assert statuses == [403, 403, 429]
    status, _ = await federation_call(c, a, "GET", profile_path(a), certificate)
    assert status == 404


@pytest.mark.parametrize("limits", [{"expensive_concurrent": 1, "queued": 0}])
async def test_an_origin_over_its_concurrent_slots_is_refused(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = trio
    backfill = a.federation_backfill.backfill
    entered, release = asyncio.Event(), asyncio.Event()

    async def held_backfill(origin: str, *args: Any) -> Any:
        if origin == c.server_name:
            entered.set()
            await release.wait()
        return await backfill(origin, *args)

    monkeypatch.setattr(a.federation_backfill, "backfill", held_backfill)
    path = backfill_path(f"!nowhere:{a.server_name}")
    first = asyncio.create_task(federation_call(c, a, "GET", path, certificate))
    await asyncio.wait_for(entered.wait(), 10)

    status, answer = await federation_call(c, a, "GET", path, certificate)
    assert status == 429 and answer["errcode"] == "M_LIMIT_EXCEEDED"
    assert (await federation_call(b, a, "GET", path, certificate))[0] == 403
    assert (await federation_call(c, a, "GET", profile_path(a), certificate))[0] == 404

    release.set()
    assert (await first)[0] == 403
    assert (await federation_call(c, a, "GET", path, certificate))[0] == 403


async def test_an_origins_transactions_are_processed_one_at_a_time(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = trio
    receive = a.federation_events.edus.receive
    in_hand: list[str] = []
    overlaps: list[list[str]] = []
    handled: list[str] = []
    # Set when two transactions must be seen in hand together: each then waits (bounded)
    # for the other instead of a fixed time, so a slow machine cannot make them miss.
    both_in_hand: asyncio.Event | None = None

    async def slow_receive(origin: str, edu: Any) -> None:
        in_hand.append(origin)
        overlaps.append(list(in_hand))
        handled.append(edu["content"]["n"])
        if both_in_hand is None:
            await asyncio.sleep(0.2)
        else:
            if len(in_hand) == 2:
                both_in_hand.set()
            try:
                await asyncio.wait_for(both_in_hand.wait(), 10)
            except TimeoutError:
                pass
        in_hand.remove(origin)
        await receive(origin, edu)

    monkeypatch.setattr(a.federation_events.edus, "receive", slow_receive)

    def send(origin: HomeServer, txn_id: str) -> Any:
        body = {
            "origin": origin.server_name,
            "origin_server_ts": origin.sender.now_ms(),
            "pdus": [],
            "edus": [{"edu_type": "org.example.test", "content": {"n": f"{origin.server_name}/{txn_id}"}}],
        }
        return federation_call(origin, a, "PUT", f"{V1}/send/{txn_id}", certificate, body)

    answers = await asyncio.gather(send(c, "t1"), send(c, "t2"), send(c, "t3"), send(c, "t1"))
    assert [status for status, _ in answers] == [200] * 4
    assert all(len(together) == 1 for together in overlaps), overlaps
    # The retried t1 got the stored answer: its EDU was handled once.
    assert sorted(handled) == [f"{c.server_name}/t{i}" for i in (1, 2, 3)]

    # Another origin's transaction is not held up by c's.
    overlaps.clear()
    both_in_hand = asyncio.Event()
    await asyncio.gather(send(c, "t4"), send(b, "t1"))
    assert max(len(together) for together in overlaps) == 2


async def raw_send(a: HomeServer, certificate: Certificate, body: bytes, origin: HomeServer) -> tuple[int, Any]:
    """PUT /send with a body as given, under an X-Matrix header signed over no content
    (the body is refused before its signature is looked at)."""
    host, port = a.bound["federation"]
    path = f"{V1}/send/raw"
    header = sign_request(origin.signing_key, "PUT", path, origin.server_name, a.server_name)
    ssl_context = federation_client_ssl_context(ca_files=[certificate.cert])
    async with aiohttp.ClientSession() as http:
        async with http.put(
            URL(f"https://{host}:{port}{path}", encoded=True),
            data=body,
            headers={"Authorization": header, "Content-Type": "application/json"},
            ssl=ssl_context,
        ) as response:
            return response.status, await response.json()


async def test_oversize_and_malformed_bodies_are_refused(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate
) -> None:
    a, _, c = trio
    padding = b"x" * (MAX_JSON_BODY + 1)
    status, answer = await raw_send(a, certificate, b'{"pdus": [], "p": "' + padding + b'"}', c)
    assert (status, answer["errcode"]) == (413, "M_TOO_LARGE")

    for body in (b'{"pdus": [', b"[1, 2]", b'{"a": NaN}', b"[" * 5000 + b"]" * 5000, b"[" * 1000 + b"1.5" + b"]" * 1000):
        status, answer = await raw_send(a, certificate, body, c)
        assert (status, answer["errcode"]) == (400, "M_NOT_JSON"), body[:20]

    # Nested deeper than canonical JSON allows but within the parser's bound: the
    # signature cannot be checked over it, so the request is not authenticated.
    status, answer = await raw_send(a, certificate, b'{"a": ' + b"[" * 600 + b"]" * 600 + b"}", c)
    assert (status, answer["errcode"]) == (401, "M_UNAUTHORIZED")

    # The server is still answering well-formed transactions.
    body = {"origin": c.server_name, "origin_server_ts": c.sender.now_ms(), "pdus": [], "edus": []}
    status, answer = await federation_call(c, a, "PUT", f"{V1}/send/ok", certificate, body)
    assert (status, answer) == (200, {"pdus": {}})


async def test_notary_key_queries_are_limited_per_address(
    trio: tuple[HomeServer, HomeServer, HomeServer], certificate: Certificate
) -> None:
    a, _, c = trio

    async def flood(method: str, path: str, body: Any = None) -> list[tuple[int, Any]]:
        # At once, so that the bucket (burst 20, 2 per second) cannot refill meanwhile.
        return await asyncio.gather(*(federation_call(c, a, method, path, certificate, body) for _ in range(40)))

    posts = [status for status, _ in await flood("POST", "/_matrix/key/v2/query", {"server_keys": {}})]
    assert posts.count(200) >= 20 and posts.count(429) >= 10
    gets = await flood("GET", f"/_matrix/key/v2/query/{c.server_name}")
    refused = [answer for status, answer in gets if status == 429]
    assert len(refused) >= 20 and all(answer["errcode"] == "M_LIMIT_EXCEEDED" for answer in refused)
    assert (await federation_call(c, a, "GET", "/_matrix/key/v2/server", certificate))[0] == 200
