"""`energystat ingest`: the nightly ingestion in one process (what the DAG does, without Airflow)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="validate and load new files of the landing tree (no Airflow needed)")
    p.add_argument("--landing", help="landing root (default: ENERGYSTAT_LANDING_DIR or .energystat/landing)")
    p.add_argument("--reporter", help="only this reporter code, e.g. 450100")
    p.add_argument("--period", help="only this period, YYYY-MM")
    p.add_argument("--force", action="store_true", help="reprocess files already seen")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from energystat.ingest.run import (
        ingest,  # imported when the command runs: `energystat --help` stays instant
    )

    summary = ingest(args.landing, reporter=args.reporter, period=args.period, force=args.force)
    for o in summary.outcomes:
        if o.status == "rejected":
            print(f"退回 rejected  {o.rel_path}: {o.reason}  → {o.report_path}")
    print(summary.describe())
    return 0
