"""Portal accounts: argon2id password hashes, server-side sessions with CSRF tokens, login lock-out."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from energystat import reference

ROLES = ("city", "governance")
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD_LENGTH = 10

#: argon2-cffi's defaults are RFC 9106's "low memory" argon2id profile.
_HASHER = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    username: str
    role: str
    reporter_code: str | None
    display_name: str | None = None

    @property
    def is_governance(self) -> bool:
        return self.role == "governance"

    def may_see(self, reporter_code: str) -> bool:
        """Governance sees every reporter; a city account only its own."""
        return self.is_governance or reporter_code == self.reporter_code


@dataclass(frozen=True)
class Session:
    user: User
    csrf_token: str


class LoginRefused(Exception):
    """A login that did not succeed; `locked` says the account is locked (the message is for the page)."""

    def __init__(self, message_zh: str, locked: bool = False) -> None:
        super().__init__(message_zh)
        self.message_zh, self.locked = message_zh, locked


def generate_password() -> str:
    """A random password a person can type: 16 characters from an unambiguous alphabet (≈ 90 bits)."""
    alphabet = "abcdefghjkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"密码至少 {MIN_PASSWORD_LENGTH} 位（password must have at least {MIN_PASSWORD_LENGTH} characters）")


def add_user(dsn: str, username: str, role: str, reporter_code: str | None, password: str,
             display_name: str | None = None) -> User:
    """Create an account (or replace the password and role of an existing one)."""
    if not _USERNAME.match(username):
        raise ValueError("用户名只能包含字母、数字、点、下划线和连字符（2–64 位）")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if role == "city" and reporter_code not in reference.reporter_codes():
        raise ValueError(f"未知的报送单位代码 {reporter_code!r}（unknown reporter code）")
    check_new_password(password)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "insert into ops.portal_users (username, role, reporter_code, display_name, password_hash)"
            " values (%s, %s, %s, %s, %s) on conflict (username) do update set role = excluded.role,"
            " reporter_code = excluded.reporter_code, display_name = excluded.display_name,"
            " password_hash = excluded.password_hash, password_changed_at = now(), disabled = false",
            (username, role, reporter_code, display_name, hash_password(password)),
        )
        conn.execute("delete from ops.portal_sessions where username = %s", (username,))
    return User(username, role, reporter_code, display_name)


def list_users(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select username, role, reporter_code, display_name, disabled, created_at from ops.portal_users"
            " order by role, reporter_code nulls first, username"
        ).fetchall()


def _consecutive_failures(conn: psycopg.Connection, username: str, since: datetime) -> int:
    """Failed attempts (wrong password or refused while locked) since the last success and since the password
    was last set (an administrator's reset unlocks), within the window."""
    row = conn.execute(
        "select count(*) from ops.portal_login_attempts where username = %s and attempted_at >= %s"
        " and outcome <> 'success' and attempt_id > coalesce((select max(attempt_id) from"
        " ops.portal_login_attempts where username = %s and outcome = 'success'), 0)"
        " and attempted_at > coalesce((select password_changed_at from ops.portal_users where username = %s),"
        " '-infinity')",
        (username, since, username, username),
    ).fetchone()
    return int(row[0]) if row else 0


def login(dsn: str, username: str, password: str, *, max_failed: int, lockout_minutes: int,
          session_hours: int, remote_addr: str | None = None) -> tuple[str, Session]:
    """Check the password and open a session: returns (cookie token, session); raises LoginRefused.

    After `max_failed` failures in a row within `lockout_minutes` the account is locked: every attempt is
    refused, the right password too, and each refusal extends the window (attempts keep counting)."""
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        # one login at a time per name: concurrent guesses cannot slip past the failure count
        conn.execute("select pg_advisory_xact_lock(hashtext('portal-login:' || %s))", (username,))
        failures = _consecutive_failures(conn, username, now - timedelta(minutes=lockout_minutes))
        row = conn.execute(
            "select username, role, reporter_code, display_name, password_hash from ops.portal_users"
            " where username = %s and not disabled", (username,)
        ).fetchone()
        if failures >= max_failed:
            outcome = "locked"
        elif row is None:
            _verify(_DUMMY_HASH, password)
            outcome = "unknown_user"
        else:
            outcome = "success" if _verify(row[4], password) else "wrong_password"
        conn.execute(
            "insert into ops.portal_login_attempts (username, outcome, remote_addr) values (%s, %s, %s)",
            (username, outcome, remote_addr),
        )
        if outcome == "locked":
            conn.commit()
            raise LoginRefused(f"连续 {max_failed} 次密码错误，账户已锁定，请 {lockout_minutes} 分钟后再试"
                               "（或联系管理员）。", locked=True)
        if outcome != "success":
            conn.commit()
            left = max_failed - failures - 1
            hint = f"再错 {left} 次将锁定账户。" if 0 < left <= 2 else ("账户已锁定。" if left <= 0 else "")
            raise LoginRefused("用户名或密码错误。" + hint)
        assert row is not None
        if _HASHER.check_needs_rehash(row[4]):
            conn.execute("update ops.portal_users set password_hash = %s where username = %s",
                         (hash_password(password), username))
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        conn.execute(
            "insert into ops.portal_sessions (token_sha256, username, csrf_token, expires_at) values (%s, %s, %s, %s)",
            (_digest(token), username, csrf, now + timedelta(hours=session_hours)),
        )
        conn.execute("delete from ops.portal_sessions where expires_at < now()")
    return token, Session(User(row[0], row[1], row[2], row[3]), csrf)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_of(dsn: str, token: str | None) -> Session | None:
    """The live session of a cookie token, or None (unknown, expired, or the account disabled)."""
    if not token or len(token) > 128:
        return None
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "select u.username, u.role, u.reporter_code, u.display_name, s.csrf_token"
            " from ops.portal_sessions s join ops.portal_users u using (username)"
            " where s.token_sha256 = %s and s.expires_at > now() and not u.disabled", (_digest(token),)
        ).fetchone()
    return Session(User(*row[:4]), row[4]) if row else None


def logout(dsn: str, token: str | None) -> None:
    if token:
        with psycopg.connect(dsn) as conn:
            conn.execute("delete from ops.portal_sessions where token_sha256 = %s", (_digest(token),))


def change_password(dsn: str, username: str, old_password: str, new_password: str) -> None:
    """Replace the password after checking the old one; ends the user's other sessions."""
    check_new_password(new_password)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select password_hash from ops.portal_users where username = %s", (username,)).fetchone()
        if row is None or not _verify(row[0], old_password):
            raise ValueError("原密码不正确（the current password is wrong）")
        if old_password == new_password:
            raise ValueError("新密码不能与原密码相同")
        conn.execute("update ops.portal_users set password_hash = %s, password_changed_at = now()"
                     " where username = %s", (hash_password(new_password), username))
        conn.execute("delete from ops.portal_sessions where username = %s", (username,))


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and secrets.compare_digest(str(expected), str(given))
