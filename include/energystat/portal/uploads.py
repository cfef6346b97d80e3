"""Portal uploads: sniff the file, give the ingestion's verdict without loading, submit it into the landing tree.

The verdict is the ingestion's own: `ingest.parse.parse_upload` with the landing folder's reporter and period,
then `ingest.validate.validate` against the context `load_context` reads from the warehouse (registry and last
year's live rows: the history rules), exactly as `ingest.run.process_files` and `energystat check` do. The client's file
name never becomes a path: files live under server-chosen names (`<submission_id>/upload.<type>` in the work
folder, `<reporter>/<period>/<form name>_<submission_id>.<type>` in the landing tree).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from energystat.contract import forms
from energystat.contract.findings import ERROR, Finding
from energystat.ingest.parse import ParsedUpload, parse_upload
from energystat.ingest.report import report_json, shown_observed, shown_value, write_marked_workbook
from energystat.ingest.validate import ValidationReport, validate
from energystat.ingest.validate.context import context_without_warehouse, load_context

log = logging.getLogger(__name__)

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls (and other OLE compound files)
#: GX is not known to be thread-safe: one validation at a time in this process (each takes well under a second).
_VALIDATE_LOCK = threading.Lock()
#: The verdicts of a check (ops.portal_submissions.verdict): the status ingestion would log
#: (ValidationReport.logged_status: `held` when every error is reviewable), or `unreadable`.
VERDICT_ZH = {"accepted": "通过", "accepted_with_warnings": "通过（有警告）", "rejected": "不通过",
              "held": "待审核：须填写说明，提交后由数据治理人员审核", "unreadable": "无法读取"}
#: Verdicts submitted only with a 说明 (a held file waits for a governance reviewer, who reads it).
NEEDS_EXPLANATION = ("rejected", "held", "unreadable")


class UploadProblem(ValueError):
    """An upload the portal refuses before checking (a wrong period, too many rows…); message in Chinese."""


def folder_period(period: str) -> tuple[str, str]:
    """(landing folder period, kind) of a form period: `2024-03` → monthly; `2024-Q1` → task progress in the
    folder of the quarter's last month (`2024-03`), as the landing tree holds it."""
    if _MONTH.match(period):
        return period, "monthly"
    if m := _QUARTER.match(period):
        return forms.quarter_folder_period(int(m[1]), int(m[2])), "task_progress"
    raise UploadProblem(f"统计期须为 YYYY-MM（月报）或 YYYY-Qn（重点任务进展），收到 {period[:20]!r}")


def form_period(folder: str, kind: str) -> str:
    """The inverse of `folder_period`: the period a user chose (`2024-03` or `2024-Q1`)."""
    if kind == "task_progress":
        year, month = folder.split("-")
        return f"{year}-Q{(int(month) - 1) // 3 + 1}"
    return folder


def sniff_type(head: bytes) -> str:
    """The file type from its first bytes, never from its name: xlsx (a zip), xls (OLE), csv (text), unknown."""
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    if head.startswith(_OLE_MAGIC):
        return "xls"
    sample = head[:8192]
    if b"\x00" in sample.lstrip(b"\xff\xfe").lstrip(b"\xfe\xff") and not sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "unknown"
    for encoding in ("utf-8", "gb18030", "utf-16"):
        try:
            sample.decode(encoding)
            return "csv"
        except UnicodeDecodeError as exc:
            if encoding == "utf-8" and exc.start >= len(sample) - 3:  # a character cut by the sample's end
                return "csv"
    return "unknown"


def landing_name(reporter: str, period: str, kind: str, submission_id: int, file_type: str) -> str:
    """The server-chosen landing file name: the form's own name (ingestion recognises the kind from it) plus
    the submission number, so a second version never overwrites the first."""
    suffix = "." + (file_type if file_type in ("xlsx", "xls", "csv") else "xlsx")
    if kind == "task_progress":
        year, quarter = (int(x) for x in form_period(period, kind).split("-Q"))
        name = forms.task_file_name(reporter, year, quarter, suffix)
    else:
        name = forms.monthly_file_name(reporter, period, suffix)
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_门户{submission_id}{dot}{ext}"


@dataclass
class Verdict:
    submission_id: int
    status: str  # accepted | accepted_with_warnings | rejected | held | unreadable (VERDICT_ZH)
    rows: int
    error_count: int
    warning_count: int
    seconds: float


