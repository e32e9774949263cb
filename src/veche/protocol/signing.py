"""Signing JSON with ed25519 keys (spec: appendices.md, "Signing JSON", "Unpadded Base64").

Keys are kept in the file format Synapse uses, one key a line:
`ed25519 <version> <unpadded base64 seed>`, so an existing Synapse key file can be reused.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import nacl.exceptions
import nacl.signing
from nacl.signing import VerifyKey

from veche.protocol.canonical_json import CanonicalJsonError, encode_canonical_json

ED25519 = "ed25519"

# A key version is used inside "ed25519:<version>" key IDs and in URLs; the spec leaves its
# grammar open, so allow what Synapse and the key APIs use in practice.
_KEY_VERSION = re.compile(r"[A-Za-z0-9_]+")
_STANDARD_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_URLSAFE_B64 = re.compile(r"[A-Za-z0-9\-_]*={0,2}")


class SignatureError(Exception):
    """A signature is missing, malformed or does not match."""


class InvalidKeyError(ValueError):
    """A key, key ID or key file could not be understood."""


class SigningKey:
    """An ed25519 signing key together with its version (the part after "ed25519:")."""

    __slots__ = ("_key", "version")

    def __init__(self, seed: bytes, version: str) -> None:
        if not _KEY_VERSION.fullmatch(version):
            raise InvalidKeyError(f"invalid key version {version!r}")
        if len(seed) != 32:
            raise InvalidKeyError("an ed25519 seed is 32 bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.version = version

    def __repr__(self) -> str:
        return f"<SigningKey {self.key_id}>"

    @property
    def key_id(self) -> str:
        return f"{ED25519}:{self.version}"

    @property
    def seed(self) -> bytes:
        return bytes(self._key)

    @property
    def verify_key(self) -> VerifyKey:
        return self._key.verify_key

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of `message`."""
        return self._key.sign(message).signature


def generate_signing_key(version: str) -> SigningKey:
    return SigningKey(bytes(nacl.signing.SigningKey.generate()), version)


def read_signing_key_file(text: str) -> SigningKey:
    """The first key of a key file; later lines are older keys kept for reference."""
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise InvalidKeyError(f"line {line_number}: expected 'ed25519 <version> <seed>'")
        algorithm, version, seed_b64 = parts
        if algorithm != ED25519:
            raise InvalidKeyError(f"line {line_number}: unsupported algorithm {algorithm!r}")
        try:
            seed = unpadded_b64decode(seed_b64)
        except ValueError:
            raise InvalidKeyError(f"line {line_number}: seed is not base64") from None
        return SigningKey(seed, version)
    raise InvalidKeyError("the key file holds no key")


def format_signing_key_file(key: SigningKey) -> str:
    return f"{ED25519} {key.version} {unpadded_b64encode(key.seed)}\n"


def decode_verify_key_base64(algorithm_and_version: str, b64: str) -> VerifyKey:
    """The public key published as `"ed25519:<version>": "<base64>"` in key responses."""
    algorithm, _, version = algorithm_and_version.partition(":")
    if algorithm != ED25519 or not version:
        raise InvalidKeyError(f"unsupported key ID {algorithm_and_version!r}")
    try:
        raw = unpadded_b64decode(b64)
    except ValueError:
        raise InvalidKeyError(f"key {algorithm_and_version} is not base64") from None
    if len(raw) != 32:
        raise InvalidKeyError(f"key {algorithm_and_version} is not 32 bytes")
    return VerifyKey(raw)


def encode_verify_key_base64(verify_key: VerifyKey) -> str:
    return unpadded_b64encode(bytes(verify_key))


def sign_json(
    obj: dict[str, Any], signer: str, key: SigningKey, *, strict: bool = True
) -> dict[str, Any]:
    """Add `signer`'s signature to `obj` (changed in place and returned).

    `signatures` and `unsigned` are left out of the signed bytes; signatures already
    present are kept (appendices.md, "Signing Details"). `strict=False` accepts the looser
    numbers of room versions 1–5.
    """
    message = signed_bytes(obj, strict=strict)
    signatures = obj.get("signatures")
    if not isinstance(signatures, dict):
        signatures = obj["signatures"] = {}
    signatures.setdefault(signer, {})[key.key_id] = unpadded_b64encode(key.sign(message))
    return obj


def signed_bytes(obj: dict[str, Any], *, strict: bool = True) -> bytes:
    """The bytes a signature on `obj` covers: canonical JSON without signatures/unsigned."""
    stripped = {k: v for k, v in obj.items() if k != "signatures" and k != "unsigned"}
    return encode_canonical_json(stripped, strict=strict)


def verify_signed_json(
    obj: dict[str, Any],
    signer: str,
    key_id: str,
    verify_key: VerifyKey,
    *,
    strict: bool = True,
) -> None:
    """Raise `SignatureError` unless `obj` carries a valid signature by `signer`/`key_id`.

    `strict=False` accepts the looser numbers of room versions 1–5 in the signed bytes.
    """
    try:
        signature_b64 = obj["signatures"][signer][key_id]
    except (KeyError, TypeError):
        raise SignatureError(f"no signature from {signer} with key {key_id}") from None
    if not isinstance(signature_b64, str):
        raise SignatureError(f"signature from {signer} with key {key_id} is not a string")
    try:
        signature = unpadded_b64decode(signature_b64)
    except ValueError:
        raise SignatureError(f"signature from {signer} with key {key_id} is not base64") from None
    try:
        message = signed_bytes(obj, strict=strict)
    except CanonicalJsonError as e:
        raise SignatureError(f"signed object is not canonical JSON: {e}") from None
    try:
        verify_key.verify(message, signature)
    except (nacl.exceptions.BadSignatureError, ValueError):
        raise SignatureError(f"bad signature from {signer} with key {key_id}") from None


def unpadded_b64encode(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def unpadded_urlsafe_b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unpadded_b64decode(text: str) -> bytes:
    """Decode standard base64, padded or not (appendices.md asks decoders to take both)."""
    return _b64decode(text, _STANDARD_B64, base64.b64decode)


def unpadded_urlsafe_b64decode(text: str) -> bytes:
    """Decode URL-safe base64, padded or not."""
    return _b64decode(text, _URLSAFE_B64, base64.urlsafe_b64decode)


def _b64decode(text: str, alphabet: re.Pattern[str], decode: Any) -> bytes:
    if not isinstance(text, str) or not alphabet.fullmatch(text):
        raise ValueError("not base64")
    stripped = text.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ValueError("not base64: impossible length")
    padded = stripped + "=" * (-len(stripped) % 4)
    if text != stripped and padded != text:
        raise ValueError("not base64: wrong padding")
    try:
        return decode(padded)
    except binascii.Error as e:
        raise ValueError(f"not base64: {e}") from None
