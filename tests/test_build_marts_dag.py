"""The `build_marts` DAG as Cosmos renders it from the dbt manifest: one run task per model followed by its
tests, every seed loaded, the raw-data Assets as schedule, and a parse that stays fast and never imports dbt."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energystat import dbt_runner
from energystat.orchestration import dbt_watcher

#: The versions dbt logs first: Cosmos's node triggers wait for both before they look at their node.
STARTUP_EVENTS = [{"name": "MainReportVersion", "msg": "Running with dbt=1.11"},
                  {"name": "AdapterRegistered", "msg": "Registered adapter: postgres=1.11"}]

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.airflow]


def _probe(**env: str) -> dict:
    """The DAG's shape as a fresh interpreter parses it (with `env` added to the environment)."""
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "build_marts_probe.py")],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def rendered() -> dict:
    manifest = dbt_runner.parse()  # what `energystat marts parse` does at set-up
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    shape = _probe()
    shape["models"] = sorted(n["name"] for n in nodes if n["resource_type"] == "model")
    shape["seeds"] = sorted(n["name"] for n in nodes if n["resource_type"] == "seed")
    names = {n["unique_id"]: n["name"] for n in nodes if n["resource_type"] in ("model", "seed")}
    shape["built_from"] = {n["name"]: sorted(names[p] for p in n["depends_on"]["nodes"] if p in names)
                           for n in nodes if n["resource_type"] == "model"}
    return shape


def _node_task(tasks: dict, name: str) -> str:
    return next(t for t in (f"dbt.{name}.run", f"dbt.{name}.seed") if t in tasks)


def test_dag_parses_from_the_manifest_without_dbt(rendered: dict) -> None:
    assert rendered["import_errors"] == {}
    assert rendered["tasks"], "build_marts not found"
    assert rendered["dbt_imported"] is False
    assert rendered["parse_seconds"] < 5


def test_each_model_runs_then_its_tests(rendered: dict) -> None:
    tasks = rendered["tasks"]
    for model in rendered["models"]:
        run = f"dbt.{model}.run"
        assert run in tasks, f"no task for model {model}"
        assert f"dbt.{model}.test" in tasks[run], f"{model}: its tests do not follow its run"
    for seed in rendered["seeds"]:
        assert any(t.startswith(f"dbt.{seed}") for t in tasks), f"seed {seed} is not loaded"


def test_invariant_tests_run_once_all_their_models_are_built(rendered: dict) -> None:
    tasks = rendered["tasks"]
    for name in ("marts_agree_with_each_other", "kinds_add_up_to_reporter", "every_live_row_is_converted"):
        assert tasks.get(f"dbt.{name}_test") == ["marts_ready"], name


def test_marts_ready_comes_last_and_schedule_is_the_raw_assets(rendered: dict) -> None:
    tasks = rendered["tasks"]
    leaves = [t for t, down in tasks.items() if not down]
    assert leaves == ["marts_ready"]
    assert "raw/monthly_statistics" in rendered["schedule"] and "raw/task_progress" in rendered["schedule"]


def test_watcher_poll_of_a_detached_test_ends_once_the_build_succeeded() -> None:
    """A test on several models has no status of its own in the producer's results: its polling task must end
    with the build (success) instead of waiting forever, and still fail when the build failed."""
    from cosmos.operators._watcher.base import BaseConsumerSensor
    from cosmos.operators._watcher.state import ProducerTaskState

    dbt_watcher.finish_watcher_polls_when_the_build_succeeded()
    dbt_watcher.finish_watcher_polls_when_the_build_succeeded()  # idempotent
    from types import SimpleNamespace

    handle = BaseConsumerSensor._handle_no_dbt_node_status  # the sensor's state is these two attributes
    sensor = SimpleNamespace(poke_retry_number=1, producer_task_id="dbt.dbt_producer_watcher")
    assert handle(sensor, ProducerTaskState.SUCCESS, 1, {}) is True
    assert handle(sensor, "running", 1, {}) is False
    with pytest.raises(Exception, match="dbt build command failed"):
        handle(sensor, ProducerTaskState.FAILED, 1, {})


