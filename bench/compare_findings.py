"""Snapshot what ingest and dbt make of a defective province, and compare two snapshots (before/after a change).

    python -m bench.compare_findings snapshot before.json [--institutions 300]   # with the old code
    python -m bench.compare_findings snapshot after.json                          # with the new code
    python -m bench.compare_findings compare before.json after.json

A snapshot holds every upload's status, every finding (file, row, rule, severity, column, credit code, observed
value), the raw row counts and every value of every mart (PostgreSQL's text of each cell, so numeric stays
exact). The province is `generate --defects` (seed 2023), written once under `.energystat/bench/findings/`, in a
fresh database `es_findings_<pid>` dropped afterwards. `compare` prints what differs and exits 1 if anything does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from energystat import config, dbt_runner, migrate, warehouse
from energystat.synth import generate

try:
    from energystat.ingest.run import ingest as run_ingest
except ImportError:  # the layout before issue 12 (to snapshot older code)
    from energystat.ingest import ingest as run_ingest


def snapshot(out: Path, institutions: int) -> dict[str, Any]:
    import psycopg

    province = config.state_dir() / "bench" / "findings" / f"{institutions}"  # ENERGYSTAT_STATE_DIR: share it
    if not (province / "defects.json").exists():
        generate(province, institutions=institutions, years=[2022, 2023], seed=2023, fmt="xlsx", defects=True,
                 overwrite=True)
    # Ingest a copy: a run moves the rejected files out of its landing tree (the next snapshot must see them too).
    scratch = Path(tempfile.mkdtemp(prefix="es_findings_"))
    landing = scratch / "landing"
    shutil.copytree(province, landing)
    os.environ["ENERGYSTAT_QUARANTINE_DIR"] = str(scratch / "quarantine")
    dsn = warehouse.with_database(warehouse.server_dsn(), f"es_findings_{os.getpid()}")
    warehouse.drop_database(dsn)
    warehouse.ensure_database(dsn)
    try:
        migrate.migrate(dsn)
        run_ingest(landing, dsn=dsn, alert_urls=[])
        dbt_runner.run_dbt(["build"], dsn=dsn, raise_on_failure=False)  # the defects may fail a dbt test
        with psycopg.connect(dsn) as conn:
            uploads = conn.execute("select path, kind, status, rows_loaded from ops.upload_log order by path, upload_id"
                                   ).fetchall()
            findings = conn.execute(
                "select u.path, f.source_row, f.rule_id, f.severity, f.column_name, f.credit_code, f.observed_value"
                " from ops.dq_findings f join ops.upload_log u using (upload_id)"
                " order by 1, 2 nulls first, 3, 5 nulls first, 6 nulls first, 7 nulls first").fetchall()
            raw = {t: conn.execute(f"select count(*) from raw.{t}").fetchone()[0]
                   for t in ("monthly_statistics", "task_progress", "institution_registry")}
            # every raw value as PostgreSQL stores it (numeric keeps the text's scale)
            raw_md5 = {t: conn.execute(f"select md5(string_agg(t::text, E'\\n' order by t::text)) from raw.{t} t"
                                       ).fetchone()[0] for t in ("monthly_statistics", "task_progress")}
            marts: dict[str, list[list[str | None]]] = {}
            tables = [r[0] for r in conn.execute("select table_name from information_schema.tables"
                                                 " where table_schema = 'marts' order by 1").fetchall()]
            for table in tables:
                rows = conn.execute(f'select t::text from marts."{table}" t order by 1').fetchall()
                marts[table] = [r[0] for r in rows]
    finally:
        warehouse.drop_database(dsn)
        shutil.rmtree(scratch, ignore_errors=True)
    data = {"institutions": institutions, "uploads": [list(r) for r in uploads],
            "findings": [list(r) for r in findings], "raw_rows": raw, "raw_md5": raw_md5, "marts": marts}
    out.write_text(json.dumps(data, ensure_ascii=False, indent=0, default=str) + "\n", encoding="utf-8")
    print(f"{out}: {len(uploads)} uploads, {len(findings)} findings, raw {raw}, "
          f"{len(marts)} mart tables, {sum(len(v) for v in marts.values())} mart rows")
    return data


def compare(before: Path, after: Path) -> int:
    a, b = (json.loads(p.read_text(encoding="utf-8")) for p in (before, after))
    problems = []
    for key in ("uploads", "findings", "raw_rows", "raw_md5"):
        if a[key] != b[key]:
            extra = [x for x in b[key] if x not in a[key]] if isinstance(a[key], list) else b[key]
            missing = [x for x in a[key] if x not in b[key]] if isinstance(a[key], list) else a[key]
            problems.append(f"{key} differ: only before {str(missing)[:600]}; only after {str(extra)[:600]}")
    for table in sorted(set(a["marts"]) | set(b["marts"])):
        if a["marts"].get(table) != b["marts"].get(table):
            problems.append(f"marts.{table} differs")
    cells = sum(len(v) for v in a["marts"].values())
    print(f"before: {len(a['uploads'])} uploads, {len(a['findings'])} findings; after: {len(b['uploads'])} "
          f"uploads, {len(b['findings'])} findings; {len(a['marts'])} mart tables, {cells} mart rows compared")
    for problem in problems:
        print("DIFFERENT:", problem)
    if not problems:
        print("IDENTICAL: every upload status, every finding (file, row, rule, severity, column, credit code, "
              "observed value), raw row counts and every mart row")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot")
    snap.add_argument("out", type=Path)
    snap.add_argument("--institutions", type=int, default=300)
    comp = sub.add_parser("compare")
    comp.add_argument("before", type=Path)
    comp.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "snapshot":
        snapshot(args.out, args.institutions)
        return 0
    return compare(args.before, args.after)


if __name__ == "__main__":
    sys.exit(main())
