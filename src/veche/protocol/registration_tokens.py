"""Registration tokens (client-server-api/_index.md, "Token-authenticated registration"):
their grammar, the opaque identifier grammar of appendices.md, and how new ones are made."""

from __future__ import annotations

import re
import secrets
import string

MAX_TOKEN_LENGTH = 64
DEFAULT_TOKEN_LENGTH = 16
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,64}")
_ALPHABET = string.ascii_letters + string.digits


def is_valid_token(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


def generate_token(length: int = DEFAULT_TOKEN_LENGTH) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))
