"""Shared test set-up: one real PostgreSQL per test session, a fresh migrated database per test module.

The server is the embedded one (pgserver, in a temporary state folder) unless ENERGYSTAT_WAREHOUSE_DSN is set,
in which case that server is used (CI also runs the suite against 127.0.0.1:5432). Each xdist worker gets its
own databases, so tests run in parallel safely.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["sigterm_teardown"]

# Tests never touch the developer's own state folder: give the session its own (kept short for the socket path).
if "ENERGYSTAT_STATE_DIR" not in os.environ:
    os.environ["ENERGYSTAT_STATE_DIR"] = str(ROOT / ".energystat" / "test")
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")

from energystat import migrate, warehouse  # noqa: E402  (after the environment above)


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def server_dsn() -> str:
    """DSN of the PostgreSQL server under test (embedded unless ENERGYSTAT_WAREHOUSE_DSN is set)."""
    return warehouse.server_dsn()


@pytest.fixture(scope="session")
def template_dsn(server_dsn: str) -> Iterator[str]:
    """A migrated database used as the template for each test's fresh warehouse."""
    dsn = warehouse.with_database(server_dsn, f"es_tpl_{_worker()}_{secrets.token_hex(3)}")
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    yield dsn
    warehouse.drop_database(dsn)


def clone_database(server_dsn: str, template_dsn: str) -> str:
    """A new database copied from `template_dsn` (which must have no open connections); returns its DSN."""
    return _fresh_database(server_dsn, template_dsn)


def _fresh_database(server_dsn: str, template_dsn: str) -> str:
    fresh = warehouse.with_database(server_dsn, f"es_test_{_worker()}_{secrets.token_hex(4)}")
    warehouse.copy_database(template_dsn, fresh)
    return fresh


@pytest.fixture
def warehouse_dsn(server_dsn: str, template_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated, empty warehouse for one test; ENERGYSTAT_WAREHOUSE_DSN points at it."""
    dsn = _fresh_database(server_dsn, template_dsn)
    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", dsn)
    yield dsn
    warehouse.drop_database(dsn)


@pytest.fixture(scope="module")
def module_warehouse_dsn(server_dsn: str, template_dsn: str) -> Iterator[str]:
    """A fresh, migrated warehouse shared by the tests of one module (for expensive loads)."""
    dsn = _fresh_database(server_dsn, template_dsn)
    yield dsn
    warehouse.drop_database(dsn)


#: Tests marked `stack` start Airflow's whole stack as processes for a slow scenario of their own (the reminders on a
#: fake clock, the review answered over REST) and run with `make test-stack` (ENERGYSTAT_STACK_TESTS=1). The
#: pipeline through the real stack (tests/test_airflow_stack.py) is not marked: it runs in `make test`.
STACK_TESTS_ENV = "ENERGYSTAT_STACK_TESTS"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(STACK_TESTS_ENV) == "1":
        return
    skip = pytest.mark.skip(reason=f"starts the whole Airflow stack: run with `make test-stack` ({STACK_TESTS_ENV}=1)")
    for item in items:
        if item.get_closest_marker("stack"):
            item.add_marker(skip)
