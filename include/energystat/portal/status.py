"""The reporting status of each reporter's months and quarters: from ops.upload_log, portal submissions and the
reference seed's deadline rule (not yet due / due / late / submitted / accepted / … / rejected)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg.rows import dict_row

from energystat import reference
from energystat.contract import forms

STATUS_ZH = {
    "not_yet_due": "未到期", "due": "待报送", "late": "逾期未报", "submitted": "已提交，待入库",
    "accepted": "已通过", "accepted_with_warnings": "通过（有警告）", "rejected": "被退回", "held": "待审核",
    "superseded": "已被替代",
    "duplicate": "重复文件", "processing": "入库中",
}
STATUSES = ("not_yet_due", "due", "late", "submitted", "accepted", "accepted_with_warnings", "rejected", "held")
LIVE = ("accepted", "accepted_with_warnings")
#: Deadlines are dates in Guangxi: arrival times are compared in Beijing time.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(LOCAL_TZ).date()


@dataclass
class Cell:
    """One reporter's form for one period: its status, deadline, lateness and the uploads behind it."""

    reporter_code: str
    kind: str  # monthly | task_progress
    period: str  # the form period: 2024-03 or 2024-Q1
    folder_period: str  # the landing folder: 2024-03 (a quarter's last month)
    deadline: dt.date
    status: str = "not_yet_due"
    late_days: int = 0
    findings: int = 0
    uploads: list[dict[str, Any]] = field(default_factory=list)  # upload_log rows, newest first
    submissions: list[dict[str, Any]] = field(default_factory=list)  # portal submissions, newest first

    @property
    def status_zh(self) -> str:
        return STATUS_ZH[self.status]

    @property
    def live_upload(self) -> dict[str, Any] | None:
        return next((u for u in self.uploads if u["status"] in LIVE), None)


def periods(year: int) -> list[tuple[str, str, str]]:
    """(kind, form period, landing folder period) of a year: 12 months, then 4 quarters."""
    months = [("monthly", f"{year}-{m:02d}", f"{year}-{m:02d}") for m in range(1, 13)]
    quarters = [("task_progress", f"{year}-Q{q}", forms.quarter_folder_period(year, q)) for q in range(1, 5)]
    return months + quarters


def _period_end(period: str) -> dt.date:
    """The first day after the period (a month or a quarter)."""
    if "-Q" in period:
        year, quarter = (int(x) for x in period.split("-Q"))
        month = 3 * quarter
    else:
        year, month = (int(x) for x in period.split("-"))
    return dt.date(year + month // 12, month % 12 + 1, 1)


def cells(dsn: str, reporters: list[str], year: int, today: dt.date | None = None) -> dict[tuple[str, str], Cell]:
    """{(reporter, form period): Cell} for the reporters' months and quarters of `year`."""
    today = today or local_today()
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        uploads = conn.execute(
            "select upload_id, reporter_code, period, kind, status, received_at, error_count, warning_count,"
            " file_name, path, report_path, rows_in_file, rows_loaded, superseded_by from ops.upload_log"
            " where reporter_code = any(%s) and kind in ('monthly', 'task_progress') and period like %s"
            " order by upload_id desc", (reporters, f"{year}-%")).fetchall()
        submissions = conn.execute(
            "select submission_id, reporter_code, period, kind, original_name, verdict, error_count, warning_count,"
            " submitted_by, submitted_at, landing_path, explanation, checked_at from ops.portal_submissions"
            " where reporter_code = any(%s) and period like %s and submitted_at is not null"
            " order by submission_id desc", (reporters, f"{year}-%")).fetchall()
    out: dict[tuple[str, str], Cell] = {}
    index: dict[tuple[str, str, str], Cell] = {}
    for reporter in reporters:
        for kind, period, folder in periods(year):
            cell = Cell(reporter, kind, period, folder, reference.reporting_deadline(period))
            out[(reporter, period)] = index[(reporter, kind, folder)] = cell
    for u in uploads:
        if (cell := index.get((u["reporter_code"], u["kind"], u["period"]))) is not None:
            cell.uploads.append(u)
    for s in submissions:
        if (cell := index.get((s["reporter_code"], s["kind"], s["period"]))) is not None:
            cell.submissions.append(s)
    for cell in out.values():
        _decide(cell, today)
    return out


def _decide(cell: Cell, today: dt.date) -> None:
    logged = {u["path"]: u for u in cell.uploads}
    pending = [s for s in cell.submissions
               if s["landing_path"] not in logged or logged[s["landing_path"]]["status"] == "processing"]
    live = cell.live_upload
    latest = next((u for u in cell.uploads if u["status"] not in ("duplicate", "superseded")), None)
    if pending:
        cell.status = "submitted"
    elif live:
        cell.status = live["status"]
    elif latest and latest["status"] in ("rejected", "held"):  # held: not loaded, a reviewer decides
        cell.status = latest["status"]
    elif today < _period_end(cell.period):
        cell.status = "not_yet_due"
    elif today <= cell.deadline:
        cell.status = "due"
    else:
        cell.status = "late"
    shown = live or latest
    if shown:
        cell.findings = int(shown["error_count"] or 0) + int(shown["warning_count"] or 0)
    # late days: until the first version arrived; while none was accepted or submitted, until today
    received = [local_date(u["received_at"]) for u in cell.uploads if u["status"] != "duplicate"]
    received += [local_date(s["submitted_at"]) for s in cell.submissions]
    if (live or pending) and received:
        cell.late_days = max(0, (min(received) - cell.deadline).days)
    elif cell.status in ("late", "rejected", "held"):
        cell.late_days = max(0, (today - cell.deadline).days)

def matrix_csv(grid: dict[tuple[str, str], Cell], reporters: list[str], year: int,
               status_filter: str | None = None) -> str:
    """The province matrix as CSV (UTF-8 with BOM, so Excel opens the Chinese right): one row per reporter and
    period."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["报送单位代码", "报送单位", "报表", "统计期", "状态", "status", "截止日期", "逾期天数",
                     "问题条数", "最新上传编号"])
    for reporter in reporters:
        for kind, period, _folder in periods(year):
            cell = grid[(reporter, period)]
            if status_filter and cell.status != status_filter:
                continue
            shown = cell.live_upload or (cell.uploads[0] if cell.uploads else None)
            writer.writerow([reporter, reference.reporter_name(reporter),
                             "能源资源消费月报" if kind == "monthly" else "重点任务进展", period, cell.status_zh,
                             cell.status, cell.deadline.isoformat(), cell.late_days, cell.findings,
                             shown["upload_id"] if shown else ""])
    return "\ufeff" + buffer.getvalue()
