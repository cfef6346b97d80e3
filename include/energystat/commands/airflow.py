"""`energystat airflow ARGS...`: run the `airflow` CLI with the project's environment; `airflow env` prints it."""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "airflow",
        help="run the airflow CLI with the project's configuration (e.g. `energystat airflow dags list`)",
        description="`energystat airflow env` prints the environment as shell exports; anything else is passed "
        "to the airflow CLI. `energystat airflow up` migrates the metadata DB and starts `airflow standalone`.",
    )
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from energystat import airflow_env, migrate, warehouse

    env = airflow_env.apply()
    if args.args[:1] == ["env"]:
        for key, value in sorted(env.items()):
            print(f"export {key}={shlex.quote(value)}")
        return 0
    airflow = shutil.which("airflow") or os.path.join(os.path.dirname(sys.executable), "airflow")
    if args.args[:1] == ["up"]:
        import subprocess

        migrate.migrate(warehouse.warehouse_dsn())
        subprocess.run([airflow, "db", "migrate"], check=True)
        print("Airflow UI: http://localhost:8080 — the admin password is printed below by `airflow standalone`")
        print(f"(also stored in {env['AIRFLOW_HOME']}/simple_auth_manager_passwords.json.generated)")
        args.args = ["standalone"]
    os.execv(airflow, [airflow, *args.args])
    return 0  # not reached
