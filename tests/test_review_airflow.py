"""The review loop through real Airflow (api-server, scheduler, dag-processor, triggerer as processes): two
explained ×10 corrections wait as human-in-the-loop tasks of `review_exceptions`; a named reviewer answers them
through the REST API (同意入库 for one, 退回 for the other); the approved file is loaded with its findings marked
overridden and the reviewer's name recorded, the returned one changes nothing, and the marts show the override."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import psycopg
import pytest
from airflow_harness import airflow_metadata_db, copy_database
from alert_servers import webhook_server, webhook_url

from energystat import config, dbt_runner, warehouse
from energystat.ingest import review
from energystat.ingest import run as ingest
from energystat.orchestration import environment, stack
from energystat.orchestration.rest import AirflowClient
from energystat.synth import generate

pytestmark = [pytest.mark.airflow, pytest.mark.stack]

REPORTER = "450100"
REVIEWER = "zhang_reviewer"
CHROMIUM = os.environ.get("ENERGYSTAT_CHROMIUM", "/usr/bin/chromium")
DAG = "review_exceptions"


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    root = config.state_dir() / f"review_stack_{secrets.token_hex(3)}"
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _monthly_sum(dsn: str, upload_id: int | None = None) -> str:
    """Checksum of raw.monthly_statistics (without the rows of `upload_id`)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by x::text)), '')"
            " from raw.monthly_statistics x where upload_id is distinct from %s", (upload_id,)).fetchone()[0]


def _tenfold(landing: Path, period: str) -> pd.DataFrame:
    original = next(landing.glob(f"{REPORTER}/{period}/*能源资源消费月报*.csv"))
    frame = pd.read_csv(original, dtype=str, encoding="utf-8-sig")
    frame.loc[0, "电力(千瓦时)"] = str(float(frame.loc[0, "电力(千瓦时)"]) * 10)
    bad = original.with_name(original.stem + "_更正.csv")
    frame.to_csv(bad, index=False, encoding="utf-8")
    review.sidecar_of(bad).write_text(f"{period} 新住院楼启用，用电量增加属实。", encoding="utf-8")
    return frame


