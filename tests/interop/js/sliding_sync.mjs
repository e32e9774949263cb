// An encrypted conversation on a real Veche in which one matrix-js-sdk client (Rust crypto,
// in-memory stores) syncs with simplified sliding sync (MSC4186) instead of /v3/sync,
// driven by tests/interop/test_js_sdk_sliding_sync.py:
//
//   node sliding_sync.mjs <base_url>
//
// Bob (/v3/sync) creates an encrypted, named room and invites Alice (sliding sync: a room
// list and the SDK's to_device, e2ee, account_data, typing and receipts extensions). Alice
// sees the invite, joins, and each decrypts the other's messages: room keys reach Alice
// through the to_device extension and her device list through the e2ee one. Alice sees the
// room's name and Bob typing. Progress goes to stderr; the last stdout line is "OK" on
// success, and any failure exits non-zero with the reason.

import { logger } from "matrix-js-sdk/lib/logger.js";
import * as sdk from "matrix-js-sdk";
import { SlidingSync } from "matrix-js-sdk/lib/sliding-sync.js";

const baseUrl = process.argv[2];
const PASSWORD = "interop password";
const STEP_TIMEOUT_MS = 30_000;
const ALL_STATE = [["*", "*"]];

logger.setLevel("error");

function step(message) {
    process.stderr.write(`[sliding] ${message}\n`);
}

async function waitFor(what, predicate, timeoutMs = STEP_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        const value = await predicate();
        if (value) return value;
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`timed out waiting for ${what}`);
}

async function api(method, path, body, accessToken) {
    const headers = { "Content-Type": "application/json" };
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    const response = await fetch(`${baseUrl}/_matrix/client/v3${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
}

async function register(username) {
    return api("POST", "/register", { username, password: PASSWORD, auth: { type: "m.login.dummy" } });
}

// Push rules belong to another part of the server that may not exist yet. js-sdk will not
// start syncing without them, so while the server answers 404 here, the client gets an
// empty rule set. Once the server serves push rules this shim never fires.
async function fetchWithPushRulesFallback(resource, options) {
    const response = await fetch(resource, options);
    const url = new URL(resource instanceof Request ? resource.url : String(resource));
    if (response.status === 404 && url.pathname.endsWith("/pushrules/")) {
        return new Response(JSON.stringify({ global: {} }), {
            status: 200,
            headers: { "Content-Type": "application/json" },
        });
    }
    return response;
}

// The bodies of the room's messages the client has decrypted so far.
async function decryptedBodies(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return [];
    const bodies = [];
    for (const event of room.getLiveTimeline().getEvents()) {
        if (event.isEncrypted()) await client.decryptEventIfNeeded(event);
        if (event.getType() === "m.room.message" && !event.isDecryptionFailure()) {
            bodies.push(event.getContent().body);
        }
    }
    return bodies;
}

async function waitToDecrypt(client, name, roomId, body) {
    await waitFor(`${name} to decrypt "${body}"`, async () => (await decryptedBodies(client, roomId)).includes(body));
    step(`${name} decrypted "${body}"`);
}

async function sendText(client, roomId, body) {
    const { event_id: eventId } = await client.sendMessage(roomId, { msgtype: "m.text", body });
    const event = client.getRoom(roomId).findEventById(eventId);
    if (event && !event.isEncrypted()) throw new Error(`"${body}" was sent unencrypted`);
    return eventId;
}

function newClient(session) {
    return sdk.createClient({
        baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
        fetchFn: fetchWithPushRulesFallback,
    });
}

async function startSyncClient(session, name) {
    const client = newClient(session);
    await client.initRustCrypto({ useIndexedDB: false });
    await client.startClient({ initialSyncLimit: 30 });
    await waitFor(`${name}'s first sync`, () => client.isInitialSyncComplete());
    step(`${name} is syncing with /v3/sync`);
    return client;
}

async function startSlidingClient(session, name) {
    const client = newClient(session);
    await client.initRustCrypto({ useIndexedDB: false });
    const lists = new Map([["all", { ranges: [[0, 19]], timeline_limit: 10, required_state: ALL_STATE }]]);
    const slidingSync = new SlidingSync(baseUrl, lists, { timeline_limit: 10, required_state: ALL_STATE }, client, 10_000);
    await client.startClient({ slidingSync });
    await waitFor(`${name}'s first sliding sync`, () => client.isInitialSyncComplete());
    step(`${name} is syncing with sliding sync`);
    return client;
}

async function main() {
    const aliceSession = await register("alice");
    const bobSession = await register("bob");
    const alice = await startSlidingClient(aliceSession, "alice");
    const bob = await startSyncClient(bobSession, "bob");

    const { room_id: roomId } = await bob.createRoom({
        name: "Sliding tea",
        preset: "private_chat",
        invite: [aliceSession.user_id],
        initial_state: [
            { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
    });
    step(`bob created ${roomId}`);
    await waitFor("alice's invite", () => alice.getRoom(roomId)?.getMyMembership() === "invite");
    step("alice sees the invite");
    await alice.joinRoom(roomId);
    await waitFor("alice to be joined", () => alice.getRoom(roomId)?.getMyMembership() === "join");
    await waitFor("bob to see alice join", () => bob.getRoom(roomId)?.getMember(aliceSession.user_id)?.membership === "join");
    await waitFor("alice to know the room is encrypted", () => alice.getCrypto().isEncryptionEnabledInRoom(roomId));
    await waitFor("alice to see the room's name", () => alice.getRoom(roomId)?.name === "Sliding tea");
    step("alice sees the room's name and encryption");

    await sendText(bob, roomId, "hello from bob");
    await waitToDecrypt(alice, "alice", roomId, "hello from bob");
    await sendText(alice, roomId, "hello from alice");
    await waitToDecrypt(bob, "bob", roomId, "hello from alice");

    await bob.sendTyping(roomId, true, 20_000);
    await waitFor("alice to see bob typing", () =>
        alice.getRoom(roomId)?.getMember(bobSession.user_id)?.typing === true);
    step("alice sees bob typing");

    for (const client of [alice, bob]) client.stopClient();
    process.stdout.write("OK\n");
}

main().then(
    () => process.exit(0),
    (error) => {
        process.stderr.write(`[sliding] FAILED: ${error.stack || error}\n`);
        process.exit(1);
    },
);
