"""Deadline reminders: who is reminded on which day (a fake clock), through which channel, never twice a day —
first through the domain functions on an upload log, then through Airflow (`airflow dags test` with logical
dates before and after the deadline), received by a local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from airflow_harness import AIRFLOW, airflow_environ, ensure_airflow_db
from alert_servers import webhook_server, webhook_url

from energystat import reference
from energystat.ingest import run as ingest
from energystat.monitoring import channels, outbox, reminders
from energystat.synth import generate

REMINDERS_DAG = "reporting_reminders"
LATE = ("450300", "451000")  # reporters without an accepted 2023-12 monthly file
NO_TASKS = "450500"  # reporter without the 2023-Q4 task progress


def _log_upload(conn: psycopg.Connection, reporter: str, kind: str, period: str, status: str) -> None:
    conn.execute(
        "insert into ops.upload_log (path, file_name, sha256, size_bytes, reporter_code, period, kind, status)"
        " values (%s, %s, %s, 1, %s, %s, %s, %s)",
        (f"{reporter}/{period}/{kind}.csv", f"{kind}.csv", f"{reporter}{period}{kind}{status}".ljust(64, "0")[:64],
         reporter, period, kind, status))


@pytest.fixture
def upload_log(warehouse_dsn: str) -> str:
    """2023-11 and 2023-12 uploaded by every reporter except: LATE[0] was rejected, LATE[1] never uploaded
    2023-12; NO_TASKS has no Q4 task progress; one reporter's 2023-12 was accepted then superseded (counts)."""
    with psycopg.connect(warehouse_dsn) as conn:
        for code in reference.reporter_codes():
            _log_upload(conn, code, "monthly", "2023-11", "accepted")
            if code == LATE[0]:
                _log_upload(conn, code, "monthly", "2023-12", "rejected")
            elif code != LATE[1]:
                _log_upload(conn, code, "monthly", "2023-12", "superseded" if code == "450100" else "accepted")
            if code != NO_TASKS:
                _log_upload(conn, code, "task_progress", "2023-12", "accepted_with_warnings")
    return warehouse_dsn


def _due(dsn: str, day: dt.date, notice: int = 3) -> set[tuple[str, str, str, str]]:
    with psycopg.connect(dsn) as conn:
        return {(r.reporter_code, r.upload_kind, r.period, r.kind)
                for r in reminders.due_reminders(conn, day, notice)}


def test_reminders_fall_on_the_notice_day_and_every_day_after_the_deadline(upload_log: str) -> None:
    assert reminders.deadline_of("monthly", dt.date(2023, 12, 1)) == dt.date(2024, 1, 10)
    assert reminders.deadline_of("task_progress", dt.date(2023, 12, 1)) == dt.date(2024, 1, 15)
    assert _due(upload_log, dt.date(2024, 1, 6)) == set()  # 4 days before: not yet
    before = {(c, "monthly", "2023-12", "deadline_before") for c in LATE}
    assert _due(upload_log, dt.date(2024, 1, 7)) == before  # 3 days before the 10th
    assert _due(upload_log, dt.date(2024, 1, 8)) == set()
    assert _due(upload_log, dt.date(2024, 1, 10)) == set()  # the deadline day itself is still on time
    overdue = {(c, "monthly", "2023-12", "deadline_overdue") for c in LATE}
    assert _due(upload_log, dt.date(2024, 1, 11)) == overdue
    assert _due(upload_log, dt.date(2024, 1, 12)) == overdue | {(NO_TASKS, "task_progress", "2023-12", "deadline_before")}
    assert _due(upload_log, dt.date(2024, 1, 16)) == overdue | {(NO_TASKS, "task_progress", "2023-12", "deadline_overdue")}
    assert _due(upload_log, dt.date(2024, 1, 5), notice=5) == before  # the notice is configurable


