"""Sessions and failed-login counters of the 平台版's login, kept in the server process.

Pure Python (no web framework): :class:`SessionStore` forgets a session :data:`IDLE_SECONDS`
after its last request; :class:`LoginLimiter` locks a name for :data:`LOCK_SECONDS` after
:data:`MAX_FAILURES` failed logins in a row. Both take a ``clock`` so tests can move time.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cwdx.log import get_logger

log = get_logger("login")

#: Seconds without a request after which a session ends (8 hours).
IDLE_SECONDS = 8 * 3600
#: Failed logins in a row that lock a name …
MAX_FAILURES = 5
#: … for this many seconds (5 minutes).
LOCK_SECONDS = 5 * 60


def locked_text(name: str, seconds: float) -> str:
    """The refusal of a login for a locked name."""
    minutes = max(1, int((seconds + 59) // 60))
    return (
        f"用户“{name}”连续 {MAX_FAILURES} 次登录失败，已被锁定 {LOCK_SECONDS // 60} 分钟；"
        f"请在 {minutes} 分钟后重试，忘记密码请联系系统管理员重设。"
    )


@dataclass
class Session:
    """One signed-in browser: its id (the cookie's value), user and account version."""

    id: str
    name: str
    #: the account's ``changed`` stamp at sign-in: a new password or disabling ends the session
    changed: str
    last_seen: float


class SessionStore:
    """The live sessions of this server; a session idle for ``idle`` seconds is forgotten."""

    def __init__(self, idle: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic):
        self.idle = idle
        self.clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, name: str, changed: str) -> Session:
        """A new session of ``name`` (a fresh random id)."""
        self._sweep()
        session = Session(secrets.token_urlsafe(32), name, changed, self.clock())
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session | None:
        """The live session ``session_id`` (an idle one is ended and ``None`` returned)."""
        session = self._sessions.get(session_id)
        if session is not None and self.clock() - session.last_seen > self.idle:
            self._sessions.pop(session_id, None)
            log.info("用户 %s 的会话空闲超过 %d 小时，已失效", session.name, self.idle // 3600)
            return None
        return session

    def touch(self, session: Session) -> None:
        """Note a request of ``session`` (its idle time starts again)."""
        session.last_seen = self.clock()

    def end(self, session_id: str) -> Session | None:
        """Forget ``session_id``; returns the session it was."""
        return self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _sweep(self) -> None:
        now = self.clock()
        for sid in [s.id for s in self._sessions.values() if now - s.last_seen > self.idle]:
            self._sessions.pop(sid, None)


class LoginLimiter:
    """Failed logins per name: ``max_failures`` in a row lock the name for ``lock_seconds``."""

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        lock_seconds: float = LOCK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.max_failures = max_failures
        self.lock_seconds = lock_seconds
        self.clock = clock
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}

    def locked_for(self, name: str) -> float:
        """Seconds ``name`` stays locked (0 when it is not locked)."""
        until = self._locked_until.get(name)
        if until is None:
            return 0.0
        left = until - self.clock()
        if left <= 0:
            self._locked_until.pop(name, None)
            self._failures.pop(name, None)
            return 0.0
        return left

    def failed(self, name: str) -> bool:
        """Count a failed login of ``name``; True when this failure locks it."""
        if len(self._failures) > 10_000:  # names typed at random must not grow memory
            self._failures.clear()
        count = self._failures.get(name, 0) + 1
        self._failures[name] = count
        if count >= self.max_failures:
            self._locked_until[name] = self.clock() + self.lock_seconds
            return True
        return False

    def succeeded(self, name: str) -> None:
        """A successful login of ``name`` clears its failures."""
        self._failures.pop(name, None)
        self._locked_until.pop(name, None)
