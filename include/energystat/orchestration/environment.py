"""The environment every Airflow process of the project runs with, derived from the project's settings.

Static settings live in `config/airflow.cfg` (AIRFLOW_CONFIG); the CeleryExecutor's settings live in
`config/celery.env`, read both by docker compose (`env_file`) and by `make cluster` and its test here; what
depends on the machine — paths, DSNs, the secrets every component must share — is computed here. Values
already set in the environment win, so production (docker compose) and CI can override anything.

No Airflow import: this runs before Airflow starts (and in the processes that start it).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from energystat import config, roles, warehouse

#: The CeleryExecutor's settings, shared with docker-compose.yaml (`env_file`): one source for both.
CELERY_ENV_FILE = config.PROJECT_ROOT / "config" / "celery.env"
#: Broker of `make cluster` and the scale-out test; docker compose sets its own (`redis://redis:6379/0`).
BROKER_URL_ENV = "ENERGYSTAT_CELERY_BROKER_URL"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"

#: Environment variables holding the secrets every component must share, and how each is generated.
_SECRETS = {
    # Signs the tokens the scheduler hands to task processes for the execution API: one key for all,
    # or every task fails at "Pre Execute" with InvalidSignatureError.
    "AIRFLOW__API_AUTH__JWT_SECRET": lambda: secrets.token_urlsafe(64),  # HS512 wants >= 64 bytes
    # Encrypts connection passwords and variables in the metadata database.
    "AIRFLOW__CORE__FERNET_KEY": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    # Signs the API server's sessions.
    "AIRFLOW__API__SECRET_KEY": lambda: secrets.token_urlsafe(32),
}

#: Airflow settings of the local stack (`orchestration.stack`: `make airflow`, `make demo`, the tests' stacks);
#: production (docker compose) keeps Airflow's defaults. Values already set in the environment win.
LOCAL_STACK_SETTINGS = {
    # The stack starts the scheduler together with the API server, not after it: a task it runs before the API
    # server listens retries its execution-API calls: 10 tries (random exponential waits) wait over 1 min in 99 %
    # of cases, the default 5 at most 15 s — the API server alone took 22 s to start on a busy 2-core machine.
    "AIRFLOW__WORKERS__EXECUTION_API_RETRIES": "10",
    # Each component would load Airflow's ≈ 100 alembic scripts to check the metadata DB's revision (≈ 0.9 s of
    # CPU each, four at once at start): a local stack migrates that DB before it starts any (`stack.start`).
    "AIRFLOW__DATABASE__CHECK_MIGRATIONS": "False",
}
#: Settings `make demo` adds to LOCAL_STACK_SETTINGS: its stack lives a minute or two and nobody edits a DAG
#: meanwhile. The DAG processor parses the files once at start and then re-parses one only when it changes
#: (`file_parsing_sort_mode = modified_time`); the every-30-s re-parse (build_marts ≈ 1 s each) would take CPU
#: from the demo's tasks on 2 cores. (`make airflow` keeps 30 s: it also picks up a rewritten dbt manifest.)
DEMO_STACK_SETTINGS = {
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "3600",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
}


def local_stack_environ(env: Mapping[str, str], settings: Mapping[str, str] = LOCAL_STACK_SETTINGS) -> dict[str, str]:
    """`settings` (LOCAL_STACK_SETTINGS), except those `env` sets already."""
    return {key: env.get(key, value) for key, value in settings.items()}


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


def shared_secrets(home: Path) -> dict[str, str]:
    """The JWT secret, Fernet key and API secret key of this Airflow home: generated once into
    `<home>/secrets.json` (mode 0600, inside the git-ignored state folder), the same for every component."""
    path = home / "secrets.json"
    stored = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    missing = {name: make() for name, make in _SECRETS.items() if not stored.get(name)}
    if missing:
        stored.update(missing)
        home.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stored, indent=1), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(path)  # atomic: two processes starting at once never read half a file
    return {name: stored[name] for name in _SECRETS}


def passwords_file(home: Path) -> Path:
    """Where the simple auth manager keeps the admin password (generated by the API server at first start)."""
    return home / "simple_auth_manager_passwords.json.generated"


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines of an env file as docker compose reads them (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def celery_environ(broker_url: str | None = None, result_dsn: str | None = None) -> dict[str, str]:
    """The CeleryExecutor's environment on this machine: `config/celery.env` (what docker compose uses) plus
    the broker (ENERGYSTAT_CELERY_BROKER_URL, default the local Redis) and the result backend (the metadata DB)."""
    dsn = result_dsn or warehouse.airflow_db_dsn()
    return {
        **read_env_file(CELERY_ENV_FILE),
        "AIRFLOW__CELERY__BROKER_URL": broker_url or os.environ.get(BROKER_URL_ENV) or DEFAULT_BROKER_URL,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + sqlalchemy_uri(dsn),
    }


def environ() -> dict[str, str]:
    """Environment variables for every Airflow process of this project."""
    home = config.airflow_home()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    dsn = warehouse.warehouse_dsn()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(config.AIRFLOW_CONFIG_FILE),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.PLUGINS_DIR),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "energystat.orchestration.worker_hostname",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(home)),
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
        **shared_secrets(home),
    }
    env = {key: os.environ.get(key, value) for key, value in env.items()}
    # Components start sub-processes by name (`airflow`, `dbt`): the venv's bin folder goes first on PATH, so
    # a plain shell without an activated venv works.
    env["PATH"] = os.pathsep.join([bin_dir, *[p for p in os.environ.get("PATH", "").split(os.pathsep) if p]])
    return env


#: Names whose values are secrets whatever they hold (besides `_SECRETS`): passwords, keys, tokens.
_SECRET_NAME_ENDINGS = ("_PASSWORD", "_SECRET", "_SECRET_KEY", "_FERNET_KEY", "_TOKEN")


def masked(env: dict[str, str]) -> dict[str, str]:
    """`env` fit to show a person: the shared secrets and any `…_PASSWORD`/`…_SECRET`/`…_TOKEN` value become
    `***`, and every DSN keeps its user and host but not its password (a URI, `password=` keywords, or an
    Airflow connection's JSON)."""
    shown = {}
    for key, value in env.items():
        if key in _SECRETS or key.upper().endswith(_SECRET_NAME_ENDINGS):
            shown[key] = roles.MASK
        elif value.lstrip().startswith("{"):
            shown[key] = _masked_json(value)
        else:
            shown[key] = roles.masked(value) if ("://" in value or "password" in value.lower()) else value
    return shown


def _masked_json(value: str) -> str:
    try:
        document = json.loads(value)
    except ValueError:
        return roles.MASK  # not JSON after all: show nothing rather than a secret
    if isinstance(document, dict):
        document = {k: (roles.MASK if k.lower() in ("password", "secret", "token") and v
                        else roles.masked(v) if isinstance(v, str) and "://" in v else v)
                    for k, v in document.items()}
    return json.dumps(document)


def apply() -> dict[str, str]:
    """Put the Airflow environment into this process (before importing airflow)."""
    env = environ()
    os.environ.update(env)
    return env
