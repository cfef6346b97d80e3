"""Database roles: which PostgreSQL role each job connects as, and where that role's password comes from.

Every job connects as the least role that can do it (the grants are in migration V003):

| job                       | role                      | may                                                |
|---------------------------|---------------------------|----------------------------------------------------|
| migrations, databases     | the owner (the base DSN)  | everything                                          |
| ingestion                 | `energystat_loader`       | rows of `raw` and `ops`; read `reference`           |
| dbt, the circular         | `energystat_transformer`  | read `raw`/`ops`/`reference`; build `staging`…`marts` |
| analysts, BI tools        | `energystat_analyst`      | read `marts`                                        |
| the upload portal         | `energystat_portal`       | what the portal's migration grants                  |

A role's DSN, first match wins:
1. `ENERGYSTAT_<ROLE>_DSN` (e.g. `ENERGYSTAT_LOADER_DSN`): a full DSN, used as given (credentials managed by
   the server's administrator; the platform never changes that role's password);
2. `ENERGYSTAT_<ROLE>_PASSWORD`: the warehouse DSN with that role and password;
3. else the warehouse DSN with that role and `passfile=<state>/secrets/pgpass`: a password generated once per
   state folder into that file (mode 0600, git-ignored), read by libpq, psql and dbt; the DSN holds no secret.
In cases 2 and 3 `energystat warehouse migrate` (as the owner) sets the role's password on the server.
The variables: ENERGYSTAT_LOADER_DSN, ENERGYSTAT_TRANSFORMER_DSN, ENERGYSTAT_ANALYST_DSN, ENERGYSTAT_PORTAL_DSN;
ENERGYSTAT_LOADER_PASSWORD, ENERGYSTAT_TRANSFORMER_PASSWORD, ENERGYSTAT_ANALYST_PASSWORD, ENERGYSTAT_PORTAL_PASSWORD.

DSNs are shown to people only through `masked()`: the password, wherever it is in the DSN, becomes `***`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from energystat import config

if TYPE_CHECKING:
    import psycopg
# psycopg itself is imported by the functions that talk to the server: this module (through dbt_runner) is read
# by every parse of dags/build_marts.py, where importing psycopg was 0.12 s of each parse.

log = logging.getLogger(__name__)

OWNER = "owner"
LOADER, TRANSFORMER, ANALYST, PORTAL = config.APP_ROLES
#: The application roles by their short name (the CLI's `--role` and the env var infix).
APP_ROLES = {"loader": LOADER, "transformer": TRANSFORMER, "analyst": ANALYST, "portal": PORTAL}

MASK = "***"


def short_name(role: str) -> str:
    return role.removeprefix("energystat_")


def dsn_env(role: str) -> str:
    """`ENERGYSTAT_LOADER_DSN` etc.: a full DSN for the role (credentials managed outside the platform)."""
    return f"ENERGYSTAT_{short_name(role).upper()}_DSN"


def password_env(role: str) -> str:
    """`ENERGYSTAT_LOADER_PASSWORD` etc.: the role's password, set on the server by `warehouse migrate`."""
    return f"ENERGYSTAT_{short_name(role).upper()}_PASSWORD"


def passfile() -> Path:
    """The libpq password file holding the generated role passwords (`PGPASSFILE` format)."""
    return config.state_dir() / "secrets" / "pgpass"


def _read_passfile(path: Path) -> dict[str, str]:
    """{user: password} of `*:*:*:user:password` lines (the only form this module writes)."""
    found: dict[str, str] = {}
    if not path.exists():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if len(fields) == 5 and fields[:3] == ["*", "*", "*"]:
            found[fields[3]] = fields[4]
    return found


def generated_passwords() -> dict[str, str]:
    """{role: password} from the state folder's password file, generating it (0600) on first use.

    Two processes starting together must agree: the file is written under a temporary name and linked into
    place, which fails if the other process was first; the loser then reads the winner's file.
    """
    path = passfile()
    known = _read_passfile(path)
    if all(role in known for role in APP_ROLES.values()):
        return known
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.parent.chmod(0o700)
    wanted = {role: known.get(role) or secrets.token_urlsafe(24) for role in APP_ROLES.values()}
    text = "".join(f"*:*:*:{role}:{password}\n" for role, password in wanted.items())
    temporary = path.with_name(f".pgpass.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    try:
        if known:  # completing an older file (a role added since): replace it
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
    except FileExistsError:
        pass  # another process wrote it first: use theirs
    finally:
        temporary.unlink(missing_ok=True)
    return _read_passfile(path)


def password(role: str) -> str | None:
    """The password the platform uses for `role` (None when the role's DSN is given by `ENERGYSTAT_<ROLE>_DSN`)."""
    current = config.settings()
    if role in current.role_dsns:
        return None
    return current.role_passwords.get(role) or generated_passwords()[role]


def _with_user(dsn: str, user: str, password: str | None, passfile_path: Path | None) -> str:
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError("the warehouse DSN must be a libpq URI (postgresql://…) to derive role DSNs")
    host = parts.netloc.rsplit("@", 1)[-1]
    credentials = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password", "passfile")]
    if passfile_path is not None:
        query.append(("passfile", str(passfile_path)))
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}", query=urlencode(query, safe="/")))


