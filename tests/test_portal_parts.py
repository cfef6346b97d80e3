"""The portal's parts on their own: month statuses against the deadline rule, type sniffing, server-chosen names,
the `energystat_portal` role's grants, import direction and script-free templates."""

from __future__ import annotations

import ast
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from energystat.portal import status, uploads

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "include" / "energystat"


def _log(conn: psycopg.Connection, reporter: str, period: str, status_: str, received: str, kind: str = "monthly",
         errors: int = 0, warnings: int = 0, path: str | None = None) -> int:
    return conn.execute(
        "insert into ops.upload_log (path, file_name, sha256, size_bytes, reporter_code, period, kind, received_at,"
        " status, error_count, warning_count, rule_summary) values (%s, 'f.xlsx', repeat('a', 64), 1, %s, %s, %s,"
        " %s, %s, %s, %s, %s) returning upload_id",
        (path or f"{reporter}/{period}/{status_}-{received}.xlsx", reporter, period, kind, received, status_, errors,
         warnings, Jsonb({}))).fetchone()[0]


def test_month_statuses_follow_uploads_submissions_and_the_deadline_rule(warehouse_dsn: str) -> None:
    from energystat.portal import accounts

    accounts.add_user(warehouse_dsn, "450300", "city", "450300", "a-long-password")
    with psycopg.connect(warehouse_dsn) as conn:
        _log(conn, "450300", "2024-01", "accepted", "2024-02-05")
        _log(conn, "450300", "2024-02", "rejected", "2024-03-08", errors=3)
        _log(conn, "450300", "2024-03", "superseded", "2024-04-09")
        _log(conn, "450300", "2024-03", "accepted_with_warnings", "2024-04-20", warnings=2)
        _log(conn, "450300", "2024-03", "accepted", "2024-04-21", kind="task_progress")  # Q1's form
        conn.execute(
            "insert into ops.portal_submissions (reporter_code, period, kind, checked_by, original_name,"
            " detected_type, sha256, size_bytes, verdict, submitted_by, submitted_at, landing_path) values"
            " ('450300', '2024-04', 'monthly', '450300', 'a.xlsx', 'xlsx', repeat('b', 64), 1, 'accepted',"
            " '450300', '2024-05-09', '450300/2024-04/x.xlsx')")
    grid = status.cells(warehouse_dsn, ["450300"], 2024, today=dt.date(2024, 6, 5))
    got = {p: (grid[("450300", p)].status, grid[("450300", p)].late_days, grid[("450300", p)].findings)
           for p in ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06", "2024-Q1", "2024-Q2")}
    assert got == {
        "2024-01": ("accepted", 0, 0),
        "2024-02": ("rejected", 87, 3),  # deadline 2024-03-10, still not accepted on 2024-06-05
        "2024-03": ("accepted_with_warnings", 0, 2),  # the first version arrived on 04-09, before 04-10
        "2024-04": ("submitted", 0, 0),
        "2024-05": ("due", 0, 0),  # ended, deadline 2024-06-10 not passed
        "2024-06": ("not_yet_due", 0, 0),
        "2024-Q1": ("accepted", 6, 0),  # deadline 2024-04-15, arrived 04-21
        "2024-Q2": ("not_yet_due", 0, 0),
    }
    assert grid[("450300", "2024-05")].deadline == dt.date(2024, 6, 10)
    later = status.cells(warehouse_dsn, ["450300"], 2024, today=dt.date(2024, 6, 12))
    assert (later[("450300", "2024-05")].status, later[("450300", "2024-05")].late_days) == ("late", 2)
    text = status.matrix_csv(later, ["450300"], 2024, status_filter="late")
    assert text.startswith("\ufeff报送单位代码") and "450300,桂林市,能源资源消费月报,2024-05,逾期未报,late,2024-06-10,2," in text



def test_a_held_month_shows_held_and_counts_late_days_until_a_reviewer_loads_it(warehouse_dsn: str) -> None:
    with psycopg.connect(warehouse_dsn) as conn:
        _log(conn, "450300", "2024-02", "held", "2024-03-08", errors=2)
    grid = status.cells(warehouse_dsn, ["450300"], 2024, today=dt.date(2024, 6, 5))
    cell = grid[("450300", "2024-02")]
    assert (cell.status, cell.late_days, cell.findings) == ("held", 87, 2)
    assert status.STATUS_ZH["held"] == "待审核" and "held" in status.STATUSES


def test_the_portal_connects_as_its_own_least_privilege_role_by_default(
        warehouse_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from fastapi.testclient import TestClient

    from energystat import config, roles
    from energystat.portal.app import create_app

    monkeypatch.delenv("ENERGYSTAT_PORTAL_DSN", raising=False)
    settings = dataclasses.replace(config.portal_settings(), dsn=None, work_dir=tmp_path)
    app = create_app(settings, warm=False)
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
        assert roles.dsn_user(app.state.dsn) == roles.PORTAL
        with psycopg.connect(app.state.dsn) as conn:
            assert conn.execute("select current_user").fetchone()[0] == roles.PORTAL


def test_the_portal_falls_back_to_the_warehouse_dsn_only_where_its_role_is_missing(
        warehouse_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses

    from energystat import config, roles
    from energystat.portal import app as portal_app

    monkeypatch.delenv("ENERGYSTAT_PORTAL_DSN", raising=False)
    monkeypatch.setattr(roles, "PORTAL", "energystat_no_such_role")
    settings = dataclasses.replace(config.portal_settings(), dsn=None, work_dir=tmp_path)
    with caplog.at_level("WARNING"):
        assert portal_app.portal_dsn(settings) == warehouse_dsn
    assert "energystat_no_such_role does not exist" in caplog.text


@pytest.mark.parametrize(("head", "expected"), [
    (b"PK\x03\x04rest-of-zip", "xlsx"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1....", "xls"),
    ("统一社会信用代码,单位名称\n".encode(), "csv"),
    ("统一社会信用代码,单位名称\n".encode("gb18030"), "csv"),
    (b"\xef\xbb\xbfa,b\n", "csv"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "unknown"),
    (b"%PDF-1.7\n\x00\x01\x02\xff\xfe", "unknown"),
])
def test_file_type_is_sniffed_from_the_bytes(head: bytes, expected: str) -> None:
    assert uploads.sniff_type(head) == expected


def test_landing_names_are_the_form_names_the_ingestion_recognises() -> None:
    from energystat.contract.uploads import kind_of

    monthly = uploads.landing_name("450100", "2024-03", "monthly", 17, "csv")
    task = uploads.landing_name("450100", "2024-06", "task_progress", 18, "unknown")
    assert monthly == "450100_2024-03_能源资源消费月报_门户17.csv"
    assert task == "450100_2024Q2_重点任务进展_门户18.xlsx"
    assert (kind_of(monthly), kind_of(task)) == ("monthly", "task_progress")
    assert uploads.folder_period("2024-Q2") == ("2024-06", "task_progress")
    assert uploads.form_period("2024-06", "task_progress") == "2024-Q2"
    with pytest.raises(uploads.UploadProblem):
        uploads.folder_period("../2024-01")


def _in_list(sql: str, before: str) -> tuple[str, ...]:
    """The quoted values of the first `in (…)` list after `before`."""
    match = re.search(re.escape(before) + r".*?\bin\s*\(([^)]*)\)", sql, re.S)
    assert match, f"no `in (...)` after {before!r}"
    return tuple(re.findall(r"'([^']*)'", match[1]))


def test_the_verdicts_are_the_ingestions_statuses_and_the_table_takes_exactly_them() -> None:
    from energystat.contract.uploads import ACCEPTED, ACCEPTED_WITH_WARNINGS, HELD, REJECTED
    from energystat.ingest.report import UNREADABLE_STATUS

    assert set(uploads.VERDICT_ZH) == {ACCEPTED, ACCEPTED_WITH_WARNINGS, REJECTED, HELD, UNREADABLE_STATUS}
    sql = next((PACKAGE / "migrations").glob("V008__*.sql")).read_text(encoding="utf-8")
    assert _in_list(sql, "add constraint portal_submissions_verdict_check") == tuple(uploads.VERDICT_ZH)
    assert _in_list(sql, "add constraint portal_submissions_explained_check") == uploads.NEEDS_EXPLANATION


def test_a_held_verdict_is_stored_and_submitted_only_with_its_explanation_after_upgrading(server_dsn: str) -> None:
    """A warehouse as it was before V008, with submissions already in it, takes the `held` verdict after migrating,
    and refuses a held submission without its 说明 as it refuses a rejected one."""
    from energystat import migrate, warehouse
    from energystat.portal import accounts

    dsn = warehouse.with_database(server_dsn, f"es_held_verdict_{os.getpid()}")
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    insert = ("insert into ops.portal_submissions (reporter_code, period, kind, checked_by, original_name,"
              " detected_type, sha256, size_bytes, verdict, submitted_by, submitted_at, landing_path, explanation)"
              " values ('450100', '2024-03', 'monthly', 'clerk', 'f.xlsx', 'xlsx', repeat('a', 64), 1, %s, %s, %s,"
              " %s, %s)")
    try:
        migrate.migrate(dsn, until="V007__held_uploads")
        accounts.add_user(dsn, "clerk", "city", "450100", "a-long-password")
        with psycopg.connect(dsn) as conn:
            conn.execute(insert, ("rejected", "clerk", "2024-04-01", "450100/2024-03/a.xlsx", "已核实"))
            with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                conn.execute(insert, ("held", None, None, None, None))
        assert migrate.migrate(dsn, until="V008__portal_held_verdict") == ["V008__portal_held_verdict"]
        with psycopg.connect(dsn) as conn:
            conn.execute(insert, ("held", None, None, None, None))
            conn.execute(insert, ("held", "clerk", "2024-04-02", "450100/2024-03/b.xlsx", "两家单位已撤并"))
            for verdict in ("held", "rejected", "unreadable"):
                with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
                    conn.execute(insert, (verdict, "clerk", "2024-04-03", f"450100/2024-03/{verdict}.xlsx", " "))
            conn.execute(insert, ("accepted", "clerk", "2024-04-04", "450100/2024-03/c.xlsx", None))
            assert conn.execute("select count(*) from ops.portal_submissions").fetchone() == (4,)
    finally:
        warehouse.drop_database(dsn)


def test_portal_role_reads_and_writes_only_what_the_portal_needs(warehouse_dsn: str) -> None:
    from portal_world import portal_role_dsn

    role_dsn = portal_role_dsn(warehouse_dsn)
    with psycopg.connect(role_dsn, autocommit=True) as conn:
        for sql in ("select count(*) from raw.monthly_statistics", "select count(*) from ops.upload_log",
                    "select count(*) from ops.dq_findings", "select count(*) from raw.institution_registry",
                    "select count(*) from raw.task_progress", "select count(*) from ops.portal_submissions"):
            conn.execute(sql)
        for sql in ("delete from raw.monthly_statistics", "insert into ops.upload_log (path) values ('x')",
                    "delete from raw.task_progress", "delete from ops.portal_users",
                    "insert into ops.portal_users (username, role, password_hash) values ('x', 'governance', 'x')",
                    "update ops.upload_log set status = 'accepted'"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)


def test_the_portal_checks_a_file_as_its_own_role_and_no_other(warehouse_dsn: str, tmp_path: Path) -> None:
    """The history rules and the correction guard read the registry and the folder's live batch (for a task-progress
    form, raw.task_progress: V009) as the portal's role: it holds no other role's password on docker compose."""
    from fixtures_uploads import task_row, write_task_xlsx
    from portal_world import portal_role_dsn
    from psycopg import sql

    from energystat import roles, warehouse
    from energystat.contract import forms

    database = sql.Identifier(warehouse.database_of(warehouse_dsn))
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:  # only the portal's role may connect
        conn.execute(sql.SQL("revoke connect on database {} from public").format(database))
        for role in roles.APP_ROLES.values():
            conn.execute(sql.SQL("revoke connect on database {} from {}").format(database, sql.Identifier(role)))
        conn.execute(sql.SQL("grant connect on database {} to {}").format(database, sql.Identifier(roles.PORTAL)))
    path = write_task_xlsx(tmp_path / "450100" / "2024-03" / forms.task_file_name("450100", 2024, 1), [task_row()])
    parsed, report = uploads.check_file(path, "450100", "2024-03", portal_role_dsn(warehouse_dsn))  # no refusal
    assert parsed.readable and parsed.kind == "task_progress" and report is not None


def test_a_portal_without_the_owners_credentials_connects_as_its_role(
        warehouse_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docker compose's portal: the warehouse DSN names no user, ENERGYSTAT_PORTAL_PASSWORD is its only secret."""
    import dataclasses
    from urllib.parse import urlsplit

    from energystat import config, roles
    from energystat.portal import app as portal_app

    parts = urlsplit(warehouse_dsn)
    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"
                                                   + (f"?{parts.query}" if parts.query else ""))
    monkeypatch.delenv("ENERGYSTAT_PORTAL_DSN", raising=False)
    monkeypatch.setenv(roles.password_env(roles.PORTAL), roles.password(roles.PORTAL))
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    settings = dataclasses.replace(config.portal_settings(), dsn=None, work_dir=tmp_path)
    dsn = portal_app.portal_dsn(settings)
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select current_user").fetchone() == (roles.PORTAL,)


def test_nothing_outside_the_portal_imports_it_and_it_starts_without_gx_or_airflow() -> None:
    importers = []
    for path in PACKAGE.rglob("*.py"):
        if "portal" in path.relative_to(PACKAGE).parts[0] or path.name in ("portal.py", "demo.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if any(n.startswith("energystat.portal") for n in names):
                importers.append(str(path))
    assert importers == []
    probe = ("import sys, energystat.portal.app as a; a.create_app(warm=False); "
             "print(sorted(m for m in ('great_expectations', 'airflow', 'dbt') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_templates_have_no_script_and_no_inline_style() -> None:
    for template in (PACKAGE / "portal" / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<script" not in text and "style=" not in text and "<style" not in text, template.name
        assert not [m for m in ("onclick", "onload", "onsubmit", "javascript:") if m in text.lower()], template.name
        forms = text.count("<form")
        tokens = text.count('name="csrf_token"')
        gets = text.count('method="get"')
        assert forms == tokens + gets, f"{template.name}: every POST form carries its CSRF token"


def test_airflow_trigger_asks_a_token_then_a_run_with_reporter_and_period() -> None:
    """Against a stand-in of Airflow's two REST endpoints (the real API server is exercised by h11's client)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from energystat.portal import airflow_trigger

    seen: list[tuple[str, dict, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append((self.path, body, self.headers.get("authorization")))
            reply = {"access_token": "tok"} if self.path == "/auth/token" else {"dag_run_id": "manual__1"}
            data = json.dumps(reply).encode()
            self.send_response(201 if "dagRuns" in self.path else 200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        run_id, note = airflow_trigger.trigger_ingest(url, "admin", "pw", "450100", "2024-03")
    finally:
        server.shutdown()
    assert run_id == "manual__1" and "manual__1" in note
    assert seen == [("/auth/token", {"username": "admin", "password": "pw"}, None),
                    ("/api/v2/dags/ingest_monthly_uploads/dagRuns",
                     {"logical_date": None, "conf": {"reporter": "450100", "period": "2024-03"}}, "Bearer tok")]
    run_id, note = airflow_trigger.trigger_ingest("http://127.0.0.1:9/", "admin", "pw", "450100", "2024-03")
    assert run_id is None and "夜间例行运行将处理" in note


def test_a_server_error_shows_an_incident_number_never_a_traceback(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from energystat.config import PortalSettings
    from energystat.portal.app import create_app

    broken = PortalSettings(dsn="postgresql://nobody@127.0.0.1:9/none?connect_timeout=2", work_dir=tmp_path)
    with TestClient(create_app(broken, warm=False), raise_server_exceptions=False) as client:
        client.cookies.set("energystat_session", "x" * 43)
        response = client.get("/r/450100")
    assert response.status_code == 500
    assert "服务器内部错误" in response.text and "编号" in response.text
    for leak in ("Traceback", "psycopg", "nobody", "File \""):
        assert leak not in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_user_add_prints_a_generated_password_once_that_logs_in(warehouse_dsn: str) -> None:
    import os
    import re

    from energystat.portal import accounts

    env = {**os.environ, "ENERGYSTAT_WAREHOUSE_DSN": warehouse_dsn}
    cli = [sys.executable, "-m", "energystat.cli", "portal", "user"]
    out = subprocess.run([*cli, "add", "--reporter", "450100", "--role", "city"], env=env, capture_output=True,
                         text=True, check=True).stdout
    password = re.search(r"密码 password \(shown once, store it safely\): (\S+)", out)[1]
    token, session = accounts.login(warehouse_dsn, "450100", password, max_failed=5, lockout_minutes=15,
                                    session_hours=1)
    assert session.user.reporter_code == "450100" and session.user.role == "city" and len(password) == 16
    assert subprocess.run([*cli, "add", "--role", "city"], env=env, capture_output=True).returncode == 2
    assert subprocess.run([*cli, "add", "--reporter", "459900", "--role", "city"], env=env,
                          capture_output=True).returncode == 2
    subprocess.run([*cli, "add", "--role", "governance", "--username", "zhangsan"], env=env, check=True,
                   capture_output=True)
    listing = subprocess.run([*cli, "list"], env=env, capture_output=True, text=True, check=True).stdout
    assert re.search(r"^450100\s+city\s+450100", listing, re.M) and re.search(r"^zhangsan\s+governance\s+-", listing,
                                                                            re.M)
    assert password not in listing
