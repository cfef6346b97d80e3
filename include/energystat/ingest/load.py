"""Load stage: the upload log, COPY of accepted rows into raw, supersession of the older live upload, the registry.

Nothing is written for a file before its final transaction, so a killed task leaves the previous state: an
accepted file's rows, its findings, the `superseded` mark of the upload it replaces and its own status are one
transaction; a rejected file leaves only its log row and findings.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg.types.json import Jsonb

from energystat.contract.findings import ERROR, FINDING_COLUMNS, Finding
from energystat.contract.uploads import (
    ACCEPTED,
    DUPLICATE,
    LIVE_STATUSES,
    MONTHLY,
    PROCESSING,
    RAW_COLUMNS,
    RAW_TABLES,
    REGISTRY,
    REJECTED,
    SUPERSEDED,
)
from energystat.creditcode import is_valid
from energystat.ingest.landing import LandingFile, local_file
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

    def to_dict(self) -> OutcomeDict:
        return asdict(self)


def select_new(dsn: str, files: Sequence[LandingFile], force: bool = False) -> tuple[list[LandingFile], list[Outcome]]:
    """Split discovered files into those to process and those already known.

    A file already logged with the same path and bytes is skipped silently (re-running changes nothing).
    Other files whose bytes match an earlier upload of the same reporter, period and kind are logged as
    `duplicate`. `force` reprocesses everything.
    """
    if force:
        return list(files), []
    with psycopg.connect(dsn) as conn:
        seen = set(conn.execute("select path, sha256 from ops.upload_log").fetchall())
        known = set(
            conn.execute(
                "select sha256, coalesce(reporter_code, ''), coalesce(period, ''), kind from ops.upload_log"
                " where status <> %s", (DUPLICATE,)
            ).fetchall()
        )
        todo: list[LandingFile] = []
        duplicates: list[Outcome] = []
        for f in files:
            if (f.rel_path, f.sha256) in seen:
                continue
            if (f.sha256, f.reporter_code or "", f.period or "", f.kind) in known:
                upload_id = insert_upload(conn, f, DUPLICATE, reason="same bytes as an earlier upload")
                duplicates.append(Outcome(f.rel_path, f.reporter_code, f.period, f.kind, DUPLICATE, upload_id))
            else:
                todo.append(f)
        conn.commit()
    return todo, duplicates


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
        # Serialise loads of the same reporter, period and kind (two workers, two versions of one file).
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{f.reporter_code}|{f.period}|{f.kind}",))
        upload_id = insert_upload(
            conn, f, PROCESSING,
            rows_in_file=int(parsed.rows), units_used=dict(parsed.units_used),
        )
        rows = copy_rows(conn, f, upload_id, parsed.frame)
        previous = conn.execute(
            "update ops.upload_log set status = %s, superseded_by = %s"
            " where reporter_code is not distinct from %s and period is not distinct from %s and kind = %s"
            " and status = any(%s) and upload_id <> %s returning upload_id",
            (SUPERSEDED, upload_id, f.reporter_code, f.period, f.kind, list(LIVE_STATUSES), upload_id),
        ).fetchall()
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
        superseded_upload_id=previous[0][0] if previous else None,
    )


def log_rejection(f: LandingFile, conn: psycopg.Connection, parsed: ParsedUpload, report: ValidationReport,
                  report_path: Path) -> Outcome:
    """Log a rejected upload and its findings (nothing else changes in the warehouse)."""
    reason = rejection_reason(report)
    with conn.transaction():
        upload_id = insert_upload(
            conn, f, REJECTED,
            rows_in_file=int(parsed.rows or 0), rows_loaded=0, error_count=report.error_count,
            warning_count=report.warning_count, rule_summary=report.rule_summary,
            units_used=dict(parsed.units_used or {}), reason=reason, report_path=str(report_path),
        )
        insert_findings(conn, upload_id, report.findings)
    return Outcome(
        f.rel_path, f.reporter_code, f.period, f.kind, REJECTED, upload_id,
        rows_in_file=int(parsed.rows or 0), error_count=report.error_count, warning_count=report.warning_count,
        rule_summary=report.rule_summary, reason=reason, report_path=str(report_path),
    )


def rejection_reason(report: ValidationReport) -> str:
    failed = [rid for rid, s in sorted(report.rule_summary.items()) if s.get("severity") == ERROR and s.get("failed")]
    return "failed rules: " + ", ".join(failed) if failed else REJECTED


def copy_rows(conn: psycopg.Connection, f: LandingFile, upload_id: int, frame: pd.DataFrame) -> int:
    """COPY the parsed rows into the raw table of their kind; returns the row count."""
    columns = RAW_COLUMNS[f.kind]
    data = frame.reindex(columns=columns)  # a new frame of the raw columns only (the upload's own columns filled)
    data["upload_id"] = upload_id
    data["reporter_code"] = f.reporter_code
    if f.kind == MONTHLY:
        data["period_month"] = date.fromisoformat(f"{f.period}-01")
    elif "year" not in frame.columns:
        data["year"] = frame["period_quarter"].str[:4].astype(int)
        data["quarter"] = frame["period_quarter"].str[-1].astype(int)
    with conn.cursor().copy(
        f"copy {RAW_TABLES[f.kind]} ({', '.join(columns)}) from stdin with (format csv, null '')"
    ) as copy:
        copy.write(csv_text(data))
    return len(data)


def csv_text(data: pd.DataFrame) -> str:
    """The frame as CSV rows for `COPY … (format csv, null '')`, the text `DataFrame.to_csv(header=False,
    index=False, na_rep="")` would give for PostgreSQL, built column by column (to_csv's row writer cost as
    much as the COPY itself): numbers as to_csv writes them, text quoted, missing values empty (= NULL)."""
    if not len(data):
        return ""
    columns = [_csv_fields(data[c]) for c in data.columns]
    return "".join(row + "\n" for row in map(",".join, zip(*columns, strict=True)))


def _csv_fields(column: pd.Series) -> list[str]:
    values = column.to_numpy(dtype=object)
    missing = column.isna().to_numpy()
    if column.dtype.kind == "f":
        texts = column.to_numpy().astype(str).astype(object)  # the float text to_csv writes (15000.0, 1e-05)
        texts[missing] = ""
        return texts.tolist()
    first = values[0]
    if not missing.any() and (values == first).all():  # a constant (upload id, reporter, month): format once
        return [_csv_field(first)] * len(values)
    return [_csv_field(v) if not m else "" for v, m in zip(values, missing, strict=True)]


def _csv_field(value: object) -> str:
    if isinstance(value, str):  # quoted: commas, quotes and line breaks in names stay text ("" stays NULL, as in to_csv)
        return '"' + value.replace('"', '""') + '"' if value else ""
    return str(value)


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


def load_registry(f: LandingFile, dsn: str, root: Path) -> Outcome:
    """Replace raw.institution_registry with the registry export, in one transaction."""
    path = local_file(root, f.rel_path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    problems = _registry_problems(rows)
    with psycopg.connect(dsn) as conn:
        if problems:
            upload_id = insert_upload(conn, f, REJECTED, rows_in_file=len(rows), reason="; ".join(problems[:5]))
            conn.commit()
            return Outcome(f.rel_path, None, None, REGISTRY, REJECTED, upload_id, len(rows), reason=problems[0])
        upload_id = insert_upload(conn, f, PROCESSING, rows_in_file=len(rows))
        conn.execute(f"delete from {RAW_TABLES[REGISTRY]}")
        columns = RAW_COLUMNS[REGISTRY]
        with conn.cursor().copy(f"copy {RAW_TABLES[REGISTRY]} ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row([row.get(c) or None for c in columns[:-1]] + [upload_id])
        conn.execute(
            "update ops.upload_log set status = %s, superseded_by = %s where kind = %s and status = any(%s)",
            (SUPERSEDED, upload_id, REGISTRY, list(LIVE_STATUSES)),
        )
        conn.execute(
            "update ops.upload_log set status = %s, rows_loaded = %s where upload_id = %s",
            (ACCEPTED, len(rows), upload_id),
        )
        conn.commit()
    log.info("registry: %d institutions loaded as upload %d", len(rows), upload_id)
    return Outcome(f.rel_path, None, None, REGISTRY, ACCEPTED, upload_id, len(rows), len(rows))


def _registry_problems(rows: list[dict[str, str]]) -> list[str]:
    if not rows:
        return ["registry file is empty"]
    missing = [c for c in RAW_COLUMNS[REGISTRY][:-1] if c not in rows[0]]
    if missing:
        return [f"registry misses columns: {', '.join(missing)}"]
    return [f"row {i}: invalid credit code {r['credit_code']!r}" for i, r in enumerate(rows, start=2)
            if not is_valid(r["credit_code"])]
