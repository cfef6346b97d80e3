"""Benchmark stages, each run in its own process so its peak RSS is its own.

`python -m bench.stages STAGE '<json params>'` runs one stage and prints one JSON line (the stage's figures plus
`peak_rss_mib` and `wall_s`). `bench.run` calls them in order; they can also be run by hand to repeat one stage.
Every stage works on the bench database named in the params, never on the demo's warehouse.
"""

from __future__ import annotations

import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from energystat import config, warehouse
from energystat.contract.forms import MONTHLY_COLUMNS, MONTHLY_HEADERS, MONTHLY_NUMERIC_COLUMNS
from energystat.contract.uploads import FORM_KINDS, RAW_COLUMNS, RAW_TABLES
from energystat.ingest import landing as ingest_landing
from energystat.ingest import load as ingest_load
from energystat.ingest import run as ingest
from energystat.ingest.read_ahead import ReadAhead

STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def stage(function: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    STAGES[function.__name__] = function
    return function


def peak_rss_mib() -> float:
    """Peak resident memory of this process and of the children it waited for (Linux: ru_maxrss in KiB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of the children it waited for (worker pools included)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 2)


def landing_files(landing: Path, year: int | None = None, kind: str | None = None) -> list[ingest_landing.LandingFile]:
    """Uploads of the landing tree (registry excluded), optionally of one year and kind, in load order."""
    files = [f for f in ingest_landing.discover(landing) if f.kind != "registry"]
    if year is not None:
        files = [f for f in files if (f.period or "").startswith(str(year))]
    return [f for f in files if kind is None or f.kind == kind]


def rows_of(parsed: list[Any]) -> int:
    return sum(p.rows for p in parsed)


# ------------------------------------------------------------------------------------------------------ stages

@stage
def generate(p: dict[str, Any]) -> dict[str, Any]:
    from energystat.synth import generate as write_province

    summary = write_province(p["landing"], institutions=p["institutions"], years=p["years"], fmt="xlsx",
                             overwrite=True)
    return {"rows": summary["monthly_rows"] + summary["task_rows"], "monthly_rows": summary["monthly_rows"],
            "files": len(summary["files"]) if isinstance(summary["files"], list) else summary["files"]}


@stage
def prepare(p: dict[str, Any]) -> dict[str, Any]:
    """A fresh bench database with the registry and every year before the timed one (parse + COPY, no rules)."""
    from bench.marts_build import load_without_rules

    dsn = p["dsn"]
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    from energystat import migrate

    migrate.migrate(dsn)
    landing = Path(p["landing"])
    earlier = [f for f in ingest_landing.discover(landing)
               if f.kind == "registry" or (f.period or "9999") < str(p["year"])]
    return {"rows": load_without_rules(landing, dsn, earlier), "files": len(earlier)}


@stage
def parse(p: dict[str, Any]) -> dict[str, Any]:
    """Parse every xlsx upload of the timed year; then the same year's last month as GBK CSV."""
    from energystat.ingest.parse import parse_upload, read_cells

    landing = Path(p["landing"])
    files = landing_files(landing, p["year"])
    started = time.perf_counter()
    parsed = [parse_upload(landing / f.rel_path, f.reporter_code, f.period) for f in files]
    xlsx_s = time.perf_counter() - started

    csv_dir = Path(p["workdir"]) / "csv"
    csv_files = []
    for f in landing_files(landing, p["year"], "monthly"):
        if f.period == f"{p['year']}-12":
            target = csv_dir / f.rel_path.replace(".xlsx", ".csv")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("w", encoding="gbk", newline="") as fh:
                csv.writer(fh).writerows(read_cells(landing / f.rel_path)[0])
            csv_files.append((target, f))
    started = time.perf_counter()
    parsed_csv = [parse_upload(path, f.reporter_code, f.period) for path, f in csv_files]
    csv_s = time.perf_counter() - started
    return {"xlsx": {"files": len(files), "rows": rows_of(parsed), "seconds": round(xlsx_s, 2),
                     "rows_per_s": round(rows_of(parsed) / xlsx_s)},
            "csv_gbk": {"files": len(csv_files), "rows": rows_of(parsed_csv), "seconds": round(csv_s, 2),
                        "rows_per_s": round(rows_of(parsed_csv) / csv_s) if csv_s else None}}


class _Timer:
    """Wraps module functions to add up the time spent in them (the real functions run unchanged)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.running: set[str] = set()

    def wrap(self, module: Any, name: str, label: Callable[..., str]) -> None:
        original = getattr(module, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if name in self.running:  # a recursive call (load_contexts calls itself): counted by the outer one
                return original(*args, **kwargs)
            self.running.add(name)
            started = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            finally:
                self.running.discard(name)
            self.seconds[label(*args, result=result, **kwargs)] += time.perf_counter() - started
            return result

        setattr(module, name, timed)

    def wrap_iteration(self, cls: type, label: Callable[[Any], str]) -> None:
        """Add up the time the caller waits for each item of `cls`'s iterations (labelled by the item)."""
        original = cls.__iter__

        def timed(instance: Any) -> Iterator[Any]:
            items = original(instance)
            while True:
                started = time.perf_counter()
                item = next(items, items)
                if item is items:
                    return
                self.seconds[label(item)] += time.perf_counter() - started
                yield item

        cls.__iter__ = timed


@stage
def ingest_year(p: dict[str, Any]) -> dict[str, Any]:
    """The real ingest path (`ingest.run.process_files`) on every upload of the timed year, split into its steps."""
    from energystat.ingest.validate import gx

    started = time.perf_counter()
    gx._gx()  # the one-off GX import and context (paid once per process, reported apart)
    gx_s = time.perf_counter() - started
    timer = _Timer()
    # Files are parsed in reader processes ahead of the run: what counts is how long the run waits for them.
    timer.wrap_iteration(ReadAhead, lambda read: f"parse_wait_{read[2].kind}")
    timer.wrap(ingest, "load_contexts", lambda *a, result, **k: "validate_context")
    timer.wrap(ingest, "validate_many", lambda *a, result, **k: "validate_rules")
    timer.wrap(ingest_load, "accept", lambda f, *a, result, **k: f"load_{f.kind}")
    timer.wrap(ingest, "_quarantine", lambda f, *a, result, **k: f"reject_{f.kind}")
    landing = Path(p["landing"])
    files = landing_files(landing, p["year"])
    dsn = p["dsn"]
    started, cpu_started = time.perf_counter(), time.process_time()
    todo, _ = ingest_load.select_new(dsn, files)
    outcomes = ingest.process_files(todo, dsn, landing, quarantine_root=Path(p["workdir"]) / "quarantine")
    total_s = time.perf_counter() - started
    run_cpu_s = time.process_time() - cpu_started  # the run's own process: its critical path on a busy machine
    statuses: dict[str, int] = defaultdict(int)
    rows: dict[str, int] = defaultdict(int)
    for o in outcomes:
        statuses[o.status] += 1
        rows[o.kind] += o.rows_in_file or 0
    seconds = {k: round(v, 2) for k, v in sorted(timer.seconds.items())}
    return {"files": len(outcomes), "rows": sum(rows.values()), "rows_by_kind": dict(rows),
            "statuses": dict(statuses), "gx_import_s": round(gx_s, 2), "seconds": round(total_s, 2),
            "rows_per_s": round(sum(rows.values()) / total_s), "steps_s": seconds, "run_cpu_s": round(run_cpu_s, 2)}


@stage
def copy_reference(p: dict[str, Any]) -> dict[str, Any]:
    """Plain `COPY FROM STDIN` of the rows ingest loaded (exported as CSV) into an empty copy of the schema."""
    import psycopg

    from energystat import migrate

    source, target = p["dsn"], p["copy_dsn"]
    warehouse.drop_database(target)
    warehouse.ensure_database(target)
    migrate.migrate(target)
    folder = Path(p["workdir"]) / "copy"
    folder.mkdir(parents=True, exist_ok=True)
    year = int(p["year"])
    tables = {"raw.monthly_statistics": f"period_month >= '{year}-01-01'", "raw.task_progress": f"year >= {year}"}
    with psycopg.connect(source) as src, psycopg.connect(target) as dst:
        # The upload log first (untimed): the raw rows reference it.
        with src.cursor().copy("copy ops.upload_log to stdout") as out, \
                dst.cursor().copy("copy ops.upload_log from stdin") as into:
            for block in out:
                into.write(block)
        dst.commit()
        files, rows = {}, 0
        for table, where in tables.items():
            path = folder / f"{table}.csv"
            query = f"copy (select * from {table} where {where}) to stdout with (format csv)"
            with path.open("wb") as fh, src.cursor().copy(query) as out:
                for block in out:
                    fh.write(block)
            files[table] = path
        started = time.perf_counter()
        for table, path in files.items():  # FROM STDIN: the server's user may not read our folder
            with path.open("rb") as fh, dst.cursor().copy(f"copy {table} from stdin with (format csv)") as into:
                for block in iter(lambda: fh.read(1 << 20), b""):  # noqa: B023 (fh is this iteration's)
                    into.write(block)
            rows += dst.execute(f"select count(*) from {table}").fetchone()[0]
        dst.commit()
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


@stage
def baseline(p: dict[str, Any]) -> dict[str, Any]:
    """What a user would otherwise write: pandas.read_excel (openpyxl) + DataFrame.to_sql, the same upload-log SQL,
    one transaction per file, on the timed year's monthly files (into a fresh database of the same schema)."""
    import pandas as pd
    import sqlalchemy as sa

    from energystat import migrate
    from energystat.orchestration import environment as airflow_env

    dsn = p["baseline_dsn"]
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    landing = Path(p["landing"])
    files = landing_files(landing, p["year"], "monthly")[: p.get("baseline_files") or None]
    engine = sa.create_engine(airflow_env.sqlalchemy_uri(dsn))
    names = dict(MONTHLY_COLUMNS)  # header -> raw column, as a user would map them
    timings = {"read_excel": 0.0, "to_sql": 0.0}
    rows = 0
    started = time.perf_counter()
    for f in files:
        t0 = time.perf_counter()
        frame = pd.read_excel(landing / f.rel_path, engine="openpyxl", dtype={"统一社会信用代码": str})
        t1 = time.perf_counter()
        frame = frame.rename(columns=names)
        frame["source_row"] = range(2, len(frame) + 2)
        frame["reporter_code"] = f.reporter_code
        frame["period_month"] = pd.Timestamp(f"{f.period}-01")
        with engine.begin() as conn:
            upload_id = conn.execute(sa.text(
                "insert into ops.upload_log (path, file_name, sha256, size_bytes, reporter_code, period, kind,"
                " status, processed_at) values (:path, :name, :sha, :size, :reporter, :period, 'monthly',"
                " 'processing', now()) returning upload_id"),
                {"path": f.rel_path, "name": f.file_name, "sha": f.sha256, "size": f.size_bytes,
                 "reporter": f.reporter_code, "period": f.period}).scalar_one()
            frame["upload_id"] = upload_id
            frame[RAW_COLUMNS["monthly"]].to_sql("monthly_statistics", conn, schema="raw",
                                                         if_exists="append", index=False)
            conn.execute(sa.text("update ops.upload_log set status = 'accepted', rows_loaded = :n"
                                 " where upload_id = :id"), {"n": len(frame), "id": upload_id})
        timings["read_excel"] += t1 - t0
        timings["to_sql"] += time.perf_counter() - t1
        rows += len(frame)
    seconds = time.perf_counter() - started
    loaded_by_pandas = _monthly_totals(dsn)
    ours = _energystat_parse_load(landing, files, dsn)
    if _monthly_totals(dsn) != loaded_by_pandas:  # two parsers (openpyxl, calamine), one warehouse content
        raise AssertionError(f"energystat and pandas loaded different rows from the same files: "
                             f"{_monthly_totals(dsn)} != {loaded_by_pandas}")
    return {"files": len(files), "rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
            "steps_s": {k: round(v, 2) for k, v in timings.items()}, "energystat_parse_load": ours,
            "over_energystat_parse_load": round(seconds / ours["seconds"], 2)}


def _monthly_totals(dsn: str) -> dict[str, object]:
    """Row count and each numeric column's total (to 0.001) of raw.monthly_statistics."""
    import psycopg

    sums = ", ".join(f"round(sum({c}), 3)" for c in MONTHLY_NUMERIC_COLUMNS)
    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"select count(*), {sums} from raw.monthly_statistics").fetchone()
    assert row is not None
    return dict(zip(["rows", *MONTHLY_NUMERIC_COLUMNS], row, strict=True))


