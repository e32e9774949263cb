"""What a client sees when a query to another server fails.

A peer's own refusal (a 4xx with an errcode, or 504 M_NOT_YET_UPLOADED for media) is
relayed as it came, since it answers the client's question; anything else — no answer,
a 5xx, a malformed body — becomes 502, the peer being the gateway that failed.
"""

from __future__ import annotations

from veche.errors import MatrixError
from veche.services.federation.client import FederationError, FederationHttpError

# Queries made on a client's behalf wait this long for the peer unless told otherwise.
QUERY_TIMEOUT_SECONDS = 10.0
_RELAYED_5XX = {"M_NOT_YET_UPLOADED", "M_TOO_LARGE"}


def relay_failure(error: FederationError) -> MatrixError:
    if isinstance(error, FederationHttpError) and error.errcode is not None:
        if 400 <= error.status < 500 or error.errcode in _RELAYED_5XX:
            return MatrixError(error.status, error.errcode, error.error or f"{error.destination} refused")
    return MatrixError(502, "M_UNKNOWN", f"Could not get an answer from {error.destination}")


def failure_status(error: FederationError) -> dict[str, object]:
    """The `failures` entry of /keys/query and /keys/claim for a server that failed."""
    if isinstance(error, FederationHttpError):
        return {"status": error.status, "message": str(error)}
    return {"status": 503, "message": str(error)}
