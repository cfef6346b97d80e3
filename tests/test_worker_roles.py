"""A worker of the docker compose stack holds no owner's credentials, and needs none.

docker-compose.yaml gives the worker a warehouse DSN naming only the server and the database, and two secrets:
ENERGYSTAT_LOADER_PASSWORD and ENERGYSTAT_TRANSFORMER_PASSWORD. On real PostgreSQL, with exactly that
environment, the work of the DAG tasks — the nightly ingestion, dbt, the reminders and early warnings, the
bulletin, the circular's reads, the review loop — runs through as the loader and the transformer; what needs the
owner (migrating) fails and says why, and the roles the worker was not given cannot be used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import psycopg
import pytest
from alert_servers import webhook_server, webhook_url
from psycopg.conninfo import conninfo_to_dict

from energystat import dbt_runner, migrate, roles, warehouse
from energystat.synth import generate

pytestmark = pytest.mark.external_pg

#: The roles whose passwords the compose worker gets (docker-compose.yaml, service airflow-worker).
WORKER_ROLES = (roles.LOADER, roles.TRANSFORMER)


def without_credentials(dsn: str) -> str:
    """The server and database of `dsn`, with no user, password or password file (compose's warehouse DSN)."""
    parts = urlsplit(dsn)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in ("user", "password", "passfile")],
                      safe="/")
    # by hand: urlunsplit drops the `//` of an empty host (a socket folder in `host=`), which libpq then refuses
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def worker(module_warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The environment of compose's airflow-worker, on a migrated test warehouse; yields its warehouse DSN."""
    passwords = {role: roles.password(role) for role in WORKER_ROLES}  # what migrating set on the server
    if None in passwords.values():
        pytest.skip("this run gives the roles full DSNs (ENERGYSTAT_<ROLE>_DSN), not passwords")
    base = without_credentials(module_warehouse_dsn)
    folder = tmp_path_factory.mktemp("worker")
    with pytest.MonkeyPatch.context() as env:
        for role in roles.APP_ROLES.values():
            env.delenv(roles.dsn_env(role), raising=False)
            env.delenv(roles.password_env(role), raising=False)
        for role, secret in passwords.items():
            env.setenv(roles.password_env(role), secret)
        env.setenv("ENERGYSTAT_WAREHOUSE_DSN", base)
        env.delenv("AIRFLOW_CONN_WAREHOUSE", raising=False)
        for name in ("PGUSER", "PGPASSWORD", "PGSERVICE", "PGSERVICEFILE"):
            env.delenv(name, raising=False)
        env.setenv("PGPASSFILE", str(folder / "no-pgpass"))  # nor the account's ~/.pgpass
        # A state folder of its own: no password file of generated role passwords to fall back on.
        env.setenv("ENERGYSTAT_STATE_DIR", str(folder / "state"))
        env.setenv("ENERGYSTAT_LANDING_DIR", str(folder / "landing"))
        env.setenv("ENERGYSTAT_QUARANTINE_DIR", str(folder / "quarantine"))
        env.setenv("ENERGYSTAT_CIRCULAR_DIR", str(folder / "circular"))
        yield base


@pytest.fixture(scope="module")
def ingested(worker: str) -> str:
    """A small generated province, ingested by the ingestion DAG's tasks as the worker runs them."""
    from energystat import config
    from energystat.ingest import run as ingest_run

    landing = config.landing_dir()
    generate(landing, institutions=60, years=[2022, 2023], seed=2023, fmt="csv")
    # dags/ingest_monthly_uploads.py: discover_uploads, load_registry, validate_and_load (one per batch)
    plan = ingest_run.plan_run(str(landing), warehouse.warehouse_dsn(), batch_count=2)
    outcomes = ingest_run.run_batch(plan["registry"], warehouse.warehouse_dsn(), str(landing))
    for batch in plan["batches"]:
        outcomes += ingest_run.run_batch(batch, warehouse.warehouse_dsn(), str(landing))
    assert outcomes and not [o for o in outcomes if o["status"] == "rejected"], ingest_run.summarize(outcomes)
    return worker


@pytest.fixture(scope="module")
def built(ingested: str) -> str:
    """The marts, built by dbt as the build_marts DAG's worker builds them."""
    dbt_runner.build()
    return ingested


def _as(role: str, query: str) -> list[tuple]:
    with psycopg.connect(roles.role_dsn(role, warehouse.warehouse_dsn())) as conn:
        return conn.execute(query).fetchall()


def test_the_worker_environment_names_no_owner(worker: str) -> None:
    assert roles.dsn_user(worker) is None and roles.dsn_password(worker) == "" and warehouse.warehouse_dsn() == worker
    conninfo_to_dict(worker)  # a valid libpq URI
    assert not warehouse.is_embedded()  # a server is configured: nothing starts or creates a database here
    for role in WORKER_ROLES:
        assert _as(role, "select current_user") == [(role,)]


def test_the_nightly_ingestion_loads_as_the_loader(ingested: str) -> None:
    from energystat.ingest import run as ingest_run

    assert _as(roles.LOADER, "select count(*) > 0 from raw.monthly_statistics") == [(True,)]
    # `energystat ingest` on the worker: the landing tree's run lock is taken as the loader too; nothing is new.
    summary = ingest_run.ingest(alert_urls=[])
    assert not summary.busy and summary.outcomes == []


def test_dbt_builds_the_marts_as_the_transformer(built: str) -> None:
    owners = _as(roles.TRANSFORMER, "select distinct tableowner from pg_tables where schemaname = 'marts'")
    assert owners == [(roles.TRANSFORMER,)]
    # What the Cosmos tasks of build_marts receive: the transformer, with the password the worker was given.
    profile = dbt_runner.env_for_profile()
    assert profile["ENERGYSTAT_DBT_USER"] == roles.TRANSFORMER and profile["ENERGYSTAT_DBT_PASSWORD"]


def test_reminders_early_warnings_bulletin_and_circular_run_on_the_role_passwords(built: str, tmp_path: Path) -> None:
    from energystat.circular import data
    from energystat.monitoring import bulletin, early_warning, reminders

    dsn = warehouse.warehouse_dsn()
    with webhook_server() as (port, posts):
        sent = reminders.send_reminders(dsn, dt.date(2024, 1, 7), 3, {}, [webhook_url(port)])
        warned = early_warning.send_early_warnings(dsn, dt.date(2024, 1, 12), {}, [webhook_url(port)])
    assert warned.summary_period == "2023-12" and len(posts) == len(sent) + len(warned.reporters) + 1
    assert _as(roles.LOADER, "select count(*) from ops.reminders_sent") == [(len(posts),)]
    assert bulletin.latest_complete_month(dsn) == (2023, 12)
    assert bulletin.publish_bulletin(2023, 12, tmp_path, dsn=dsn)["docx"].is_file()
    assert data.marts_freshness(dsn)[0] is True
    assert data.load_circular_data(dsn, 2023).reporters


def test_the_review_loop_reads_and_records_on_the_role_passwords(built: str) -> None:
    from energystat.ingest import review

    dsn = warehouse.warehouse_dsn()
    assert review.pending_reviews(dsn) == []  # the pending query ran (the portal's submissions included)
    rel_path = _as(roles.LOADER, "select path from ops.upload_log order by upload_id limit 1")[0][0]
    upload_id = review.explain(dsn, rel_path, "说明：新楼启用")
    assert _as(roles.LOADER, f"select count(*) from ops.upload_explanations where upload_id = {upload_id}") == [(1,)]


def test_what_needs_the_owner_fails_and_says_so(worker: str) -> None:
    dsn = warehouse.warehouse_dsn()
    try:
        psycopg.connect(dsn, connect_timeout=10).close()
    except psycopg.OperationalError:
        pass  # refused without a password, as docker compose's server and the embedded one refuse it
    else:
        pytest.skip("this server lets in a connection that gives no password (trust authentication, as CI's"
                    " 127.0.0.1:5432): refusals cannot be shown here; `make test` shows them on the embedded server")
    with pytest.raises(migrate.OwnerRequired, match="migrating connects as the warehouse's owner") as refused:
        migrate.migrate(dsn)
    assert "airflow-init" in str(refused.value)
    assert not [secret for role in WORKER_ROLES if (secret := roles.password(role)) in str(refused.value)]
    with pytest.raises(psycopg.OperationalError), warehouse.connect(dsn):  # the owner: connect()'s default role
        pass
    # ... and a role whose password the worker was not given cannot be used either.
    for role in (roles.ANALYST, roles.PORTAL):
        with pytest.raises(psycopg.OperationalError, match="password"), warehouse.connect(dsn, role=role):
            pass
