"""`build_marts` run by Airflow (`airflow dags test`) in Cosmos's watcher mode: one `dbt build` feeds a task per
dbt node; on clean data every node task succeeds and the marts exist, and a failing dbt data test fails its own
task, alerts, and the marts downstream of it, which dbt skipped, end skipped (not reported as built)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from airflow_harness import dags_test
from alert_servers import webhook_server, webhook_url

from energystat import warehouse
from energystat.ingest.run import ingest
from energystat.synth import generate

pytestmark = [pytest.mark.airflow, pytest.mark.stack]

PRODUCER = "dbt.dbt_producer_watcher"


def _task_states(server_dsn: str) -> dict[str, str]:
    """Task id → state of build_marts' latest run (Airflow's metadata database lives beside the warehouse)."""
    with psycopg.connect(warehouse.with_database(server_dsn, warehouse.AIRFLOW_DB)) as conn:
        run_id = conn.execute("select run_id from dag_run where dag_id = 'build_marts' order by id desc limit 1"
                              ).fetchone()[0]
        return dict(conn.execute("select task_id, coalesce(state, 'none') from task_instance"
                                 " where dag_id = 'build_marts' and run_id = %s", (run_id,)).fetchall())


def test_watcher_run_shows_every_node_and_a_failed_test_fails_its_task(tmp_path: Path, warehouse_dsn: str,
                                                                         server_dsn: str) -> None:
    landing = tmp_path / "landing"
    generate(landing, institutions=60, years=[2022, 2023], seed=5, fmt="csv")
    summary = ingest(landing, dsn=warehouse_dsn, alert_urls=[])
    assert summary.count("rejected") == 0, summary.describe()
    env = {"ENERGYSTAT_WAREHOUSE_DSN": warehouse_dsn, "ENERGYSTAT_DBT_EXECUTION": "watcher"}

    with webhook_server() as (port, posts):
        clean = dags_test("build_marts", ENERGYSTAT_ALERT_URLS=webhook_url(port), **env)
    assert clean.returncode == 0, clean.stdout[-4000:] + clean.stderr[-4000:]
    states = _task_states(server_dsn)
    node_tasks = {t: s for t, s in states.items() if t.startswith("dbt.") and t != f"{PRODUCER}_done"}
    assert len(node_tasks) > 60 and set(node_tasks.values()) == {"success"}, node_tasks
    assert states["marts_ready"] == "success" and not posts
    with psycopg.connect(warehouse_dsn) as conn:
        assert conn.execute("select count(*) from marts.mart_target_attainment").fetchone()[0] > 0

    # A negative water reading slips into the raw table (past the ingest rules): stg_monthly_statistics'
    # value_between test fails inside the one dbt build.
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("update raw.monthly_statistics set water_t = -5"
                     " where ctid = (select ctid from raw.monthly_statistics limit 1)")
    with webhook_server() as (port, posts):
        broken = dags_test("build_marts", ENERGYSTAT_ALERT_URLS=webhook_url(port), **env)
    states = _task_states(server_dsn)
    assert states["dbt.stg_monthly_statistics.test"] == "failed", states
    assert states["dbt.stg_monthly_statistics.run"] == "success"
    assert states["dbt.int_institution_month.run"] == "skipped"  # dbt did not build it: a test of its input failed
    assert states["marts_ready"] != "success"
    assert states["dbt.ref_reporters.seed"] == "success"
    assert any("stg_monthly_statistics" in (p["json"].get("title", "") + p["json"].get("message", ""))
               for p in posts), [p["json"] for p in posts]
    assert broken.returncode != 0 or "failed" in broken.stdout.lower()


def test_under_the_scheduler_a_failed_test_or_model_alerts_and_what_reads_it_is_skipped(
        tmp_path: Path, warehouse_dsn: str, server_dsn: str) -> None:
    """The same failure under a real scheduler (node tasks start with the run and end in the triggerer): the
    failed test's task fails (after its retries) and alerts; int_institution_month, which dbt skipped, waits for
    the test to settle and ends skipped without an alert of its own; the run fails. A model that fails
    (stg_task_progress: a column it reads is gone) alerts once: its tests' task and the models reading it end
    skipped, without alerts of their own."""
    from airflow_harness import airflow_metadata_db

    from energystat.orchestration import stack

    generate(tmp_path / "landing", institutions=60, years=[2022, 2023], seed=5, fmt="csv")
    assert ingest(tmp_path / "landing", dsn=warehouse_dsn, alert_urls=[]).count("rejected") == 0
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("update raw.monthly_statistics set water_t = -5"
                     " where ctid = (select ctid from raw.monthly_statistics limit 1)")
        conn.execute("alter table raw.task_progress rename column note to remark")
    with webhook_server() as (port, posts):
        running = stack.start(stack.LOCAL, migrate=False, ENERGYSTAT_WAREHOUSE_DSN=warehouse_dsn,
                              ENERGYSTAT_AIRFLOW_DB_DSN=airflow_metadata_db(server_dsn, "af_marts"),
                              AIRFLOW_HOME=str(tmp_path / "airflow"), ENERGYSTAT_DBT_EXECUTION="watcher",
                              ENERGYSTAT_ALERT_URLS=webhook_url(port))
        try:
            client = running.client()
            run = client.run_once("build_marts")
            run = client.wait_for_run("build_marts", run["dag_run_id"], timeout=1200)
            states = {ti["task_id"]: ti["state"] for ti in client.task_instances("build_marts", run["dag_run_id"])}
        finally:
            running.stop()
    assert run["state"] == "failed", states
    assert states["dbt.stg_monthly_statistics.test"] == "failed"
    assert states["dbt.stg_monthly_statistics.run"] == "success"
    assert states["dbt.int_institution_month.run"] == "skipped"
    assert states["dbt.ref_reporters.seed"] == "success" and states["dbt.dim_institution.run"] == "success"
    assert states["marts_ready"] == "upstream_failed"
    # a test spanning two models reports its own result, not the failed build's
    assert states["dbt.relationships_stg_monthly_statistics_upload_id__upload_id__ref_stg_upload_log__test"] == "success"
    assert states["dbt.stg_task_progress.run"] == "failed"
    assert states["dbt.stg_task_progress.test"] == "skipped"
    assert states["dbt.int_task_achievements.run"] == "skipped" and states["dbt.mart_task_progress.run"] == "skipped"
    alerts = [p["json"].get("title", "") + p["json"].get("message", "") for p in posts]
    assert any("stg_monthly_statistics" in alert for alert in alerts), alerts
    assert any("stg_task_progress.run" in alert for alert in alerts), alerts
    assert not any(name in alert for alert in alerts for name in (
        "int_institution_month", "stg_task_progress.test", "int_task_achievements", "mart_task_progress")), alerts
