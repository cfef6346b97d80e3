"""One versus two Celery workers: the ingestion and `build_marts` of a generated province through CeleryExecutor.

    python -m bench.celery_workers                       # the integration test's province (60, 3 reporters)
    python -m bench.celery_workers --institutions 600 --workers 1 2

For each worker count: a fresh warehouse database on 127.0.0.1:5432, the local cluster (`make cluster`:
api-server, scheduler, dag-processor, triggerer, N workers, settings from config/celery.env) on the machine's
Redis (a random key prefix), `ingest_monthly_uploads` triggered through the REST API, then the `build_marts`
run its Asset triggers. Wall time from the trigger to the end of `build_marts`, and the tasks per worker.
The figures are appended to bench/RESULTS.md as a ratio (one worker / two workers).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import time
from collections import Counter
from pathlib import Path

from energystat import config, migrate, warehouse
from energystat.orchestration import stack
from energystat.synth import generate

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).with_name("RESULTS.md")


def _migrated_metadata_db(env_home: Path, suffix: str) -> str:
    dsn = warehouse.with_database(SERVER, f"af_bench_{suffix}")
    warehouse.ensure_database(dsn)
    env = stack.stack_environ(stack.CELERY, 8080, ENERGYSTAT_AIRFLOW_DB_DSN=dsn, AIRFLOW_HOME=str(env_home),
                              ENERGYSTAT_WAREHOUSE_DSN=warehouse.with_database(SERVER, "postgres"))
    stack.migrate_metadata_db(env)
    return dsn


def measure(workers: int, landing: Path, metadata: str, home: Path, suffix: str) -> dict:
    dsn = warehouse.with_database(SERVER, f"es_bench_w{workers}_{suffix}")
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    run_landing = home.parent / f"landing_w{workers}"
    shutil.copytree(landing, run_landing)
    try:
        with stack.start(stack.CELERY, workers=workers, migrate=False, ENERGYSTAT_WAREHOUSE_DSN=dsn,
                         ENERGYSTAT_AIRFLOW_DB_DSN=metadata, AIRFLOW_HOME=str(home),
                         ENERGYSTAT_LANDING_DIR=str(run_landing),
                         ENERGYSTAT_QUARANTINE_DIR=str(home.parent / f"quarantine_w{workers}"),
                         AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=f"energystat_bench_{suffix}_",
                         ) as running:
            client = running.client()
            started = time.perf_counter()
            ingest, marts = client.run_ingestion_and_marts(note=f"bench: {workers} worker(s)")
            seconds = time.perf_counter() - started
            tis = (client.task_instances("ingest_monthly_uploads", ingest["dag_run_id"])
                   + client.task_instances("build_marts", marts["dag_run_id"]))
            for dag_id in ("ingest_monthly_uploads", "build_marts"):
                client.set_paused(dag_id, True)
    finally:
        warehouse.drop_database(dsn)
        shutil.rmtree(run_landing, ignore_errors=True)
    return {
        "workers": workers,
        "seconds": round(seconds, 1),
        "ingest_state": ingest["state"],
        "marts_state": marts.get("state"),
        "tasks": len(tis),
        "tasks_per_worker": dict(Counter((ti["hostname"] or "-").split("@")[0] for ti in tis
                                         if ti["operator"] != "EmptyOperator")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--institutions", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--reporters", nargs="*", default=["450100", "450300", "451000"],
                        help="keep only these reporters' uploads (default: the integration test's three; "
                             "none given: all 15)")
    args = parser.parse_args()
    suffix = secrets.token_hex(3)
    root = config.state_dir() / f"bench_celery_{suffix}"
    landing = root / "landing"
    generate(landing, institutions=args.institutions, years=[2022, 2023], seed=7)
    if args.reporters:
        for folder in landing.iterdir():
            if folder.is_dir() and folder.name not in args.reporters:
                shutil.rmtree(folder)
    home = root / "airflow"
    metadata = _migrated_metadata_db(home, suffix)
    try:
        results = [measure(n, landing, metadata, home, suffix) for n in args.workers]
    finally:
        warehouse.drop_database(metadata)
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(results, indent=1))
    load = os.getloadavg()
    lines = [f"\n## {time.strftime('%Y-%m-%d %H:%M')} — CeleryExecutor, one vs two workers "
             f"({args.institutions} institutions, 2022–2023, reporters {args.reporters or 'all'}; "
             "`python -m bench.celery_workers`)\n",
             f"Machine: {os.cpu_count()} cores, load average at the end {[round(x, 2) for x in load]} "
             "(shared with other jobs: read the ratio, not the seconds).\n",
             "| workers | ingestion + build_marts wall s | tasks | tasks per worker | states |",
             "|---:|---:|---:|---|---|"]
    for r in results:
        lines.append(f"| {r['workers']} | {r['seconds']} | {r['tasks']} | {r['tasks_per_worker']} | "
                     f"{r['ingest_state']}, {r['marts_state']} |")
    by = {r["workers"]: r["seconds"] for r in results}
    if 1 in by and 2 in by:
        lines.append(f"\nOne worker / two workers: **{by[1] / by[2]:.2f}×**.")
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
