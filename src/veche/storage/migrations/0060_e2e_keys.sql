-- End-to-end encryption keys (client-server-api modules/end_to_end_encryption.md):
-- device identity keys, one-time and fallback keys, cross-signing keys and the
-- signatures users upload on each other's keys.

-- A device's signed identity keys, as the device uploaded them (UTF-8 JSON).
CREATE TABLE e2e_device_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, device_id)
);

-- Unclaimed one-time keys; a claimed key is deleted in the statement that hands it out.
-- `id` orders them by upload, since claims hand out the oldest first (keys.yaml /keys/claim).
CREATE TABLE e2e_one_time_keys (
    id {{ID_PK}},
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    UNIQUE (user_id, device_id, algorithm, key_id)
);

-- At most one fallback key per device and algorithm; `used` once a claim handed it out.
CREATE TABLE e2e_fallback_keys (
    user_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    key_id TEXT NOT NULL,
    key_json TEXT NOT NULL,
    used BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (user_id, device_id, algorithm)
);

-- A user's master, self-signing and user-signing keys ('master', 'self_signing',
-- 'user_signing'), as uploaded; public_key is the unpadded base64 ed25519 key.
CREATE TABLE e2e_cross_signing_keys (
    user_id TEXT NOT NULL,
    key_type TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_json TEXT NOT NULL,
    PRIMARY KEY (user_id, key_type)
);

-- Signatures uploaded through /keys/signatures/upload. The target key is a device
-- (target_key_id = device ID) or a cross-signing key (= its public key).
CREATE TABLE e2e_signatures (
    signer_user_id TEXT NOT NULL,
    signer_key_id TEXT NOT NULL,
    target_user_id TEXT NOT NULL,
    target_key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (target_user_id, target_key_id, signer_user_id, signer_key_id)
);
