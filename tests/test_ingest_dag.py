"""The ingestion DAG, run by Airflow (`airflow dags test`): loads a province, publishes the raw-table Asset,
alerts on a rejected upload, and a second run over unchanged files changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
from airflow_harness import dags_test
from alert_servers import webhook_server, webhook_url

from energystat import assets, warehouse
from energystat.synth import generate


def _last_publish(server_dsn: str) -> tuple[str, int]:
    """State of `publish_raw_assets` in the DAG's latest run, and the raw-monthly Asset events that run emitted
    (Airflow's metadata database lives beside the warehouse)."""
    with psycopg.connect(warehouse.with_database(server_dsn, warehouse.AIRFLOW_DB)) as conn:
        state, events = conn.execute(
            "select ti.state, (select count(*) from asset_event e join asset a on a.id = e.asset_id"
            "                  where a.uri = %s and e.source_dag_id = ti.dag_id and e.source_run_id = ti.run_id)"
            " from task_instance ti join dag_run r on r.dag_id = ti.dag_id and r.run_id = ti.run_id"
            " where ti.dag_id = 'ingest_monthly_uploads' and ti.task_id = 'publish_raw_assets'"
            " order by r.id desc limit 1", (assets.RAW_MONTHLY_STATISTICS,)).fetchone()
    return state, int(events)


def test_nightly_dag_loads_rejects_alerts_and_is_idempotent(tmp_path: Path, warehouse_dsn: str,
                                                            server_dsn: str) -> None:
    landing = tmp_path / "landing"
    generate(landing, institutions=150, years=[2022, 2023], seed=11, fmt="xlsx")
    for folder in landing.iterdir():  # two reporters are enough to exercise the batches
        if folder.is_dir() and folder.name not in ("450300", "451000"):
            shutil.rmtree(folder)
    # One broken upload: a monthly file that is not a workbook at all.
    broken = next(landing.glob("450300/2023-12/*能源资源消费月报*"))
    broken.write_bytes(b"this is not an xlsx file")
    env = {"ENERGYSTAT_WAREHOUSE_DSN": warehouse_dsn, "ENERGYSTAT_LANDING_DIR": str(landing),
           "ENERGYSTAT_QUARANTINE_DIR": str(tmp_path / "quarantine"), "ENERGYSTAT_INGEST_BATCHES": "2"}

    with webhook_server() as (port, posts):
        run = dags_test("ingest_monthly_uploads", ENERGYSTAT_ALERT_URLS=webhook_url(port), **env)
    published = _last_publish(server_dsn)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]

    files = [p for p in landing.rglob("*") if p.is_file() and p.parent != landing]
    with psycopg.connect(warehouse_dsn) as conn:
        statuses = dict(conn.execute("select status, count(*) from ops.upload_log group by 1").fetchall())
        rejected = conn.execute("select path, reason from ops.upload_log where status = 'rejected'").fetchall()
        events = conn.execute("select count(*) from raw.monthly_statistics").fetchone()[0]
    assert statuses.get("rejected") == 1 and rejected[0][0].startswith("450300/2023-12/")
    assert statuses.get("accepted", 0) + statuses.get("accepted_with_warnings", 0) == len(files) + 1  # + registry
    assert events > 0
    assert len(posts) == 1 and "450300" in posts[0]["json"]["title"] and "P001" in posts[0]["json"]["message"]
    assert (tmp_path / "quarantine" / "450300" / "2023-12" / broken.name).exists()

    with psycopg.connect(warehouse_dsn) as conn:
        before = conn.execute("select count(*), max(upload_id) from ops.upload_log").fetchone()
    assert published == ("success", 1)  # the raw-table Asset was updated: build_marts is scheduled on it
    again = dags_test("ingest_monthly_uploads", **env)
    assert again.returncode == 0, again.stdout[-4000:]
    assert _last_publish(server_dsn) == ("skipped", 0)  # nothing new: no Asset event, no marts rebuild
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*), max(upload_id) from ops.upload_log").fetchone() == before
    shutil.rmtree(landing)
