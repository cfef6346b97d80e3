"""`energystat warehouse start|stop|status|dsn|migrate`: manage the warehouse.

DSNs are printed with their password masked (energystat.roles.masked); `dsn --show-password` is the explicit
opt-in. The generated role passwords need no showing: their DSNs name the password file (`passfile=`), which
psql and other libpq clients read themselves.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("warehouse", help="manage the PostgreSQL warehouse (embedded by default)")
    action = p.add_subparsers(dest="action", required=True)
    action.add_parser("start", help="start the embedded server and apply migrations").set_defaults(handler=_start)
    action.add_parser("stop", help="stop the embedded server").set_defaults(handler=_stop)
    action.add_parser("status", help="say which server is used and whether it runs").set_defaults(handler=_status)
    action.add_parser("migrate", help="apply pending schema migrations").set_defaults(handler=_migrate)
    dsn = action.add_parser("dsn", help="print the DSN to paste into psql or a BI tool (password masked)")
    dsn.add_argument("--role", choices=["owner", *ROLE_HELP], default="owner",
                     help="whose DSN: " + "; ".join(f"{name}: {text}" for name, text in ROLE_HELP.items()))
    dsn.add_argument("--show-password", action="store_true",
                     help="print the password itself instead of *** (for a tool that cannot read the passfile)")
    dsn.set_defaults(handler=_dsn)


ROLE_HELP = {
    "loader": "ingestion, writes raw and ops",
    "transformer": "dbt, builds staging to marts",
    "analyst": "read-only, sees only the marts",
    "portal": "the upload portal",
}


def _start(args: argparse.Namespace) -> int:
    from energystat import migrate, roles, warehouse

    dsn = warehouse.warehouse_dsn()
    applied = migrate.migrate(dsn)
    print(f"warehouse ready ({'embedded' if warehouse.is_embedded() else 'external'}): {roles.masked(dsn)}")
    if applied:
        print("applied migrations: " + ", ".join(applied))
    return 0


def _stop(args: argparse.Namespace) -> int:
    from energystat import warehouse

    if not warehouse.is_embedded():
        print("ENERGYSTAT_WAREHOUSE_DSN is set: the external server is not managed here")
        return 0
    print("stopped" if warehouse.stop_embedded() else "embedded server was not running")
    return 0


def _status(args: argparse.Namespace) -> int:
    from energystat import roles, warehouse

    if not warehouse.is_embedded():
        print(f"external server (ENERGYSTAT_WAREHOUSE_DSN): {roles.masked(warehouse.server_dsn())}")
        return 0
    running = warehouse.embedded_running()
    print(f"embedded server in {warehouse.embedded_pgdata()}: {'running' if running else 'stopped'}")
    return 0 if running else 3


def _migrate(args: argparse.Namespace) -> int:
    from energystat import migrate, warehouse

    applied = migrate.migrate(warehouse.warehouse_dsn())
    print("applied: " + (", ".join(applied) if applied else "nothing, schema is current"))
    return 0


def _dsn(args: argparse.Namespace) -> int:
    from energystat import roles, warehouse

    dsn = warehouse.warehouse_dsn()
    if args.role != "owner":
        dsn = roles.role_dsn(roles.APP_ROLES[args.role], dsn)
    if args.show_password:
        print(roles.with_password(dsn))
    else:
        print(roles.masked(dsn))
    return 0
