"""EventSerializer over real rooms: redactions, transaction IDs, replaced state, membership
and bundled aggregations (edits, threads, references)."""

from __future__ import annotations

import pytest

from tests.api.reading_helpers import create_room, join, put_state, redact, send, timeline
from veche.storage.accounts import TokenInfo


def token(user) -> TokenInfo:
    return TokenInfo(0, user.user_id, user.device_id, False, None)


async def serve(homeserver, events, user):
    return await homeserver.serializer.serialize(events, requester=token(user), now_ms=2**50)


async def served_by_id(homeserver, room_id, user):
    events = await timeline(homeserver, room_id)
    return {e["event_id"]: e for e in await serve(homeserver, events, user)}


@pytest.mark.parametrize("version", ["1", "10", "11", "12"])
async def test_redacted_events_are_pruned_with_redacted_because(http, homeserver, make_user, version):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, room_version=version)
    message = await send(http, alice, room_id, "oops")
    redaction = await redact(http, alice, room_id, message, reason="typo")
    served = await served_by_id(homeserver, room_id, alice)
    assert served[message]["content"] == {}
    because = served[message]["unsigned"]["redacted_because"]
    assert because["event_id"] == redaction
    assert because["redacts"] == message
    assert because["content"]["reason"] == "typo"


async def test_redaction_by_a_same_server_user_applies_without_power(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice, room_version="10")
    await join(homeserver, room_id, bob.user_id)
    message = await send(http, alice, room_id, "mine")
    # v3+: a redaction from the original sender's domain applies whatever the power level.
    await redact(http, bob, room_id, message)
    served = await served_by_id(homeserver, room_id, alice)
    assert served[message]["content"] == {}


async def test_transaction_id_only_for_the_sending_device(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    message = await send(http, alice, room_id, "hi")
    assert (await served_by_id(homeserver, room_id, alice))[message]["unsigned"]["transaction_id"].startswith("t")
    assert "transaction_id" not in (await served_by_id(homeserver, room_id, bob))[message]["unsigned"]


async def test_state_events_carry_prev_content_and_membership(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice, name="One")
    first = (await homeserver.stores.events.get_current_state_event(room_id, "m.room.name")).event_id
    second = await put_state(http, alice, room_id, "m.room.name", {"name": "Two"})
    served = await served_by_id(homeserver, room_id, alice)
    unsigned = served[second]["unsigned"]
    assert unsigned["prev_content"] == {"name": "One"}
    assert unsigned["replaces_state"] == first
    assert unsigned["prev_sender"] == alice.user_id
    assert unsigned["membership"] == "join"
    assert "prev_content" not in served[first]["unsigned"]


async def test_latest_valid_edit_is_bundled_and_content_left_alone(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    original = await send(http, alice, room_id, "cake")

    def edit(text):
        return {
            "msgtype": "m.text",
            "body": f"* {text}",
            "m.new_content": {"msgtype": "m.text", "body": text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": original},
        }

    await send(http, alice, room_id, edit("chocolate cake"))
    latest = await send(http, alice, room_id, edit("lemon cake"))
    await send(http, bob, room_id, edit("not yours"))  # another sender: invalid
    served = (await served_by_id(homeserver, room_id, alice))[original]
    assert served["content"]["body"] == "cake"
    bundled = served["unsigned"]["m.relations"]["m.replace"]
    assert bundled["event_id"] == latest
    assert bundled["content"]["m.new_content"]["body"] == "lemon cake"

    # Redacting the original drops the edit from the bundle.
    await redact(http, alice, room_id, original)
    served = (await served_by_id(homeserver, room_id, alice))[original]
    assert "m.replace" not in served["unsigned"].get("m.relations", {})


async def test_thread_and_reference_aggregations(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    root = await send(http, alice, room_id, "root")
    thread = {"rel_type": "m.thread", "event_id": root}
    await send(http, bob, room_id, {"msgtype": "m.text", "body": "one", "m.relates_to": thread})
    doomed = await send(http, bob, room_id, {"msgtype": "m.text", "body": "two", "m.relates_to": thread})
    last = await send(http, bob, room_id, {"msgtype": "m.text", "body": "three", "m.relates_to": thread})
    await redact(http, bob, room_id, doomed)
    ref = await send(http, alice, room_id, {"body": "see", "m.relates_to": {"rel_type": "m.reference", "event_id": root}})

    relations = (await served_by_id(homeserver, room_id, alice))[root]["unsigned"]["m.relations"]
    assert relations["m.thread"]["count"] == 2
    assert relations["m.thread"]["latest_event"]["event_id"] == last
    assert relations["m.thread"]["current_user_participated"] is True
    assert relations["m.reference"] == {"chunk": [{"event_id": ref}]}
    assert "m.annotation" not in relations

    carol = await make_user("carol")
    await join(homeserver, room_id, carol.user_id)
    relations = (await served_by_id(homeserver, room_id, carol))[root]["unsigned"]["m.relations"]
    assert relations["m.thread"]["current_user_participated"] is False


async def test_ignored_senders_are_left_out_of_aggregations(http, homeserver, make_user):
    alice = await make_user("alice")
    bob = await make_user("bob")
    room_id = await create_room(http, alice)
    await join(homeserver, room_id, bob.user_id)
    root = await send(http, alice, room_id, "root")
    await send(http, bob, room_id, {"body": "x", "m.relates_to": {"rel_type": "m.thread", "event_id": root}})
    path = f"/_matrix/client/v3/user/{alice.user_id}/account_data/m.ignored_user_list"
    async with http.put(path, json={"ignored_users": {bob.user_id: {}}}, headers=alice.headers) as response:
        assert response.status == 200, await response.text()
    served = (await served_by_id(homeserver, room_id, alice))[root]
    assert "m.relations" not in served["unsigned"]


async def test_prev_content_of_a_redacted_state_event_is_pruned(http, homeserver, make_user):
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    topic = await put_state(http, alice, room_id, "m.room.topic", {"topic": "secret plans"})
    await redact(http, alice, room_id, topic)
    second = await put_state(http, alice, room_id, "m.room.topic", {"topic": "nothing to see"})
    served = await served_by_id(homeserver, room_id, alice)
    assert served[topic]["content"] == {}
    assert served[second]["unsigned"]["prev_content"] == {}
    assert served[second]["unsigned"]["replaces_state"] == topic


async def test_new_message_served_before_and_after_it_is_related_to_and_redacted(http, homeserver, make_user):
    # A new local event is known to be named by nothing, so serving it skips the lookups;
    # a later edit or redaction must still show.
    alice = await make_user("alice")
    room_id = await create_room(http, alice)
    original = await send(http, alice, room_id, "cake")
    assert "m.relations" not in (await served_by_id(homeserver, room_id, alice))[original]["unsigned"]
    edit = await send(http, alice, room_id, {
        "msgtype": "m.text",
        "body": "* pie",
        "m.new_content": {"msgtype": "m.text", "body": "pie"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": original},
    })
    served = (await served_by_id(homeserver, room_id, alice))[original]
    assert served["unsigned"]["m.relations"]["m.replace"]["event_id"] == edit
    await redact(http, alice, room_id, edit)
    served = await served_by_id(homeserver, room_id, alice)
    assert served[edit]["content"] == {}
    assert "m.relations" not in served[original]["unsigned"]
