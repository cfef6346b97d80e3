"""Run in a fresh interpreter: parse dags/build_marts.py with Airflow's DagBag and print its shape as JSON."""

from __future__ import annotations

import json
import sys
import time

from energystat import config
from energystat.orchestration import environment as airflow_env

airflow_env.apply()
sys.path.insert(0, str(config.PLUGINS_DIR))  # Airflow adds plugins/ itself; a bare DagBag does not

from airflow.dag_processing.dagbag import DagBag  # noqa: E402  (after the environment)

from energystat.orchestration import dbt_watcher  # noqa: E402

started = time.perf_counter()
bag = DagBag(str(config.DAGS_DIR / "build_marts.py"))
elapsed = time.perf_counter() - started
dag = bag.dags.get("build_marts")
print(json.dumps({
    "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
    "parse_seconds": elapsed,
    "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks} if dag else {},
    "schedule": repr(getattr(dag.timetable, "asset_condition", dag.timetable)) if dag else None,
    "dbt_imported": "dbt" in sys.modules,
    "execution": config.settings().dbt_execution,
    "started_in_the_triggerer": sorted(t.task_id for t in dag.tasks if t.start_from_trigger) if dag else [],
    "gates": {t.task_id: list(t.start_trigger_args.trigger_kwargs["gates"]) for t in dag.tasks
              if t.start_from_trigger and t.start_trigger_args.trigger_kwargs.get("gates")} if dag else {},
    "event_nodes": sorted(dbt_watcher.nodes_with_a_task(dag)) if dag else [],
    "trigger_rules": {t.task_id: getattr(t.trigger_rule, "value", t.trigger_rule) for t in dag.tasks} if dag else {},
}))
