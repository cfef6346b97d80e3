"""Load stage: the upload log, COPY of accepted rows into raw, supersession of the older live upload, the registry.

Nothing is written for a file before its final transaction, so a killed task leaves the previous state: an
accepted file's rows, its findings, the `superseded` mark of the upload it replaces and its own status are one
transaction; a rejected file leaves only its log row and findings.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from energystat import config, roles, warehouse
from energystat.contract.findings import ERROR, FINDING_COLUMNS, REGISTRY_ROWS, Finding
from energystat.contract.uploads import (
    ACCEPTED,
    ACCEPTED_WITH_WARNINGS,
    DUPLICATE,
    LIVE_STATUSES,
    PROCESSING,
    RAW_COLUMNS,
    RAW_TABLES,
    REGISTRY,
    REJECTED,
    SUPERSEDED,
    rejection_status,
)
from energystat.ingest import copy_format, registry_check
from energystat.ingest.landing import LandingFile, TooLarge, read_upload
from energystat.ingest.parse import ParsedUpload
from energystat.ingest.validate import ValidationReport

log = logging.getLogger(__name__)

#: JSON-friendly dict of an Outcome (what Airflow passes between tasks).
OutcomeDict = dict[str, Any]


@dataclass
class Outcome:
    """What happened to one file; also what the DAG passes between tasks and what alerts are made of."""

    rel_path: str
    reporter_code: str | None
    period: str | None
    kind: str
    status: str
    upload_id: int | None = None
    rows_in_file: int | None = None
    rows_loaded: int = 0
    error_count: int = 0
    warning_count: int = 0
    rule_summary: dict[str, dict[str, Any]] = field(default_factory=dict)
    reason: str | None = None
    report_path: str | None = None
    superseded_upload_id: int | None = None
    #: An error that was not the file's fault (a bug, the machine): engineers are told, the run's status shows it.
    engineer_error: str | None = None

    def to_dict(self) -> OutcomeDict:
        return asdict(self)


def select_new(dsn: str, files: Sequence[LandingFile], force: bool = False) -> tuple[list[LandingFile], list[Outcome]]:
    """Split discovered files into those to process and those already known.

    A file already logged with the same path and bytes is skipped silently (re-running changes nothing), unless
    it was dropped again after a newer version superseded it (its modification time is later than the log's):
    that is a clerk restoring it. Other files whose bytes match an upload of the same reporter, period and kind
    that is live or was rejected are logged as `duplicate`; the bytes of a *superseded* upload are a new upload
    (re-dropping an earlier version restores it). `force` reprocesses everything.
    """
    with warehouse.connect(dsn, role=roles.LOADER) as conn:
        last_id = conn.execute("select coalesce(max(upload_id), 0) from ops.upload_log").fetchone()[0]
        files = [replace(f, logged_up_to=int(last_id)) for f in files]
        if force:
            return files, []
        seen: dict[tuple[str, str], tuple[str, datetime]] = {
            (path, sha): (status, received) for path, sha, status, received in conn.execute(
                "select distinct on (path, sha256) path, sha256, status, received_at from ops.upload_log"
                " order by path, sha256, upload_id desc").fetchall()}
        known = set(
            conn.execute(
                "select sha256, coalesce(reporter_code, ''), coalesce(period, ''), kind from ops.upload_log"
                " where status <> all(%s)", ([DUPLICATE, SUPERSEDED],)
            ).fetchall()
        )
        todo: list[LandingFile] = []
        duplicates: list[Outcome] = []
        for f in files:
            logged = seen.get((f.rel_path, f.sha256))
            if logged is not None and not _dropped_again(f, *logged):
                continue
            if (f.sha256, f.reporter_code or "", f.period or "", f.kind) in known:
                upload_id = insert_upload(conn, f, DUPLICATE, reason="same bytes as an earlier upload")
                duplicates.append(Outcome(f.rel_path, f.reporter_code, f.period, f.kind, DUPLICATE, upload_id))
            else:
                todo.append(f)
        conn.commit()
    return todo, duplicates


def _dropped_again(f: LandingFile, status: str, logged_received: datetime) -> bool:
    """The file's bytes were superseded, and the file was put back after that log row (a restore)."""
    if status != SUPERSEDED or not f.received_at:
        return False
    return datetime.fromisoformat(f.received_at) > logged_received


def already_logged(conn: psycopg.Connection, f: LandingFile) -> bool:
    """Another run (a concurrent one) already took this file: the same path and bytes were logged since this run
    selected it (`LandingFile.logged_up_to`, the log's last id then).
    Call under the slot's lock (`lock_slot`), so the check and the load are one step."""
    if f.logged_up_to is None:
        return False
    row = conn.execute(
        "select 1 from ops.upload_log where path = %s and sha256 = %s and status <> %s and upload_id > %s limit 1",
        (f.rel_path, f.sha256, DUPLICATE, f.logged_up_to)).fetchone()
    return row is not None


def lock_slot(conn: psycopg.Connection, f: LandingFile) -> None:
    """Serialise work on one reporter, period and kind (two workers, two runs, two versions of one file)."""
    conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{f.reporter_code}|{f.period}|{f.kind}",))


def taken_by_another_run(f: LandingFile) -> Outcome:
    return Outcome(f.rel_path, f.reporter_code, f.period, f.kind, DUPLICATE,
                   reason="processed by a concurrent run / 已由同时运行的另一次入库处理")


def insert_upload(conn: psycopg.Connection, f: LandingFile, status: str, **values: object) -> int:
    """Log one upload in ops.upload_log with `status` and any further columns; returns its upload_id."""
    columns = ["path", "file_name", "sha256", "size_bytes", "reporter_code", "period", "kind", "status",
               "received_at"]
    params: list[object] = [f.rel_path, f.file_name, f.sha256, f.size_bytes, f.reporter_code, f.period, f.kind,
                            status, f.received_at or datetime.now(UTC).isoformat()]
    for key, value in values.items():
        columns.append(key)
        params.append(Jsonb(value) if isinstance(value, dict) else value)
    placeholders = ", ".join(["%s"] * len(params))
    row = conn.execute(
        f"insert into ops.upload_log ({', '.join(columns)}, processed_at)"
        f" values ({placeholders}, now()) returning upload_id",
        params,
    ).fetchone()
    assert row is not None
    return int(row[0])


def accept(f: LandingFile, conn: psycopg.Connection, parsed: ParsedUpload, report: ValidationReport) -> Outcome:
    """Load an accepted upload in one transaction: COPY its rows, supersede the older live upload of the same
    reporter, period and kind, store its warnings, mark it accepted."""
    with conn.transaction():
        lock_slot(conn, f)
        if already_logged(conn, f):
            return taken_by_another_run(f)
        upload_id = insert_upload(
            conn, f, PROCESSING,
            rows_in_file=int(parsed.rows), units_used=dict(parsed.units_used),
        )
        rows = copy_rows(conn, f, upload_id, parsed.frame, parsed.rows_csv)
        previous = supersede_live(conn, f, upload_id)
        insert_findings(conn, upload_id, report.findings)
        conn.execute(
            "update ops.upload_log set status = %s, rows_loaded = %s, error_count = %s, warning_count = %s,"
            " rule_summary = %s, processed_at = now() where upload_id = %s",
            (report.status, rows, report.error_count, report.warning_count, Jsonb(report.rule_summary), upload_id),
        )
    log.info("%s: %s, %d rows loaded as upload %d", f.rel_path, report.status, rows, upload_id)
    return Outcome(
        f.rel_path, f.reporter_code, f.period, f.kind, report.status, upload_id,
        rows_in_file=int(parsed.rows), rows_loaded=rows, error_count=report.error_count,
        warning_count=report.warning_count, rule_summary=report.rule_summary,
        superseded_upload_id=previous,
    )


def supersede_live(conn: psycopg.Connection, f: LandingFile, upload_id: int) -> int | None:
    """Mark the live upload of the file's reporter, period and kind superseded by `upload_id`; returns its id."""
    previous = conn.execute(
        "update ops.upload_log set status = %s, superseded_by = %s"
        " where reporter_code is not distinct from %s and period is not distinct from %s and kind = %s"
        " and status = any(%s) and upload_id <> %s returning upload_id",
        (SUPERSEDED, upload_id, f.reporter_code, f.period, f.kind, list(LIVE_STATUSES), upload_id),
    ).fetchall()
    return previous[0][0] if previous else None


def load_reviewed(conn: psycopg.Connection, f: LandingFile, upload_id: int, parsed: ParsedUpload) -> int:
    """Load a held upload a reviewer approved, as `accept` loads an accepted one: COPY its rows under its own
    upload id, supersede the live batch, mark it `accepted_with_warnings`. The caller holds the transaction (the
    decision row and the overridden marks commit with it); returns the rows loaded."""
    lock_slot(conn, f)
    rows = copy_rows(conn, f, upload_id, parsed.frame)
    supersede_live(conn, f, upload_id)
    conn.execute(
        "update ops.upload_log set status = %s, rows_loaded = %s, processed_at = now() where upload_id = %s",
        (ACCEPTED_WITH_WARNINGS, rows, upload_id),
    )
    return rows


def log_rejection(f: LandingFile, conn: psycopg.Connection, parsed: ParsedUpload, report: ValidationReport,
                  report_path: Path | None, note: str | None = None) -> Outcome:
    """Log a rejected upload and its findings (nothing else changes in the warehouse): `held` when every error is
    reviewable (the review loop decides), else `rejected`; `note` adds to the reason (e.g. that the report could
    not be written)."""
    reason = rejection_reason(report) + (f"; {note}" if note else "")
    status = report.logged_status
    with conn.transaction():
        lock_slot(conn, f)
        if already_logged(conn, f):
            return taken_by_another_run(f)
        upload_id = insert_upload(
            conn, f, status,
            rows_in_file=int(parsed.rows or 0), rows_loaded=0, error_count=report.error_count,
            warning_count=report.warning_count, rule_summary=report.rule_summary,
            units_used=dict(parsed.units_used or {}), reason=reason,
            report_path=str(report_path) if report_path else None,
        )
        insert_findings(conn, upload_id, report.findings)
    return Outcome(
        f.rel_path, f.reporter_code, f.period, f.kind, status, upload_id,
        rows_in_file=int(parsed.rows or 0), error_count=report.error_count, warning_count=report.warning_count,
        rule_summary=report.rule_summary, reason=reason, report_path=str(report_path) if report_path else None,
    )


def rejection_reason(report: ValidationReport) -> str:
    """`failed rules: M006, M017` and, for a file-level finding (unreadable, a landing refusal, held for review),
    its own Chinese / English message, so the log says why without opening the report."""
    failed = [rid for rid, s in sorted(report.rule_summary.items()) if s.get("severity") == ERROR and s.get("failed")]
    reason = "failed rules: " + ", ".join(failed) if failed else REJECTED
    file_level = next((f for f in report.findings if f.severity == ERROR and f.source_row is None), None)
    if file_level is not None:
        reason += f" — {file_level.message_zh} / {file_level.message_en}"
    return reason


def copy_rows(conn: psycopg.Connection, f: LandingFile, upload_id: int, frame: pd.DataFrame,
              rows: bytes | None = None) -> int:
    """COPY the parsed rows into the raw table of their kind; returns the row count. `rows` are the frame's rows
    as CSV (`copy_format.rows_csv`) when a reader process formatted them already."""
    constants = copy_format.load_constants(f.kind, upload_id, f.reporter_code, f.period)
    columns = [*constants, *copy_format.row_columns(f.kind)]
    rows = copy_format.rows_csv(f.kind, frame) if rows is None else rows
    with conn.cursor() as cursor:
        with cursor.copy(
            f"copy {RAW_TABLES[f.kind]} ({', '.join(columns)}) from stdin with (format csv, null '')"
        ) as copy:
            copy.write(copy_format.with_constants(rows, constants))
        return cursor.rowcount  # as the server counted them


def insert_findings(conn: psycopg.Connection, upload_id: int, findings: Sequence[Finding]) -> None:
    """Store rule findings (errors and warnings) for the upload."""
    if not findings:
        return
    with conn.cursor().copy(f"copy ops.dq_findings (upload_id, {', '.join(FINDING_COLUMNS)}) from stdin") as copy:
        for finding in findings:
            item = finding.as_dict()
            copy.write_row([upload_id, *(item[c] for c in FINDING_COLUMNS)])


# --------------------------------------------------------------------------------------------------------------
# The registry


def load_registry(f: LandingFile, dsn: str, root: Path, data: bytes | None = None) -> Outcome:
    """Replace raw.institution_registry with the registry export, in one transaction, unless it fails its checks
    (R001: every row loadable) or its guard (R002: it would remove too many institutions — held for review)."""
    settings = config.settings()
    problems: list[registry_check.RegistryProblem]
    rows: list[dict[str, str | None]] = []
    try:
        data = data if data is not None else read_upload(root, f.rel_path, settings.max_file_bytes)
        rows = registry_rows(data)
        problems = registry_check.row_problems(rows, RAW_COLUMNS[REGISTRY][:-1])
    except (OSError, TooLarge, UnicodeDecodeError, csv.Error) as exc:
        problems = [registry_check.RegistryProblem(REGISTRY_ROWS, f"名录文件无法读取：{exc}",
                                                   f"registry file unreadable: {exc}")]
    if data is not None:
        f = replace(f, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    with warehouse.connect(dsn, role=roles.LOADER) as conn:
        if not problems:
            live = frozenset(c for (c,) in conn.execute(f"select trim(credit_code) from {RAW_TABLES[REGISTRY]}"))
            problems = registry_check.guard_problems(rows, live, settings.correction_max_removed_share)
        if not problems:
            try:
                return _replace_registry(conn, f, rows)
            except psycopg.DataError as exc:  # a value the checks let through but PostgreSQL refuses
                conn.rollback()
                problems = [registry_check.RegistryProblem(REGISTRY_ROWS, f"名录数据无法入库：{exc}",
                                                           f"registry rows cannot be loaded: {exc}")]
        zh, en = registry_check.summary(problems)
        status = rejection_status(p.rule_id for p in problems)
        with conn.transaction():
            upload_id = insert_upload(conn, f, status, rows_in_file=len(rows), error_count=len(problems),
                                      rule_summary={p.rule_id: {"severity": ERROR, "failed": sum(
                                          1 for q in problems if q.rule_id == p.rule_id)} for p in problems},
                                      reason=f"{zh} / {en}")
            insert_findings(conn, upload_id, [Finding(p.rule_id, ERROR, p.zh, p.en, p.row, p.credit_code, p.column,
                                                      p.observed) for p in registry_check.kept(problems)])
    log.warning("registry %s %s: %s", f.rel_path, status, en)
    return Outcome(f.rel_path, None, None, REGISTRY, status, upload_id, len(rows), error_count=len(problems),
                   reason=f"{zh} / {en}")


def registry_rows(data: bytes) -> list[dict[str, str | None]]:
    """The registry export's rows (UTF-8 with or without BOM, else GB18030; any line ending)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("gb18030")
    return list(csv.DictReader(io.StringIO(text, newline=None)))


def _replace_registry(conn: psycopg.Connection, f: LandingFile, rows: list[dict[str, str | None]]) -> Outcome:
    with conn.transaction():
        upload_id = insert_upload(conn, f, PROCESSING, rows_in_file=len(rows))
        conn.execute(f"delete from {RAW_TABLES[REGISTRY]}")
        columns = RAW_COLUMNS[REGISTRY]
        with conn.cursor().copy(f"copy {RAW_TABLES[REGISTRY]} ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row([(row.get(c) or "").strip() or None for c in columns[:-1]] + [upload_id])
        conn.execute(
            "update ops.upload_log set status = %s, superseded_by = %s where kind = %s and status = any(%s)"
            " and upload_id <> %s", (SUPERSEDED, upload_id, REGISTRY, list(LIVE_STATUSES), upload_id),
        )
        conn.execute(
            "update ops.upload_log set status = %s, rows_loaded = %s where upload_id = %s",
            (ACCEPTED, len(rows), upload_id),
        )
    log.info("registry: %d institutions loaded as upload %d", len(rows), upload_id)
    return Outcome(f.rel_path, None, None, REGISTRY, ACCEPTED, upload_id, len(rows), len(rows))
