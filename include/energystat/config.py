"""The project's settings: folders and environment variables, read in this one place.

Every setting has a default that works on a fresh laptop; production overrides them with environment variables
(README, "Configuration reference"). `settings()` reads the environment into one `Settings` object; it is cheap,
so callers ask for it when they need a value and see the environment as it is then (the Airflow environment and
tests set variables at run time). No other module reads an `ENERGYSTAT_*` variable.

The warehouse connection is looked up in one order, used by the Python code, dbt and Airflow alike:
ENERGYSTAT_WAREHOUSE_DSN, else AIRFLOW_CONN_WAREHOUSE (a URI or Airflow's JSON form), else the embedded server.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The repository root (include/energystat/config.py -> ../..), overridable for installed layouts.
PROJECT_ROOT = Path(os.environ.get("ENERGYSTAT_HOME") or Path(__file__).resolve().parents[2])

DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
AIRFLOW_CONFIG_FILE = PROJECT_ROOT / "config" / "airflow.cfg"

WAREHOUSE_DSN_ENV = "ENERGYSTAT_WAREHOUSE_DSN"
ALERT_URLS_ENV = "ENERGYSTAT_ALERT_URLS"
AIRFLOW_CONN_ENV = "AIRFLOW_CONN_WAREHOUSE"
#: The warehouse database on the embedded server.
WAREHOUSE_DB = "energystat"
#: The application roles of the warehouse (migration V003; energystat.roles says which job uses which).
APP_ROLES = ("energystat_loader", "energystat_transformer", "energystat_analyst", "energystat_portal")
DEFAULT_CONTACT = "广西壮族自治区机关事务管理局公共机构节能管理处（联系人及电话以当年通知为准）"
DEFAULT_WARNING_THRESHOLD = 20  # warnings in one file before governance staff are told
DEFAULT_VALIDATE_CHUNK_ROWS = 250_000
#: Limits of one upload (README, "What happens when…"): far above any real form, far below what hurts a worker.
DEFAULT_MAX_FILE_MB = 50
DEFAULT_MAX_ROWS = 200_000
DEFAULT_MAX_COLUMNS = 1_000
DEFAULT_READER_MEMORY_MB = 2_048
DEFAULT_READER_TIMEOUT_S = 300
DEFAULT_CORRECTION_MAX_REMOVED_SHARE = 0.10
DEFAULT_CORRECTION_MAX_FACTOR = 5.0

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # fsspec URL (`memory:/x` is how UPath prints memory://x)


DBT_EXECUTION_LOCAL, DBT_EXECUTION_WATCHER = "local", "watcher"
DBT_EXECUTIONS = (DBT_EXECUTION_WATCHER, DBT_EXECUTION_LOCAL)  # the first is the default


@dataclass(frozen=True)
class Settings:
    """Every environment setting of the project, with its default applied."""

    state_dir: Path
    landing: str  # a local folder or an fsspec URL (`s3://bucket/landing`)
    quarantine_dir: Path
    circular_dir: Path
    airflow_home: Path
    #: The warehouse DSN given by the environment (None: the embedded server).
    warehouse_dsn: str | None
    airflow_db_dsn: str | None
    #: Per application role (`energystat_loader`, …): a full DSN (`ENERGYSTAT_LOADER_DSN`, …) and a password
    #: (`ENERGYSTAT_LOADER_PASSWORD`, …), where given; see energystat.roles for the order.
    role_dsns: dict[str, str]
    role_passwords: dict[str, str]
    alert_urls: tuple[str, ...]
    warning_alert_threshold: int
    #: Rows per Great Expectations run: fewer runs cost less fixed GX time, smaller ones bound memory.
    validate_chunk_rows: int
    #: Parallel batches of the ingestion DAG; each pays the GX import once, so more batches than cores lose
    #: (bench/RESULTS.md, "Figures moved out of docstrings").
    ingest_batches: int
    contact_zh: str
    #: Uploads larger than this are rejected unread (P001).
    max_file_bytes: int = DEFAULT_MAX_FILE_MB << 20
    #: Sheets declaring or holding more rows (or columns) are rejected (P001).
    max_rows: int = DEFAULT_MAX_ROWS
    max_columns: int = DEFAULT_MAX_COLUMNS
    #: Address space one file's reader may add, and its seconds (it runs in its own process).
    reader_memory_bytes: int = DEFAULT_READER_MEMORY_MB << 20
    reader_timeout_s: float = DEFAULT_READER_TIMEOUT_S
    #: Files read at once, each by its own reader process, while the run validates and loads earlier ones (up to
    #: `validate_chunk_rows` parsed rows ahead).
    parse_ahead: int = 2
    #: The correction guard: a new version removing more of the live batch's institutions, or changing a month
    #: total by this factor either way, is held for review (M017 / T009 / R002).
    correction_max_removed_share: float = DEFAULT_CORRECTION_MAX_REMOVED_SHARE
    correction_max_factor: float = DEFAULT_CORRECTION_MAX_FACTOR
    #: Seconds a second ingestion run waits for the landing tree's lock before exiting cleanly.
    ingest_lock_wait_s: float = 0.0
    #: Apprise URLs told about unexpected errors (engineers), default the alert URLs.
    engineer_alert_urls: tuple[str, ...] = ()
    #: How build_marts runs dbt through Cosmos: "watcher" (one `dbt build`, node tasks report its results from
    #: the triggerer; the default) or "local" (each node task runs dbt for its own node): see dags/build_marts.py.
    dbt_execution: str = DBT_EXECUTION_WATCHER

    @property
    def embedded_pgdata(self) -> Path:
        return self.state_dir / "pgdata"

    @property
    def embedded_dsn(self) -> str:
        """The embedded server's socket URI (valid whether or not it runs)."""
        return f"postgresql://postgres:@/{WAREHOUSE_DB}?host={self.embedded_pgdata}"


