"""Run DAGs against the test warehouse: `airflow dags test` in a subprocess, or through a real scheduler
(components as processes, DAGs triggered through the REST API).

Airflow's metadata database is migrated once per test session (a file lock serialises xdist workers); a
stack gets a copy of it.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from energystat import config, warehouse
from energystat.orchestration import environment as airflow_env
from energystat.orchestration.rest import AirflowClient

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def airflow_environ(**overrides: str) -> dict[str, str]:
    """The project's Airflow environment for the current test settings, plus overrides."""
    env = {**os.environ, **overrides}
    saved = dict(os.environ)
    try:
        os.environ.update(overrides)
        env.update(airflow_env.environ())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    env.update(overrides)
    return env


def ensure_airflow_db() -> None:
    """`airflow db migrate` once per state folder (idempotent, but it costs ~14 s)."""
    marker = config.state_dir() / "airflow" / ".migrated"
    marker.parent.mkdir(parents=True, exist_ok=True)
    with open(marker.parent / ".migrate.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            subprocess.run([AIRFLOW, "db", "migrate"], env=airflow_environ(), check=True,
                           capture_output=True, timeout=600)
            marker.touch()


def dags_test(dag_id: str, conf: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """`airflow dags test DAG_ID` with the given environment overrides; returns the finished process."""
    ensure_airflow_db()
    args = [AIRFLOW, "dags", "test", dag_id] + (["-c", conf] if conf else [])
    return subprocess.run(args, env=airflow_environ(**env), capture_output=True, text=True, timeout=1200)


# --- the real path: components as processes, DAGs triggered through the REST API --------------------------


def copy_database(template_dsn: str, prefix: str) -> str:
    """A new database `<prefix>_<random>` on the same server, copied from `template_dsn`; returns its DSN."""
    import psycopg
    from psycopg import sql

    dsn = warehouse.with_database(template_dsn, f"{prefix}_{secrets.token_hex(4)}")
    with psycopg.connect(warehouse.with_database(template_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("create database {} template {}").format(
            sql.Identifier(warehouse.database_of(dsn)), sql.Identifier(warehouse.database_of(template_dsn))))
    return dsn


def airflow_metadata_db(server_dsn: str, prefix: str) -> str:
    """A fresh, migrated Airflow metadata database on the server: a copy of the session's migrated `airflow`
    database when that lives on the same server (seconds), else a new one and `airflow db migrate` (minutes)."""
    session_db = warehouse.airflow_db_dsn()
    if warehouse.with_database(session_db, "postgres") == warehouse.with_database(server_dsn, "postgres"):
        import psycopg

        ensure_airflow_db()
        dsn = copy_database(session_db, prefix)
        with psycopg.connect(dsn) as conn:  # `dags test` runs may have left DAGs unpaused: start as a user does
            conn.execute("update dag set is_paused = true")
        return dsn
    dsn = warehouse.with_database(server_dsn, f"{prefix}_{secrets.token_hex(4)}")
    warehouse.ensure_database(dsn)
    subprocess.run([AIRFLOW, "db", "migrate"], check=True, capture_output=True, timeout=1200,
                   env=airflow_environ(ENERGYSTAT_AIRFLOW_DB_DSN=dsn))
    return dsn


@dataclass
class PipelineRun:
    """What one pass of ingestion → build_marts through a real scheduler left behind."""

    ingest_run: dict
    marts_run: dict
    task_instances: dict[str, list[dict]]  # dag_id -> its run's task instances
    logs: dict[str, str]  # "dag_id.task_id[map_index]" -> log text, one per task of the ingestion
    seconds: float
    new_runs: dict[str, list[str]]  # dag_id -> ids of the runs that appeared while this pass ran


def run_pipeline(client: AirflowClient, timeout: float = 1800) -> PipelineRun:
    """Trigger `ingest_monthly_uploads` through the REST API, wait for it and for the `build_marts` run its
    Asset event triggers; collect both runs' task instances and the ingestion's task logs."""
    dag_ids = ("ingest_monthly_uploads", "build_marts", "annual_circular")
    before = {dag_id: {r["dag_run_id"] for r in client.dag_runs(dag_id)} for dag_id in dag_ids}
    started = time.perf_counter()
    ingest, marts = client.run_ingestion_and_marts(timeout=timeout, note="integration test")
    assert ingest["state"] == "success", failure_report(client, "ingest_monthly_uploads", ingest)
    seconds = time.perf_counter() - started
    for dag_id in ("ingest_monthly_uploads", "build_marts"):
        client.set_paused(dag_id, True)
    tis = {"ingest_monthly_uploads": client.task_instances("ingest_monthly_uploads", ingest["dag_run_id"]),
           "build_marts": client.task_instances("build_marts", marts["dag_run_id"])}
    logs = {f"ingest_monthly_uploads.{ti['task_id']}[{ti['map_index']}]": client.task_log(
                "ingest_monthly_uploads", ingest["dag_run_id"], ti["task_id"], ti["try_number"], ti["map_index"])
            for ti in tis["ingest_monthly_uploads"]}
    new_runs = {dag_id: [r["dag_run_id"] for r in client.dag_runs(dag_id) if r["dag_run_id"] not in before[dag_id]]
                for dag_id in dag_ids}
    return PipelineRun(ingest, marts, tis, logs, seconds, new_runs)


def failure_report(client: AirflowClient, dag_id: str, run: dict) -> str:
    """The failed tasks of a run with the end of each one's log: what an engineer opens first."""
    lines = [f"{dag_id} {run['state']}:"]
    for ti in client.task_instances(dag_id, run["dag_run_id"]):
        if ti["state"] in ("failed", "up_for_retry"):
            log = client.task_log(dag_id, run["dag_run_id"], ti["task_id"], ti["try_number"], ti["map_index"])
            lines.append(f"--- {ti['task_id']}[{ti['map_index']}] try {ti['try_number']} on {ti['hostname']}:\n"
                         f"{log[-3000:]}")
        elif ti["state"] != "success":
            lines.append(f"--- {ti['task_id']}[{ti['map_index']}]: {ti['state']}")
    return "\n".join(lines)


def marts_difference(left: dict[str, list[tuple]], right: dict[str, list[tuple]]) -> str:
    """The tables whose rows differ, with a few rows found on one side only ("" when equal)."""
    out = []
    for name in sorted(set(left) | set(right)):
        a, b = set(left.get(name, [])), set(right.get(name, []))
        if a != b or len(left.get(name, [])) != len(right.get(name, [])):
            out.append(f"{name}: {len(a - b)} rows only left, {len(b - a)} only right;"
                       f" left {sorted(a - b, key=repr)[:2]}; right {sorted(b - a, key=repr)[:2]}")
    return "\n".join(out)


def marts_snapshot(dsn: str) -> dict[str, list[tuple]]:
    """Every row of every table and view of schema `marts`, sorted (for comparing two builds). Upload ids are left
    out: they number uploads in the order they were logged, which parallel batches make differ from run to run."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn) as conn:
        columns: dict[str, list[str]] = {}
        for table, column in conn.execute(
                "select table_name, column_name from information_schema.columns where table_schema = 'marts'"
                " and column_name !~ '(^|_)upload_id$' order by table_name, ordinal_position"):
            columns.setdefault(table, []).append(column)
        return {table: sorted(conn.execute(sql.SQL("select {} from marts.{}").format(
                    sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table))).fetchall(), key=repr)
                for table, names in columns.items()}


def in_process_marts(dsn: str, landing: Path, tmp: Path) -> dict[str, list[tuple]]:
    """The marts of the in-process path (`energystat ingest`, then `energystat marts build`) on `dsn`."""
    env = {**os.environ, "ENERGYSTAT_WAREHOUSE_DSN": dsn, "ENERGYSTAT_LANDING_DIR": str(landing),
           "ENERGYSTAT_QUARANTINE_DIR": str(tmp / "quarantine_in_process")}
    for args in (["ingest"], ["marts", "build"]):
        done = subprocess.run([sys.executable, "-m", "energystat.cli", *args], env=env, capture_output=True,
                              text=True, timeout=1800)
        assert done.returncode == 0, f"energystat {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return marts_snapshot(dsn)
