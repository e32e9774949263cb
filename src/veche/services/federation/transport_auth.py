"""Checking the `X-Matrix` signature of an incoming federation request
(server-server-api.md, "Request Authentication").

`RequestAuthenticator.authenticate(...)` returns the origin server name of a request
whose signature checks out with one of the origin's current keys (fetched through the
keyring), and raises `RequestAuthError` (the HTTP edge answers 401) otherwise: no X-Matrix
header, a `destination` that is not us, headers naming different origins, a key that
cannot be found or is listed only as old, or a bad signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from veche.protocol.identifiers import is_valid_server_name
from veche.protocol.signing import SignatureError
from veche.protocol.x_matrix import InvalidAuthHeader, XMatrixAuth, parse_x_matrix, verify_request
from veche.services.federation.keyring import Keyring, KeyLookupError


class RequestAuthError(Exception):
    """The request is not authenticated; str(error) says why."""


class RequestAuthenticator:
    def __init__(self, server_name: str, keyring: Keyring, clock: Callable[[], int]) -> None:
        self._server_name = server_name
        self._keyring = keyring
        self._clock = clock

    async def authenticate(
        self, method: str, uri: str, authorization: Sequence[str], content: Any
    ) -> str:
        """The origin of the request. `uri` is the raw request target (path and query as
        sent), `authorization` every Authorization header value, `content` the parsed JSON
        body or None when there is none."""
        auths = self._parse(authorization)
        origin = auths[0].origin
        problem = "bad signature"
        for auth in auths:
            try:
                key = await self._keyring.get_key(
                    origin, auth.key, valid_at_ts=self._clock(), current_only=True
                )
                verify_request(auth, method, uri, self._server_name, content, key.verify_key)
            except KeyLookupError as e:
                problem = str(e)
            except SignatureError as e:
                problem = str(e)
            else:
                return origin
        raise RequestAuthError(f"request from {origin} not authenticated: {problem}")

    def _parse(self, authorization: Sequence[str]) -> list[XMatrixAuth]:
        auths = []
        for header in authorization:
            if not header.strip().lower().startswith("x-matrix "):
                continue
            try:
                auths.append(parse_x_matrix(header))
            except InvalidAuthHeader as e:
                raise RequestAuthError(str(e)) from None
        if not auths:
            raise RequestAuthError("missing X-Matrix Authorization header")
        origins = {auth.origin for auth in auths}
        if len(origins) > 1:
            raise RequestAuthError("X-Matrix headers name different origins")
        origin = auths[0].origin
        if not is_valid_server_name(origin):
            raise RequestAuthError(f"invalid origin {origin!r}")
        for auth in auths:
            # A request meant for another server must not be accepted here (added in 1.3).
            if auth.destination is not None and auth.destination != self._server_name:
                raise RequestAuthError(
                    f"request is for {auth.destination!r}, not this server"
                )
        return auths