def _energystat_parse_load(landing: Path, files: list[ingest_landing.LandingFile], dsn: str) -> dict[str, Any]:
    """The baseline's work done by energystat, into a fresh database of the same schema: the same files read and
    parsed by ingest's bounded reader processes (`parse_ahead` ahead of the loader, as in a run), each logged
    and COPYed in one transaction, then marked accepted. No rules, as the baseline has none."""
    import psycopg

    from energystat import migrate
    from energystat.ingest.run import _read

    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    settings = config.settings()
    rows = 0
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn, ReadAhead(
            enumerate(files), lambda item, on_start: _read(*item, landing, settings.max_file_bytes, on_start),
            rows=lambda read: read[2].rows, readers=settings.parse_ahead,
            budget_rows=settings.validate_chunk_rows) as reading:
        for _, f, parsed, error in reading:
            if error or parsed.frame is None:
                raise RuntimeError(f"{f.rel_path}: not parsed ({error})")
            with conn.transaction():
                upload_id = ingest_load.insert_upload(conn, f, "processing", rows_in_file=int(parsed.rows))
                loaded = ingest_load.copy_rows(conn, f, upload_id, parsed.frame, parsed.rows_csv)
                conn.execute("update ops.upload_log set status = 'accepted', rows_loaded = %s where upload_id = %s",
                             (loaded, upload_id))
            rows += loaded
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


