"""`energystat generate`: write a synthetic province (registry, monthly forms, task progress, truth, defects)."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="write a synthetic province into a landing tree (demo, tests, benchmarks)")
    p.add_argument("--out", required=True, help="landing root to write (e.g. .energystat/landing)")
    p.add_argument("--institutions", type=int, default=600, help="number of institutions (up to 100,000)")
    p.add_argument("--years", type=int, nargs="+", default=[2022, 2023], help="consecutive years, e.g. 2022 2023")
    p.add_argument("--seed", type=int, default=2023, help="same seed → byte-identical CSV output")
    p.add_argument("--format", choices=["xlsx", "csv", "csv-gbk"], default="xlsx", dest="fmt")
    p.add_argument("--defects", action="store_true", help="inject the defects catalogue, listed in defects.json")
    p.add_argument("--force", action="store_true", help="replace a province already in --out")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from energystat.synth import generate

    summary = generate(args.out, institutions=args.institutions, years=args.years, seed=args.seed, fmt=args.fmt,
                       defects=args.defects, overwrite=args.force)
    print(json.dumps(summary, ensure_ascii=False))
    return 0
