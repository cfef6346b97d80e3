"""The real path, LocalExecutor then CeleryExecutor: api-server, scheduler, dag-processor and triggerer as processes on the test's
embedded PostgreSQL; `ingest_monthly_uploads` triggered through the REST API on a generated province; its
Asset event triggers `build_marts`. Every task succeeds, the task logs are readable through the API, and the
marts equal those of the in-process path (`energystat ingest` + `energystat marts build`). Then the same with
CeleryExecutor and two Celery workers on the machine's Redis and PostgreSQL: tasks ran on both workers and
the marts equal the LocalExecutor run's (skipped without Redis, unless ENERGYSTAT_REQUIRE_CLUSTER=1)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow_harness import (
    PipelineRun,
    airflow_metadata_db,
    copy_database,
    in_process_marts,
    marts_difference,
    marts_snapshot,
    run_pipeline,
)

from energystat import config, dbt_runner, migrate, warehouse
from energystat.orchestration import environment, stack
from energystat.synth import generate

# In the default suite (`make test`): the real path is what users run. (`--dist loadfile` keeps this module's
# tests on one worker, so its two stacks start once.)
pytestmark = [pytest.mark.airflow]

INSTITUTIONS = 60
YEARS = [2022, 2023]
#: Reporters whose uploads stay in the landing folder: three keep the run short (each file is parsed and
#: validated on its own) and still give the ingestion several batches to spread over workers.
REPORTERS = ("450100", "450300", "451000")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """Folders of this module's stacks, in the test state folder: pytest's /tmp/pytest-of-<user> is pruned by
    any other pytest session on the machine, which would delete a landing folder or Airflow home mid-run."""
    root = config.state_dir() / f"stacks_{secrets.token_hex(3)}"
    root.mkdir(parents=True)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def province(workdir: Path) -> tuple[Path, Path]:
    """A generated province in a landing folder, and an untouched copy for the in-process path."""
    generate(workdir / "landing", institutions=INSTITUTIONS, years=YEARS, seed=7)
    for folder in (workdir / "landing").iterdir():
        if folder.is_dir() and folder.name not in REPORTERS:
            shutil.rmtree(folder)
    shutil.copytree(workdir / "landing", workdir / "landing_copy")
    return workdir / "landing", workdir / "landing_copy"


@pytest.fixture(scope="module")
def local_run(server_dsn: str, template_dsn: str, province: tuple[Path, Path],
              workdir: Path) -> Iterator[tuple[PipelineRun, str, stack.Stack]]:
    if not dbt_runner.manifest_path().exists():
        dbt_runner.parse()
    tmp = workdir / "local"
    dsn = copy_database(template_dsn, "es_stack")
    metadata = airflow_metadata_db(server_dsn, "af_local")
    running = stack.start(
        stack.LOCAL, migrate=False,
        ENERGYSTAT_WAREHOUSE_DSN=dsn, ENERGYSTAT_AIRFLOW_DB_DSN=metadata, AIRFLOW_HOME=str(tmp / "airflow"),
        ENERGYSTAT_LANDING_DIR=str(province[0]), ENERGYSTAT_QUARANTINE_DIR=str(tmp / "quarantine"),
        ENERGYSTAT_CIRCULAR_DIR=str(tmp / "circular"),
    )
    try:
        yield run_pipeline(running.client()), dsn, running
    finally:
        running.stop()
        warehouse.drop_database(dsn)
        warehouse.drop_database(metadata)


#: Tasks that skip by design on a clean province: nothing was held, so no review is asked for.
SKIPPED_WHEN_NOTHING_HELD = {"publish_held_uploads"}


def assert_every_task_green(run: PipelineRun) -> None:
    assert run.ingest_run["state"] == "success" and run.marts_run["state"] == "success"
    for dag_id, tis in run.task_instances.items():
        states = {f"{ti['task_id']}[{ti['map_index']}]": ti["state"] for ti in tis}
        expected = {name: "skipped" if name.split("[")[0] in SKIPPED_WHEN_NOTHING_HELD else "success"
                    for name in states}
        assert states and states == expected, f"{dag_id}: {states}"


def test_ingestion_and_marts_run_green_through_the_scheduler(local_run) -> None:
    run, _, _ = local_run
    assert_every_task_green(run)
    assert run.marts_run["run_type"] == "asset_triggered"
    mapped = [ti for ti in run.task_instances["ingest_monthly_uploads"] if ti["task_id"] == "validate_and_load"]
    assert len(mapped) >= 2, "the uploads were not spread over parallel batches"
    assert len(run.task_instances["build_marts"]) > 20  # every dbt model and test is a task


def test_no_surprise_runs(local_run) -> None:
    """The DAGs start paused; triggering the ingestion made exactly one run of it and one of build_marts,
    and every DAG is paused again afterwards."""
    run, _, running = local_run
    assert run.new_runs == {"ingest_monthly_uploads": [run.ingest_run["dag_run_id"]],
                            "build_marts": [run.marts_run["dag_run_id"]], "annual_circular": []}
    assert all(d["is_paused"] for d in running.client().dags())


def test_the_stack_warms_up_the_task_execution_api(local_run) -> None:
    """`wait_ready` calls the Task Execution API (what task processes and the triggerer talk to) so that the API
    server builds it before the first task needs it; the call answers as Airflow's health endpoint does."""
    _, _, running = local_run
    assert running.client().warm_up_execution_api() == {"status": "healthy"}