@stage
def dbt_build(p: dict[str, Any]) -> dict[str, Any]:
    import psycopg

    from energystat import dbt_runner

    with psycopg.connect(p["dsn"]) as conn:
        rows = sum(conn.execute(f"select count(*) from {t}").fetchone()[0] for t in (RAW_TABLES[k] for k in FORM_KINDS))
    started = time.perf_counter()
    dbt_runner.build(dsn=p["dsn"])
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}


@stage
def circular(p: dict[str, Any]) -> dict[str, Any]:
    from energystat.circular import publish

    started = time.perf_counter()
    paths = publish(p["year"], Path(p["workdir"]) / "circular", dsn=p["dsn"])
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "documents": sorted(paths)}


def bench_overrides(p: dict[str, Any]) -> dict[str, str]:
    """Environment variables pointing the project at the bench databases, landing and a bench Airflow home."""
    return {
        config.WAREHOUSE_DSN_ENV: p["dsn"],
        "ENERGYSTAT_AIRFLOW_DB_DSN": p["airflow_dsn"],
        "ENERGYSTAT_LANDING_DIR": p["landing"],
        "ENERGYSTAT_QUARANTINE_DIR": str(Path(p["workdir"]) / "quarantine"),
        "AIRFLOW_HOME": str(Path(p["workdir"]) / "airflow"),
    }