def _awaiting(client: AirflowClient, run_id: str, count: int, timeout: float = 900) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        tis = [t for t in client.task_instances(DAG, run_id) if t["task_id"] == "review_upload"]
        waiting = [t for t in tis if t["state"] in ("awaiting_input", "deferred")]
        if len(waiting) == count:
            return sorted(waiting, key=lambda t: t["map_index"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"review tasks: {[(t['map_index'], t['state']) for t in tis]}")
        time.sleep(3)


def _screenshot_review_task(base_url: str, token: str, run_id: str, workdir: Path) -> None:
    """The first review task's Required Action page in Airflow's UI, as the reviewer sees it, in Debian's
    chromium (docs/img/airflow_review_task.png when ENERGYSTAT_SCREENSHOT_DIR=docs/img): it must show the
    Chinese body and the three options. Skipped without chromium (the REST answers below are the test)."""
    if not Path(CHROMIUM).exists():
        return
    from playwright.sync_api import sync_playwright

    out = Path(os.environ.get("ENERGYSTAT_SCREENSHOT_DIR") or workdir) / "airflow_review_task.png"
    path = f"/dags/{DAG}/runs/{quote(run_id)}/tasks/review_upload/mapped/0/required_actions"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN",
                                      timezone_id="Asia/Shanghai")
        context.add_cookies([{"name": "_token", "value": token, "url": base_url}])
        page = context.new_page()
        page.goto(base_url + path, wait_until="networkidle", timeout=180_000)
        page.get_by_text("新住院楼").first.wait_for(timeout=180_000)
        for option in ("同意入库", "退回", "要求补充说明"):
            assert page.get_by_text(option).count() >= 1, option
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def test_reviews_answered_through_airflow_rest_as_a_named_user(
        server_dsn: str, template_dsn: str, workdir: Path) -> None:
    landing = workdir / "landing"
    generate(landing, institutions=150, years=[2022, 2023], seed=7, fmt="csv")
    for folder in landing.iterdir():
        if folder.is_dir() and folder.name != REPORTER:
            shutil.rmtree(folder)
    dsn = copy_database(template_dsn, "es_review")
    metadata = airflow_metadata_db(server_dsn, "af_review")
    os.environ["ENERGYSTAT_QUARANTINE_DIR"] = str(workdir / "quarantine")
    with webhook_server() as (port, posts):
        running = None
        try:
            assert ingest.ingest(landing, dsn, alert_urls=[]).count("rejected") == 0
            approved_frame = _tenfold(landing, "2023-07")
            _tenfold(landing, "2023-08")
            outcomes = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
            assert [o.status for o in outcomes] == ["held", "held"]  # every error reviewable (M012)
            pending = review.pending_reviews(dsn)
            assert [p.period for p in pending] == ["2023-07", "2023-08"]
            before = _monthly_sum(dsn)

            running = stack.start(
                stack.LOCAL, migrate=False,
                ENERGYSTAT_WAREHOUSE_DSN=dsn, ENERGYSTAT_AIRFLOW_DB_DSN=metadata,
                AIRFLOW_HOME=str(workdir / "airflow"), ENERGYSTAT_LANDING_DIR=str(landing),
                ENERGYSTAT_QUARANTINE_DIR=str(workdir / "quarantine"),
                AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=f"admin:admin,{REVIEWER}:admin",
                ENERGYSTAT_ALERT_URLS=webhook_url(port),
                ENERGYSTAT_REPORTER_ALERT_URLS=json.dumps({REPORTER: [f"json://127.0.0.1:{port}/r{REPORTER}"]}),
            )
            admin = running.client()
            admin.wait_for_dags([DAG])
            run = admin.run_once(DAG)
            waiting = _awaiting(admin, run["dag_run_id"], 2)
            details = admin.hitl_details(DAG, run["dag_run_id"], "review_upload", waiting[0]["map_index"])
            assert "南宁市" in details["body"] and "2023-07" in details["body"] and "新住院楼" in details["body"]
            reviewer = AirflowClient.from_passwords_file(
                running.base_url, environment.passwords_file(workdir / "airflow"), REVIEWER)
            _screenshot_review_task(running.base_url, reviewer.token(), run["dag_run_id"], workdir)

            reviewer.answer_hitl(DAG, run["dag_run_id"], "review_upload", 0, ["同意入库"],
                                 {"comment": "新楼启用属实，同意入库"})
            reviewer.answer_hitl(DAG, run["dag_run_id"], "review_upload", 1, ["退回"],
                                 {"comment": "请附电表读数后重新报送"})
            finished = admin.wait_for_run(DAG, run["dag_run_id"], timeout=900)
            assert finished["state"] == "success"
            admin.set_paused(DAG, True)
        finally:
            if running is not None:
                running.stop()
    # the reporter heard both decisions on its own channel, not on the governance one
    decided = [p["json"]["title"] for p in posts if p["path"] == f"/r{REPORTER}"]
    assert sorted(t.split("】")[0] for t in decided) == ["【审核结果：同意入库", "【审核结果：退回"], decided
    assert not [p for p in posts if p["path"] != f"/r{REPORTER}" and "审核结果" in p["json"]["title"]]

    approved, returned = (o.upload_id for o in outcomes)
    with psycopg.connect(dsn) as conn:
        decisions = conn.execute("select upload_id, reviewer, decision, comment, via from ops.review_decisions"
                                 " order by upload_id").fetchall()
        statuses = dict(conn.execute("select upload_id, status from ops.upload_log where upload_id = any(%s)",
                                     ([approved, returned],)).fetchall())
        marks = conn.execute("select count(*), count(overridden_by) from ops.dq_findings where upload_id = %s"
                             " and severity = 'error'", (approved,)).fetchone()
    assert decisions == [(approved, REVIEWER, "approved", "新楼启用属实，同意入库", "airflow"),
                         (returned, REVIEWER, "returned", "请附电表读数后重新报送", "airflow")]
    assert statuses == {approved: "accepted_with_warnings", returned: "rejected"}
    assert marks[0] >= 1 and marks[1] == marks[0]
    # 退回 added nothing: every row but the approved upload's is as before.
    assert _monthly_sum(dsn, approved) == before

    dbt_runner.build(dsn)
    with psycopg.connect(dsn) as conn:
        overridden = conn.execute(
            "select count(*), sum(electricity_kwh) from marts.fct_institution_month where loaded_by_override"
        ).fetchone()
    assert overridden[0] == len(approved_frame)
    assert float(overridden[1]) == pytest.approx(pd.to_numeric(approved_frame["电力(千瓦时)"]).sum(), rel=1e-9)
    warehouse.drop_database(dsn)
    warehouse.drop_database(metadata)
