"""`energystat airflow up|cluster|env|ARGS...`: run Airflow with the project's configuration.

`up` starts the local stack (api-server, scheduler, dag-processor, triggerer; LocalExecutor), `cluster` the
same with CeleryExecutor and Celery workers (Redis at ENERGYSTAT_CELERY_BROKER_URL), both in the foreground
until Ctrl-C, which stops every process they started. `env` prints the environment as shell exports
with secrets masked (`env --show-secrets` prints them, for `eval "$(energystat airflow env --show-secrets)"`);
anything else is passed to the `airflow` CLI.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path

API_PORT_ENV = "ENERGYSTAT_AIRFLOW_PORT"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "airflow",
        help="run Airflow with the project's configuration (`up`, `cluster`, `env`, or any airflow CLI command)",
        description="`energystat airflow up` starts the local Airflow (LocalExecutor) until Ctrl-C; "
        "`energystat airflow cluster [--workers N]` the same with CeleryExecutor and N Celery workers; "
        "`energystat airflow env` prints the environment as shell exports, secrets masked (`env --show-secrets` "
        "prints them, for a shell's eval); anything else is passed to the "
        f"airflow CLI (e.g. `energystat airflow dags list`). The UI's port is {API_PORT_ENV} (default 8080).",
    )
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from energystat.orchestration import environment

    command = args.args[:1]
    if command in (["up"], ["cluster"]):
        return _serve(args.args)
    env = environment.apply()
    if command == ["env"]:
        options = argparse.ArgumentParser(prog="energystat airflow env")
        options.add_argument("--show-secrets", action="store_true",
                             help="print the secrets and DSN passwords too (for `eval`; mind your terminal's history)")
        shown = env if options.parse_args(args.args[1:]).show_secrets else environment.masked(env)
        for key, value in sorted(shown.items()):
            print(f"export {key}={shlex.quote(value)}")
        return 0
    airflow = str(Path(sys.executable).with_name("airflow"))
    os.execv(airflow, [airflow, *args.args])
    return 0  # not reached


def _serve(argv: list[str]) -> int:
    from energystat import migrate, warehouse
    from energystat.orchestration import stack

    parser = argparse.ArgumentParser(prog=f"energystat airflow {argv[0]}")
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (cluster only)")
    options = parser.parse_args(argv[1:])
    port = int(os.environ.get(API_PORT_ENV) or 8080)
    if not stack.port_is_free(port):
        print(f"Port {port} is in use (another Airflow?). Stop it, or choose another port: "
              f"{API_PORT_ENV}=8081 make airflow", file=sys.stderr)
        return 1
    executor = stack.CELERY if argv[0] == "cluster" else stack.LOCAL
    migrate.migrate(warehouse.warehouse_dsn())
    # SIGTERM (e.g. from a service manager) stops the components like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
    print(f"Starting Airflow ({executor}) ...", flush=True)
    running = stack.start(executor, api_port=port, workers=options.workers)
    try:
        client = running.client()
        print(f"\nAirflow UI: {running.base_url}  (user {client.username}, password {client.password})")
        print(f"Components: {', '.join(running.processes)}; their output: {running.log_dir}/<component>.log")
        print("DAGs start paused: unpause one in the UI (or trigger it with 'unpause') to let it run on its "
              "schedule.\nCtrl-C stops everything.", flush=True)
        while True:
            running.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nStopping Airflow ...", flush=True)
        return 0
    finally:
        running.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