def airflow_environ(p: dict[str, Any]) -> dict[str, str]:
    """The project's Airflow environment pointed at the bench (`bench_overrides`, also set in this process)."""
    from energystat.orchestration import environment as airflow_env

    os.environ.update(bench_overrides(p))
    return {**os.environ, **airflow_env.environ()}


def _airflow() -> str:
    return str(Path(sys.executable).with_name("airflow"))


@stage
def nightly(p: dict[str, Any]) -> dict[str, Any]:
    """One new upload (a corrected re-upload of one reporter's last month, as CSV) through
    `airflow dags test ingest_monthly_uploads`, after the province is loaded."""
    from energystat.ingest.parse import read_cells

    env = airflow_environ(p)
    migrate_s = _migrated_airflow(p, env)

    landing = Path(p["landing"])
    last = landing_files(landing, p["year"], "monthly")[-1]
    rows = read_cells(landing / last.rel_path)[0]
    electricity = MONTHLY_HEADERS.index("电力(千瓦时)")
    rows[1][electricity] = float(rows[1][electricity] or 0) + 1  # a corrected cell: new bytes, same form
    new_file = (landing / last.rel_path).with_name(Path(last.rel_path).stem + "_更正.csv")
    with new_file.open("w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows(rows)
    try:
        started = time.perf_counter()
        run = subprocess.run([_airflow(), "dags", "test", "ingest_monthly_uploads"], env=env, capture_output=True,
                             text=True, timeout=1800)
        seconds = time.perf_counter() - started
    finally:
        new_file.unlink(missing_ok=True)
    import psycopg

    with psycopg.connect(p["dsn"]) as conn:
        status = conn.execute("select status from ops.upload_log where path = %s",
                              (new_file.relative_to(landing).as_posix(),)).fetchone()
    return {"seconds": round(seconds, 2), "airflow_db_migrate_s": round(migrate_s, 2), "returncode": run.returncode,
            "new_file_status": status[0] if status else None, "file_rows": len(rows) - 1,
            "log_tail": run.stdout[-1500:] + run.stderr[-1500:] if run.returncode else None}


_DAG_PARSE_PROBE = """
import sys, time
from energystat.orchestration import environment as airflow_env
airflow_env.apply()
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter() - started
started = time.perf_counter()
bag = DagBag(sys.argv[1])
print(time.perf_counter() - started, imported, len(bag.dags), len(bag.import_errors))
"""


def _migrated_airflow(p: dict[str, Any], env: dict[str, str]) -> float:
    """`airflow db migrate` of the bench metadata database once per workdir; its seconds (0 when done before)."""
    started = time.perf_counter()
    marker = Path(p["workdir"]) / "airflow" / ".migrated"
    if not marker.exists():
        subprocess.run([_airflow(), "db", "migrate"], env=env, check=True, capture_output=True, timeout=900)
        marker.touch()
    return time.perf_counter() - started


def _dbt_build_cli(p: dict[str, Any], env: dict[str, str]) -> float:
    """Seconds of a plain `dbt build` (the dbt CLI, a process of its own) of the project on the bench database, as
    the transformer role (as the DAG's dbt: the same profile, so neither spoils the other's partial parse)."""
    from energystat import dbt_runner, roles

    dbt_env = dbt_runner.dbt_env(roles.role_dsn(roles.TRANSFORMER, p["dsn"]))
    started = time.perf_counter()
    subprocess.run([str(Path(sys.executable).with_name("dbt")), "build", "--project-dir", str(dbt_runner.project_dir()),
                    "--profiles-dir", str(dbt_runner.project_dir())], env={**env, **dbt_env},
                   check=True, capture_output=True, text=True, timeout=3600)
    return time.perf_counter() - started


def _seconds_between(start: str | None, end: str | None) -> float | None:
    from datetime import datetime

    if not start or not end:
        return None
    return round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds(), 2)


