"""Airflow at the edge of energystat: everything that knows Airflow exists, in one package.

- `glue`: what DAG files import (default_args, the failure notifier, alert URLs, Assets, queues) — the only
  module here that imports Airflow (`airflow.sdk`), and only DAG files import it.
- `tags`: the one list of DAG tags the integrity test checks against.
- `environment`: the environment every Airflow process of the project runs with (paths, DSNs, secrets).
- `stack`: starts and stops Airflow's components as local processes (LocalExecutor or CeleryExecutor).
- `rest`: a small client of Airflow's REST API (token, unpause, trigger, wait, task instances, logs).

Nothing here is imported by the domain modules: the rest of `energystat` works without Airflow.
"""
