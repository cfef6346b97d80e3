"""The `energystat` command line. Each sub-command lives in `energystat.commands.<name>`.

Command modules only import the standard library at top level and register their parser; the heavy
work (pandas, GX, dbt, Airflow) is imported when the command runs, so `energystat --help` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMAND_MODULES = [
    "energystat.commands.warehouse",
    "energystat.commands.generate",
    "energystat.commands.template",
    "energystat.commands.check",
    "energystat.commands.rules",
    "energystat.commands.ingest",
    "energystat.commands.marts",
    "energystat.commands.circular",
    "energystat.commands.bulletin",
    "energystat.commands.airflow",
    "energystat.commands.demo",
    "energystat.commands.portal",
    "energystat.commands.review",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="energystat",
        description="Energy and resource statistics of public institutions (公共机构能源资源消费统计).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # a command still being written: skip it, keep the others usable
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # libraries' INFO chatter (GX logs ~200 lines on import) would bury our messages
        for noisy in ("great_expectations", "matplotlib", "dbt", "apprise", "pgserver", "fontTools"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