def _build_marts_through_the_scheduler(p: dict[str, Any], execution: str) -> dict[str, Any]:
    """One run of build_marts (ENERGYSTAT_DBT_EXECUTION=`execution`) triggered through the REST API of a stack
    started for it (api-server, scheduler, dag-processor, triggerer; LocalExecutor), as `make demo` runs it."""
    from energystat.orchestration import stack

    started = time.perf_counter()
    with stack.start(stack.LOCAL, **bench_overrides(p), ENERGYSTAT_DBT_EXECUTION=execution) as running:
        stack_s = time.perf_counter() - started
        client = running.client()
        started = time.perf_counter()
        run = client.run_once("build_marts", note=f"bench {execution}")
        run = client.wait_for_run("build_marts", run["dag_run_id"], timeout=3600)
        wall_s = time.perf_counter() - started
        client.set_paused("build_marts", True)
        tis = client.task_instances("build_marts", run["dag_run_id"])
    states: dict[str, int] = defaultdict(int)
    for ti in tis:
        states[ti["state"] or "none"] += 1
    producer = next((ti for ti in tis if ti["task_id"] == "dbt.dbt_producer_watcher"), None)
    return {"seconds": _seconds_between(run["start_date"], run["end_date"]), "state": run["state"],
            "trigger_to_end_s": round(wall_s, 2), "stack_start_s": round(stack_s, 2), "task_states": dict(states),
            "on_a_worker": sum(1 for ti in tis if ti["hostname"]),
            "producer_s": _seconds_between(producer["start_date"], producer["end_date"]) if producer else None}


