"""`energystat template`: write the blank upload template a city statistician fills in."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("template", help="write an upload template (.xlsx) pre-filled with registered institutions")
    p.add_argument("--region", required=True, help="reporter code, e.g. 450100 (南宁市) or 450000 (区直单位)")
    p.add_argument("--period", required=True, help="YYYY-MM (monthly form) or YYYY-Qn (task progress)")
    p.add_argument("--out", required=True, help="folder to write the template into")
    p.add_argument("--kind", choices=["monthly", "task_progress"], default="monthly")
    p.add_argument("--registry", help="institutions.csv to pre-fill from (default: the landing root's)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from energystat import templates

    if args.kind == "monthly":
        path = templates.monthly_template(args.region, args.period, args.out, args.registry)
    else:
        path = templates.task_template(args.region, args.period, args.out)
    print(path)
    return 0