def test_build_marts_runs_in_watcher_mode_unless_told_otherwise() -> None:
    """Watcher mode is the default (one `dbt build` for the whole run); `local` only when the setting says so."""
    unset = {k: v for k, v in os.environ.items() if k != "ENERGYSTAT_DBT_EXECUTION"}
    out = subprocess.run([sys.executable, "-c", "from energystat import config; print(config.settings().dbt_execution)"],
                         capture_output=True, text=True, timeout=120, env=unset, check=True)
    assert out.stdout.strip() == "watcher"


def test_watcher_producer_backs_its_xcoms_up_only_when_it_fails() -> None:
    """Cosmos's default rewrites the producer's whole XCom backup Variable on every push (~1,600 per build through
    the API server); config/airflow.cfg turns that off for every Airflow process of the project."""
    from energystat.orchestration import environment

    out = subprocess.run([sys.executable, "-c", "from cosmos import settings; print(settings.enable_watcher_reliable_retry)"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, **environment.environ()},
                         check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_watcher_node_tasks_start_in_the_triggerer(rendered: dict) -> None:
    """Watcher mode (the default): every dbt node task is handed to the triggerer, only the producer (and the
    EmptyOperators) reach a worker; local mode starts every task on a worker."""
    watcher = rendered if rendered["execution"] == "watcher" else _probe(ENERGYSTAT_DBT_EXECUTION="watcher")
    nodes = {t for t in watcher["tasks"] if t.startswith("dbt.") and not t.startswith("dbt.dbt_producer_watcher")}
    assert len(nodes) > 60 and set(watcher["started_in_the_triggerer"]) == nodes
    local = rendered if rendered["execution"] == "local" else _probe(ENERGYSTAT_DBT_EXECUTION="local")
    assert local["started_in_the_triggerer"] == []


def test_watcher_node_tasks_wait_for_dbt_and_are_gated_by_the_tasks_of_what_they_read(rendered: dict) -> None:
    """Watcher mode: the graph links a model's task to the tasks of the models it reads (not to their tests'
    tasks: the chain is half as deep), but every node task starts with the run and waits for dbt's verdict on
    its node; the tasks of the nodes it reads and of their tests gate it through its trigger instead (a retry
    waits for them, a node dbt did not build is skipped when one failed). Local mode (each task runs dbt) keeps
    Airflow's dependencies, with the tests between a model and the models that read it."""
    watcher = rendered if rendered["execution"] == "watcher" else _probe(ENERGYSTAT_DBT_EXECUTION="watcher")
    local = rendered if rendered["execution"] == "local" else _probe(ENERGYSTAT_DBT_EXECUTION="local")
    checked = 0
    for model, parents in rendered["built_from"].items():
        for parent in parents:
            parent_task = _node_task(watcher["tasks"], parent)
            assert f"dbt.{model}.run" in watcher["tasks"][parent_task], (parent, model)
            assert parent_task in watcher["gates"][f"dbt.{model}.run"], (parent, model)
            parent_tests = f"dbt.{parent}.test"
            if parent_tests in local["tasks"]:
                assert f"dbt.{model}.run" in local["tasks"][parent_tests], (parent, model)
                assert parent_tests in watcher["gates"][f"dbt.{model}.run"], (parent, model)
                checked += 1
    assert checked > 30
    assert {tuple(down) for task, down in watcher["tasks"].items() if task.endswith(".test")} == {("marts_ready",)}
    assert {watcher["trigger_rules"][task] for task in watcher["started_in_the_triggerer"]} == {"always"}
    assert watcher["trigger_rules"]["marts_ready"] == "all_success"
    # a failed model leaves what reads it skipped: marts_ready waits for every dbt task, to see the failure itself
    assert all("marts_ready" in down for task, down in watcher["tasks"].items()
               if task in watcher["started_in_the_triggerer"])
    assert watcher["tasks"]["dbt.dbt_producer_watcher"] == ["dbt.dbt_producer_watcher_done"]  # skips on a retry
    assert local["gates"] == {} and set(local["trigger_rules"].values()) == {"all_success"}


def test_a_node_dbt_skipped_waits_for_its_gates_then_is_skipped_only_if_one_was_not_built() -> None:
    gates = ["dbt.a.test", "dbt.b.test"]
    assert dbt_watcher.gate_verdict({"dbt.a.test": "success", "dbt.b.test": "failed"}, gates) == "skipped"
    assert dbt_watcher.gate_verdict({"dbt.a.test": "success", "dbt.b.test": "skipped"}, gates) == "skipped"
    assert dbt_watcher.gate_verdict({"dbt.a.test": "running", "dbt.b.test": "upstream_failed"}, gates) == "skipped"
    assert dbt_watcher.gate_verdict({"dbt.a.test": "success", "dbt.b.test": "up_for_retry"}, gates) is None
    assert dbt_watcher.gate_verdict({"dbt.a.test": "success"}, gates) is None  # b not scheduled yet
    assert dbt_watcher.gate_verdict({"dbt.a.test": "success", "dbt.b.test": "success"}, gates) == "failed"
    assert dbt_watcher.skipped_by_dbt({"status": "skipped", "msg": None})
    assert not dbt_watcher.skipped_by_dbt({"status": "error", "msg": "relation does not exist"})
    assert not dbt_watcher.skipped_by_dbt(None)


def test_node_trigger_ends_the_task_with_dbt_verdict_and_leaves_reruns_to_a_worker() -> None:
    from types import SimpleNamespace

    from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent

    trigger = dbt_watcher.NodeTrigger("model.energystat.stg_x", "dbt.dbt_producer_watcher")
    assert isinstance(trigger.end_event({"status": "success"}), TaskSuccessEvent)
    assert isinstance(trigger.end_event({"status": "skipped"}), TaskSkippedEvent)
    assert isinstance(trigger.end_event({"status": "failed", "reason": "node_failed"}), TaskFailedEvent)
    assert isinstance(trigger.end_event({"status": "failed", "reason": "producer_failed"}), TaskFailedEvent)
    skipped_producer = trigger.end_event({"status": "failed", "reason": "producer_skipped"})
    assert type(skipped_producer).__name__ == "TriggerEvent"  # resumes on a worker: Cosmos runs dbt for the node
    assert dbt_watcher.NodeTrigger(**trigger.serialize()[1]).serialize() == trigger.serialize()
    gated = dbt_watcher.NodeTrigger("model.energystat.stg_x", "dbt.dbt_producer_watcher", gates=["dbt.y.test"])
    assert dbt_watcher.NodeTrigger(**gated.serialize()[1]).gates == ["dbt.y.test"]

    trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id="r1", task_id="dbt.stg_x.run", map_index=-1,
                                            try_number=2)

    async def first_event() -> object:
        async for event in trigger.run():
            return event

    event = asyncio.run(first_event())
    assert type(event).__name__ == "TriggerEvent" and event.payload == {"status": "rerun"}
    assert (trigger.dag_id, trigger.run_id) == ("build_marts", "r1")