@stage
def build_marts(p: dict[str, Any]) -> dict[str, Any]:
    """build_marts through a real scheduler with LocalExecutor, in Cosmos watcher mode and in local mode, between
    two plain `dbt build` CLI runs of the same project and data (dbt, watcher, local, dbt: the load of the machine
    is shared alike). The DAG run's duration (its start to its end, as the UI shows it) is compared with the mean
    of the two dbt builds; the time from the REST trigger to the run's end is kept too."""
    from energystat.orchestration import stack

    env = airflow_environ(p)
    stack.migrate_metadata_db(env)
    subprocess.run([str(Path(sys.executable).with_name("energystat")), "marts", "parse"], env=env, check=True,
                   capture_output=True, timeout=600)  # the manifest the DAG renders from
    dbt_first = _dbt_build_cli(p, env)
    runs = {execution: _build_marts_through_the_scheduler(p, execution)
            for execution in p.get("marts_executions") or config.DBT_EXECUTIONS}
    dbt_second = _dbt_build_cli(p, env)
    dbt_s = (dbt_first + dbt_second) / 2
    for run in runs.values():
        run["over_dbt_build"] = round(run["seconds"] / dbt_s, 2) if run["seconds"] else None
    watcher = runs.get(config.DBT_EXECUTION_WATCHER, {})
    return {"seconds": watcher.get("seconds"), "dag_run_over_dbt_build": watcher.get("over_dbt_build"),
            "dbt_build_cli_s": [round(dbt_first, 2), round(dbt_second, 2)], **runs}


@stage
def build_marts_dags_test(p: dict[str, Any]) -> dict[str, Any]:
    """`airflow dags test build_marts` (the default execution) between two plain `dbt build` CLI runs; the DAG
    run's own duration comes from the metadata database (the command's wall time also counts the Airflow CLI
    start)."""
    import psycopg

    env = airflow_environ(p)
    migrate_s = _migrated_airflow(p, env)
    subprocess.run([str(Path(sys.executable).with_name("energystat")), "marts", "parse"], env=env, check=True,
                   capture_output=True, timeout=600)
    dbt_first = _dbt_build_cli(p, env)
    started = time.perf_counter()
    dag = subprocess.run([_airflow(), "dags", "test", "build_marts"], env=env, capture_output=True, text=True,
                         timeout=3600)
    dag_s = time.perf_counter() - started
    dbt_second = _dbt_build_cli(p, env)
    with psycopg.connect(p["airflow_dsn"]) as conn:
        state, run_s = conn.execute(
            "select state, extract(epoch from end_date - start_date) from dag_run"
            " where dag_id = 'build_marts' order by id desc limit 1").fetchone()
    dbt_s = (dbt_first + dbt_second) / 2
    run_s = float(run_s) if run_s is not None else None  # None: the run never finished (killed, timed out)
    return {"seconds": round(run_s, 2) if run_s else None, "command_s": round(dag_s, 2), "state": state,
            "dbt_execution": config.settings().dbt_execution,
            "dbt_build_cli_s": [round(dbt_first, 2), round(dbt_second, 2)],
            "dag_run_over_dbt_build": round(run_s / dbt_s, 2) if run_s else None,
            "airflow_db_migrate_s": round(migrate_s, 2),
            "log_tail": (dag.stdout[-1500:] + dag.stderr[-1500:]) if dag.returncode else None}


@stage
def dag_parse(p: dict[str, Any]) -> dict[str, Any]:
    """Parse time of every DAG file: `DagBag(file)` in a fresh process (Airflow imported first, as in the
    dag-processor), median of `runs` runs."""
    env = airflow_environ(p)
    out: dict[str, Any] = {}
    for path in sorted(config.DAGS_DIR.glob("*.py")):
        samples, imports = [], []
        for _ in range(p.get("runs", 5)):
            run = subprocess.run([sys.executable, "-c", _DAG_PARSE_PROBE, str(path)], env=env, capture_output=True,
                                 text=True, timeout=300, check=True)
            parse_s, import_s, dags, errors = run.stdout.split()[-4:]
            samples.append(float(parse_s))
            imports.append(float(import_s))
        out[path.name] = {"median_s": round(statistics.median(samples), 3), "max_s": round(max(samples), 3),
                          "dags": int(dags), "import_errors": int(errors),
                          "airflow_import_median_s": round(statistics.median(imports), 2)}
    return {"files": out}


