"""Airflow at the edge of energystat: everything that knows Airflow exists, in one package.

- `glue`: what DAG files import (default_args, the failure notifier, alert URLs, Assets, queues) — the only
  module here that imports Airflow (`airflow.sdk`), and only DAG files import it.
- `tags`: the one list of DAG tags the integrity test checks against.
- `environment`: the environment every Airflow process of the project runs with (paths, DSNs, secrets).
- `stack`: starts and stops Airflow's components as local processes (LocalExecutor or CeleryExecutor).
- `rest`: a small client of Airflow's REST API (token, unpause, trigger, wait, task instances, logs).

Nothing here is imported by the domain modules: the rest of `energystat` works without Airflow.
"""

from __future__ import annotations

import os
import socket

#: The name a worker reports as the hostname of the task instances it runs (local workers share a machine).
WORKER_NAME_ENV = "ENERGYSTAT_WORKER_NAME"


def worker_hostname() -> str:
    """`[core] hostname_callable` of local stacks: the worker's name when several share one machine, so task
    instances show which worker ran them (containers have a hostname of their own). Kept here, free of
    project imports: every Airflow process imports it at start, and a module loaded that early would stay
    stale in the DAG processor after a `git pull`."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()
