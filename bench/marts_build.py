"""Benchmark: `dbt build` of the marts on a large synthetic province (default 80,000 institutions, 2 years).

The landing files are loaded without the rulebook (parse + COPY, one accepted upload per file): the rules are
ingestion's benchmark, this one measures the dbt project. Run: `python -m bench.marts_build [--institutions N]`.
Prints one JSON line (sizes and seconds); the warehouse database `es_bench_marts` is left for inspection.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from energystat import dbt_runner, migrate, warehouse
from energystat.ingest import landing, load
from energystat.ingest.parse import parse_upload
from energystat.synth import generate


def load_without_rules(root: Path, dsn: str, files: list[landing.LandingFile] | None = None) -> int:
    """Registry through ingestion's loader, forms parsed and COPYed as accepted uploads (all of `root`, or
    `files`); returns rows loaded."""
    import psycopg

    rows = 0
    for f in landing.discover(root) if files is None else files:
        if f.kind == "registry":
            load.load_registry(f, dsn, root)
            continue
        parsed = parse_upload(root / f.rel_path, f.reporter_code, f.period)
        with psycopg.connect(dsn) as conn:
            upload_id = load.insert_upload(conn, f, "accepted", rows_in_file=len(parsed.frame))
            rows += load.copy_rows(conn, f, upload_id, parsed.frame)
            conn.commit()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--institutions", type=int, default=80_000)
    parser.add_argument("--years", type=int, nargs="+", default=[2022, 2023])
    parser.add_argument("--landing", help="reuse (or write) the province here instead of a temporary folder")
    args = parser.parse_args()

    result: dict[str, object] = {"institutions": args.institutions, "years": args.years}
    landing = Path(args.landing or tempfile.mkdtemp(prefix="es_bench_marts_"))
    started = time.perf_counter()
    if not (landing / "institutions.csv").exists():
        generate(landing, institutions=args.institutions, years=args.years, fmt="csv")
    result["generate_s"] = round(time.perf_counter() - started, 1)

    dsn = warehouse.with_database(warehouse.server_dsn(), "es_bench_marts")
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    started = time.perf_counter()
    result["monthly_and_task_rows"] = load_without_rules(landing, dsn)
    result["load_s"] = round(time.perf_counter() - started, 1)

    for attempt in ("first", "second"):
        started = time.perf_counter()
        dbt_runner.build(dsn=dsn)
        result[f"dbt_build_{attempt}_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
