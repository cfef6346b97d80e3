"""Run the dbt project (`dbt_project/`) in-process against the warehouse.

The dbt profile (`dbt_project/profiles.yml`) reads its connection from `ENERGYSTAT_DBT_*` environment
variables; `dbt_env()` derives them from the platform's single DSN setting (a libpq URI, possibly a Unix
socket directory as host), so dbt, the CLI and Airflow all point at the same warehouse. dbt always connects
as the transformer role (energystat.roles), whatever role the given DSN names.

dbt is imported only inside `run_dbt()`: importing this module stays cheap (the DAG file uses it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from energystat import config, roles, warehouse

log = logging.getLogger(__name__)

PROFILE_NAME = "energystat"
TARGET_NAME = "warehouse"
AIRFLOW_CONN_ENV = config.AIRFLOW_CONN_ENV
#: The env vars `profiles.yml` reads.
DBT_ENV_VARS = (
    "ENERGYSTAT_DBT_HOST",
    "ENERGYSTAT_DBT_PORT",
    "ENERGYSTAT_DBT_USER",
    "ENERGYSTAT_DBT_PASSWORD",
    "ENERGYSTAT_DBT_DBNAME",
    "PGPASSFILE",
)


def project_dir() -> Path:
    return config.DBT_PROJECT_DIR


def manifest_path() -> Path:
    return project_dir() / "target" / "manifest.json"


def dbt_env(dsn: str) -> dict[str, str]:
    """The `ENERGYSTAT_DBT_*` variables of `profiles.yml` for a libpq URI.

    `postgresql://postgres:@/energystat?host=/path/pgdata` gives host `/path/pgdata` (a socket directory);
    `postgresql://u:p@127.0.0.1:5432/db` gives host, port, user, password and database. A URI naming a
    `passfile` gives `PGPASSFILE` and an empty password (libpq then reads the file): the password stays out of
    the environment, hence out of Airflow's rendered task fields.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URI: {dsn!r}")
    query = parse_qs(parts.query)
    host = query.get("host", [None])[0] or (unquote(parts.hostname) if parts.hostname else None)
    port = query.get("port", [None])[0] or (str(parts.port) if parts.port else "5432")
    user = query.get("user", [None])[0] or (unquote(parts.username) if parts.username else "postgres")
    password = query.get("password", [None])[0] or (unquote(parts.password) if parts.password else "")
    dbname = query.get("dbname", [None])[0] or parts.path.lstrip("/") or "postgres"
    env = {
        "ENERGYSTAT_DBT_HOST": host or "localhost",
        "ENERGYSTAT_DBT_PORT": port,
        "ENERGYSTAT_DBT_USER": user,
        "ENERGYSTAT_DBT_PASSWORD": password,
        "ENERGYSTAT_DBT_DBNAME": dbname,
    }
    if query.get("passfile") and not password:
        env["PGPASSFILE"] = query["passfile"][0]
    return env


def configured_dsn() -> str:
    """The warehouse DSN without starting anything (safe at DAG-parse time): `config`'s one lookup order."""
    return config.configured_dsn()


class DbtError(RuntimeError):
    """A dbt command failed (a model error, a failed test, a parse error)."""


def run_dbt(args: Sequence[str], dsn: str | None = None, raise_on_failure: bool = True) -> Any:
    """Run `dbt <args>` in-process (dbtRunner) against `dsn` (default: the warehouse); returns dbt's result.

    The project and profiles folders, profile and target are added unless given; the connection goes through env
    vars so the password never appears on a command line.
    """
    if dsn is None:
        dsn = warehouse.warehouse_dsn()
    env = dbt_env(roles.role_dsn(roles.TRANSFORMER, dsn))
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    cli_args = list(args)
    if "--project-dir" not in cli_args:
        cli_args += ["--project-dir", str(project_dir())]
    if "--profiles-dir" not in cli_args:
        cli_args += ["--profiles-dir", str(project_dir())]
    if "--profile" not in cli_args:
        # Named as Cosmos names them: dbt hashes the CLI's profile and target into partial_parse.msgpack, so the
        # file `marts parse` writes lets build_marts's dbt parse only what changed (≈ 1.6 s instead of ≈ 6 s).
        cli_args += ["--profile", PROFILE_NAME, "--target", TARGET_NAME]
    try:
        from dbt.cli.main import dbtRunner

        reuse_connections_between_nodes()
        log.info("dbt %s", " ".join(args))
        result = dbtRunner().invoke(cli_args)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if raise_on_failure and not result.success:
        detail = f": {result.exception}" if result.exception else ""
        raise DbtError(f"dbt {' '.join(args)} failed{detail} (see dbt_project/logs/dbt.log)")
    return result


def reuse_connections_between_nodes() -> None:
    """Make dbt-postgres keep each dbt thread's connection from one node to the next, as dbt-snowflake's
    `reuse_connections` does, instead of closing it after every node.

    A `dbt build` of this project runs ≈ 400 nodes, most of them data tests of a few milliseconds: a connection
    per node made the server start ≈ 400 backends, each with cold catalog caches (the demo's build ≈ 12 % faster
    without, more on a busy machine). Between nodes the connection is rolled back, as closing it did: nothing of
    a node's transaction — dbt's own or psycopg2's implicit one after a test's SELECT, with the locks it holds —
    reaches the next node (the models set `work_mem` with `set local`, which ends with the transaction). dbt
    closes every connection when its run ends (`cleanup_connections`). Called before dbt runs in this process:
    `run_dbt`, and build_marts' producer (`orchestration.dbt_watcher`).
    """
    from dbt.adapters.postgres.connections import PostgresConnectionManager

    close_after_node = PostgresConnectionManager.release
    if getattr(close_after_node, "energystat_reuses", False):
        return

    def release(self: PostgresConnectionManager) -> None:
        connection = self.get_if_exists()
        if connection is None or connection.state != "open":
            return close_after_node(self)
        try:
            connection.handle.rollback()
        except Exception:  # noqa: BLE001 — a broken connection: dbt closes and forgets it, as before
            return close_after_node(self)
        connection.transaction_open = False
        return None

    release.energystat_reuses = True  # type: ignore[attr-defined]
    PostgresConnectionManager.release = release  # type: ignore[method-assign]


def parse(dsn: str | None = None) -> Path:
    """`dbt parse`: writes target/manifest.json (what the Cosmos DAG loads). Needs no running database."""
    run_dbt(["parse"], dsn=dsn or configured_dsn())
    return manifest_path()


def build(dsn: str | None = None, select: Sequence[str] = ()) -> Any:
    """`dbt build`: seeds, models, data tests and unit tests, in dependency order."""
    selection = ["--select", *select] if select else []
    return run_dbt(["build", *selection], dsn=dsn)


def env_for_profile(dsn: str | None = None) -> Mapping[str, str]:
    """The profile's env vars for the configured warehouse, as the transformer (what Cosmos operators receive).

    Called when a DAG file is parsed, also by the DAG processor, which never connects: it needs no role's password
    and writes no password file (a task's worker parses the file again with its own environment)."""
    return dbt_env(roles.role_dsn(roles.TRANSFORMER, dsn or configured_dsn(), generate=False))