def parse_urls(text: str | None) -> list[str]:
    """Apprise URLs separated by blanks or commas."""
    return [u for u in re.split(r"[\s,]+", text or "") if u]


def airflow_connection_uri(value: str) -> str:
    """An Airflow connection given as env var: a URI, or the JSON form {conn_type, host, login, ...}."""
    value = value.strip()
    if not value.startswith("{"):
        return value
    conn = json.loads(value)
    host, schema = conn.get("host") or "", conn.get("schema") or "postgres"
    user = conn.get("login") or "postgres"
    password = conn.get("password") or ""
    if host.startswith("/"):  # a socket directory
        return f"postgresql://{user}:{password}@/{schema}?host={host}&port={conn.get('port') or 5432}"
    return f"postgresql://{user}:{password}@{host}:{conn.get('port') or 5432}/{schema}"


def _infix(role: str) -> str:
    """`LOADER` for `energystat_loader`: the part of its variables' names."""
    return role.removeprefix("energystat_").upper()


def settings() -> Settings:
    """The settings as the environment gives them now."""
    env = os.environ
    state = Path(env.get("ENERGYSTAT_STATE_DIR") or PROJECT_ROOT / ".energystat")
    dsn = env.get(WAREHOUSE_DSN_ENV) or (airflow_connection_uri(env[AIRFLOW_CONN_ENV])
                                         if env.get(AIRFLOW_CONN_ENV) else None)
    return Settings(
        state_dir=state,
        landing=env.get("ENERGYSTAT_LANDING_DIR") or str(state / "landing"),
        quarantine_dir=Path(env.get("ENERGYSTAT_QUARANTINE_DIR") or state / "quarantine"),
        circular_dir=Path(env.get("ENERGYSTAT_CIRCULAR_DIR") or state / "circular"),
        airflow_home=Path(env.get("AIRFLOW_HOME") or state / "airflow"),
        warehouse_dsn=dsn,
        airflow_db_dsn=env.get("ENERGYSTAT_AIRFLOW_DB_DSN") or None,
        role_dsns={role: env[name] for role in APP_ROLES if env.get(name := f"ENERGYSTAT_{_infix(role)}_DSN")},
        role_passwords={role: env[name] for role in APP_ROLES
                        if env.get(name := f"ENERGYSTAT_{_infix(role)}_PASSWORD")},
        alert_urls=tuple(parse_urls(env.get(ALERT_URLS_ENV))),
        warning_alert_threshold=int(env.get("ENERGYSTAT_WARNING_ALERT_THRESHOLD") or DEFAULT_WARNING_THRESHOLD),
        validate_chunk_rows=max(1, int(env.get("ENERGYSTAT_VALIDATE_CHUNK_ROWS") or DEFAULT_VALIDATE_CHUNK_ROWS)),
        ingest_batches=max(1, int(env.get("ENERGYSTAT_INGEST_BATCHES") or os.cpu_count() or 2)),
        contact_zh=env.get("ENERGYSTAT_CONTACT_ZH") or DEFAULT_CONTACT,
        max_file_bytes=int(float(env.get("ENERGYSTAT_MAX_FILE_MB") or DEFAULT_MAX_FILE_MB) * (1 << 20)),
        max_rows=int(env.get("ENERGYSTAT_MAX_ROWS") or DEFAULT_MAX_ROWS),
        max_columns=int(env.get("ENERGYSTAT_MAX_COLUMNS") or DEFAULT_MAX_COLUMNS),
        reader_memory_bytes=int(float(env.get("ENERGYSTAT_READER_MEMORY_MB") or DEFAULT_READER_MEMORY_MB) * (1 << 20)),
        reader_timeout_s=float(env.get("ENERGYSTAT_READER_TIMEOUT_S") or DEFAULT_READER_TIMEOUT_S),
        parse_ahead=max(1, int(env.get("ENERGYSTAT_PARSE_AHEAD") or os.cpu_count() or 2)),
        correction_max_removed_share=float(env.get("ENERGYSTAT_CORRECTION_MAX_REMOVED_SHARE")
                                           or DEFAULT_CORRECTION_MAX_REMOVED_SHARE),
        correction_max_factor=float(env.get("ENERGYSTAT_CORRECTION_MAX_FACTOR") or DEFAULT_CORRECTION_MAX_FACTOR),
        ingest_lock_wait_s=float(env.get("ENERGYSTAT_INGEST_LOCK_WAIT_S") or 0),
        engineer_alert_urls=tuple(parse_urls(env.get("ENERGYSTAT_ENGINEER_ALERT_URLS") or env.get(ALERT_URLS_ENV))),
        dbt_execution=_choice("ENERGYSTAT_DBT_EXECUTION", DBT_EXECUTIONS),
    )


