"""User-Interactive Authentication (client-server-api/_index.md, "User-Interactive
Authentication API").

An endpoint protected by UIA calls, before doing anything irreversible:

    completed = await hs.uia.check(body, requester, [["m.login.password"]], "POST /x")

which returns `{stage type: what it proved}` (for `m.login.password`, the user ID) once
the client has completed every stage of one of `flows`, and otherwise raises a
`MatrixError` whose 401 body lists the flows, the session and the completed stages, plus
`errcode`/`error` when the attempted stage failed.

A session is bound to the action it was created for and to the authenticated requester,
so a session completed for one request cannot authorise another. Completed sessions stay
valid until they expire, because the spec has a retried, already-completed request succeed.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from veche.errors import MatrixError, forbidden, invalid_param
from veche.services.auth import AuthService
from veche.storage.accounts import TokenInfo
from veche.storage.uia_sessions import UiaSession, UiaSessionStore

PASSWORD = "m.login.password"
DUMMY = "m.login.dummy"
REGISTRATION_TOKEN = "m.login.registration_token"

SESSION_LIFETIME_MS = 60 * 60 * 1000
# Expired sessions are swept at most this often, when new sessions are created.
_SWEEP_INTERVAL_MS = 5 * 60 * 1000


class StageContext:
    """What a stage checker knows about the request besides the auth dict."""

    __slots__ = ("requester_user_id", "session_id")

    def __init__(self, requester_user_id: str | None, session_id: str) -> None:
        self.requester_user_id = requester_user_id
        self.session_id = session_id


# A stage checker returns what the stage proved (JSON-serialisable) or raises MatrixError:
# a 401 or 403 one is a failed attempt the client may retry, reported in the 401 body.
StageChecker = Callable[[dict[str, Any], StageContext], Awaitable[Any]]


class UserInteractiveAuth:
    def __init__(self, sessions: UiaSessionStore, auth: AuthService) -> None:
        self._sessions = sessions
        self._auth = auth
        self._checkers: dict[str, StageChecker] = {
            PASSWORD: self._check_password,
            DUMMY: _check_dummy,
        }
        self._last_sweep_ms = 0

    def add_stage(self, stage_type: str, checker: StageChecker) -> None:
        self._checkers[stage_type] = checker

    async def check(
        self,
        body: dict[str, Any],
        requester: TokenInfo | None,
        flows: Sequence[Sequence[str]],
        action: str,
        *,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        flow_list = [tuple(flow) for flow in flows]
        user_id = requester.user_id if requester is not None else None
        auth = body.get("auth")
        if auth is None:
            # The spec: never succeed without auth, even if a flow is only m.login.dummy.
            session = await self._new_session(action, user_id)
            raise _challenge(session.session_id, flow_list, params, [], None)
        if not isinstance(auth, dict):
            raise invalid_param("auth must be an object")
        session = await self._session_for(auth, action, user_id)
        completed = list(session.completed)
        error = await self._attempt(auth, session, completed, flow_list, user_id)
        done = [stage for stage, _ in completed]
        if error is None and any(_is_prefix(flow, done) for flow in flow_list):
            return dict(completed)
        raise _challenge(session.session_id, flow_list, params, done, error)

    async def _session_for(self, auth: dict[str, Any], action: str, user_id: str | None) -> UiaSession:
        session_id = auth.get("session")
        if session_id is None:
            # Clients such as matrix-nio send a one-step m.login.dummy without ever asking
            # for a session; a fresh one serves that attempt.
            return await self._new_session(action, user_id)
        if not isinstance(session_id, str):
            raise invalid_param("auth.session must be a string")
        session = await self._sessions.get(session_id)
        if session is None or session.created_ts + SESSION_LIFETIME_MS <= _now_ms():
            raise MatrixError(400, "M_UNKNOWN", "Unknown or expired authentication session")
        if session.action != action or session.user_id != user_id:
            raise forbidden("The authentication session was started for another request")
        return session

    async def _attempt(
        self,
        auth: dict[str, Any],
        session: UiaSession,
        completed: list[tuple[str, Any]],
        flows: list[tuple[str, ...]],
        user_id: str | None,
    ) -> MatrixError | None:
        """Runs the attempted stage, appending it to `completed`; the failure, if any."""
        stage = auth.get("type")
        done = [s for s, _ in completed]
        # No type: the client asks whether out-of-band stages are done; nothing to run.
        # A completed stage is not run again (the spec forbids retrying it).
        if stage is None or stage in done:
            return None
        if not isinstance(stage, str):
            return MatrixError(401, "M_UNRECOGNIZED", "auth.type must be a string")
        checker = self._checkers.get(stage)
        if checker is None or not any(_next_stage(flow, done) == stage for flow in flows):
            # "Failing to follow the flows in order must result in an HTTP 401 response."
            return forbidden(f"{stage} is not the next stage of any offered flow")
        try:
            result = await checker(auth, StageContext(user_id, session.session_id))
        except MatrixError as e:
            if e.status not in (401, 403):
                raise
            return e
        completed.append((stage, result))
        await self._sessions.set_completed(session.session_id, completed)
        return None

    async def _new_session(self, action: str, user_id: str | None) -> UiaSession:
        now = _now_ms()
        if now - self._last_sweep_ms > _SWEEP_INTERVAL_MS:
            self._last_sweep_ms = now
            await self._sessions.delete_created_before(now - SESSION_LIFETIME_MS)
        session_id = secrets.token_urlsafe(18)
        await self._sessions.create(session_id, action, user_id, now)
        return UiaSession(session_id, action, user_id, [], now)

    async def _check_password(self, auth: dict[str, Any], ctx: StageContext) -> str:
        if "identifier" not in auth and "user" not in auth and ctx.requester_user_id:
            # Older clients name no user when re-authenticating the one logged in.
            user_id = ctx.requester_user_id
        else:
            user_id = self._auth.user_from_identifier(auth)
        user_id = await self._auth.check_password(user_id, auth.get("password"))
        if ctx.requester_user_id is not None and user_id != ctx.requester_user_id:
            raise forbidden("The password given is not that of the logged-in user")
        return user_id


async def _check_dummy(auth: dict[str, Any], ctx: StageContext) -> bool:
    return True


def _next_stage(flow: tuple[str, ...], done: list[str]) -> str | None:
    if len(flow) <= len(done) or list(flow[: len(done)]) != done:
        return None
    return flow[len(done)]


def _is_prefix(flow: tuple[str, ...], done: list[str]) -> bool:
    return list(flow) == done[: len(flow)]


def _challenge(
    session_id: str,
    flows: list[tuple[str, ...]],
    params: dict[str, Any] | None,
    done: list[str],
    error: MatrixError | None,
) -> MatrixError:
    body: dict[str, Any] = {
        "flows": [{"stages": list(flow)} for flow in flows],
        "params": params or {},
        "session": session_id,
    }
    if done:
        body["completed"] = done
    if error is None:
        return _UiaRequired(body)
    return _UiaRequired({**body, **error.extra}, error.errcode, error.message)


class _UiaRequired(MatrixError):
    """The 401 of UIA: its body has no errcode unless an attempted stage failed."""

    def __init__(self, body: dict[str, Any], errcode: str = "", message: str = "") -> None:
        super().__init__(401, errcode, message, **body)

    def to_body(self) -> dict[str, Any]:
        if not self.errcode:
            return dict(self.extra)
        return super().to_body()


def _now_ms() -> int:
    return int(time.time() * 1000)