def test_node_triggers_of_a_run_read_the_status_board_and_startup_events_between_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Once the producer published its status board, the node triggers of a run read it at most once per half
    poll interval between them, and never older than the producer's state they act on; dbt's startup events are
    read once per run. Before the board exists, a trigger reads its node's own XCom. The compiled SQL, which a
    task ending in the triggerer never shows, is not read at all."""
    from types import SimpleNamespace

    from airflow.triggers.base import TaskSuccessEvent

    xcoms: dict[str, object] = {
        "dbt_startup_events": STARTUP_EVENTS, "model__energystat__a_status": {"status": "success"},
        "model__energystat__a_compiled_sql": "select 1"}
    read: list[str] = []

    async def from_the_api(self: object, key: str) -> object:
        read.append(key)
        return xcoms.get(key)

    async def producer_running(self: object) -> str:
        read.append("producer state")
        return "running"

    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "get_xcom_val_af3", from_the_api)
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "_get_producer_task_status", producer_running)
    for cache in ("_STARTUP_EVENTS", "_SHARED_READS"):
        monkeypatch.setattr(dbt_watcher, cache, {})

    def event_of(node: str, poke_interval: float = 60) -> object:
        trigger = dbt_watcher.NodeTrigger(f"model.energystat.{node}", "dbt.dbt_producer_watcher",
                                          poke_interval=poke_interval)
        trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id="r1", task_id=f"dbt.{node}.run",
                                                map_index=-1, try_number=1)

        async def first() -> object:
            async for event in trigger.run():
                return event
        return asyncio.run(first())

    assert isinstance(event_of("a"), TaskSuccessEvent)
    assert read == ["dbt_startup_events", "producer state", dbt_watcher.BOARD_XCOM_KEY, "model__energystat__a_status"]

    xcoms[dbt_watcher.BOARD_XCOM_KEY] = {"model__energystat__b_status": {"status": "success"},
                                         "model__energystat__c_status": {"status": "success"}}
    monkeypatch.setattr(dbt_watcher, "_SHARED_READS", {
        key: shared for key, shared in dbt_watcher._SHARED_READS.items() if key[0] != dbt_watcher.BOARD_XCOM_KEY})
    read.clear()
    assert all(isinstance(event_of(node), TaskSuccessEvent) for node in ("b", "c"))
    assert read == [dbt_watcher.BOARD_XCOM_KEY]  # the producer's state and startup events: read for "a"

    read.clear()
    assert isinstance(event_of("b", poke_interval=0), TaskSuccessEvent)  # the state is asked again: so is the board
    assert read == ["producer state", dbt_watcher.BOARD_XCOM_KEY]


def test_node_triggers_asking_at_once_share_one_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The ≈ 80 node triggers of a run start together and poll together: a read another trigger asked and is
    still waiting for is shared, not asked again (each read is a turn of the triggerer's loop)."""
    from types import SimpleNamespace

    from airflow.triggers.base import TaskSuccessEvent

    board = {f"model__energystat__{node}_status": {"status": "success"} for node in "abcdefgh"}
    xcoms = {"dbt_startup_events": STARTUP_EVENTS, dbt_watcher.BOARD_XCOM_KEY: board}
    read: list[str] = []

    async def from_the_api(self: object, key: str) -> object:
        read.append(key)
        await asyncio.sleep(0.05)  # a round trip: the other triggers ask meanwhile
        return xcoms.get(key)

    async def producer_running(self: object) -> str:
        read.append("producer state")
        await asyncio.sleep(0.05)
        return "running"

    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "get_xcom_val_af3", from_the_api)
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "_get_producer_task_status", producer_running)
    for cache in ("_STARTUP_EVENTS", "_SHARED_READS"):
        monkeypatch.setattr(dbt_watcher, cache, {})

    async def first_event(node: str) -> object:
        trigger = dbt_watcher.NodeTrigger(f"model.energystat.{node}", "dbt.dbt_producer_watcher", poke_interval=60)
        trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id="r1", task_id=f"dbt.{node}.run",
                                                map_index=-1, try_number=1)
        async for event in trigger.run():
            return event

    async def all_nodes() -> list[object]:
        return await asyncio.gather(*(first_event(node) for node in "abcdefgh"))

    assert all(isinstance(event, TaskSuccessEvent) for event in asyncio.run(all_nodes()))
    assert sorted(read) == sorted(["dbt_startup_events", "producer state", dbt_watcher.BOARD_XCOM_KEY])