def role_dsn(role: str, base_dsn: str, *, generate: bool = True) -> str:
    """The DSN `role` connects with, on the server and database of `base_dsn` (the warehouse DSN: the owner's, or
    one naming only the server and database where the owner's credentials are not given, as on docker compose's
    workers).

    `role` is `OWNER` (returns `base_dsn`) or one of `APP_ROLES`' values; see the module docstring for the order.
    `generate=False` leaves a missing password file unwritten (a DSN only rendered, never used to connect here:
    a DAG parsed by Airflow's DAG processor).
    """
    if role == OWNER:
        return base_dsn
    if role not in APP_ROLES.values():
        raise ValueError(f"unknown role {role!r}")
    current = config.settings()
    if role in current.role_dsns:
        return current.role_dsns[role]
    if role in current.role_passwords:
        return _with_user(base_dsn, role, current.role_passwords[role], None)
    if generate:
        generated_passwords()  # make sure the file exists before libpq looks for it
    return _with_user(base_dsn, role, None, passfile())


def dsn_user(dsn: str) -> str | None:
    """The user name in a libpq URI (None when the URI names none)."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    return query.get("user") or (unquote(parts.username) if parts.username else None)


def dsn_password(dsn: str) -> str:
    """The password a libpq URI carries, or finds in its `passfile`, for its user ('' when none)."""
    parts = urlsplit(dsn)
    query = dict(parse_qsl(parts.query))
    if query.get("password") or parts.password:
        return query.get("password") or unquote(parts.password or "")
    if query.get("passfile"):
        return _read_passfile(Path(query["passfile"])).get(dsn_user(dsn) or "", "")
    return ""


def with_password(dsn: str) -> str:
    """`dsn` with the password from its `passfile` written in (for a client that cannot read a passfile)."""
    query = dict(parse_qsl(urlsplit(dsn).query))
    if "passfile" not in query:
        return dsn
    return _with_user(dsn, dsn_user(dsn) or "", dsn_password(dsn) or None, None)


_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def masked(dsn: str) -> str:
    """`dsn` with its password replaced by `***` (URI user info, `password=` query or key=value form)."""
    if "://" not in dsn:
        return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + MASK, dsn)
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, _, secret = userinfo.partition(":")
        if secret:
            netloc = f"{user}:{MASK}@{host}"
    query = [(k, MASK if k == "password" else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/*")))


def _verifier_matches(verifier: str | None, secret: str) -> bool:
    """Whether a stored `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey` verifier is that of `secret` (RFC 5802)."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if not match:
        return False
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), base64.b64decode(match[3])
    salted = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def _stored_verifier(conn: psycopg.Connection, role: str) -> str | None:
    import psycopg

    try:
        row = conn.execute("select rolpassword from pg_authid where rolname = %s", (role,)).fetchone()
    except psycopg.errors.InsufficientPrivilege:  # not a superuser: cannot tell, so set it
        return None
    return row[0] if row else None


def set_password(conn: psycopg.Connection, role: str, secret: str) -> bool:
    """Give `role` the password `secret` on the server of `conn` (an autocommit connection of a role allowed to),
    unless it has it already; True when it was changed.

    The password travels as a SCRAM verifier computed here, so the plaintext never reaches the server (nor its
    statement log). Concurrent callers (test workers, two containers) may update the same role at once; the
    loser's "tuple concurrently updated" is retried.
    """
    import psycopg
    from psycopg import sql

    for attempt in range(5):
        if _verifier_matches(_stored_verifier(conn, role), secret):
            return False
        verifier = conn.pgconn.encrypt_password(secret.encode(), role.encode(), b"scram-sha-256")
        try:
            conn.execute(sql.SQL("alter role {} password {}").format(
                sql.Identifier(role), sql.Literal(verifier.decode())))
        except psycopg.errors.InternalError_:  # tuple concurrently updated: check again
            time.sleep(0.1 * (attempt + 1))
            continue
        return True
    return False


def sync_passwords(owner_dsn: str) -> list[str]:
    """Set the password of each application role the platform manages (not given by a DSN) on the server of
    `owner_dsn`, where it differs (`set_password`); returns the roles changed."""
    import psycopg

    changed: list[str] = []
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        existing = {row[0] for row in conn.execute(
            "select rolname from pg_roles where rolname = any(%s)", (list(APP_ROLES.values()),))}
        for role in APP_ROLES.values():
            secret = password(role)
            if secret is None or role not in existing:
                continue
            try:
                if set_password(conn, role, secret):
                    changed.append(role)
            except psycopg.errors.InsufficientPrivilege:
                log.warning("cannot set the password of role %s: give it %s or set it on the server",
                            role, dsn_env(role))
    if changed:
        log.info("set the password of %s", ", ".join(changed))
    return changed
