"""Run stage: the stages in order for a night's files; what the DAG tasks and `energystat ingest` call.

    landing/<reporter>/<YYYY-MM>/<file>
      -> seen before (same path, same bytes)?   skip, nothing changes
      -> same bytes as an earlier upload?         ops.upload_log row `duplicate`, nothing else changes
      -> parse + validate (GX)
           any error   -> `rejected`: report written, file moved to quarantine/<reporter>/<period>/
           else        -> one transaction: COPY rows into raw, older live batch `superseded`,
                          upload `accepted` / `accepted_with_warnings`, warnings into ops.dq_findings
      -> alert governance staff on rejections and on files with many warnings

The DAG task functions (`plan_run`, `run_batch`, `send_alerts`, `loaded_assets`, `summarize`) take and return
JSON-friendly values (XCom-safe) and import nothing from Airflow; `ingest` is the whole DAG in one process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

import psycopg

from energystat import assets, config, warehouse
from energystat.contract.uploads import LIVE_STATUSES, REGISTRY, REJECTED, RUN_STATUSES
from energystat.ingest import alert, load, report
from energystat.ingest.landing import (
    LandingFile,
    LandingFileDict,
    batches_by_reporter,
    discover,
    landing_root,
    local_file,
    move_out_of_landing,
)
from energystat.ingest.load import Outcome, OutcomeDict
from energystat.ingest.parse import ParsedUpload, parse_upload
from energystat.ingest.validate import ValidationReport, validate_many
from energystat.ingest.validate.context import load_contexts

log = logging.getLogger(__name__)

#: A run of files validated together: (position in the run, file) pairs and their parsed uploads.
Chunk = tuple[list[tuple[int, LandingFile]], list[ParsedUpload]]


def process_file(f: LandingFile, dsn: str, root: Path, quarantine_root: Path | None = None) -> Outcome:
    """Parse, validate, then load or quarantine one landing file; never raises for bad input."""
    return process_files([f], dsn, root, quarantine_root)[0]


def process_files(
    files: Sequence[LandingFile], dsn: str, root: str | Path, quarantine_root: Path | None = None
) -> list[Outcome]:
    """Process files in order: the registry first, then uploads one year at a time.

    Within a year files are validated in few Great Expectations runs (GX has a high fixed cost per run; a run
    takes files until it holds the `validate_chunk_rows` setting's rows, which bounds memory) against contexts
    read from the warehouse in one query; the year's files are loaded before the next year is validated, so
    rules comparing with the same month last year see data that arrived in the same night.
    """
    root = landing_root(root)
    quarantine = Path(quarantine_root or config.quarantine_dir())
    outcomes: dict[int, Outcome] = {}
    uploads: list[tuple[int, LandingFile]] = []
    for index, f in enumerate(files):
        if f.kind == REGISTRY:
            outcomes[index] = load.load_registry(f, dsn, root)
        else:
            uploads.append((index, f))
    uploads.sort(key=lambda item: (item[1].period or "", item[0]))
    for _, year in groupby(uploads, key=lambda item: (item[1].period or "")[:4]):
        year = list(year)
        try:
            contexts = load_contexts(dsn, [(f.reporter_code, f.period) for _, f in year])
        except psycopg.Error as exc:  # loading needs the warehouse: fail the task (it retries), do not guess
            raise RuntimeError(f"warehouse unreachable while validating {len(year)} files: {exc}") from exc
        # One connection for the year's files, one transaction per file (a new connection per file cost more
        # than loading a small file).
        with psycopg.connect(dsn) as conn:
            for group, parsed in _parsed_chunks(year, root):
                reports = validate_many([(p, contexts[(f.reporter_code, f.period)])
                                         for p, (_, f) in zip(parsed, group, strict=True)])
                for (index, f), p, result in zip(group, parsed, reports, strict=True):
                    if p.kind and p.kind != f.kind:  # a file named oddly but recognised by its headers
                        f = replace(f, kind=p.kind)
                    if result.status == REJECTED:
                        outcomes[index] = _quarantine(f, conn, root, quarantine, p, result)
                    else:
                        outcomes[index] = load.accept(f, conn, p, result)
    return [outcomes[i] for i in range(len(files))]


def _parsed_chunks(files: list[tuple[int, LandingFile]], root: Path) -> Iterator[Chunk]:
    """Consecutive runs of files, parsed, each holding about `validate_chunk_rows` rows (at least one file)."""
    budget = config.settings().validate_chunk_rows
    group: list[tuple[int, LandingFile]] = []
    parsed: list[ParsedUpload] = []
    for item in files:
        f = item[1]
        group.append(item)
        parsed.append(parse_upload(local_file(root, f.rel_path), reporter_code=f.reporter_code, period=f.period))
        if sum(p.rows for p in parsed) >= budget:
            yield group, parsed
            group, parsed = [], []
    if group:
        yield group, parsed


def _quarantine(f: LandingFile, conn: psycopg.Connection, root: Path, quarantine_root: Path, parsed: ParsedUpload,
                result: ValidationReport) -> Outcome:
    """Write the report of a rejected file into its quarantine folder, log it, then move the file there."""
    target = quarantine_root / (f.reporter_code or "_unknown") / (f.period or "_unknown")
    target.mkdir(parents=True, exist_ok=True)
    report.write_report(parsed, result, target)
    report_page = report.report_paths(parsed, target)["html"]
    outcome = load.log_rejection(f, conn, parsed, result, report_page)
    # Only after the log row is committed: move the upload out of the landing tree.
    move_out_of_landing(root, f.rel_path, target)
    log.warning("%s: rejected (%s); report in %s", f.rel_path, outcome.reason, report_page)
    return outcome


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
        counts = ", ".join(f"{s} {self.count(s)}" for s in RUN_STATUSES)
        return f"{len(self.outcomes)} files: {counts}"


def ingest(
    root: str | Path | None = None,
    dsn: str | None = None,
    reporter: str | None = None,
    period: str | None = None,
    force: bool = False,
    alert_urls: Sequence[str] | None = None,
) -> IngestSummary:
    """Discover, validate and load everything new under the landing root; alert on what needs attention."""
    root = landing_root(root or config.landing_dir())
    dsn = dsn or warehouse.warehouse_dsn()
    todo, outcomes = load.select_new(dsn, discover(root, reporter, period), force=force)
    outcomes.extend(process_files(todo, dsn, root))
    alert.alert_on_outcomes(outcomes, alert_urls if alert_urls is not None else alert.configured_urls())
    return IngestSummary(outcomes)


# --------------------------------------------------------------------------------------------------------------
# The DAG's tasks (JSON in, JSON out)


def plan_run(
    root: str, dsn: str, reporter: str | None = None, period: str | None = None,
    force: bool = False, batch_count: int | None = None,
) -> dict[str, Any]:
    """Discover new files; log duplicates; split the rest into the registry and balanced batches."""
    files = discover(landing_root(root), reporter or None, period or None)
    todo, duplicates = load.select_new(dsn, files, force=force)
    registry = [f.to_dict() for f in todo if f.kind == REGISTRY]
    uploads = [f for f in todo if f.kind != REGISTRY]
    return {
        "registry": registry,
        "batches": batches_by_reporter(uploads, batch_count or config.settings().ingest_batches),
        "duplicates": [o.to_dict() for o in duplicates],
        "discovered": len(files),
    }


def run_batch(batch: list[LandingFileDict], dsn: str, root: str) -> list[OutcomeDict]:
    """Process the files of one batch in order (registry or uploads); returns their outcomes."""
    outcomes = process_files([LandingFile(**f) for f in batch], dsn, landing_root(root))
    return [o.to_dict() for o in outcomes]


def send_alerts(outcomes: list[OutcomeDict], urls: list[str]) -> int:
    return alert.alert_on_outcomes([Outcome(**o) for o in outcomes], urls)


def loaded_assets(outcomes: list[OutcomeDict]) -> list[str]:
    """Asset URIs whose raw table received data in this run."""
    kinds = {o["kind"] for o in outcomes if o["status"] in LIVE_STATUSES}
    return sorted(assets.BY_KIND[k] for k in kinds if k in assets.BY_KIND)


def summarize(outcomes: list[OutcomeDict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    return counts
