"""`energystat ingest`: the nightly ingestion in one process (what the DAG does, without Airflow).

Exit codes: 0 done (rejections are normal outcomes) or another run holds the landing tree; 1 some file met an
unexpected error (the others were loaded; engineers alerted); 3 the warehouse went away (rerun to continue)."""

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
    from energystat.ingest.boundary import display_name
    from energystat.ingest.run import (  # imported when the command runs: `energystat --help` stays instant
        WarehouseUnavailable,
        ingest,
    )

    try:
        summary = ingest(args.landing, reporter=args.reporter, period=args.period, force=args.force)
    except WarehouseUnavailable as exc:
        print(f"数据仓库连接中断，本次入库中止（已入库的文件不受影响，重新运行即可继续）/ {exc}")
        return 3
    if summary.busy:
        print("另一次入库正在处理同一上报目录，本次未做任何操作 / another ingestion run holds the landing tree: "
              "nothing done")
        return 0
    for o in summary.outcomes:
        if o.status == "rejected":
            print(f"退回 rejected  {display_name(o.rel_path)}: {o.reason}  → {o.report_path}")
        elif o.status == "held":
            print(f"待审核 held  {display_name(o.rel_path)}: {o.reason}  → {o.report_path}")
    print(summary.describe())
    for error in summary.engineer_errors:
        print(f"内部错误 internal error  {display_name(error)}")
    return 1 if summary.engineer_errors else 0
