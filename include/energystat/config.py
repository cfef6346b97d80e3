"""Where things live: project folders, state folder, and settings from environment variables.

Every setting has a default that works on a fresh laptop; production overrides them with env vars
(see README, "Configuration reference").
"""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (include/energystat/config.py -> ../..), overridable for installed layouts.
PROJECT_ROOT = Path(os.environ.get("ENERGYSTAT_HOME") or Path(__file__).resolve().parents[2])

DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = PROJECT_ROOT / "plugins"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"
AIRFLOW_CONFIG_FILE = PROJECT_ROOT / "config" / "airflow.cfg"

WAREHOUSE_DSN_ENV = "ENERGYSTAT_WAREHOUSE_DSN"


def state_dir() -> Path:
    """The git-ignored folder holding the embedded database, Airflow home, landing and output folders."""
    return Path(os.environ.get("ENERGYSTAT_STATE_DIR") or PROJECT_ROOT / ".energystat")


def landing_dir() -> Path:
    """Root of the landing tree `<reporter>/<YYYY-MM>/<file>`: a local folder by default, or any fsspec URL
    (e.g. `s3://bucket/landing`), returned as a universal-pathlib path with the pathlib API."""
    from energystat.ingest import landing_root  # lazy: config stays import-light

    return landing_root(os.environ.get("ENERGYSTAT_LANDING_DIR") or state_dir() / "landing")


def quarantine_dir() -> Path:
    """Rejected uploads are moved here, `<reporter>/<period>/`, with their reports."""
    return Path(os.environ.get("ENERGYSTAT_QUARANTINE_DIR") or state_dir() / "quarantine")


def circular_dir() -> Path:
    """Where the annual circular documents are written."""
    return Path(os.environ.get("ENERGYSTAT_CIRCULAR_DIR") or state_dir() / "circular")


def airflow_home() -> Path:
    return Path(os.environ.get("AIRFLOW_HOME") or state_dir() / "airflow")
