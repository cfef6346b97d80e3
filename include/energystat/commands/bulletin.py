"""`energystat bulletin --year 2023 --month 7 --out DIR`: write the monthly progress bulletin (.docx, .html)."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bulletin", help="write the monthly progress bulletin (月度进度简报) as .docx and .html")
    p.add_argument("--year", type=int, required=True, help="the year, e.g. 2023")
    p.add_argument("--month", type=int, required=True, choices=range(1, 13), metavar="1-12",
                   help="the last month included (January…month)")
    p.add_argument("--out", help="output folder (default: ENERGYSTAT_CIRCULAR_DIR or .energystat/circular)")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from energystat import config
    from energystat.monitoring.bulletin import NoDataError, publish_bulletin

    out = Path(args.out) if args.out else config.circular_dir()
    try:
        paths = publish_bulletin(args.year, args.month, out)
    except NoDataError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    for path in paths.values():
        print(path)
    return 0