def test_the_dag_processor_yields_the_cpu_to_the_tasks(local_run) -> None:
    """The DAG processor, whose work no run waits for, runs at a lower CPU priority than the other components
    (the scheduler's task processes keep the normal one)."""
    _, _, running = local_run
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, running.processes["dag-processor"].pid) == min(
        stack.MAX_NICENESS, own + stack.DAG_PROCESSOR_NICENESS)
    assert {os.getpriority(os.PRIO_PROCESS, running.processes[name].pid)
            for name in ("api-server", "scheduler", "triggerer")} == {own}


def test_task_processes_are_forked_with_their_libraries_imported(local_run) -> None:
    """The LocalExecutor scheduler imports the tasks' libraries (pandas, GX, dbt, …) before it forks its worker
    processes, from which every task process is forked: the idle workers hold pandas's compiled extension,
    which nothing of Airflow's own loads."""
    _, _, running = local_run
    scheduler = running.processes["scheduler"].pid
    workers = [pid for pid in stack._descendants(scheduler)
               if "LocalExecutor" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert workers, "no LocalExecutor worker below the scheduler"
    for pid in [scheduler, *workers]:
        assert "/pandas/_libs/" in Path(f"/proc/{pid}/maps").read_text(), f"pandas not loaded in process {pid}"


def test_task_logs_are_readable_through_the_api(local_run) -> None:
    run, _, _ = local_run
    assert set(run.logs) == {f"ingest_monthly_uploads.{ti['task_id']}[{ti['map_index']}]"
                             for ti in run.task_instances["ingest_monthly_uploads"]}
    for name, text in run.logs.items():
        assert "Done. Returned value was" in text or "Task instance in success state" in text or len(text) > 200, (
            f"{name}: log unreadable or empty: {text[:500]!r}")
    batch_log = run.logs["ingest_monthly_uploads.validate_and_load[0]"]
    assert "Returned value" in batch_log or "accepted" in batch_log, batch_log[-2000:]


def test_marts_equal_the_in_process_path(local_run, template_dsn: str, province: tuple[Path, Path],
                                         workdir: Path) -> None:
    _, dsn, _ = local_run
    scheduled = marts_snapshot(dsn)
    other = copy_database(template_dsn, "es_inproc")
    try:
        in_process = in_process_marts(other, province[1], workdir)
        assert in_process == scheduled, marts_difference(in_process, scheduled)
    finally:
        warehouse.drop_database(other)
    assert scheduled["mart_target_attainment"], "the marts are empty: nothing to compare"


# --- scale-out: CeleryExecutor, two workers, the machine's Redis and PostgreSQL ----------------------------

REQUIRE_CLUSTER_ENV = "ENERGYSTAT_REQUIRE_CLUSTER"
CLUSTER_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def _cluster_services_missing() -> str | None:
    """Why the scale-out test cannot run here (no Redis or PostgreSQL on 127.0.0.1), or None."""
    import psycopg

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return "Redis on 127.0.0.1:6379 does not answer PING"
    except OSError as exc:
        return f"no Redis on 127.0.0.1:6379 ({exc})"
    try:
        psycopg.connect(CLUSTER_SERVER, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        return f"no PostgreSQL on 127.0.0.1:5432 ({str(exc).strip()})"
    return None


@pytest.fixture(scope="module")
def cluster_run(local_run, province: tuple[Path, Path], workdir: Path) -> Iterator[tuple[PipelineRun, str]]:
    """The same province through CeleryExecutor with two workers, configured from config/celery.env (as
    docker compose), on random databases of 127.0.0.1:5432 and a random key prefix in Redis."""
    missing = _cluster_services_missing()
    if missing:
        if os.environ.get(REQUIRE_CLUSTER_ENV) == "1":
            pytest.fail(f"{REQUIRE_CLUSTER_ENV}=1 but {missing}")
        pytest.skip(f"scale-out test skipped: {missing} (CI sets {REQUIRE_CLUSTER_ENV}=1 to require it)")
    tmp = workdir / "cluster"
    landing = tmp / "landing"
    shutil.copytree(province[1], landing)
    suffix = secrets.token_hex(4)
    dsn = warehouse.with_database(CLUSTER_SERVER, f"es_cluster_{suffix}")
    warehouse.ensure_database(dsn)
    migrate.migrate(dsn)
    metadata = airflow_metadata_db(CLUSTER_SERVER, "af_cluster")
    try:
        running = stack.start(
            stack.CELERY, workers=2, migrate=False,
            ENERGYSTAT_WAREHOUSE_DSN=dsn, ENERGYSTAT_AIRFLOW_DB_DSN=metadata, AIRFLOW_HOME=str(tmp / "airflow"),
            ENERGYSTAT_LANDING_DIR=str(landing), ENERGYSTAT_QUARANTINE_DIR=str(tmp / "quarantine"),
            ENERGYSTAT_CIRCULAR_DIR=str(tmp / "circular"),
            # Redis is shared with whatever else runs here: this stack's keys get a prefix of their own.
            AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX=f"energystat_test_{suffix}_",
        )
        try:
            yield run_pipeline(running.client()), dsn
        finally:
            running.stop()
    finally:
        warehouse.drop_database(dsn)
        warehouse.drop_database(metadata)


def test_cluster_runs_every_task_green_on_both_workers(cluster_run) -> None:
    run, _ = cluster_run
    assert_every_task_green(run)
    hosts: dict[str, int] = {}
    for tis in run.task_instances.values():
        for ti in tis:
            # empty tasks, and dbt node tasks the triggerer ended (watcher mode), never reach a worker
            if ti["operator"] != "EmptyOperator" and ti["hostname"] and ti["state"] == "success":
                hosts[ti["hostname"].split("@")[0]] = hosts.get(ti["hostname"].split("@")[0], 0) + 1
    assert set(hosts) == {"worker1", "worker2"}, hosts
    heavy = [ti for ti in run.task_instances["ingest_monthly_uploads"] if ti["task_id"] == "validate_and_load"]
    assert heavy and {ti["queue"] for ti in heavy} == {"heavy"}
    assert all(text for text in run.logs.values()), "a task log is empty"


def test_cluster_marts_equal_the_local_executor_run(cluster_run, local_run) -> None:
    cluster, local = marts_snapshot(cluster_run[1]), marts_snapshot(local_run[1])
    assert cluster == local, marts_difference(cluster, local)


def test_cluster_uses_the_compose_celery_settings(local_run) -> None:
    """The local cluster reads config/celery.env, the file docker-compose.yaml gives every Airflow service."""
    env = stack.stack_environ(stack.CELERY, 8080)
    for name, value in environment.read_env_file(environment.CELERY_ENV_FILE).items():
        assert env[name] == value, name
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