def test_each_reminder_goes_to_the_reporters_channel_once_a_day(upload_log: str) -> None:
    with webhook_server() as (port, posts):
        own = {LATE[0]: [webhook_url(port).replace("energystat-alerts", f"r{LATE[0]}")]}
        governance = [webhook_url(port)]
        first = reminders.send_reminders(upload_log, dt.date(2024, 1, 7), 3, own, governance)
        again = reminders.send_reminders(upload_log, dt.date(2024, 1, 7), 3, own, governance)
        next_day = reminders.send_reminders(upload_log, dt.date(2024, 1, 11), 3, own, governance)
    assert {r.reporter_code for r in first} == set(LATE) and again == []
    assert {r.reporter_code for r in next_day} == set(LATE)
    by_path = sorted((p["path"], p["json"]["title"]) for p in posts)
    assert len(by_path) == 4
    own_titles = [t for p, t in by_path if p == f"/r{LATE[0]}"]
    assert len(own_titles) == 2 and all(reference.reporter_name(LATE[0]) in t for t in own_titles)
    governance_titles = [t for p, t in by_path if p == "/energystat-alerts"]
    assert len(governance_titles) == 2 and all(reference.reporter_name(LATE[1]) in t for t in governance_titles)
    assert any("将于 3 天后截止" in t for t in governance_titles) and any("已逾期 1 天" in t for t in governance_titles)
    with psycopg.connect(upload_log) as conn:
        recorded = conn.execute("select count(*), count(distinct (reporter_code, sent_on)) from ops.reminders_sent"
                                ).fetchone()
    assert recorded == (4, 4)


def test_an_undelivered_reminder_is_not_recorded_and_goes_out_next_time(upload_log: str) -> None:
    with webhook_server(status=500) as (port, _posts), pytest.raises(outbox.UndeliveredError) as failed:
        reminders.send_reminders(upload_log, dt.date(2024, 1, 7), 3, {}, [webhook_url(port)])
    assert failed.value.sent == [] and {r.reporter_code for r in failed.value.undelivered} == set(LATE)
    with webhook_server() as (port, posts):
        retried = reminders.send_reminders(upload_log, dt.date(2024, 1, 7), 3, {}, [webhook_url(port)])
    assert {r.reporter_code for r in retried} == set(LATE) and len(posts) == 2


def test_reporter_channels_are_parsed_and_fall_back_to_governance() -> None:
    mapping = channels.parse_reporter_urls('{"450100": ["json://a/x"], "450200": "json://b/y, json://c/z"}')
    assert mapping == {"450100": ["json://a/x"], "450200": ["json://b/y", "json://c/z"]}
    assert channels.urls_for("450300", mapping, ["json://gov/"]) == ["json://gov/"]
    assert channels.urls_for("450200", mapping, ["json://gov/"]) == ["json://b/y", "json://c/z"]
    assert channels.parse_reporter_urls("") == {}
    with pytest.raises(ValueError, match="not JSON"):
        channels.parse_reporter_urls("450100=json://a")


# ------------------------------------------------------------------ through Airflow

