"""Run DAGs the way Airflow does (`airflow dags test`, in a subprocess) against the test warehouse.

Airflow's metadata database is migrated once per test session (a file lock serialises xdist workers).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

from energystat import airflow_env, config

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
