"""Airflow stays at the edge: the package works without Airflow, the glue is only for DAG files, and the
secrets every Airflow component shares are generated once and kept private."""

from __future__ import annotations

import secrets
import stat
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from energystat import roles, warehouse
from energystat.orchestration import environment, metadata_db

ROOT = Path(__file__).resolve().parents[1]

_WITHOUT_AIRFLOW = """
import importlib, pkgutil, sys

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name} imported outside the glue modules")

sys.meta_path.insert(0, NoAirflow())
import energystat
names = [m.name for m in pkgutil.walk_packages(energystat.__path__, "energystat.")]
# the glue: DAG files' Airflow helpers, and build_marts' Cosmos triggers (imported by its DAG and the triggerer)
skipped = {"energystat.orchestration.glue", "energystat.orchestration.dbt_watcher"}
for name in names:
    if name not in skipped:
        importlib.import_module(name)
print(len(names) - len(skipped))
"""


def test_every_module_but_the_glue_imports_without_airflow() -> None:
    done = subprocess.run([sys.executable, "-c", _WITHOUT_AIRFLOW], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-1]) > 20


def test_the_preloading_scheduler_starts_no_thread_and_is_airflow_itself() -> None:
    """`orchestration.preload` imports the task libraries in the scheduler before it forks its workers: a thread
    started by an import would be copied half-done into every task process. After the imports it is Airflow's
    own command line."""
    check = ("import threading; from energystat.orchestration import preload; preload.import_task_modules(); "
             "print(threading.active_count())")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "1"
    version = subprocess.run([sys.executable, "-m", "energystat.orchestration.preload", "version"],
                             capture_output=True, text=True, timeout=300)
    assert version.returncode == 0, version.stderr[-3000:]
    assert version.stdout.split()[-1] == metadata.version("apache-airflow")


def test_only_dag_files_import_the_glue() -> None:
    users = {
        path.relative_to(ROOT).as_posix()
        for folder in ("include", "dags", "plugins", "bench")
        for path in (ROOT / folder).rglob("*.py")
        if "orchestration.glue" in path.read_text(encoding="utf-8") and path.name != "__init__.py"
    }
    assert users and all(user.startswith("dags/") for user in users), users


def test_shared_secrets_are_generated_once_and_private(tmp_path: Path) -> None:
    first = environment.shared_secrets(tmp_path)
    assert set(first) == {"AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY"}
    assert len(first["AIRFLOW__API_AUTH__JWT_SECRET"]) >= 64  # HS512 wants a 64-byte key
    assert environment.shared_secrets(tmp_path) == first  # every component, every start: the same keys
    mode = stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode)
    assert mode == 0o600, oct(mode)
    from cryptography.fernet import Fernet

    Fernet(first["AIRFLOW__CORE__FERNET_KEY"])  # a valid Fernet key


def test_secrets_never_land_in_the_repository() -> None:
    ignored = subprocess.run(["git", "check-ignore", "-q", ".energystat/airflow/secrets.json"], cwd=ROOT)
    assert ignored.returncode == 0


