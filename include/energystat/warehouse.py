"""The PostgreSQL warehouse connection: the configured server (see `config`), else an embedded one.

The embedded server comes from the `pgserver` wheel (PostgreSQL 16), lives in `.energystat/pgdata` and
listens on a Unix socket only. It holds two databases: `energystat` (the warehouse) and `airflow`
(Airflow's metadata, so LocalExecutor can run tasks in parallel). It is not trust-for-all: the application
roles (energystat.roles) log in with SCRAM passwords, the owner `postgres` by peer authentication only
(see `embedded_hba()`).
"""

from __future__ import annotations

import logging
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from energystat import config, roles

if TYPE_CHECKING:
    import psycopg
# psycopg is imported where a connection is made (see roles.py: DAG parses read this module).

log = logging.getLogger(__name__)

WAREHOUSE_DB = config.WAREHOUSE_DB
AIRFLOW_DB = "airflow"
ANALYST_ROLE = roles.ANALYST


def embedded_pgdata() -> Path:
    return config.settings().embedded_pgdata


def _embedded_server():
    # pgserver logs every pg_ctl call at INFO and wants a runtime dir for its lock: keep the CLI quiet.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    folder = config.state_dir()
    (folder / "run").mkdir(mode=0o700, parents=True, exist_ok=True)
    (folder / "run").chmod(0o700)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(folder / "run"))
    import pgserver  # imported lazily: only the embedded path needs it

    # cleanup_mode=None: the server outlives this process (the CLI, Airflow tasks and psql share it).
    server = pgserver.get_server(embedded_pgdata(), cleanup_mode=None)
    _ensure_embedded_auth()
    return server


OWNER_MAP = "energystat_owner"


def embedded_hba() -> tuple[str, str]:
    """The embedded server's `pg_hba.conf` and `pg_ident.conf` (pgserver's initdb leaves trust-for-all).

    - Application roles: `scram-sha-256` passwords (energystat.roles), so a job connected as the loader cannot
      become another role, whatever user name it sends.
    - The owner `postgres`: `peer`, mapped from the operating-system account running energystat only. pgserver
      itself never connects (it starts the server with pg_ctl), but migrations, `create database` and
      Airflow's metadata connection do. A password would protect nothing more here: the socket lives in the
      data folder (mode 0700), so only that account (or root) can reach it at all, and that account can read
      and change the data files and this very file anyway. Peer keeps the owner's access tied to it without a
      secret to hand around.
    - No `host` lines: the server listens on no TCP address, and anything not listed is refused.
    """
    os_user = pwd.getpwuid(os.geteuid()).pw_name
    hba = (
        "# Written by energystat.warehouse.embedded_hba() at every start: edit that function, not this file.\n"
        "# TYPE  DATABASE  USER      METHOD\n"
        f"local   all       postgres  peer map={OWNER_MAP}\n"
        "local   all       all       scram-sha-256\n"
    )
    ident = (
        "# Written by energystat.warehouse.embedded_hba(): who may connect as the owner `postgres`.\n"
        f"{OWNER_MAP}  {os_user}  postgres\n"
    )
    return hba, ident


def _ensure_embedded_auth() -> None:
    """Install `embedded_hba()` into the data folder and reload the server when they differ from what is there."""
    pgdata = embedded_pgdata()
    changed = False
    for name, text in zip(("pg_hba.conf", "pg_ident.conf"), embedded_hba(), strict=True):
        target = pgdata / name
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        owner = pgdata.stat()  # as root, the server runs as pgserver's own account: it must be able to read it
        temporary = pgdata / f".{name}.{os.getpid()}"
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o600)
        os.chown(temporary, owner.st_uid, owner.st_gid)
        os.replace(temporary, target)
        changed = True
    if changed and embedded_running():
        from pgserver._commands import pg_ctl  # the wheel's own pg_ctl binary

        pg_ctl(["reload"], pgdata=pgdata, user=_server_system_user())
        log.info("embedded server: password authentication for application roles installed")


def _server_system_user() -> str | None:
    """The account pgserver runs PostgreSQL as: its own `pgserver` account when we are root, else ours."""
    return "pgserver" if os.geteuid() == 0 else None


def is_embedded() -> bool:
    return config.settings().warehouse_dsn is None


def with_database(dsn: str, dbname: str) -> str:
    """The same server URI pointing at another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


def database_of(dsn: str) -> str:
    return urlsplit(dsn).path.lstrip("/") or "postgres"


def ensure_database(dsn: str) -> None:
    """Create the DSN's database if missing (connecting through the server's `postgres` database)."""
    import psycopg
    from psycopg import sql

    name = database_of(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
                log.info("created database %s", name)
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # another process created it between our check and our create


def drop_database(dsn: str) -> None:
    import psycopg
    from psycopg import sql

    name = database_of(dsn)
    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def copy_database(source_dsn: str, target_dsn: str) -> None:
    """(Re)create the target database as a copy of the source (`create database … template`; the source must have
    no open connections)."""
    import psycopg
    from psycopg import sql

    drop_database(target_dsn)
    with psycopg.connect(with_database(target_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(database_of(target_dsn)), sql.Identifier(database_of(source_dsn))))


def server_dsn(start: bool = True) -> str:
    """A DSN for the server itself (database part is the warehouse's), in the lookup order of `config`."""
    current = config.settings()
    if current.warehouse_dsn:
        return current.warehouse_dsn
    if embedded_running():  # no need to ask pgserver: the socket lives in the data folder
        _ensure_embedded_auth()  # a server started by an older version still has trust-for-all
        return current.embedded_dsn
    if not start:
        raise RuntimeError("embedded PostgreSQL is not running: run `energystat warehouse start`")
    return with_database(_embedded_server().get_uri(), WAREHOUSE_DB)


def warehouse_dsn(start: bool = True) -> str:
    """The warehouse DSN (libpq URI); starts the embedded server and creates its database if needed."""
    dsn = server_dsn(start=start)
    if is_embedded() and start:
        ensure_database(dsn)
    return dsn


def airflow_db_dsn() -> str:
    """Airflow's metadata database: ENERGYSTAT_AIRFLOW_DB_DSN, else database `airflow` on the same server."""
    dsn = config.settings().airflow_db_dsn or with_database(server_dsn(), AIRFLOW_DB)
    ensure_database(dsn)
    return dsn


def embedded_running() -> bool:
    pid_file = embedded_pgdata() / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def stop_embedded() -> bool:
    """Stop the embedded server; returns False when it was not running."""
    if not embedded_running():
        return False
    server = _embedded_server()
    from pgserver._commands import pg_ctl  # the wheel's own pg_ctl binary

    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=server.pgdata, user=server.system_user)
    return True


@contextmanager
def connect(dsn: str | None = None, autocommit: bool = False, role: str = roles.OWNER) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse at `dsn` (default: the configured one) as `role` (energystat.roles:
    each job passes its own); commits on success, rolls back on error."""
    import psycopg

    with psycopg.connect(roles.role_dsn(role, dsn or warehouse_dsn()), autocommit=autocommit) as conn:
        yield conn


def analyst_dsn(dsn: str) -> str:
    """The DSN of the read-only analyst role on the server and database of `dsn` (see energystat.roles)."""
    return roles.role_dsn(roles.ANALYST, dsn)
