// An encrypted conversation between matrix-js-sdk clients (Rust crypto, in-memory stores)
// on a real Veche, driven by tests/interop/test_js_sdk_e2ee.py:
//
//   node e2ee.mjs <base_url>
//
// Alice creates an encrypted room and invites Bob; both send and each decrypts the other's
// messages. Bob logs in on a second device, which decrypts Alice's next message. Alice
// bootstraps cross-signing (UIA answered with m.login.password), Bob sees her device as
// signed by its owner, and a key backup made on Alice's first device is restored on a new
// one, which then decrypts her earlier message. Progress goes to stderr; the last stdout
// line is "OK" on success, and any failure exits non-zero with the reason.

import { logger } from "matrix-js-sdk/lib/logger.js";
import * as sdk from "matrix-js-sdk";

const baseUrl = process.argv[2];
const PASSWORD = "interop password";
const STEP_TIMEOUT_MS = 30_000;

logger.setLevel("error");

function step(message) {
    process.stderr.write(`[e2ee] ${message}\n`);
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

async function login(userId, deviceName) {
    return api("POST", "/login", {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: userId },
        password: PASSWORD,
        initial_device_display_name: deviceName,
    });
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

async function startClient(session, name) {
    const client = sdk.createClient({
        baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
        fetchFn: fetchWithPushRulesFallback,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    await client.startClient({ initialSyncLimit: 30 });
    await waitFor(`${name}'s first sync`, () => client.isInitialSyncComplete());
    step(`${name} (${session.device_id}) is syncing`);
    return client;
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

async function main() {
    const aliceSession = await register("alice");
    const bobSession = await register("bob");
    const alice = await startClient(aliceSession, "alice");
    const bob = await startClient(bobSession, "bob");

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

    await sendText(alice, roomId, "hello from alice");
    await waitToDecrypt(bob, "bob", roomId, "hello from alice");
    await sendText(bob, roomId, "hello from bob");
    await waitToDecrypt(alice, "alice", roomId, "hello from bob");

    // Bob's second device appears in Alice's device list through /sync device_lists.
    const bobSecondSession = await login(bobSession.user_id, "bob's second device");
    const bobSecond = await startClient(bobSecondSession, "bob's second device");
    await waitFor("alice to see bob's second device", async () => {
        const devices = await alice.getCrypto().getUserDeviceInfo([bobSession.user_id], true);
        return devices.get(bobSession.user_id)?.has(bobSecondSession.device_id);
    });
    await sendText(alice, roomId, "for both of bob's devices");
    await waitToDecrypt(bobSecond, "bob's second device", roomId, "for both of bob's devices");
    await waitToDecrypt(bob, "bob", roomId, "for both of bob's devices");

    // Cross-signing: replacing keys would need the password; the first upload may skip it.
    let uiaCalls = 0;
    await alice.getCrypto().bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            uiaCalls += 1;
            await makeRequest({
                type: "m.login.password",
                identifier: { type: "m.id.user", user: aliceSession.user_id },
                password: PASSWORD,
            });
        },
    });
    const status = await alice.getCrypto().getCrossSigningStatus();
    if (!status.publicKeysOnDevice || !status.privateKeysCachedLocally.masterKey) {
        throw new Error(`cross-signing not ready: ${JSON.stringify(status)}`);
    }
    step(`alice bootstrapped cross-signing (UIA callback used ${uiaCalls} time(s))`);
    await waitFor("bob to see alice's device signed by alice", async () => {
        const verification = await bob.getCrypto().getDeviceVerificationStatus(aliceSession.user_id, aliceSession.device_id);
        return verification?.signedByOwner;
    });
    step("bob sees alice's device cross-signed");

    // Key backup: created on Alice's first device, restored on a new one.
    await alice.getCrypto().resetKeyBackup();
    const backupInfo = await alice.getCrypto().getKeyBackupInfo();
    step(`alice created key backup version ${backupInfo.version}`);
    await sendText(alice, roomId, "backed up");
    await waitFor("alice's keys to reach the backup", async () => {
        const info = await api("GET", "/room_keys/version", undefined, aliceSession.access_token);
        return info.version === backupInfo.version && info.count >= 1;
    });
    const backupKey = await alice.getCrypto().getSessionBackupPrivateKey();

    const aliceNewSession = await login(aliceSession.user_id, "alice's new device");
    const aliceNew = await startClient(aliceNewSession, "alice's new device");
    await aliceNew.getCrypto().storeSessionBackupPrivateKey(backupKey, backupInfo.version);
    const restored = await aliceNew.getCrypto().restoreKeyBackup();
    if (!restored || restored.imported < 1) throw new Error(`nothing restored: ${JSON.stringify(restored)}`);
    step(`alice's new device restored ${restored.imported} of ${restored.total} keys`);
    await waitToDecrypt(aliceNew, "alice's new device", roomId, "hello from alice");

    for (const client of [alice, bob, bobSecond, aliceNew]) client.stopClient();
    process.stdout.write("OK\n");
}

main().then(
    () => process.exit(0),
    (error) => {
        process.stderr.write(`[e2ee] FAILED: ${error.stack || error}\n`);
        process.exit(1);
    },
);