def test_the_producer_keeps_a_status_board(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each status Cosmos's producer pushes (a node's, a model's tests', a node's last event trimmed to its
    status) also lands on the run's board; other XComs do not. The board is pushed empty as the producer starts,
    then at most once per `BOARD_PUSH_INTERVAL_S` with what changed meanwhile, and whole before the producer ends."""
    from types import SimpleNamespace

    from cosmos.operators import watcher
    from cosmos.operators._watcher import aggregation, base, state

    pushed: list[tuple[str, object]] = []

    def xcom_push(key: str, value: object) -> None:
        pushed.append((key, value))

    def dbt_build(self: object, context: dict) -> str:  # the producer's execute: dbt's events, then its end
        base.safe_xcom_push(task_instance=ti, key="model__energystat__a_status", value={"status": "success"})
        base.safe_xcom_push(task_instance=ti, key="model__energystat__a_compiled_sql", value="select 1")
        aggregation.safe_xcom_push(task_instance=ti, key="model__energystat__a_tests_status", value="pass")
        base.safe_xcom_push(task_instance=ti, key="test__energystat__t_dbt_event",
                            value={"status": "fail", "msg": "Got 3 results", "start_time": "…"})
        boards_during_the_build.extend(value for key, value in pushed if key == dbt_watcher.BOARD_XCOM_KEY)
        return "built"

    monkeypatch.setattr(state, "safe_xcom_push", state.safe_xcom_push)
    for module in (base, aggregation, watcher):
        monkeypatch.setattr(module, "safe_xcom_push", module.safe_xcom_push)
    monkeypatch.setattr(watcher.DbtProducerWatcherOperator, "execute", dbt_build)
    monkeypatch.setattr(dbt_watcher, "BOARD_PUSH_INTERVAL_S", 60)
    dbt_watcher.publish_a_status_board()
    ti = SimpleNamespace(dag_id="build_marts", run_id="r9", task_id="dbt.dbt_producer_watcher", try_number=1,
                         xcom_push=xcom_push)
    boards_during_the_build: list[object] = []

    assert watcher.DbtProducerWatcherOperator.execute(object(), {"ti": ti}) == "built"

    assert [key for key, _ in pushed if key != dbt_watcher.BOARD_XCOM_KEY] == [
        "model__energystat__a_status", "model__energystat__a_compiled_sql", "model__energystat__a_tests_status",
        "test__energystat__t_dbt_event"]
    assert boards_during_the_build == [{}]  # the statuses settled within the interval wait for the next push
    boards = [value for key, value in pushed if key == dbt_watcher.BOARD_XCOM_KEY]
    assert len(boards) == 2 and boards[-1] == {"model__energystat__a_status": {"status": "success"},
                                               "model__energystat__a_tests_status": "pass",
                                               "test__energystat__t_dbt_event": {"status": "fail"}}


def test_a_status_board_pushes_what_changed_within_its_interval_once_it_passed() -> None:
    import threading

    pushes: list[dict] = []
    second = threading.Event()

    def push(values: dict) -> None:
        pushes.append(values)
        if len(pushes) == 2:
            second.set()

    board = dbt_watcher.StatusBoard(push, interval=0.2)
    board.set("a_status", "success")
    board.set("b_status", "success")
    board.set("c_status", "fail")
    assert pushes == [{"a_status": "success"}]
    assert second.wait(5)
    assert pushes[1] == {"a_status": "success", "b_status": "success", "c_status": "fail"}
    board.flush()  # nothing changed since
    assert len(pushes) == 2


def test_a_retry_or_a_node_reported_failed_waits_for_its_gates(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node task starts with the run: a retry (or a cleared task) runs dbt again only once the tasks gating it
    settled, and is skipped if one was not built; a node reported failed (by dbt, which reports what it skipped
    as failed, or because the producer failed before reporting it) is skipped when a gate was not built (no
    alert of its own) and fails otherwise; a node dbt skipped ends skipped once its gates settled (`marts_ready`,
    all_success, would be skipped by an earlier skip, before a gate's failure could fail it and the run)."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance
    from airflow.triggers.base import TaskFailedEvent, TaskSkippedEvent

    states: list[dict[str, str]] = []

    def task_states(dag_id: str, task_ids: list, run_ids: list) -> dict:
        return {run_ids[0]: states.pop(0) if len(states) > 1 else states[0]}

    async def producer(self: object) -> str:
        return "failed"

    reported: dict[str, object] = {}

    async def no_status(self: object, key: str) -> object:
        return STARTUP_EVENTS if key == "dbt_startup_events" else reported.get(key)

    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(task_states))
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "_get_producer_task_status", producer)
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "get_xcom_val_af3", no_status)
    monkeypatch.setattr(dbt_watcher, "_SHARED_READS", {})

    def event_of(try_number: int, *gate_states: dict[str, str]) -> object:
        states[:] = list(gate_states)
        trigger = dbt_watcher.NodeTrigger("model.energystat.b", "dbt.dbt_producer_watcher", poke_interval=0,
                                          gates=["dbt.a.run"])
        trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id=f"r{try_number}", task_id="dbt.b.run",
                                                map_index=-1, try_number=try_number)

        async def first() -> object:
            async for event in trigger.run():
                return event
        return asyncio.run(first())

    rerun = event_of(2, {"dbt.a.run": "running"}, {"dbt.a.run": "up_for_retry"}, {"dbt.a.run": "success"})
    assert type(rerun).__name__ == "TriggerEvent" and rerun.payload == {"status": "rerun"} and not states[1:]
    assert isinstance(event_of(2, {"dbt.a.run": "failed"}), TaskSkippedEvent)
    assert isinstance(event_of(1, {"dbt.a.run": "failed"}), TaskSkippedEvent)  # the producer failed at a
    assert isinstance(event_of(1, {"dbt.a.run": "success"}), TaskFailedEvent)  # ... after a, before b
    reported["model__energystat__b_status"] = {"status": "failed"}
    assert isinstance(event_of(1, {"dbt.a.run": "running"}, {"dbt.a.run": "failed"}), TaskSkippedEvent)
    assert isinstance(event_of(1, {"dbt.a.run": "success"}), TaskFailedEvent)  # b's own failure: it alerts
    reported["model__energystat__b_status"] = {"status": "skipped"}  # skipped, only once its gates settled
    assert isinstance(event_of(1, {"dbt.a.run": "up_for_retry"}, {"dbt.a.run": "failed"}), TaskSkippedEvent)
    assert not states[1:]


def test_node_trigger_looks_soon_then_less_and_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node's trigger looks again after `POLL_S`, then each wait is `POLL_GROWTH` times longer up to
    `POLL_MAX_S`: a short node is seen within a second, a node dbt works on for minutes wakes its trigger every
    couple of seconds, not every second."""
    from types import SimpleNamespace

    from airflow.triggers.base import TaskSuccessEvent

    looks: list[str] = []
    slept: list[float] = []

    async def from_the_api(self: object, key: str) -> object:
        if key == "model__energystat__slow_status":
            looks.append(key)
            return {"status": "success"} if len(looks) >= 8 else None
        return STARTUP_EVENTS if key == "dbt_startup_events" else None

    async def producer_running(self: object) -> str:
        return "running"

    real_sleep = asyncio.sleep

    async def no_wait(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "get_xcom_val_af3", from_the_api)
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "_get_producer_task_status", producer_running)
    monkeypatch.setattr(dbt_watcher.asyncio, "sleep", no_wait)
    trigger = dbt_watcher.NodeTrigger("model.energystat.slow", "dbt.dbt_producer_watcher")
    trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id="r2", task_id="dbt.slow.run",
                                            map_index=-1, try_number=1)

    async def first_event() -> object:
        async for event in trigger.run():
            return event

    assert isinstance(asyncio.run(first_event()), TaskSuccessEvent)
    assert len(looks) >= 8
    assert slept[0] == dbt_watcher.POLL_S == 1.0
    assert slept == sorted(slept) and slept[-1] == dbt_watcher.POLL_MAX_S
    assert slept[1] == pytest.approx(dbt_watcher.POLL_S * dbt_watcher.POLL_GROWTH)


