"""Nightly ingestion: discover landing files, log them, parse and validate, then load or quarantine.

The road of one file (see docs/architecture.md):

    landing/<reporter>/<YYYY-MM>/<file>
      -> seen before (same path, same bytes)?   skip, nothing changes
      -> same bytes as an earlier upload?         ops.upload_log row `duplicate`, nothing else changes
      -> parse + Great Expectations rules
           any error   -> `rejected`: report written, file moved to quarantine/<reporter>/<period>/
           else        -> one transaction: COPY rows into raw, older live batch `superseded`,
                          upload `accepted` / `accepted_with_warnings`, warnings into ops.dq_findings

Nothing is written to the warehouse before that final transaction, so a killed task leaves the previous state.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from energystat import config, roles, warehouse

log = logging.getLogger(__name__)

REGISTRY_FILE = "institutions.csv"
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:/")  # fsspec URL (`memory:/x` is how UPath prints memory://x)
_REPORTER_DIR = re.compile(r"^\d{6}$")
_PERIOD_DIR = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_KIND_MARKERS = {"能源资源消费月报": "monthly", "重点任务进展": "task_progress"}
_DATA_SUFFIXES = {".xlsx", ".xlsm", ".csv", ".xls"}
LIVE_STATUSES = ("accepted", "accepted_with_warnings")

RAW_TABLES = {"monthly": "raw.monthly_statistics", "task_progress": "raw.task_progress"}
RAW_COLUMNS = {
    "monthly": [
        "upload_id", "source_row", "reporter_code", "period_month", "credit_code", "institution_name",
        "institution_kind", "headcount", "floor_area_m2", "electricity_kwh", "water_t", "natural_gas_m3",
        "lpg_kg", "coal_kg", "gasoline_l", "diesel_l", "heat_gj", "pv_kwh",
    ],
    "task_progress": [
        "upload_id", "source_row", "reporter_code", "period_quarter", "year", "quarter", "task_code",
        "project_name", "credit_code", "admin_level", "institution_kind", "quantity", "unit", "note",
    ],
    "registry": [
        "credit_code", "institution_name", "reporter_code", "institution_kind", "institution_subkind",
        "admin_level", "headcount", "floor_area_m2", "active_from", "active_to", "upload_id",
    ],
}


@dataclass(frozen=True)
class LandingFile:
    """A file found in the landing tree, identified by its bytes."""

    rel_path: str
    reporter_code: str | None
    period: str | None
    kind: str
    sha256: str
    size_bytes: int
    #: The file's modification time (ISO 8601): when the reporter's upload arrived in the landing folder.
    received_at: str | None = None

    @property
    def file_name(self) -> str:
        return Path(self.rel_path).name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    rule_summary: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    report_path: str | None = None
    superseded_upload_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def landing_root(root: str | os.PathLike[str]) -> Path:
    """The landing root as a path object: a local folder, or any fsspec URL (`s3://…`, `memory://…`) through
    universal-pathlib, which offers the same pathlib API (as Airflow's ObjectStoragePath does)."""
    if isinstance(root, str) and _URL.match(root) and not root.startswith("file:"):
        from upath import UPath

        return UPath(root)
    if not isinstance(root, str):  # already a path object (pathlib or universal-pathlib)
        return root  # type: ignore[return-value]
    return Path(root.removeprefix("file://"))


def _local_file(root: Path, rel_path: str) -> Path:
    """A local path of the upload for the readers (calamine, csv): remote files are copied to a temp folder."""
    source = root / rel_path
    if not hasattr(source, "storage_options"):  # a plain local path
        return source
    local = Path(tempfile.gettempdir()) / "energystat-landing" / hashlib.sha1(str(source).encode()).hexdigest()
    local.mkdir(parents=True, exist_ok=True)
    target = local / source.name
    target.write_bytes(source.read_bytes())
    return target


def _move_out_of_landing(root: Path, rel_path: str, target_dir: Path) -> None:
    source = root / rel_path
    if not source.exists():
        return
    if hasattr(source, "storage_options"):  # remote: copy, then delete (no rename across filesystems)
        (target_dir / source.name).write_bytes(source.read_bytes())
        source.unlink()
    else:
        shutil.move(str(source), str(target_dir / source.name))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def kind_of(file_name: str) -> str:
    """The upload kind from the file name (the templates name their files so); `unknown` otherwise."""
    if file_name == REGISTRY_FILE:
        return "registry"
    for marker, kind in _KIND_MARKERS.items():
        if marker in file_name:
            return kind
    return "unknown"


def discover(root: Path, reporter: str | None = None, period: str | None = None) -> list[LandingFile]:
    """Every upload in the landing tree (`institutions.csv` and `<reporter>/<YYYY-MM>/<file>`), in load order:
    the registry first, then by period, so history rules see last year's months before this year's."""
    root = landing_root(root)
    found: list[LandingFile] = []
    registry = root / REGISTRY_FILE
    if registry.is_file() and reporter is None and period is None:
        found.append(_landing_file(root, registry, None, None))
    for reporter_dir in sorted(p for p in root.iterdir() if p.is_dir() and _REPORTER_DIR.match(p.name)):
        if reporter and reporter_dir.name != reporter:
            continue
        for period_dir in sorted(p for p in reporter_dir.iterdir() if p.is_dir() and _PERIOD_DIR.match(p.name)):
            if period and period_dir.name != period:
                continue
            for path in sorted(period_dir.iterdir()):
                if path.is_file() and not path.name.startswith((".", "~$")):
                    found.append(_landing_file(root, path, reporter_dir.name, period_dir.name))
    found.sort(key=lambda f: (f.kind != "registry", f.period or "", f.reporter_code or "", f.rel_path))
    return found


def _landing_file(root: Path, path: Path, reporter: str | None, period: str | None) -> LandingFile:
    stat = path.stat()
    return LandingFile(
        rel_path=path.relative_to(root).as_posix(),
        reporter_code=reporter,
        period=period,
        kind=kind_of(path.name),
        sha256=sha256_of(path),
        size_bytes=stat.st_size,
        # object stores without modification times report 0: then the file was received now
        received_at=datetime.fromtimestamp(stat.st_mtime or datetime.now(UTC).timestamp(), tz=UTC).isoformat(),
    )


def select_new(dsn: str, files: Sequence[LandingFile], force: bool = False) -> tuple[list[LandingFile], list[Outcome]]:
    """Split discovered files into those to process and those already known.

    A file already logged with the same path and bytes is skipped silently (re-running changes nothing).
    Other files whose bytes match an earlier upload of the same reporter, period and kind are logged as
    `duplicate`. `force` reprocesses everything.
    """
    if force:
        return list(files), []
    with warehouse.connect(dsn, role=roles.LOADER) as conn:
        seen = set(conn.execute("select path, sha256 from ops.upload_log").fetchall())
        known = set(
            conn.execute(
                "select sha256, coalesce(reporter_code, ''), coalesce(period, ''), kind from ops.upload_log"
                " where status <> 'duplicate'"
            ).fetchall()
        )
        todo: list[LandingFile] = []
        duplicates: list[Outcome] = []
        for f in files:
            if (f.rel_path, f.sha256) in seen:
                continue
            if (f.sha256, f.reporter_code or "", f.period or "", f.kind) in known:
                upload_id = _insert_upload(conn, f, "duplicate", reason="same bytes as an earlier upload")
                duplicates.append(Outcome(f.rel_path, f.reporter_code, f.period, f.kind, "duplicate", upload_id))
            else:
                todo.append(f)
        conn.commit()
    return todo, duplicates


def _insert_upload(conn: psycopg.Connection, f: LandingFile, status: str, **values: Any) -> int:
    columns = ["path", "file_name", "sha256", "size_bytes", "reporter_code", "period", "kind", "status",
               "received_at"]
    params: list[Any] = [f.rel_path, f.file_name, f.sha256, f.size_bytes, f.reporter_code, f.period, f.kind, status,
                         f.received_at or datetime.now(UTC).isoformat()]
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


def batches_by_reporter(files: Iterable[LandingFile], batch_count: int) -> list[list[dict[str, Any]]]:
    """Group files into at most `batch_count` batches, each holding whole reporters in period order.

    A reporter's files stay together and chronological, so rules against last year's data see it even
    when both years arrive in the same night. Batches are balanced by bytes.
    """
    by_reporter: dict[str, list[LandingFile]] = {}
    for f in files:
        by_reporter.setdefault(f.reporter_code or "", []).append(f)
    batches: list[list[LandingFile]] = [[] for _ in range(max(1, min(batch_count, len(by_reporter))))]
    sizes = [0] * len(batches)
    for reporter in sorted(by_reporter, key=lambda r: -sum(f.size_bytes for f in by_reporter[r])):
        smallest = sizes.index(min(sizes))
        batches[smallest].extend(sorted(by_reporter[reporter], key=lambda f: (f.period or "", f.rel_path)))
        sizes[smallest] += sum(f.size_bytes for f in by_reporter[reporter])
    return [[f.to_dict() for f in batch] for batch in batches if batch]


# --------------------------------------------------------------------------------------------------------------
# Processing one file


def process_file(f: LandingFile, dsn: str, root: Path, quarantine_root: Path | None = None) -> Outcome:
    """Parse, validate, then load or quarantine one landing file; never raises for bad input."""
    return process_files([f], dsn, root, quarantine_root)[0]


def process_files(
    files: Sequence[LandingFile], dsn: str, root: Path, quarantine_root: Path | None = None
) -> list[Outcome]:
    """Process files in order: the registry first, then uploads one year at a time.

    Within a year files are validated in few Great Expectations runs (GX has a high fixed cost per run; a run
    takes files until it holds `validate_chunk_rows()` rows, which bounds memory) against contexts read from the
    warehouse in one query; the year's files are loaded before the next year is validated, so rules comparing
    with the same month last year see data that arrived in the same night.
    """
    from energystat import parsing, rules  # the parser and the GX rulebook (GX imported inside rules)

    root = landing_root(root)
    outcomes: dict[int, Outcome] = {}
    uploads: list[tuple[int, LandingFile]] = []
    for index, f in enumerate(files):
        if f.kind == "registry":
            outcomes[index] = load_registry(f, dsn, root)
        else:
            uploads.append((index, f))
    uploads.sort(key=lambda item: (item[1].period or "", item[0]))
    for _, year in groupby(uploads, key=lambda item: (item[1].period or "")[:4]):
        year = list(year)
        try:
            contexts = rules.load_contexts(dsn, [(f.reporter_code, f.period) for _, f in year])
        except psycopg.Error as exc:  # loading needs the warehouse: fail the task (it retries), do not guess
            raise RuntimeError(f"warehouse unreachable while validating {len(year)} files: {exc}") from exc
        # One connection for the year's files, one transaction per file (a new connection per file cost more
        # than loading a small file).
        with warehouse.connect(dsn, role=roles.LOADER) as conn:
            for group, parsed in _parsed_chunks(year, root, parsing.parse_upload):
                reports = rules.validate_many([(p, contexts[(f.reporter_code, f.period)])
                                               for p, (_, f) in zip(parsed, group, strict=True)])
                for (index, f), p, report in zip(group, parsed, reports, strict=True):
                    if p.kind and p.kind != f.kind:  # a file named oddly but recognised by its headers
                        f = replace(f, kind=p.kind)
                    if report.status == "rejected":
                        outcomes[index] = _reject(f, conn, root, quarantine_root or config.quarantine_dir(), p,
                                                  report)
                    else:
                        outcomes[index] = _accept(f, conn, p, report)
    return [outcomes[i] for i in range(len(files))]


def validate_chunk_rows() -> int:
    """Rows validated per Great Expectations run (ENERGYSTAT_VALIDATE_CHUNK_ROWS, default 250,000): fewer runs
    cost less fixed GX time, smaller ones bound memory (a run holds its enriched rows several times over)."""
    return max(1, int(os.environ.get("ENERGYSTAT_VALIDATE_CHUNK_ROWS", "250000")))


def _parsed_chunks(files: list[tuple[int, LandingFile]], root: Path, parse: Any) -> Iterable[tuple[list, list]]:
    """Consecutive runs of files, parsed, each holding about `validate_chunk_rows()` rows (at least one file)."""
    budget = validate_chunk_rows()
    group: list[tuple[int, LandingFile]] = []
    parsed: list[Any] = []
    for item in files:
        f = item[1]
        group.append(item)
        parsed.append(parse(_local_file(root, f.rel_path), reporter_code=f.reporter_code, period=f.period))
        if sum(p.rows for p in parsed) >= budget:
            yield group, parsed
            group, parsed = [], []
    if group:
        yield group, parsed


def _accept(f: LandingFile, conn: psycopg.Connection, parsed: Any, report: Any) -> Outcome:
    frame = parsed.frame
    with conn.transaction():
        # Serialise loads of the same reporter, period and kind (two workers, two versions of one file).
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"{f.reporter_code}|{f.period}|{f.kind}",))
        upload_id = _insert_upload(
            conn, f, "processing",
            rows_in_file=int(parsed.rows), units_used=dict(parsed.units_used),
        )
        rows = copy_rows(conn, f, upload_id, frame)
        previous = conn.execute(
            "update ops.upload_log set status = 'superseded', superseded_by = %s"
            " where reporter_code is not distinct from %s and period is not distinct from %s and kind = %s"
            " and status in ('accepted', 'accepted_with_warnings') and upload_id <> %s returning upload_id",
            (upload_id, f.reporter_code, f.period, f.kind, upload_id),
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


def _reject(f: LandingFile, conn: psycopg.Connection, root: Path, quarantine_root: Path, parsed: Any,
            report: Any) -> Outcome:
    from energystat import reports

    target = Path(quarantine_root) / (f.reporter_code or "_unknown") / (f.period or "_unknown")
    target.mkdir(parents=True, exist_ok=True)
    reports.write_report(parsed, report, target)
    report_dir = reports.report_paths(parsed, target)["html"]
    reason = _rejection_reason(report)
    with conn.transaction():
        upload_id = _insert_upload(
            conn, f, "rejected",
            rows_in_file=int(parsed.rows or 0), rows_loaded=0, error_count=report.error_count,
            warning_count=report.warning_count, rule_summary=report.rule_summary,
            units_used=dict(parsed.units_used or {}), reason=reason, report_path=str(report_dir),
        )
        insert_findings(conn, upload_id, report.findings)
    # Only after the log row is committed: move the upload out of the landing tree.
    _move_out_of_landing(root, f.rel_path, target)
    log.warning("%s: rejected (%s); report in %s", f.rel_path, reason, report_dir)
    return Outcome(
        f.rel_path, f.reporter_code, f.period, f.kind, "rejected", upload_id,
        rows_in_file=int(parsed.rows or 0), error_count=report.error_count, warning_count=report.warning_count,
        rule_summary=report.rule_summary, reason=reason, report_path=str(report_dir),
    )


def _rejection_reason(report: Any) -> str:
    failed = [rid for rid, s in sorted(report.rule_summary.items()) if s.get("severity") == "error" and s.get("failed")]
    return "failed rules: " + ", ".join(failed) if failed else "rejected"


def copy_rows(conn: psycopg.Connection, f: LandingFile, upload_id: int, frame: Any) -> int:
    """COPY the parsed rows into the raw table of their kind; returns the row count."""
    columns = RAW_COLUMNS[f.kind]
    data = frame.reindex(columns=columns)  # a new frame of the raw columns only (the upload's own columns filled)
    data["upload_id"] = upload_id
    data["reporter_code"] = f.reporter_code
    if f.kind == "monthly":
        data["period_month"] = date.fromisoformat(f"{f.period}-01")
    elif "year" not in frame.columns:
        data["year"] = frame["period_quarter"].str[:4].astype(int)
        data["quarter"] = frame["period_quarter"].str[-1].astype(int)
    with conn.cursor().copy(
        f"copy {RAW_TABLES[f.kind]} ({', '.join(columns)}) from stdin with (format csv, null '')"
    ) as copy:
        copy.write(csv_text(data))
    return len(data)


def csv_text(data: Any) -> str:
    """The frame as CSV rows for `COPY … (format csv, null '')`, the text `DataFrame.to_csv(header=False,
    index=False, na_rep="")` would give for PostgreSQL, built column by column (to_csv's row writer cost as
    much as the COPY itself): numbers as to_csv writes them, text quoted, missing values empty (= NULL)."""
    if not len(data):
        return ""
    columns = [_csv_fields(data[c]) for c in data.columns]
    return "".join(row + "\n" for row in map(",".join, zip(*columns, strict=True)))


def _csv_fields(column: Any) -> list[str]:
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


def _csv_field(value: Any) -> str:
    if isinstance(value, str):  # quoted: commas, quotes and line breaks in names stay text ("" stays NULL, as in to_csv)
        return '"' + value.replace('"', '""') + '"' if value else ""
    return str(value)


def insert_findings(conn: psycopg.Connection, upload_id: int, findings: Sequence[Any]) -> None:
    """Store rule findings (errors and warnings) for the upload."""
    if not findings:
        return
    columns = ["upload_id", "source_row", "credit_code", "column_name", "rule_id", "severity",
               "message_zh", "message_en", "observed_value"]
    with conn.cursor().copy(f"copy ops.dq_findings ({', '.join(columns)}) from stdin") as copy:
        for finding in findings:
            item = finding if isinstance(finding, dict) else asdict(finding)
            copy.write_row([upload_id, *(item.get(c) for c in columns[1:])])


# --------------------------------------------------------------------------------------------------------------
# The registry


def load_registry(f: LandingFile, dsn: str, root: Path) -> Outcome:
    """Replace raw.institution_registry with the registry export, in one transaction."""
    path = _local_file(root, f.rel_path)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    problems = _registry_problems(rows)
    with warehouse.connect(dsn, role=roles.LOADER) as conn:
        if problems:
            upload_id = _insert_upload(conn, f, "rejected", rows_in_file=len(rows), reason="; ".join(problems[:5]))
            conn.commit()
            return Outcome(f.rel_path, None, None, "registry", "rejected", upload_id, len(rows), reason=problems[0])
        upload_id = _insert_upload(conn, f, "processing", rows_in_file=len(rows))
        conn.execute("delete from raw.institution_registry")
        columns = RAW_COLUMNS["registry"]
        with conn.cursor().copy(f"copy raw.institution_registry ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row([row.get(c) or None for c in columns[:-1]] + [upload_id])
        conn.execute(
            "update ops.upload_log set status = 'superseded', superseded_by = %s"
            " where kind = 'registry' and status in ('accepted', 'accepted_with_warnings')", (upload_id,)
        )
        conn.execute(
            "update ops.upload_log set status = 'accepted', rows_loaded = %s where upload_id = %s",
            (len(rows), upload_id),
        )
        conn.commit()
    log.info("registry: %d institutions loaded as upload %d", len(rows), upload_id)
    return Outcome(f.rel_path, None, None, "registry", "accepted", upload_id, len(rows), len(rows))


def _registry_problems(rows: list[dict[str, str]]) -> list[str]:
    from energystat.creditcode import is_valid

    if not rows:
        return ["registry file is empty"]
    missing = [c for c in RAW_COLUMNS["registry"][:-1] if c not in rows[0]]
    if missing:
        return [f"registry misses columns: {', '.join(missing)}"]
    return [f"row {i}: invalid credit code {r['credit_code']!r}" for i, r in enumerate(rows, start=2)
            if not is_valid(r["credit_code"])]


# --------------------------------------------------------------------------------------------------------------
# The whole run, in one process (the CLI and `make demo`; the DAG runs the same steps as tasks)


@dataclass
class IngestSummary:
    outcomes: list[Outcome]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def loaded_kinds(self) -> set[str]:
        return {o.kind for o in self.outcomes if o.status in LIVE_STATUSES}

    def describe(self) -> str:
        statuses = ("accepted", "accepted_with_warnings", "rejected", "duplicate")
        counts = ", ".join(f"{s} {self.count(s)}" for s in statuses)
        return f"{len(self.outcomes)} files: {counts}"


def ingest(
    root: Path | None = None,
    dsn: str | None = None,
    reporter: str | None = None,
    period: str | None = None,
    force: bool = False,
    alert_urls: Sequence[str] | None = None,
) -> IngestSummary:
    """Discover, validate and load everything new under the landing root; alert on what needs attention."""
    from energystat import alerts

    root = landing_root(root or config.landing_dir())
    dsn = dsn or warehouse.warehouse_dsn()
    todo, outcomes = select_new(dsn, discover(root, reporter, period), force=force)
    outcomes.extend(process_files(todo, dsn, root))
    alerts.alert_on_outcomes(outcomes, alert_urls if alert_urls is not None else alerts.configured_urls())
    return IngestSummary(outcomes)


def env_batch_count() -> int:
    """How many parallel batches the DAG maps over: ENERGYSTAT_INGEST_BATCHES, default the CPU count.

    Each batch pays the GX import (~7–14 s) once, so more batches than cores lose: on 2 cores, 10,000
    institutions' year took 34 s in 1 batch, 25 s in 2 and 41 s in 4 (bench/RESULTS.md)."""
    return max(1, int(os.environ.get("ENERGYSTAT_INGEST_BATCHES") or os.cpu_count() or 2))
