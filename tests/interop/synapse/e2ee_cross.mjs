// An encrypted conversation across federation, driven by
// tests/interop/test_synapse_federation.py:
//
//   node e2ee_cross.mjs <node_modules dir> <veche client URL> <synapse client URL>
//
// matrix-js-sdk (Rust crypto, in-memory stores) comes from the E2EE tests' install in
// tests/interop/js/node_modules, passed as the first argument. Alice on Veche creates an
// encrypted room and invites Bob on Synapse; once each sees the other's device (remote
// /keys/query, retried because Synapse may answer with a failure while it resyncs), both
// send and each decrypts the other's message. Then each logs in a second device: a client
// already tracking the other user learns of it only through device-list updates over
// federation (m.device_list_update, then device_lists.changed in /sync), so each side's
// next message must reach the other's new device. Progress goes to stderr; the last
// stdout line is "OK" on success, and any failure exits non-zero with the reason.

import path from "node:path";
import { pathToFileURL } from "node:url";

const [modulesDir, vecheUrl, synapseUrl] = process.argv.slice(2);
const sdk = await import(pathToFileURL(path.join(modulesDir, "matrix-js-sdk", "lib", "index.js")).href);
const { logger } = await import(pathToFileURL(path.join(modulesDir, "matrix-js-sdk", "lib", "logger.js")).href);

const PASSWORD = "interop password";
const STEP_TIMEOUT_MS = 30_000;

logger.setLevel("error");

function step(message) {
    process.stderr.write(`[e2ee-cross] ${message}\n`);
}

async function waitFor(what, predicate, timeoutMs = STEP_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        const value = await predicate();
        if (value) return value;
        await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`timed out waiting for ${what}`);
}

async function post(baseUrl, path, body) {
    const response = await fetch(`${baseUrl}/_matrix/client/v3${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
    });
    return { status: response.status, json: await response.json() };
}

// Registration with the dummy stage, in a UIA session when the server starts one.
async function register(baseUrl, username) {
    const body = { username, password: PASSWORD, auth: { type: "m.login.dummy" } };
    let answer = await post(baseUrl, "/register", body);
    if (answer.status === 401 && answer.json.session) {
        body.auth.session = answer.json.session;
        answer = await post(baseUrl, "/register", body);
    }
    if (answer.status !== 200) throw new Error(`register ${username} at ${baseUrl}: ${JSON.stringify(answer)}`);
    return { ...answer.json, baseUrl };
}

async function login(baseUrl, user) {
    const body = { type: "m.login.password", identifier: { type: "m.id.user", user }, password: PASSWORD };
    const answer = await post(baseUrl, "/login", body);
    if (answer.status !== 200) throw new Error(`login ${user} at ${baseUrl}: ${JSON.stringify(answer)}`);
    return { ...answer.json, baseUrl };
}

async function startClient(session, name) {
    const client = sdk.createClient({
        baseUrl: session.baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    await client.startClient({ initialSyncLimit: 30 });
    await waitFor(`${name}'s first sync`, () => client.isInitialSyncComplete());
    step(`${name} (${session.user_id} ${session.device_id}) is syncing`);
    return client;
}

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

// Asks the owner's server afresh each time, so a failed remote query is simply retried.
async function waitToSeeDevice(client, name, userId, deviceId) {
    await waitFor(`${name} to see ${userId}'s device ${deviceId}`, async () => {
        const devices = await client.getCrypto().getUserDeviceInfo([userId], true);
        return devices.get(userId)?.has(deviceId);
    });
    step(`${name} sees ${userId}'s device`);
}

// A user the client already tracks is queried again only when /sync names them in
// device_lists.changed, so this sees a new device only if the update crossed servers.
async function waitToSeeNewDevice(client, name, userId, deviceId) {
    await waitFor(`${name} to learn of ${userId}'s new device ${deviceId}`, async () => {
        const devices = await client.getCrypto().getUserDeviceInfo([userId], false);
        return devices.get(userId)?.has(deviceId);
    });
    step(`${name} learned of ${userId}'s new device ${deviceId}`);
}

async function sendText(client, roomId, body) {
    const { event_id: eventId } = await client.sendMessage(roomId, { msgtype: "m.text", body });
    const event = client.getRoom(roomId).findEventById(eventId);
    if (event && !event.isEncrypted()) throw new Error(`"${body}" was sent unencrypted`);
}

async function main() {
    const suffix = Date.now().toString(36);
    const aliceSession = await register(vecheUrl, `alice-e2ee-${suffix}`);
    const bobSession = await register(synapseUrl, `bob-e2ee-${suffix}`);
    const alice = await startClient(aliceSession, "alice on Veche");
    const bob = await startClient(bobSession, "bob on Synapse");

    const { room_id: roomId } = await alice.createRoom({
        preset: "private_chat",
        invite: [bobSession.user_id],
        initial_state: [
            { type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } },
        ],
    });
    step(`alice created ${roomId}`);
    await waitFor("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
    await bob.joinRoom(roomId);
    await waitFor("alice to see bob join", () => alice.getRoom(roomId)?.getMember(bobSession.user_id)?.membership === "join");
    await waitFor("bob to know the room is encrypted", () => bob.getCrypto().isEncryptionEnabledInRoom(roomId));

    await waitToSeeDevice(alice, "alice", bobSession.user_id, bobSession.device_id);
    await waitToSeeDevice(bob, "bob", aliceSession.user_id, aliceSession.device_id);

    await sendText(alice, roomId, "hello from alice on Veche");
    await waitToDecrypt(bob, "bob", roomId, "hello from alice on Veche");
    await sendText(bob, roomId, "hello from bob on Synapse");
    await waitToDecrypt(alice, "alice", roomId, "hello from bob on Synapse");

    const alicePhoneSession = await login(vecheUrl, aliceSession.user_id);
    const alicePhone = await startClient(alicePhoneSession, "alice's phone on Veche");
    const bobPhoneSession = await login(synapseUrl, bobSession.user_id);
    const bobPhone = await startClient(bobPhoneSession, "bob's phone on Synapse");
    await waitToSeeNewDevice(bob, "bob", aliceSession.user_id, alicePhoneSession.device_id);
    await waitToSeeNewDevice(alice, "alice", bobSession.user_id, bobPhoneSession.device_id);

    await sendText(bob, roomId, "bob again, for alice's phone");
    await waitToDecrypt(alicePhone, "alice's phone", roomId, "bob again, for alice's phone");
    await sendText(alice, roomId, "alice again, for bob's phone");
    await waitToDecrypt(bobPhone, "bob's phone", roomId, "alice again, for bob's phone");

    for (const client of [alice, bob, alicePhone, bobPhone]) client.stopClient();
    process.stdout.write("OK\n");
}

main().then(
    () => process.exit(0),
    (error) => {
        process.stderr.write(`[e2ee-cross] FAILED: ${error.stack || error}\n`);
        process.exit(1);
    },
);
