"""The error a request ends with, as the spec names it: an HTTP status and an `errcode`.

Services raise `MatrixError` where a spec rule refuses a request (M_FORBIDDEN for an
auth-rule failure, M_NOT_FOUND for an unknown event …); the HTTP edge turns it into the
standard error body. It lives here, below both layers, so services need not import HTTP code.
"""

from __future__ import annotations

from typing import Any


class MatrixError(Exception):
    """An error reported to the client as `{"errcode": …, "error": …, **extra}`."""

    def __init__(self, status: int, errcode: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {errcode}: {message}")
        self.status = status
        self.errcode = errcode
        self.message = message
        self.extra = extra

    def to_body(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "error": self.message, **self.extra}


def forbidden(message: str) -> MatrixError:
    return MatrixError(403, "M_FORBIDDEN", message)


def not_found(message: str) -> MatrixError:
    return MatrixError(404, "M_NOT_FOUND", message)


def bad_json(message: str) -> MatrixError:
    return MatrixError(400, "M_BAD_JSON", message)


def invalid_param(message: str) -> MatrixError:
    return MatrixError(400, "M_INVALID_PARAM", message)


def missing_param(message: str) -> MatrixError:
    return MatrixError(400, "M_MISSING_PARAM", message)