def test_masked_environment_shows_no_secret_and_keeps_what_a_person_needs() -> None:
    password = "pw-s3cret-Zq9"
    env = {
        "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-" + "x" * 64,
        "AIRFLOW__CORE__FERNET_KEY": "fernet-key-value=",
        "AIRFLOW__API__SECRET_KEY": "api-secret-value",
        "ENERGYSTAT_WAREHOUSE_DSN": f"postgresql://airflow:{password}@postgres:5432/energystat",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://airflow:{password}@postgres:5432/airflow",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://airflow:{password}@postgres:5432/airflow",
        "AIRFLOW_CONN_WAREHOUSE": environment.airflow_connection_json(
            f"postgresql://airflow:{password}@postgres:5432/energystat"),
        "ENERGYSTAT_ANALYST_DSN": f"host=postgres user=energystat_analyst password={password}",
        "ENERGYSTAT_AIRFLOW_PASSWORD": password,
        "AIRFLOW_HOME": "/opt/airflow",
    }
    shown = environment.masked(env)
    text = "\n".join(f"{k}={v}" for k, v in shown.items())
    for secret in (password, env["AIRFLOW__API_AUTH__JWT_SECRET"], env["AIRFLOW__CORE__FERNET_KEY"],
                   env["AIRFLOW__API__SECRET_KEY"]):
        assert secret not in text
    assert shown["ENERGYSTAT_WAREHOUSE_DSN"] == "postgresql://airflow:***@postgres:5432/energystat"
    assert "postgres:5432/airflow" in shown["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert '"login": "airflow"' in shown["AIRFLOW_CONN_WAREHOUSE"]
    assert shown["AIRFLOW_HOME"] == "/opt/airflow"


def test_airflow_env_masks_secrets_unless_asked_to_show_them(tmp_path: Path, warehouse_dsn: str) -> None:
    """`energystat airflow env` as a user runs it: the JWT secret, Fernet key, API key and the DSN's password
    appear only with `--show-secrets` (for `eval`)."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(warehouse_dsn)
    if not parts.password:  # the embedded server ignores a password on its socket: give the DSN one to hide
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username or 'postgres'}:pw-s3cret-Zq9@{host}")
    dsn = urlunsplit(parts)
    home = tmp_path / "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "ENERGYSTAT_WAREHOUSE_DSN": dsn,
           "ENERGYSTAT_AIRFLOW_DB_DSN": dsn}
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY",
                 "AIRFLOW_CONN_WAREHOUSE", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"):
        env.pop(name, None)

    def run(*flags: str) -> str:
        result = subprocess.run([sys.executable, "-m", "energystat.cli", "airflow", "env", *flags],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    masked, shown = run(), run("--show-secrets")
    secrets = [*environment.shared_secrets(home).values(), urlsplit(dsn).password]
    assert all(s and s not in masked for s in secrets)
    assert "export AIRFLOW__CORE__FERNET_KEY='***'" in masked or "export AIRFLOW__CORE__FERNET_KEY=***" in masked
    assert all(s in shown for s in secrets)


# --- Airflow's metadata database, owned by its own role (docker compose's airflow-init) ------------------------


def test_the_metadata_database_is_handed_to_its_own_role_which_reaches_nothing_else(
        server_dsn: str, warehouse_dsn: str) -> None:
    """A stack whose metadata tables the superuser created (before this role existed): after ensure_owner, the role
    of ENERGYSTAT_AIRFLOW_DB_DSN owns the database and its tables (Airflow's migrations and Celery's result tables
    need DDL there), is no superuser, and reads nothing of the warehouse; a second run changes nothing."""
    tag = secrets.token_hex(3)
    role, secret, database = f"es_meta_{tag}", secrets.token_urlsafe(16), f"es_meta_{tag}"
    superuser_dsn = warehouse.with_database(server_dsn, database)
    parts = urlsplit(superuser_dsn)
    metadata_dsn = (f"{parts.scheme}://{role}:{secret}@{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
                    + (f"?{parts.query}" if parts.query else ""))
    warehouse.ensure_database(superuser_dsn)
    try:
        with psycopg.connect(superuser_dsn) as conn:  # what `airflow db migrate` as the superuser left behind
            conn.execute("create table dag_run (id serial primary key, state text)")
            conn.execute("create view running as select id from dag_run where state = 'running'")
            conn.execute("create sequence standalone_seq")
        changed = metadata_db.ensure_owner(superuser_dsn, metadata_dsn)
        assert f"created role {role}" in changed and "public.dag_run -> " + role in changed
        assert metadata_db.ensure_owner(superuser_dsn, metadata_dsn) == []
        with psycopg.connect(metadata_dsn) as conn:
            assert conn.execute("select rolsuper, rolcreaterole, rolcreatedb from pg_roles where rolname ="
                                " current_user").fetchone() == (False, False, False)
            conn.execute("insert into dag_run (state) values ('running')")
            conn.execute("alter table dag_run add column note text")  # an Airflow migration
            conn.execute("create table celery_taskmeta (id int)")  # Celery's result backend, on first use
            assert conn.execute("select count(*) from running").fetchone() == (1,)
            assert conn.execute("select nextval('standalone_seq')").fetchone() == (1,)
        in_warehouse = warehouse.with_database(metadata_dsn, warehouse.database_of(warehouse_dsn))
        with psycopg.connect(in_warehouse) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select count(*) from raw.monthly_statistics")
        with pytest.raises(metadata_db.NotAnOwnRole, match="superuser"):
            metadata_db.ensure_owner(superuser_dsn, warehouse.with_database(
                f"{parts.scheme}://{roles.dsn_user(server_dsn) or 'postgres'}:x@{parts.netloc.rsplit('@', 1)[-1]}"
                f"{parts.path}" + (f"?{parts.query}" if parts.query else ""), database))
    finally:
        warehouse.drop_database(superuser_dsn)
        with psycopg.connect(warehouse.with_database(server_dsn, "postgres"), autocommit=True) as conn:
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))
