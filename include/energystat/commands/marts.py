"""`energystat marts build|parse|docs`: the dbt marts (dbt_project/) against the warehouse."""

from __future__ import annotations

import argparse
import time

DOCS_PORT = 8081


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("marts", help="build the dbt marts (staging -> intermediate -> marts) and their docs")
    action = p.add_subparsers(dest="action", required=True)
    build = action.add_parser("build", help="dbt build: seeds, models, data tests and unit tests")
    build.add_argument("--select", nargs="+", default=[], help="dbt node selection (default: everything)")
    build.set_defaults(handler=_build)
    action.add_parser(
        "parse", help="dbt parse: write dbt_project/target/manifest.json (loaded by the build_marts DAG)"
    ).set_defaults(handler=_parse)
    docs = action.add_parser("docs", help="dbt docs generate (catalog + lineage), optionally serve them")
    docs.add_argument("--serve", action="store_true", help=f"serve the site on http://localhost:{DOCS_PORT}")
    docs.add_argument("--port", type=int, default=DOCS_PORT)
    docs.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 inside a container)")
    docs.set_defaults(handler=_docs)


def _build(args: argparse.Namespace) -> int:
    from energystat import dbt_runner

    started = time.monotonic()
    dbt_runner.build(select=args.select)
    print(f"marts built in {time.monotonic() - started:.1f} s")
    return 0


def _parse(args: argparse.Namespace) -> int:
    from energystat import dbt_runner

    print(f"manifest written: {dbt_runner.parse()}")
    return 0


def _docs(args: argparse.Namespace) -> int:
    from energystat import dbt_runner

    dbt_runner.run_dbt(["docs", "generate"])
    print(f"docs written to {dbt_runner.project_dir() / 'target'}")
    if args.serve:
        print(f"serving on http://localhost:{args.port} (Ctrl-C to stop)")
        dbt_runner.run_dbt(["docs", "serve", "--port", str(args.port), "--host", args.host, "--no-browser"])
    return 0