def test_a_test_spanning_several_models_ends_with_its_own_dbt_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosmos publishes no status for a test with a task of its own (it spans several models): its trigger takes
    the test's last dbt event — passed, failed, not yet run — instead of waiting for the producer's verdict."""
    from types import SimpleNamespace

    from airflow.triggers.base import TaskFailedEvent, TaskSuccessEvent

    xcoms: dict[str, object] = {"dbt_startup_events": [{"name": "MainReportVersion", "msg": "dbt=1.11"},
                                                      {"name": "AdapterRegistered", "msg": "postgres=1.11"}]}

    async def from_the_api(self: object, key: str) -> object:
        return xcoms.get(key)

    async def producer_running(self: object) -> str:
        return "running"

    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "get_xcom_val_af3", from_the_api)
    monkeypatch.setattr(dbt_watcher.WatcherTrigger, "_get_producer_task_status", producer_running)

    def first_event(test: str, within: float) -> object:
        trigger = dbt_watcher.NodeTrigger(f"test.energystat.{test}", "dbt.dbt_producer_watcher", poke_interval=0.01,
                                          is_test_sensor=True)
        trigger.task_instance = SimpleNamespace(dag_id="build_marts", run_id="r1", task_id=f"dbt.{test}_test",
                                                map_index=-1, try_number=1)

        async def run() -> object:
            async for event in trigger.run():
                return event

        async def bounded() -> object:
            return await asyncio.wait_for(run(), within)

        return asyncio.run(bounded())

    xcoms["test__energystat__sums_agree_dbt_event"] = {"status": "pass", "msg": None}
    assert isinstance(first_event("sums_agree", 5), TaskSuccessEvent)
    xcoms["test__energystat__kinds_add_up_dbt_event"] = {"status": "fail", "msg": "Got 3 results"}
    assert isinstance(first_event("kinds_add_up", 5), TaskFailedEvent)
    with pytest.raises(TimeoutError):  # dbt has not run it yet: the trigger keeps waiting
        first_event("not_run_yet", 0.2)
    assert dbt_watcher.data_test_status({"status": "skipped"}) == "failed"  # a retry runs it (see its gates)
    assert dbt_watcher.data_test_status(None) is None


def test_watcher_producer_pushes_the_last_event_of_each_node_that_has_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosmos's producer keeps one `<node>_dbt_event` XCom per node, from its last event (NodeFinished, or an
    error event), instead of one push per NodeStart/NodeCompiling/NodeExecuting/NodeFinished; and none for a
    data test reported through its model's `.test` task."""
    from types import SimpleNamespace

    from cosmos.operators._watcher import base

    monkeypatch.setattr(base, "_process_dbt_log_event", base._process_dbt_log_event)  # restored after the test
    dag = SimpleNamespace(tasks=[])
    monkeypatch.setattr(dbt_watcher, "nodes_with_a_task",
                        lambda of: frozenset({"model.energystat.x", "test.energystat.spans_two"}) if of is dag else {})
    dbt_watcher.push_only_the_node_events_a_task_reads()
    pushed: list[tuple[str, dict]] = []
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.append((key, value)), task=SimpleNamespace(dag=dag))
    for node in ("model.energystat.x", "test.energystat.not_null_x_id", "test.energystat.spans_two"):
        for event, status in (("NodeStart", "started"), ("NodeCompiling", "compiling"),
                              ("NodeExecuting", "executing"), ("NodeFinished", "success"), ("RunResultError", "error")):
            base._process_dbt_log_event(ti, {"info": {"name": event, "msg": event},
                                             "data": {"node_info": {"unique_id": node, "node_status": status}}})
    assert [(key, value["status"]) for key, value in pushed] == [
        ("model__energystat__x_dbt_event", "success"), ("model__energystat__x_dbt_event", "error"),
        ("test__energystat__spans_two_dbt_event", "success"), ("test__energystat__spans_two_dbt_event", "error")]


