"""Run in a fresh interpreter: parse dags/ with Airflow's DagBag; write what the integrity tests check to argv[1].

Kept out of the test process so `sys.modules` shows exactly what importing the DAG files pulls in.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from energystat import config
from energystat.orchestration import environment as airflow_env

airflow_env.apply()

from airflow.dag_processing.dagbag import DagBag  # noqa: E402  (after the environment)


def _uris(condition) -> set[str]:  # noqa: ANN001
    """The Asset URIs in a schedule's condition (an Asset, or AssetAny/AssetAll of them)."""
    if condition is None:
        return set()
    if hasattr(condition, "objects"):
        return set().union(*(_uris(o) for o in condition.objects))
    return {condition.uri}


heavy_before = {m for m in ("great_expectations", "dbt", "pandas") if m in sys.modules}
started = time.perf_counter()
bag = DagBag(str(config.DAGS_DIR))
elapsed = time.perf_counter() - started
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "fileloc": dag.fileloc,
        "doc_md": dag.doc_md,
        "description": dag.description,
        "tags": sorted(dag.tags),
        "owners": sorted({t.owner for t in dag.tasks}),
        "retries": sorted({t.retries for t in dag.tasks}),
        "catchup": dag.catchup,
        "schedule": str(getattr(dag.timetable, "description", "")),
        "timezone": str(dag.timezone),
        "task_count": len(dag.tasks),
        "waits_for": sorted(_uris(getattr(dag.timetable, "asset_condition", None))),
        "emits": sorted({o.uri for t in dag.tasks for o in t.outlets if hasattr(o, "uri")}),
    }
Path(sys.argv[1]).write_text(json.dumps({
    "import_errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": dags,
    "modules": sorted({name.split(".")[0] for name in sys.modules} - heavy_before),
    "parse_seconds": elapsed,
}), encoding="utf-8")
