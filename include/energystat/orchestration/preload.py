"""`python -m energystat.orchestration.preload scheduler`: Airflow's scheduler, with the task's libraries imported.

With LocalExecutor the scheduler forks its worker processes as it starts, and each task process is forked from a
worker (the Task SDK's supervisor): what the scheduler imported before is already imported in every task. Without
this, every task process imports its own heavy libraries again — GX in each `validate_and_load` (≈ 2.5 s of CPU
on an idle machine, both mapped tasks at once), dbt and Cosmos in build_marts' producer (≈ 2 s), pandas in every
ingestion task. The scheduler imports them once, before its first run is due (the local stack starts it while
the sample data is generated). Only module imports: nothing that starts a thread or opens a connection, which a
fork would copy half-done.
"""

from __future__ import annotations

import importlib
import sys

#: What the project's task processes import beyond Airflow (the DAG files import the rest at parse).
TASK_MODULES = (
    "pandas",
    "great_expectations",
    "energystat.ingest.run",
    "dbt.cli.main",
    "dbt.adapters.postgres",
    "cosmos.operators.watcher",
    "energystat.circular",
)


def import_task_modules() -> None:
    for module in TASK_MODULES:
        importlib.import_module(module)


def main() -> None:
    # Airflow's settings first, as `airflow` would load them
    from airflow.__main__ import main as airflow_main

    import_task_modules()
    sys.argv = ["airflow", *sys.argv[1:]]
    sys.exit(airflow_main())


if __name__ == "__main__":
    main()
