"""The warehouse: embedded or external server, migrations, DSN a psql user can paste, analyst role."""

from __future__ import annotations

import shutil
import subprocess
import sys

import psycopg
import pytest

from energystat import migrate, warehouse

pytestmark = pytest.mark.external_pg


def test_migrations_create_the_five_schemas(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        schemas = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
    assert {"raw", "ops", "staging", "intermediate", "marts"} <= schemas


def test_migrate_is_idempotent_and_records_versions(warehouse_dsn: str) -> None:
    assert migrate.migrate(warehouse_dsn) == []  # the template already had them all
    with psycopg.connect(warehouse_dsn) as conn:
        versions = [r[0] for r in conn.execute("select version from ops.schema_migrations order by 1")]
    assert versions == [v for v, _ in migrate.migration_files()]


def test_changed_migration_is_refused(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("update ops.schema_migrations set checksum = 'x' where version like 'V001%'")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        migrate.migrate(warehouse_dsn)


def test_cli_dsn_is_accepted_by_psql(warehouse_dsn: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "energystat.cli", "warehouse", "dsn"], capture_output=True, text=True, check=True
    )
    dsn = out.stdout.strip()
    assert dsn == warehouse_dsn
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("no psql client on this machine")
    res = subprocess.run([psql, dsn, "-tAc", "select count(*) from ops.schema_migrations"],
                         capture_output=True, text=True, check=True)
    assert int(res.stdout.strip()) == len(migrate.migration_files())


def test_analyst_reads_marts_and_is_refused_elsewhere(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("create table marts.example as select 1 as x")
    analyst = warehouse.analyst_dsn(warehouse_dsn)
    with psycopg.connect(analyst) as conn:
        assert conn.execute("select x from marts.example").fetchone() == (1,)
    for table in ("raw.monthly_statistics", "ops.upload_log"):
        with psycopg.connect(analyst) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"select * from {table}")


def test_concurrent_ensure_database_does_not_fail(server_dsn: str) -> None:
    """Two processes starting at once (xdist workers, Airflow tasks) may both try to create the database."""
    from concurrent.futures import ThreadPoolExecutor

    dsn = warehouse.with_database(server_dsn, "es_race_check")
    warehouse.drop_database(dsn)
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: warehouse.ensure_database(dsn), range(16)))
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select current_database()").fetchone() == ("es_race_check",)
    finally:
        warehouse.drop_database(dsn)
