"""Run stage: the stages in order for a night's files; what the DAG tasks and `energystat ingest` call.

    landing/<reporter>/<YYYY-MM>/<file>
      -> seen before (same path, same bytes)?   skip, nothing changes
      -> same bytes as an earlier upload?         ops.upload_log row `duplicate`, nothing else changes
      -> parse + validate (GX)
           any error   -> `rejected` (`held` when every error is reviewable: the review loop decides):
                          report written, file moved to quarantine/<reporter>/<period>/
           else        -> one transaction: COPY rows into raw, older live batch `superseded`,
                          upload `accepted` / `accepted_with_warnings`, warnings into ops.dq_findings
      -> alert governance staff on rejections and on files with many warnings

The DAG task functions (`plan_run`, `run_batch`, `send_alerts`, `loaded_assets`, `summarize`) take and return
JSON-friendly values (XCom-safe) and import nothing from Airflow; `ingest` is the whole DAG in one process.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path
from typing import Any

import psycopg

from energystat import assets, config, roles, warehouse
from energystat.contract.findings import LANDING_ENTRY, UNREADABLE
from energystat.contract.uploads import FORM_KINDS, HELD, LIVE_STATUSES, REGISTRY, REJECTED, RUN_STATUSES
from energystat.ingest import alert, load, report, review
from energystat.ingest.boundary import display_name
from energystat.ingest.landing import (
    LandingFile,
    LandingFileDict,
    TooLarge,
    batches_by_reporter,
    discover,
    landing_root,
    move_out_of_landing,
    read_upload,
)
from energystat.ingest.load import Outcome, OutcomeDict
from energystat.ingest.parse import ParsedUpload, not_read, start_parse
from energystat.ingest.read_ahead import Killable, ReadAhead
from energystat.ingest.run_lock import landing_lock
from energystat.ingest.validate import ValidationReport, gx, validate, validate_many
from energystat.ingest.validate.context import (
    ContextKey,
    ValidationContext,
    context_without_warehouse,
    load_contexts,
)

log = logging.getLogger(__name__)

#: Validated chunks waiting for the loader or being loaded, at most: a big chunk's COPY takes about as long as
#: validating the next one, so with one only the validation would often wait for the load before going on.
LOADS_AHEAD = 2

#: A run of files validated together: (position in the run, file) pairs and their parsed uploads.
Chunk = tuple[list[tuple[int, LandingFile]], list[ParsedUpload]]


def process_file(f: LandingFile, dsn: str, root: Path, quarantine_root: Path | None = None) -> Outcome:
    """Parse, validate, then load or quarantine one landing file; never raises for bad input."""
    return process_files([f], dsn, root, quarantine_root)[0]


class WarehouseUnavailable(RuntimeError):
    """The warehouse went away during the run: the run stops (each file's load is one transaction, so a rerun
    loads each file once); the task fails and retries."""


def process_files(
    files: Sequence[LandingFile], dsn: str, root: str | Path, quarantine_root: Path | None = None
) -> list[Outcome]:
    """Process files in order: the registry first, then uploads one year at a time.

    Within a year files are validated in few Great Expectations runs (GX has a high fixed cost per run; a run
    takes files until it holds the `validate_chunk_rows` setting's rows, which bounds memory) against contexts
    read from the warehouse in one query; the year's files are loaded before the next year is validated, so
    rules comparing with the same month last year see data that arrived in the same night.

    Every file is isolated: whatever goes wrong with one (its reader crashes, aborts, times out or runs out of
    memory; validation or loading raises; its report cannot be written) becomes that file's rejection, with the
    error on the outcome for engineers when it was not the file's fault, and the run goes on. Only the warehouse
    going away stops the run (`WarehouseUnavailable`).
    """
    root = landing_root(root)
    quarantine = Path(quarantine_root or config.quarantine_dir())
    outcomes: dict[int, Outcome] = {}
    uploads: list[tuple[int, LandingFile]] = []
    try:
        for index, f in enumerate(files):
            if f.kind == REGISTRY and f.refusal_zh is None:
                outcomes[index] = _registry(f, dsn, root)
            else:
                uploads.append((index, f))
        uploads.sort(key=lambda item: (item[1].period or "", item[0]))
        if uploads:
            gx.prepare_in_background()
        for _, year in groupby(uploads, key=lambda item: (item[1].period or "")[:4]):
            year = list(year)
            # One connection for the year's files, one transaction per file (a new connection per file cost more
            # than loading a small file). Chunks are loaded by a thread, one at a time and in order, while the next
            # ones are validated (the server does the COPY meanwhile); the year's files are all loaded before the
            # next year's contexts are read.
            with warehouse.connect(dsn, role=roles.LOADER) as conn, \
                    ThreadPoolExecutor(1, thread_name_prefix="energystat-load") as loader:  # the loader's job
                # The year's contexts (one history query: seconds) are read by the loader's thread, idle until the
                # first chunk is validated, while the first files are parsed; nothing of the year is loaded before.
                contexts = loader.submit(load_contexts, dsn, [(f.reporter_code, f.period) for _, f in year])
                engineer_errors: dict[int, str] = {}
                loads: deque[Future[None]] = deque()
                for group, parsed in _parsed_chunks(year, root, engineer_errors):
                    reports = _validated(group, parsed, contexts.result(), engineer_errors)
                    while len(loads) >= LOADS_AHEAD:
                        loads.popleft().result()  # raises what stopped it (the warehouse went away)
                    loads.append(loader.submit(_settle_chunk, group, parsed, reports, conn, root, quarantine,
                                               engineer_errors, outcomes))
                while loads:
                    loads.popleft().result()
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raise WarehouseUnavailable(f"warehouse unavailable during the run ({len(outcomes)} of {len(files)} files"
                                   f" done, each in its own transaction; rerun to continue): {exc}") from exc
    return [outcomes[i] for i in range(len(files))]


def _registry(f: LandingFile, dsn: str, root: Path) -> Outcome:
    try:
        return load.load_registry(f, dsn, root)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise
    except Exception as exc:  # a bug: the registry stays as it was, engineers are told, the night goes on
        log.exception("registry %s: unexpected error", f.rel_path)
        return Outcome(f.rel_path, None, None, REGISTRY, REJECTED, reason=f"internal error: {exc!r}",
                       engineer_error=f"registry: {exc!r}")


def _refused(f: LandingFile) -> ParsedUpload:
    return not_read(Path(f.rel_path), f.reporter_code, f.period, LANDING_ENTRY, f.refusal_zh or "",
                    f.refusal_en or "", f.kind if f.kind in FORM_KINDS else None)


def _parsed_chunks(files: list[tuple[int, LandingFile]], root: Path, engineer_errors: dict[int, str]) -> Iterator[Chunk]:
    """Consecutive runs of files, parsed, each holding about `validate_chunk_rows` rows (at least one file).

    The next files are being parsed (`parse_ahead` bounded reader processes at a time, up to a chunk ahead:
    `ingest.read_ahead`) while the caller validates and loads the chunk it was given. The first chunks are
    smaller (an eighth, a quarter, a half): the run starts validating after a few files, not after a chunk's
    parse. So are the last ones (at most half the rows still to come, estimated from the files' sizes): the last
    chunk's validation and load are all that is left once the files are parsed, with a core idle. Each extra
    chunk costs a GX run (about 0.3 s)."""
    settings = config.settings()
    smallest = max(1, settings.validate_chunk_rows // 8)
    group: list[tuple[int, LandingFile]] = []
    parsed: list[ParsedUpload] = []
    rows = 0
    chunk_rows = smallest
    bytes_to_come = sum(f.size_bytes for _, f in files)
    rows_read = bytes_read = 0

    def read(item: tuple[int, LandingFile], started: Callable[[Killable], None]) -> ReadFile:
        return _read(*item, root, settings.max_file_bytes, started)

    # Leaving the block (the run stopped early: the warehouse went away) stops the readers still running.
    with ReadAhead(files, read, rows=lambda r: r[2].rows, readers=settings.parse_ahead,
                   budget_rows=settings.validate_chunk_rows) as reading:
        for index, f, result, engineer_error in reading:
            if engineer_error:
                engineer_errors[index] = engineer_error
            group.append((index, f))
            parsed.append(result)
            rows += result.rows
            rows_read += result.rows
            bytes_read += f.size_bytes
            if rows >= chunk_rows:
                yield group, parsed
                group, parsed, rows = [], [], 0
                rows_to_come = (bytes_to_come - bytes_read) * rows_read / max(1, bytes_read)
                chunk_rows = max(smallest, min(2 * chunk_rows, settings.validate_chunk_rows, int(rows_to_come / 2)))
        if group:
            yield group, parsed


#: A file read: its position in the run, the file (with the hash of the bytes parsed), the parse, an engineer's error.
ReadFile = tuple[int, LandingFile, ParsedUpload, str | None]


def _read(index: int, f: LandingFile, root: Path, max_file_bytes: int, started: Callable[[Killable], None]) -> ReadFile:
    """The file's bytes read once, within the size limit, and hashed (the log gets the hash of the bytes parsed: a
    file replaced since discovery is logged as what was loaded), then parsed in a bounded child (`started` gets
    the child, to stop it should the run stop); a refused or unopenable file gets its result without a child."""
    kind = f.kind if f.kind in FORM_KINDS else None
    path = Path(f.rel_path)
    if f.refusal_zh is not None:
        return index, f, _refused(f), None
    try:
        data = read_upload(root, f.rel_path, max_file_bytes)
    except TooLarge as exc:
        return index, f, not_read(path, f.reporter_code, f.period, UNREADABLE,
                                  f"文件大于 {exc.limit / (1 << 20):g} MB 的限额",
                                  f"file larger than the {exc.limit / (1 << 20):g} MB limit", kind), None
    except OSError as exc:
        return index, f, not_read(path, f.reporter_code, f.period, UNREADABLE,
                                  f"无法打开文件：{exc.strerror or exc}", f"cannot open the file: {exc}", kind), None
    digest = hashlib.sha256(data).hexdigest()
    if digest != f.sha256:
        log.warning("%s changed since discovery: logging the bytes read now", f.rel_path)
        f = replace(f, sha256=digest, size_bytes=len(data))
    pending = start_parse(path, f.reporter_code, f.period, data, kind)
    started(pending.call)
    return index, f, *pending.result()


def _validated(group: list[tuple[int, LandingFile]], parsed: list[ParsedUpload],
               contexts: dict[ContextKey, ValidationContext], engineer_errors: dict[int, str]) -> list[ValidationReport]:
    """The chunk's reports from one GX run; should that raise, file by file, and a file whose validation still
    raises gets a P001 rejection ("internal error") with the error for engineers."""
    items = [(p, contexts[(f.reporter_code, f.period)]) for p, (_, f) in zip(parsed, group, strict=True)]
    try:
        return validate_many(items)
    except Exception:
        log.exception("validating %d files together failed: validating them one by one", len(items))
    reports = []
    for (index, f), (p, context) in zip(group, items, strict=True):
        try:
            reports.append(validate(p, context))
        except Exception as exc:
            log.exception("%s: validation failed", f.rel_path)
            engineer_errors[index] = f"validation: {exc!r}"
            failed = not_read(p.path, f.reporter_code, f.period, UNREADABLE, "校验时平台内部错误（已通知技术人员）",
                              "internal error while validating (engineers have been told)", p.kind)
            reports.append(validate(failed, context))
    return reports


def _settle_chunk(group: list[tuple[int, LandingFile]], parsed: list[ParsedUpload], reports: list[ValidationReport],
                  conn: psycopg.Connection, root: Path, quarantine: Path, engineer_errors: dict[int, str],
                  outcomes: dict[int, Outcome]) -> None:
    """Load, quarantine or log each file of a validated chunk, in order; each outcome into `outcomes`."""
    for (index, f), p, result in zip(group, parsed, reports, strict=True):
        if p.kind and p.kind != f.kind:  # a file named oddly but recognised by its headers
            f = replace(f, kind=p.kind)
        outcome = _settle(f, conn, root, quarantine, p, result, engineer_errors)
        outcome.engineer_error = outcome.engineer_error or engineer_errors.get(index)
        outcomes[index] = outcome


def _settle(f: LandingFile, conn: psycopg.Connection, root: Path, quarantine: Path, parsed: ParsedUpload,
            result: ValidationReport, engineer_errors: dict[int, str]) -> Outcome:
    """Load, quarantine or (for an entry never read) only log one file; an error here is the file's, not the run's."""
    try:
        if f.refusal_zh is not None:  # never read, so never moved: its log row says why
            return load.log_rejection(f, conn, parsed, result, None)
        if result.status == REJECTED:
            return _quarantine(f, conn, root, quarantine, parsed, result)
        return load.accept(f, conn, parsed, result)
    except (psycopg.OperationalError, psycopg.InterfaceError):
        raise
    except Exception as exc:  # a value PostgreSQL refused, a bug: this file is rejected, the night goes on
        log.exception("%s: could not be loaded", f.rel_path)
        failed = not_read(parsed.path, f.reporter_code, f.period, UNREADABLE, "入库时平台内部错误（已通知技术人员）",
                          "internal error while loading (engineers have been told)", parsed.kind)
        outcome = load.log_rejection(f, conn, failed, validate(failed, context_without_warehouse(f.reporter_code, f.period, "load failed")), None)
        outcome.engineer_error = f"load: {exc!r}"
        return outcome


def _quarantine(f: LandingFile, conn: psycopg.Connection, root: Path, quarantine_root: Path, parsed: ParsedUpload,
                result: ValidationReport) -> Outcome:
    """Write the report of a rejected file into its quarantine folder, log it, then move the file there. When the
    quarantine cannot be written, the rejection is still logged (saying so) and the file stays where it is."""
    target = quarantine_root / (f.reporter_code or "_unknown") / (f.period or "_unknown")
    report_page: Path | None = None
    problem = None
    try:
        target.mkdir(parents=True, exist_ok=True)
        report.write_report(parsed, result, target)
        report_page = report.report_paths(parsed, target)["html"]
    except OSError as exc:  # an unwritable quarantine, a full disk: the machine's problem, said in one line
        log.error("%s: the report could not be written to %s: %s", f.rel_path, target, exc)
        problem = f"report not written / 报告未能写入: {exc}"
    except Exception as exc:  # a bug in the report: its stack for the engineers
        log.exception("%s: the report could not be written to %s", f.rel_path, target)
        problem = f"report not written / 报告未能写入: {exc!r}"
    outcome = load.log_rejection(f, conn, parsed, result, report_page, note=problem)
    _record_sidecar(f, conn, root, target if problem is None else None, outcome)
    if problem is None and outcome.upload_id is not None:
        # Only after the log row is committed: move the upload out of the landing tree.
        try:
            move_out_of_landing(root, f.rel_path, target)
        except OSError as exc:
            problem = f"file not moved to quarantine: {exc}"
    if problem:
        outcome.engineer_error = problem
    log.warning("%s: %s (%s); report in %s", display_name(f.rel_path), outcome.status, outcome.reason, report_page)
    return outcome


def _record_sidecar(f: LandingFile, conn: psycopg.Connection, root: Path, target: Path | None,
                    outcome: Outcome) -> None:
    """Store the reporter's 说明 sidecar (`<file>.说明.txt`, never a link) with the rejected upload, and move it
    into the quarantine with the file (a review may follow)."""
    sidecar = review.sidecar_of(root / f.rel_path)
    try:
        if outcome.upload_id is None or sidecar.is_symlink() or not sidecar.is_file():
            return
    except OSError:  # a file name already at the system's limit cannot have a sidecar (ENAMETOOLONG)
        return
    review.record_explanation(conn, outcome.upload_id, sidecar.read_text(encoding="utf-8-sig")[:20000], "sidecar")
    conn.commit()
    if target is not None:
        move_out_of_landing(root, sidecar.relative_to(root).as_posix(), target)


# --------------------------------------------------------------------------------------------------------------
# The whole run, in one process (the CLI and `make demo`; the DAG runs the same steps as tasks)


@dataclass
class IngestSummary:
    outcomes: list[Outcome]
    #: Another run held the landing tree: this one did nothing.
    busy: bool = False

    @property
    def engineer_errors(self) -> list[str]:
        """Errors that were not the files' fault (bugs, the machine): engineers are alerted, the exit status says."""
        return [f"{o.rel_path}: {o.engineer_error}" for o in self.outcomes if o.engineer_error]

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
    """Discover, validate and load everything new under the landing root; alert on what needs attention.

    One run at a time per landing tree (`run_lock`): a second run waits the `ingest_lock_wait_s` setting, then
    returns a summary marked `busy` without touching anything."""
    settings = config.settings()
    root = landing_root(root or config.landing_dir())
    dsn = dsn or warehouse.warehouse_dsn()
    with landing_lock(dsn, str(root), settings.ingest_lock_wait_s) as held:
        if not held:
            return IngestSummary([], busy=True)
        todo, outcomes = load.select_new(dsn, discover(root, reporter, period), force=force)
        outcomes.extend(process_files(todo, dsn, root))
    alert.alert_on_outcomes(outcomes, alert_urls if alert_urls is not None else alert.configured_urls())
    alert.alert_engineers(outcomes, settings.engineer_alert_urls if alert_urls is None else alert_urls)
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
    """Tell governance staff about rejections and warnings, and engineers about unexpected errors."""
    told = alert.alert_on_outcomes([Outcome(**o) for o in outcomes], urls)
    alert.alert_engineers([Outcome(**o) for o in outcomes], config.settings().engineer_alert_urls or tuple(urls))
    return told


def fail_on_engineer_errors(outcomes: list[OutcomeDict]) -> None:
    """Raise when a file met an unexpected error (after the others were loaded and everyone alerted): the DAG
    run then shows the failure instead of a green night that hid one."""
    errors = [f"{o['rel_path']}: {o['engineer_error']}" for o in outcomes if o.get("engineer_error")]
    if errors:
        raise RuntimeError(f"{len(errors)} files met unexpected errors: " + "; ".join(errors[:10]))


def loaded_assets(outcomes: list[OutcomeDict]) -> list[str]:
    """Asset URIs whose raw table received data in this run."""
    kinds = {o["kind"] for o in outcomes if o["status"] in LIVE_STATUSES}
    return sorted(assets.BY_KIND[k] for k in kinds if k in assets.BY_KIND)


def held_uploads(outcomes: list[OutcomeDict]) -> list[str]:
    """The files of this run held for review (rejected on reviewable rules only)."""
    return [o["rel_path"] for o in outcomes if o["status"] == HELD]


def summarize(outcomes: list[OutcomeDict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o["status"]] = counts.get(o["status"], 0) + 1
    return counts