def _choice(name: str, choices: tuple[str, ...]) -> str:
    """An enumerated setting: the first choice when unset; anything else unknown is an error, not a guess."""
    value = (os.environ.get(name) or choices[0]).strip().lower()
    if value not in choices:
        raise ValueError(f"{name}={value!r}: expected one of {', '.join(choices)}")
    return value


def storage_path(root: str | os.PathLike[str]) -> Path:
    """A folder setting as a path object: a local folder, or any fsspec URL (`s3://…`, `memory://…`) through
    universal-pathlib, which offers the same pathlib API (as Airflow's ObjectStoragePath does)."""
    if isinstance(root, str) and _URL.match(root) and not root.startswith("file:"):
        from upath import UPath  # lazy: only remote landing folders need fsspec

        return UPath(root)
    if not isinstance(root, str):  # already a path object (pathlib or universal-pathlib)
        return root  # type: ignore[return-value]
    return Path(root.removeprefix("file://"))


def configured_dsn() -> str:
    """The warehouse DSN in the project's lookup order, without starting anything (safe at DAG-parse time)."""
    current = settings()
    return current.warehouse_dsn or current.embedded_dsn


def state_dir() -> Path:
    """The git-ignored folder holding the embedded database, Airflow home, landing and output folders."""
    return settings().state_dir


def landing_dir() -> Path:
    """Root of the landing tree `<reporter>/<YYYY-MM>/<file>`: a local folder by default, or any fsspec URL."""
    return storage_path(settings().landing)


def quarantine_dir() -> Path:
    """Rejected uploads are moved here, `<reporter>/<period>/`, with their reports."""
    return settings().quarantine_dir


def circular_dir() -> Path:
    """Where the annual circular documents are written."""
    return settings().circular_dir


def airflow_home() -> Path:
    return settings().airflow_home


@dataclass(frozen=True)
class PortalSettings:
    """The upload portal's settings (`energystat portal`; docs/portal.md)."""

    host: str = "127.0.0.1"
    port: int = 8090
    #: Largest upload accepted, in bytes (the request is cut off beyond it: HTTP 413).
    max_upload_bytes: int = 20 * 1024 * 1024
    #: Most data rows a checked file may hold (a reporter's month is a few thousand institutions).
    max_rows: int = 50_000
    session_hours: int = 8
    #: Failed passwords in a row after which an account is locked for `lockout_minutes`.
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    #: Send cookies with `Secure` (when served over HTTPS behind a proxy).
    secure_cookies: bool = False
    #: Where checked files and their verdicts are kept (`<work_dir>/<submission_id>/`).
    work_dir: Path = Path(".energystat/portal")
    #: A DSN for the portal (None: the `energystat_portal` role's DSN on the warehouse, or the warehouse's).
    dsn: str | None = None
    #: Airflow's API server: a submission triggers `ingest_monthly_uploads` there (None: the nightly run takes it).
    airflow_url: str | None = None
    airflow_user: str | None = None
    airflow_password: str | None = None


def portal_settings() -> PortalSettings:
    """The portal's settings as the environment gives them now."""
    env = os.environ

    def number(name: str, default: int) -> int:
        return int(env.get(name) or default)

    return PortalSettings(
        host=env.get("ENERGYSTAT_PORTAL_HOST") or "127.0.0.1",
        port=number("ENERGYSTAT_PORTAL_PORT", 8090),
        max_upload_bytes=number("ENERGYSTAT_PORTAL_MAX_UPLOAD_MB", 20) * 1024 * 1024,
        max_rows=number("ENERGYSTAT_PORTAL_MAX_ROWS", 50_000),
        session_hours=number("ENERGYSTAT_PORTAL_SESSION_HOURS", 8),
        max_failed_logins=number("ENERGYSTAT_PORTAL_MAX_FAILED_LOGINS", 5),
        lockout_minutes=number("ENERGYSTAT_PORTAL_LOCKOUT_MINUTES", 15),
        secure_cookies=(env.get("ENERGYSTAT_PORTAL_SECURE_COOKIES") or "").lower() in ("1", "true", "yes"),
        work_dir=Path(env.get("ENERGYSTAT_PORTAL_WORK_DIR") or settings().state_dir / "portal"),
        dsn=env.get("ENERGYSTAT_PORTAL_DSN") or None,
        airflow_url=env.get("ENERGYSTAT_AIRFLOW_URL") or None,
        airflow_user=env.get("ENERGYSTAT_AIRFLOW_USER") or None,
        airflow_password=env.get("ENERGYSTAT_AIRFLOW_PASSWORD") or None,
    )