@stage
def batches(p: dict[str, Any]) -> dict[str, Any]:
    """ENERGYSTAT_INGEST_BATCHES n: the timed year split as the DAG splits it, the batches run as parallel
    processes (each pays the GX import, like mapped task instances), on a fresh copy of the prepared database."""
    results = {}
    for count in p["counts"]:
        dsn = p[f"batch_dsn_{count}"]
        warehouse.copy_database(warehouse.with_database(dsn, p["template_db"]), dsn)
        landing = Path(p["landing"])
        plan = ingest_landing.batches_by_reporter(landing_files(landing, p["year"]), count)
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-c",
                                   "import json, sys; from energystat.ingest import run as pipeline;"
                                   "pipeline.run_batch(json.loads(sys.argv[1]), sys.argv[2], sys.argv[3])",
                                   json.dumps(batch, ensure_ascii=False), dsn, str(landing)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for batch in plan]
        codes = [proc.wait() for proc in procs]
        results[str(count)] = {"seconds": round(time.perf_counter() - started, 2), "batches": len(plan),
                               "failed": sum(1 for c in codes if c)}
        warehouse.drop_database(dsn)
    return results


#: The size `make demo` runs (Makefile DEMO_INSTITUTIONS).
DEMO_INSTITUTIONS = 600


def cpu_probe_s() -> float:
    """Seconds of a fixed pure-Python loop: the machine's speed at the moment (it varies on a shared host)."""
    started = time.perf_counter()
    sum(range(10**8))
    return round(time.perf_counter() - started, 2)


def demo_steps(output: str) -> dict[str, float]:
    """`energystat demo`'s steps (`==> title` … `(N s)`) and their seconds, from its output."""
    steps: dict[str, float] = {}
    title = None
    for line in output.splitlines():
        if line.startswith("==> "):
            title = line[4:].strip()
        elif title and line.strip().startswith("(") and line.strip().endswith(" s)"):
            steps[title] = float(line.strip()[1:-3])
            title = None
    return steps


@stage
def demo(p: dict[str, Any]) -> dict[str, Any]:
    """`make demo` as on a fresh laptop, `demo_runs` times: `energystat demo` with a state folder of its own (the
    embedded PostgreSQL started there, no DSN or Airflow setting inherited), timed end to end and per step, each
    run after a CPU probe (the machine's speed when it ran)."""
    import shutil

    state = Path(p["workdir"]) / "demo_state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGYSTAT_", "AIRFLOW_", "AIRFLOW__"))}
    env["ENERGYSTAT_STATE_DIR"] = str(state)
    command = [str(Path(sys.executable).with_name("energystat")), "demo", "--institutions", str(DEMO_INSTITUTIONS)]
    runs = []
    for _ in range(p.get("demo_runs", 1)):
        shutil.rmtree(state, ignore_errors=True)
        probe = cpu_probe_s()
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - started
        subprocess.run([*command[:1], "warehouse", "stop"], env=env, capture_output=True, timeout=120)
        runs.append({"seconds": round(seconds, 1), "cpu_probe_s": probe, "returncode": done.returncode,
                     "steps_s": demo_steps(done.stdout.replace(str(state), "<state folder>")),
                     "output_tail": (done.stdout[-1500:] + done.stderr[-1500:]) if done.returncode else None})
    shutil.rmtree(state, ignore_errors=True)
    return {"seconds": round(statistics.median(r["seconds"] for r in runs), 1), "institutions": DEMO_INSTITUTIONS,
            "runs": runs}


def main() -> None:
    name, params = sys.argv[1], json.loads(sys.argv[2])
    started = time.perf_counter()
    result = STAGES[name](params)
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["cpu_s"] = cpu_seconds()  # robust to a shared machine's load, unlike wall_s
    result["peak_rss_mib"] = peak_rss_mib()
    print("BENCH-RESULT " + json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