def check_file(path: Path, reporter: str, period: str, dsn: str | None,
               timings: dict[str, float] | None = None) -> tuple[ParsedUpload, ValidationReport]:
    """(parsed upload, validation report) of a file in the landing folder `<reporter>/<period>/`: the parse and
    rulebook of ingestion, with the history rules against the warehouse at `dsn` (skipped, and said so, when
    the file is unreadable or no warehouse is given — as `energystat check` does)."""
    timings = {} if timings is None else timings
    started = time.perf_counter()
    parsed = parse_upload(path, reporter_code=reporter, period=period)
    timings["parse_s"] = time.perf_counter() - started
    if not parsed.readable:
        context = context_without_warehouse(reporter, period, "file unreadable")
    elif dsn is None:
        context = context_without_warehouse(reporter, period, "no warehouse")
    else:
        with psycopg.connect(dsn) as conn:  # the portal's own connection: its role reads what the history rules need
            context = load_context(conn, reporter, period)
    timings["context_s"] = time.perf_counter() - started - timings["parse_s"]
    with _VALIDATE_LOCK:
        validating = time.perf_counter()
        report = validate(parsed, context)
    timings["validate_s"] = time.perf_counter() - validating
    return parsed, report


def warm_up() -> float:
    """Import and run the whole check once (pandas, calamine, GX, the suites) so the first real upload is fast;
    returns the seconds it took. Run in a background thread at start-up."""
    import tempfile

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="energystat-portal-warm-") as folder:
        path = Path(folder) / "warm.csv"
        path.write_text(",".join(forms.MONTHLY_HEADERS) + "\n", encoding="utf-8")
        check_file(path, "450100", "2024-01", None)
    return time.perf_counter() - started


def submission_dir(work_dir: Path, submission_id: int) -> Path:
    return Path(work_dir) / str(int(submission_id))


