"""
### build_marts — dbt marts built by astronomer-cosmos

Builds `dbt_project/` (seeds → staging → intermediate → marts) against the warehouse, every dbt node its own
Airflow task: each seed/model task is followed by the task of its data tests (`TestBehavior.AFTER_EACH`), so a
failed test fails its task, alerts through the energystat notifier, and its downstream marts do not run.

* **Execution** (`ENERGYSTAT_DBT_EXECUTION`):
  - `watcher` (default): Cosmos `ExecutionMode.WATCHER`, **one** `dbt build` (task `dbt.dbt_producer_watcher`)
    and a task per node that reports its node's result. Under a scheduler the node tasks start in the triggerer
    with the run and end there as soon as dbt settled their node (`energystat.orchestration.dbt_watcher`): no
    worker process per node, no level-by-level walk of the chain after dbt is done. The graph shows dbt's
    lineage; a node dbt did not build because something it reads failed ends skipped. A retry or a cleared
    node task waits for the tasks upstream of it, then runs dbt for its node on a worker. `airflow dags test`
    runs every task on its own loop: there the node tasks poll in "reschedule" mode.
  - `local`: Cosmos `ExecutionMode.LOCAL`, each task runs dbt for its node in its own process (slower: ≈ 80
    process starts and dbt starts; bench/RESULTS.md).

* **Schedule**: whenever the ingestion DAG loads monthly statistics or task progress (Assets
  `postgres://warehouse/raw/monthly_statistics`, `postgres://warehouse/raw/task_progress`); also runnable by hand.
* **Project**: loaded from `dbt_project/target/manifest.json` (`LoadMode.DBT_MANIFEST`, written at set-up by
  `energystat marts parse`) so parsing this file does not run dbt.
* **Connection**: `dbt_project/profiles.yml` reads `ENERGYSTAT_DBT_*`, derived from `ENERGYSTAT_WAREHOUSE_DSN`
  (or `AIRFLOW_CONN_WAREHOUSE`).
* **Output**: schema `marts` (read by analysts and the circular); emits Asset `postgres://warehouse/marts`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset
from cosmos import DbtTaskGroup, ExecutionConfig, LoadMode, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode

from energystat import assets, config, dbt_runner
from energystat.orchestration import dbt_watcher
from energystat.orchestration.glue import HEAVY_QUEUE, Tag, default_args

project_config = ProjectConfig(
    dbt_project_path=dbt_runner.project_dir(),
    manifest_path=dbt_runner.manifest_path(),
    project_name="energystat",
    # Cosmos runs dbt in a temporary copy of the project, deleted when the task ends: dbt's debug file log there
    # would be written for nobody (every SQL statement of the build); the task log keeps dbt's own lines.
    env_vars={**dbt_runner.env_for_profile(), "DBT_LOG_LEVEL_FILE": "none"},
)
# Cosmos wraps manifest_path in an ObjectStoragePath, whose reads report hook lineage: that loads every Airflow
# plugin, and Cosmos's own plugin imports FastAPI (≈ 0.4 s of a 0.69 s parse). The manifest is a local file,
# so read it as one (Cosmos accepts a pathlib.Path there).
project_config.manifest_path = Path(dbt_runner.manifest_path())
WATCHER = config.settings().dbt_execution == config.DBT_EXECUTION_WATCHER
if WATCHER:
    dbt_watcher.finish_watcher_polls_when_the_build_succeeded()  # tests on several models: see its docstring
    dbt_watcher.push_only_the_node_events_a_task_reads()  # ≈ 1,550 fewer XCom pushes while dbt runs
    dbt_watcher.handle_dbt_events_in_one_thread()  # dbt's threads no longer wait for the API server
    dbt_watcher.publish_a_status_board()  # the node triggers of a run read one XCom between them
    execution_config = ExecutionConfig(execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER)
    # Under a scheduler node tasks start in the triggerer (below); these arguments are for the times they run
    # on a worker: `airflow dags test` (one task at a time: a poke gives the loop back), a retry, a cleared task.
    node_args = {"deferrable": False, "mode": "reschedule", "poke_interval": 2}
else:
    execution_config = ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER)
    node_args = {}
profile_config = ProfileConfig(
    profile_name=dbt_runner.PROFILE_NAME,
    target_name=dbt_runner.TARGET_NAME,
    profiles_yml_filepath=dbt_runner.project_dir() / "profiles.yml",
)

with DAG(
    dag_id="build_marts",
    description="新数据入库后用 dbt 构建数据集市并测试 / dbt (Cosmos): build and test the marts when raw data changes",
    doc_md=__doc__,
    schedule=(Asset(assets.RAW_MONTHLY_STATISTICS) | Asset(assets.RAW_TASK_PROGRESS)),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    tags=[Tag.PROJECT, Tag.DBT, Tag.MARTS],
    # a failed model or dbt test alerts; dbt runs on the heavy queue (CeleryExecutor)
    default_args=default_args(retry_delay=timedelta(minutes=1), queue=HEAVY_QUEUE),
) as dag:
    dbt_marts = DbtTaskGroup(
        group_id="dbt",
        project_config=project_config,
        profile_config=profile_config,
        execution_config=execution_config,
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            emit_datasets=False,
            # invariant tests spanning several models (GX = Σ reporters …) run once all their parents are built
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={"install_deps": False, **node_args},
    )
    if WATCHER:
        dbt_watcher.report_tests_beside_downstream_nodes(dbt_marts.iter_tasks())  # first two: they name the gates
        dbt_watcher.wait_for_dbt_not_for_upstream_tasks(dbt_marts.iter_tasks())
        dbt_watcher.start_node_tasks_in_the_triggerer(dbt_marts.iter_tasks())
    marts_ready = EmptyOperator(task_id="marts_ready", outlets=[Asset(assets.MARTS_BUILT)])
    dbt_marts >> marts_ready
    if WATCHER:
        # Node tasks do not wait for the tasks before them: a model that fails leaves its tests' task and the
        # models reading it skipped, not upstream_failed, and all_success skips on a skipped upstream. Waiting
        # for every dbt task, marts_ready sees the failed one itself: it is then upstream_failed, the run failed.
        # (Not the producer: it skips itself on a retry, and a node task then runs dbt for its own node.)
        marts_ready.set_upstream(dbt_watcher.node_tasks(dbt_marts.iter_tasks()))