def _dags_test(day: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    ensure_airflow_db()
    return subprocess.run([AIRFLOW, "dags", "test", "reporting_reminders", day], env=airflow_environ(**env),
                          capture_output=True, text=True, timeout=900)


FAKE_DAYS = ("2024-01-06", "2024-01-07", "2024-01-07", "2024-01-11")  # before, on the notice day twice, after


def _province_with_late_reporters(landing: Path, dsn: str) -> None:
    generate(landing, institutions=45, years=[2022, 2023], seed=16, fmt="csv")
    for code in LATE:
        for path in landing.glob(f"{code}/2023-12/*能源资源消费月报*"):
            path.unlink()
    shutil.rmtree(landing / NO_TASKS / "2023-12")  # neither form for 2023-12
    summary = ingest.ingest(landing, dsn=dsn, alert_urls=[])
    assert summary.count("rejected") == 0, summary.describe()


def _reminder_env(dsn: str, port: int) -> dict[str, str]:
    return {"ENERGYSTAT_WAREHOUSE_DSN": dsn, "ENERGYSTAT_ALERT_URLS": webhook_url(port),
            "ENERGYSTAT_REMINDER_DAYS_BEFORE": "3",
            "ENERGYSTAT_REPORTER_ALERT_URLS": json.dumps({LATE[0]: [f"json://127.0.0.1:{port}/r{LATE[0]}"]})}


def _assert_the_expected_reminders(received: dict[str, list[dict]], dsn: str) -> None:
    """Nothing before the notice day; on it, one reminder per late reporter, through its own channel where it has
    one, and nothing more from a second run that day; a day after the deadline, one per still-late file."""
    def seen(day: str) -> set[tuple[str, str]]:
        return {(p["path"], p["json"]["title"]) for p in received[day]}

    late_monthly = {(f"/r{LATE[0]}" if c == LATE[0] else "/energystat-alerts", c) for c in (*LATE, NO_TASKS)}
    assert received["2024-01-06"] == []
    assert len(received["2024-01-07"]) == 3  # the second run of the day repeated nothing
    assert {(path, next(c for c in (*LATE, NO_TASKS) if c in title)) for path, title in seen("2024-01-07")} \
        == late_monthly
    assert all("将于 3 天后截止" in t for _, t in seen("2024-01-07"))
    # the 11th: the three monthly files are a day late; NO_TASKS's task progress is not yet due (the 15th)
    assert len(received["2024-01-11"]) == 3 and all("已逾期 1 天" in t for _, t in seen("2024-01-11"))
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("select sent_on::text, message_kind, count(*) from ops.reminders_sent"
                            " where sent_on < '2025-01-01' group by 1, 2 order by 1").fetchall()
    assert rows == [("2024-01-07", "deadline_before", 3), ("2024-01-11", "deadline_overdue", 3)]


def test_the_dag_on_a_fake_clock_sends_exactly_the_expected_reminders(tmp_path: Path, warehouse_dsn: str) -> None:
    """`airflow dags test` at each fake day (the in-process path; the scheduler's is the stack test below)."""
    _province_with_late_reporters(tmp_path / "landing", warehouse_dsn)
    received: dict[str, list[dict]] = {}
    with webhook_server() as (port, posts):
        for day in FAKE_DAYS:
            before = len(posts)
            run = _dags_test(day, _reminder_env(warehouse_dsn, port))
            assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
            received.setdefault(day, []).extend(posts[before:])
    _assert_the_expected_reminders(received, warehouse_dsn)


@pytest.mark.stack
@pytest.mark.airflow
def test_the_scheduler_on_a_fake_clock_sends_exactly_the_expected_reminders(
        tmp_path: Path, server_dsn: str, template_dsn: str) -> None:
    """The same days as runs the real scheduler executes (api-server, scheduler, dag-processor, triggerer,
    LocalExecutor), each triggered through the REST API at its logical date and awaited before the next."""
    from airflow_harness import airflow_metadata_db, copy_database

    from energystat.orchestration import stack

    dsn = copy_database(template_dsn, "es_remind")
    _province_with_late_reporters(tmp_path / "landing", dsn)
    received: dict[str, list[dict]] = {}
    with webhook_server() as (port, posts):
        running = stack.start(stack.LOCAL, migrate=False, ENERGYSTAT_AIRFLOW_DB_DSN=airflow_metadata_db(
            server_dsn, "af_remind"), AIRFLOW_HOME=str(tmp_path / "airflow"), **_reminder_env(dsn, port))
        try:
            client = running.client()
            client.wait_for_dags([REMINDERS_DAG])
            # Unpausing makes the scheduler run today's interval: run it first, so that it is not a surprise
            # in the middle (its reminders are about today's periods, not the fake days').
            today = client.run_once(REMINDERS_DAG)
            assert client.wait_for_run(REMINDERS_DAG, today["dag_run_id"])["state"] == "success"
            for n, day in enumerate(FAKE_DAYS):
                before = len(posts)
                run = client.trigger(REMINDERS_DAG, logical_date=f"{day}T{8 + n:02d}:00:00+08:00")
                finished = client.wait_for_run(REMINDERS_DAG, run["dag_run_id"])
                assert finished["state"] == "success", finished
                time.sleep(1)  # the webhook server has answered; its list is complete
                received.setdefault(day, []).extend(posts[before:])
            client.set_paused(REMINDERS_DAG, True)
        finally:
            running.stop()
    _assert_the_expected_reminders(received, dsn)