def create_check(dsn: str, work_dir: Path, *, user: str, reporter: str, period: str, original_name: str,
                 data: bytes, max_rows: int) -> Verdict:
    """Record a checked upload and write its verdict files into the work folder; nothing reaches the warehouse's
    data tables and nothing lands. `period` is the form period (`2024-03` or `2024-Q1`)."""
    folder, kind = folder_period(period)
    file_type = sniff_type(data[:8192])
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "insert into ops.portal_submissions (reporter_code, period, kind, checked_by, original_name,"
            " detected_type, sha256, size_bytes, verdict) values (%s, %s, %s, %s, %s, %s, %s, %s, 'unreadable')"
            " returning submission_id",
            (reporter, folder, kind, user, original_name[:255], file_type, hashlib.sha256(data).hexdigest(),
             len(data)),
        ).fetchone()
    assert row is not None
    submission_id = int(row[0])
    out = submission_dir(work_dir, submission_id)
    # the checked copy sits in a folder named like the landing tree, so the parser sees the same context
    stored = out / reporter / folder / f"upload.{file_type if file_type != 'unknown' else 'bin'}"
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(data)
    timings: dict[str, float] = {}
    parsed, report = check_file(stored, reporter, folder, dsn, timings)
    status = "unreadable" if report.unreadable else report.logged_status  # held: ingestion would hold it too
    if parsed.readable and parsed.kind and parsed.kind != kind:
        status = "rejected"
        report.findings.insert(0, _wrong_form_finding(kind, parsed.kind))
    if report.rows > max_rows:
        raise_rows = UploadProblem(f"文件有 {report.rows} 行数据，超过上限 {max_rows} 行；请按报送单位和统计期拆分。")
        _finish_record(dsn, submission_id, "unreadable", report, time.perf_counter() - started)
        raise raise_rows
    document = report_json(parsed, report)
    for finding, found in zip(document["findings"], report.findings, strict=True):  # for the clerk's page:
        column = finding["column_name"]
        finding["column_header"] = parsed.column_header(column) if column and "," not in column else column
        finding["shown_value"] = shown_observed(found)  # numbers as the report shows them, computed ones named
        finding["shown_prior"] = shown_value(found, found.prior_value)
    document.update(status=status, original_name=original_name, form_period=period,
                    error_count=sum(1 for f in report.findings if f.severity == ERROR))
    document["markable"] = bool(parsed.readable and report.findings)
    document["timings"] = {k: round(v, 3) for k, v in timings.items()}
    (out / "verdict.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    seconds = time.perf_counter() - started
    _finish_record(dsn, submission_id, status, report, seconds, errors=document["error_count"])
    return Verdict(submission_id, status, report.rows, document["error_count"], report.warning_count, seconds)


def _wrong_form_finding(expected: str, found: str) -> Finding:
    names = {"monthly": "能源资源消费月报", "task_progress": "重点任务进展"}
    return Finding("P001", ERROR, f"所选报表为“{names[expected]}”，但文件是“{names.get(found, found)}”",
                   f"the chosen form is {expected} but the file is {found}")


def _finish_record(dsn: str, submission_id: int, status: str, report: Any, seconds: float,
                   errors: int | None = None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "update ops.portal_submissions set verdict = %s, rows_in_file = %s, error_count = %s,"
            " warning_count = %s, check_seconds = %s where submission_id = %s",
            (status, report.rows, report.error_count if errors is None else errors, report.warning_count,
             seconds, submission_id),
        )


def verdict_document(work_dir: Path, submission_id: int) -> dict[str, Any] | None:
    path = submission_dir(work_dir, submission_id) / "verdict.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def marked_workbook(work_dir: Path, row: dict[str, Any]) -> Path | None:
    """The checked file with its failing cells highlighted (`write_marked_workbook`), written on first
    download from the stored copy and the verdict's findings: writing it costs more than the whole check, and
    most verdicts are read on the page only."""
    out = submission_dir(work_dir, row["submission_id"])
    path = out / "marked.xlsx"
    document = verdict_document(work_dir, row["submission_id"])
    source = checked_file(work_dir, row)
    if path.exists() or document is None or not document.get("markable") or source is None:
        return path if path.exists() else None
    fields = {f.name for f in dataclasses.fields(Finding)}
    findings = [Finding(**{k: v for k, v in f.items() if k in fields}) for f in document["findings"]]
    parsed = parse_upload(source, reporter_code=row["reporter_code"], period=row["period"])
    partial = out / f".marked-{threading.get_ident()}.xlsx"
    write_marked_workbook(parsed, findings, partial)
    os.replace(partial, path)
    return path


def checked_file(work_dir: Path, row: dict[str, Any]) -> Path | None:
    """The checked copy of a submission (server-named), or None when it is gone."""
    folder = submission_dir(work_dir, row["submission_id"]) / row["reporter_code"] / row["period"]
    return next(iter(sorted(folder.glob("upload.*"))), None) if folder.is_dir() else None


def submit(dsn: str, work_dir: Path, landing_root: Path, row: dict[str, Any], *, user: str,
           explanation: str | None) -> str:
    """Put a checked file into the landing tree under a server-chosen name and record who and when; returns
    the landing path relative to the root. The file's modification time is the submission time: ingestion
    takes it as the upload's received time."""
    if row["submitted_at"] is not None:
        raise UploadProblem("该文件已提交，请勿重复提交。")
    explanation = (explanation or "").strip()
    if row["verdict"] == "held" and not explanation:
        raise UploadProblem("待审核的文件须填写说明后才能提交：说明将交数据治理人员审核，审核同意前不入库。")
    if row["verdict"] in NEEDS_EXPLANATION and not explanation:
        raise UploadProblem("检查未通过的文件须填写说明后才能提交。")
    source = checked_file(work_dir, row)
    if source is None:
        raise UploadProblem("找不到已检查的文件，请重新上传。")
    name = landing_name(row["reporter_code"], row["period"], row["kind"], row["submission_id"],
                        row["detected_type"])
    rel_path = f"{row['reporter_code']}/{row['period']}/{name}"
    target_dir = landing_root / row["reporter_code"] / row["period"]
    target_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    with psycopg.connect(dsn) as conn:
        updated = conn.execute(
            "update ops.portal_submissions set submitted_by = %s, submitted_at = %s, landing_path = %s,"
            " explanation = %s where submission_id = %s and submitted_at is null returning submission_id",
            (user, now, rel_path, explanation or None, row["submission_id"]),
        ).fetchone()
        if updated is None:
            raise UploadProblem("该文件已提交，请勿重复提交。")
        target = target_dir / name
        if hasattr(target, "storage_options"):  # an object store: written whole, received time = its own
            target.write_bytes(source.read_bytes())
        else:  # a hidden temporary name, then a rename: ingestion never sees half a file
            partial = target_dir / f".{name}.part"
            partial.write_bytes(source.read_bytes())
            os.utime(partial, (now.timestamp(), now.timestamp()))
            os.replace(partial, target)
    return rel_path


def record_trigger(dsn: str, submission_id: int, run_id: str | None, note: str | None) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute("update ops.portal_submissions set airflow_run_id = %s, trigger_note = %s"
                     " where submission_id = %s", (run_id, note, submission_id))
