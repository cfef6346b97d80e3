"""`energystat circular --year 2023 --out DIR [--force]`: write the annual circular (.docx, .html, .json)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("circular", help="write the annual circular (年度通报) as .docx, .html and .json")
    p.add_argument("--year", type=int, help="the circular's year (default: last year)")
    p.add_argument("--out", help="output folder (default: ENERGYSTAT_CIRCULAR_DIR or .energystat/circular)")
    p.add_argument("--force", action="store_true",
                   help="publish even when some reporters' monthly statistics are missing (the text says so)")
    p.add_argument("--settings", help="circular settings file (YAML: issuer, issue_date, doc_number, …)")
    p.add_argument("--date", dest="issue_date",
                   help="成文日期 YYYY-MM-DD (default: publication_day of the year after --year, config/circular.yaml)")
    p.add_argument("--doc-number", help="document number, e.g. 桂机管发〔2024〕3号")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from energystat import config
    from energystat.circular import IncompleteReportingError, MartsNotReadyError, publish
    from energystat.circular.data import default_year
    from energystat.circular.settings import load_settings

    settings = load_settings(Path(args.settings) if args.settings else None, issue_date=args.issue_date,
                             doc_number=args.doc_number)
    year = args.year or default_year()
    out = Path(args.out) if args.out else config.circular_dir()
    try:
        paths = publish(year, out, force=args.force, settings=settings)
    except (IncompleteReportingError, MartsNotReadyError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0