def test_watcher_node_events_are_pushed_for_every_node_task(rendered: dict) -> None:
    """The nodes whose events the producer pushes are exactly those with a task: every model and seed and each
    test spanning several models, not the tests a model's `.test` task reports."""
    manifest = json.loads(dbt_runner.manifest_path().read_text(encoding="utf-8"))
    pushed = set(rendered["event_nodes"])
    assert {n["unique_id"] for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")} <= pushed
    detached = {task_id.removeprefix("dbt.").removesuffix("_test") for task_id in rendered["tasks"]
                if task_id.endswith("_test") and not task_id.endswith(".test")}
    assert detached and {manifest["nodes"][node]["name"] for node in pushed if node.startswith("test.")} == detached
    assert len(pushed) < len(manifest["nodes"]) / 2


def _dbt_event(kind: str, unique_id: str = "", status: str = "") -> object:
    """A dbt `EventMsg` as dbt hands it to the producer's callbacks."""
    from dbt.adapters.events import types as adapter_events
    from dbt.events import types as core_events
    from dbt_common.events.base_types import msg_from_base_event

    node = {"unique_id": unique_id, "node_status": status, "resource_type": "model"}
    return msg_from_base_event({
        "sql": lambda: adapter_events.SQLQuery(conn_name="c", sql="select 1", node_info=node),
        "connection": lambda: adapter_events.ConnectionUsed(conn_type="postgres", conn_name="c"),
        "finished": lambda: core_events.NodeFinished(node_info=node),
        "version": lambda: core_events.MainReportVersion(version="1.11", log_version=3),
        "start line": lambda: core_events.LogStartLine(description="model x", index=1, total=2, node_info=node),
        "error": lambda: core_events.CatchableExceptionOnRun(exc="boom", node_info=node),
    }[kind]())


def test_watcher_producer_hands_cosmos_only_the_dbt_events_it_acts_on() -> None:
    """Cosmos's callback pushes XComs for a node's final status, its last event, skips, errors and dbt's
    version, and logs messages above debug level; the thousands of other debug events are not handed to it."""
    acts_on = dbt_watcher.cosmos_acts_on
    node = "model.energystat.dim_reporter"
    assert not acts_on(_dbt_event("sql", node, "executing"))
    assert not acts_on(_dbt_event("connection"))
    assert acts_on(_dbt_event("sql", node, "success"))  # a node's final status, whichever event carries it
    assert acts_on(_dbt_event("finished", node, "success"))
    assert acts_on(_dbt_event("version"))
    assert acts_on(_dbt_event("start line", node, "started"))  # info: its message goes to the task log
    assert acts_on(_dbt_event("error", node, "error"))


def test_watcher_producer_handles_dbt_events_in_one_thread_and_returns_once_all_are_handled(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """dbt fires events from several threads; the producer's callbacks (Cosmos's XCom pushes) see each thread's
    events in order, all in one thread of their own, every one before the dbt run returns, and only those
    Cosmos acts on (all of them when its logger shows debug lines); a callback's error is raised once dbt is
    done."""
    import logging
    import threading
    import time

    from cosmos.operators import local
    from cosmos.operators._watcher import base
    from cosmos.operators.watcher import DbtProducerWatcherOperator

    monkeypatch.setattr(local.AbstractDbtLocalBase, "run_dbt_runner", local.AbstractDbtLocalBase.run_dbt_runner)
    monkeypatch.setattr(local.dbt_runner, "is_available", lambda: True)

    def dbt_build(command: list, env: dict, cwd: str, callbacks: list, **_: object) -> str:
        def node_thread(name: str) -> None:
            for number in range(50):
                node = f"model.energystat.{name}_{number}"
                for event in (_dbt_event("sql", node, "executing"), _dbt_event("finished", node, "success")):
                    for callback in callbacks:
                        callback(event)
        threads = [threading.Thread(target=node_thread, args=(f"Thread-{n}",)) for n in (1, 2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return "dbt result"

    monkeypatch.setattr(local.dbt_runner, "run_command", dbt_build)
    dbt_watcher.handle_dbt_events_in_one_thread()
    handled: list[tuple] = []

    def push(event: object) -> None:
        time.sleep(0.001)  # an API round trip
        thread, number = event.data.node_info.unique_id.rsplit(".", 1)[1].split("_")
        handled.append((threading.current_thread().name, event.info.name, thread, int(number)))

    producer = DbtProducerWatcherOperator.__new__(DbtProducerWatcherOperator)
    object.__setattr__(producer, "_BaseOperator__from_mapped", False)
    object.__setattr__(producer, "_lock_for_execution", True)  # as while a task executes
    producer._dbt_runner_callbacks = [push]
    assert producer.run_dbt_runner(["build"], {}, "/tmp") == "dbt result"
    assert len(handled) == 100 and {(thread, name) for thread, name, *_ in handled} == {("dbt-events", "NodeFinished")}
    for name in ("Thread-1", "Thread-2"):
        assert [number for *_, thread, number in handled if thread == name] == list(range(50))
    assert producer._dbt_runner_callbacks == [push]

    handled.clear()
    level = base.logger.level
    base.logger.setLevel(logging.DEBUG)  # a task log that shows dbt's debug lines
    try:
        producer.run_dbt_runner(["build"], {}, "/tmp")
    finally:
        base.logger.setLevel(level)
    assert len(handled) == 200

    def broken(event: object) -> None:
        raise ValueError("API server gone")

    producer._dbt_runner_callbacks = [broken]
    with pytest.raises(ValueError, match="API server gone"):
        producer.run_dbt_runner(["build"], {}, "/tmp")
