"""Accounts of the 平台版: who may sign in to the platform app of this workspace.

One row per user in the ``accounts`` table: the name, an argon2id hash of the password
(argon2-cffi's defaults; the password itself is never stored or logged), whether the account is
disabled, and when it was created and last changed. ``changed`` also serves the app's sessions:
a session remembers the ``changed`` stamp of its account at sign-in, so a new password or a
disabled account ends every session of that user.

Account writes are tiny single-row transactions: they do not take the workspace's write lock
(an account can be added while a check runs).
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cwdx.errors import CwdxError, ErrorKind
from cwdx.log import get_logger
from cwdx.workspace.db import Database

log = get_logger("accounts")

#: Shortest password accepted.
MIN_PASSWORD_LENGTH = 8
#: Longest password accepted (argon2 hashes anything, but a pasted file is a mistake).
MAX_PASSWORD_LENGTH = 256
#: Longest user name.
MAX_NAME_LENGTH = 32

#: Letters (Chinese included), digits and ``. _ -``; no spaces, quotes or control characters.
_NAME = re.compile(r"^[\w.\-]+$")


def _hasher() -> Any:
    from argon2 import PasswordHasher  # imported when used: cwdx --help stays fast

    return PasswordHasher()


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (``$argon2id$v=19$…``, salted)."""
    return str(_hasher().hash(password))


def password_matches(stored_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``stored_hash`` was made from."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return bool(_hasher().verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False


#: A hash of a password nobody has, verified for unknown names so that a wrong name takes as
#: long as a wrong password (the login page does not tell which names exist).
_DUMMY: list[str] = []


def dummy_verify(password: str) -> None:
    """Spend the time of one password check without any account."""
    if not _DUMMY:
        _DUMMY.append(hash_password("cwdx-no-such-account"))
    password_matches(_DUMMY[0], password)


def check_name(name: str) -> str:
    """``name`` normalised (NFC, trimmed), or a Chinese refusal of an unusable user name."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise CwdxError("用户名不能为空，请给出用户名，例如：cwdx -w 工作区 user add zhangsan。")
    if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
        raise CwdxError(
            f"用户名“{name[:40]}”不可用：用户名最多 {MAX_NAME_LENGTH} 个字符，"
            "只能包含汉字、字母、数字和 . _ -，请换一个用户名。"
        )
    return name


def check_password(password: str) -> str:
    """``password`` if it may be used, else a Chinese refusal."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CwdxError(f"密码太短：至少需要 {MIN_PASSWORD_LENGTH} 个字符，请重新设置。")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise CwdxError(f"密码太长：最多 {MAX_PASSWORD_LENGTH} 个字符，请重新设置。")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise CwdxError("密码中不能有控制字符（如换行、制表符），请重新设置。")
    return password


@dataclass(frozen=True)
class AccountRecord:
    """One account of the platform app (never holds the password)."""

    name: str
    disabled: bool
    created: str
    changed: str
    password_hash: str

    @property
    def state_text(self) -> str:
        """``正常`` or ``已停用``."""
        return "已停用" if self.disabled else "正常"


def _stamp() -> str:
    """The time of a change, to the microsecond (two changes in one second differ)."""
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")


def _record(row: sqlite3.Row) -> AccountRecord:
    return AccountRecord(
        name=row["name"],
        disabled=bool(row["disabled"]),
        created=row["created"],
        changed=row["changed"],
        password_hash=row["hash"],
    )


class Accounts(Database):
    """The accounts of the platform app (mixed into :class:`~cwdx.workspace.Workspace`)."""

    def accounts(self) -> list[AccountRecord]:
        """Every account, by name."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM accounts ORDER BY name").fetchall()
        return [_record(row) for row in rows]

    def account(self, name: str) -> AccountRecord | None:
        """The account called ``name``, or ``None``."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM accounts WHERE name = ?", (name,)).fetchone()
        return _record(row) if row else None

    def has_active_account(self) -> bool:
        """Whether at least one account may sign in."""
        with self._connect() as con:
            row = con.execute("SELECT 1 FROM accounts WHERE disabled = 0 LIMIT 1").fetchone()
        return row is not None

    def add_account(self, name: str, password: str) -> AccountRecord:
        """Create the account ``name`` with ``password`` (refused if the name is taken)."""
        name, password = check_name(name), check_password(password)
        if self.read_only:
            raise self._read_only_error("添加用户")
        password_hash = hash_password(password)  # slow on purpose: outside the transaction
        stamp = _stamp()
        with self._txn() as con:
            if con.execute("SELECT 1 FROM accounts WHERE name = ?", (name,)).fetchone():
                raise CwdxError(
                    f"用户“{name}”已存在；如需重设密码，请用 user passwd {name}。",
                    ErrorKind.REFUSED,
                )
            con.execute(
                "INSERT INTO accounts (name, hash, disabled, created, changed)"
                " VALUES (?, ?, 0, ?, ?)",
                (name, password_hash, stamp, stamp),
            )
        log.info("添加了平台版用户 %s", name)
        return AccountRecord(name, False, stamp, stamp, password_hash)

    def set_password(self, name: str, password: str) -> None:
        """Give ``name`` a new password; every session of that user ends."""
        password = check_password(password)
        password_hash = hash_password(password)
        self._change(name, "修改密码", "hash = ?", (password_hash,))
        log.info("修改了平台版用户 %s 的密码", name)

    def disable_account(self, name: str) -> None:
        """Stop ``name`` from signing in; every session of that user ends."""
        self._change(name, "停用用户", "disabled = 1", ())
        log.info("停用了平台版用户 %s", name)

    def enable_account(self, name: str) -> None:
        """Let a disabled account sign in again (with its old password)."""
        self._change(name, "启用用户", "disabled = 0", ())
        log.info("启用了平台版用户 %s", name)

    def _change(self, name: str, operation: str, assignments: str, values: tuple) -> None:
        if self.read_only:
            raise self._read_only_error(operation)
        with self._txn() as con:
            cur = con.execute(
                f"UPDATE accounts SET {assignments}, changed = ? WHERE name = ?",
                (*values, _stamp(), name),
            )
            if cur.rowcount == 0:
                raise CwdxError(
                    f"没有用户“{name}”，请用 user list 查看已有的用户。", ErrorKind.NOT_FOUND
                )
