"""The environment Airflow runs in, derived from the project's settings (no hand steps).

Static settings live in `config/airflow.cfg` (AIRFLOW_CONFIG); what depends on the machine — paths and
DSNs — is computed here. Values already set in the environment win, so production (docker compose) and CI
can override anything.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, unquote, urlsplit

from energystat import config, warehouse


def airflow_connection_json(dsn: str) -> str:
    """A libpq URI as an Airflow connection in JSON form (handles Unix-socket hosts, which URIs cannot)."""
    parts = urlsplit(dsn)
    query = parse_qs(parts.query)
    host = query.pop("host", [parts.hostname or "localhost"])[0]
    conn = {
        "conn_type": "postgres",
        "host": host,
        "login": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "schema": parts.path.lstrip("/"),
        "port": parts.port or 5432,
    }
    if query:
        conn["extra"] = {k: v[0] for k, v in query.items()}
    return json.dumps(conn)


def sqlalchemy_uri(dsn: str) -> str:
    """libpq URI -> SQLAlchemy URI with the psycopg2 driver Airflow's metadata DB uses."""
    return "postgresql+psycopg2://" + dsn.split("://", 1)[1]


def environ() -> dict[str, str]:
    """Environment variables for every Airflow process of this project."""
    home = config.airflow_home()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    dsn = warehouse.warehouse_dsn()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(config.AIRFLOW_CONFIG_FILE),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PLUGINS_DIR),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_uri(warehouse.airflow_db_dsn()),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__COSMOS__CACHE_DIR": str(config.state_dir() / "cosmos_cache"),
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "AIRFLOW_CONN_WAREHOUSE": airflow_connection_json(dsn),
        config.WAREHOUSE_DSN_ENV: dsn,
        "ENERGYSTAT_HOME": str(config.PROJECT_ROOT),
        "ENERGYSTAT_STATE_DIR": str(config.state_dir()),
        "PYTHONPATH": str(config.PROJECT_ROOT / "include"),
        "NO_PROXY": "*",  # macOS/forking safety for local task runners; harmless elsewhere
    }
    return {key: os.environ.get(key, value) for key, value in env.items()}


def apply() -> dict[str, str]:
    """Put the Airflow environment into this process (before importing airflow)."""
    env = environ()
    os.environ.update(env)
    return env
