"""Versioned, idempotent schema migrations: `migrations/V<nnn>__<name>.sql`, applied once each, in order.

Applied versions are recorded in `ops.schema_migrations` with a checksum; a changed, already-applied file is
an error (write a new migration instead). An advisory lock makes concurrent callers safe. After migrating, the
application roles' passwords are set (energystat.roles.sync_passwords): migrating is the one step run as the
owner before any job connects as its own role.
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources

import psycopg

from energystat import roles

log = logging.getLogger(__name__)

_LOCK_KEY = 0x656E6572  # arbitrary, constant: "ener"


class OwnerRequired(RuntimeError):
    """Migrating needs the warehouse's owner, and the DSN it was given did not connect as one (no credentials,
    wrong ones, an application role's, or no server there)."""


def _owner_required(dsn: str, exc: psycopg.Error) -> OwnerRequired:
    user = roles.dsn_user(dsn)
    who = f"as {user}" if user else "naming no user"
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
    return OwnerRequired(
        f"migrating connects as the warehouse's owner (ENERGYSTAT_WAREHOUSE_DSN with the owner's credentials; in "
        f"docker compose only the airflow-init service has them), and {roles.masked(dsn)} ({who}) could not: "
        f"{detail}")


def migration_files() -> list[tuple[str, str]]:
    """(version, sql) pairs in order."""
    folder = resources.files("energystat") / "migrations"
    files = sorted(p for p in folder.iterdir() if p.name.endswith(".sql"))
    return [(p.name.removesuffix(".sql"), p.read_text(encoding="utf-8")) for p in files]


def migrate(dsn: str, until: str | None = None) -> list[str]:
    """Apply pending migrations to the warehouse at `dsn` (up to and including version `until`, if given);
    returns the versions applied now. Raises OwnerRequired when `dsn` does not connect as the owner."""
    applied_now: list[str] = []
    try:
        conn = psycopg.connect(dsn)
    except psycopg.OperationalError as exc:  # e.g. a worker of the compose stack: no owner's credentials there
        raise _owner_required(dsn, exc) from exc
    with conn:
        try:
            conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            conn.execute("create schema if not exists ops")
            conn.execute(
                "create table if not exists ops.schema_migrations ("
                " version text primary key, checksum text not null, applied_at timestamptz not null default now())"
            )
            done = dict(conn.execute("select version, checksum from ops.schema_migrations").fetchall())
        except psycopg.errors.InsufficientPrivilege as exc:  # connected, but as an application role
            raise _owner_required(dsn, exc) from exc
        for version, text in migration_files():
            if until is not None and version > until:
                break
            checksum = hashlib.sha256(text.encode()).hexdigest()
            if version in done:
                if done[version] != checksum:
                    raise RuntimeError(f"migration {version} was changed after it was applied; add a new one")
                continue
            log.info("applying migration %s", version)
            conn.execute(text)
            conn.execute(
                "insert into ops.schema_migrations (version, checksum) values (%s, %s)", (version, checksum)
            )
            applied_now.append(version)
        conn.commit()
    roles.sync_passwords(dsn)
    return applied_now
