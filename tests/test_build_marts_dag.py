"""The `build_marts` DAG as Cosmos renders it from the dbt manifest: one run task per model followed by its
tests, every seed loaded, the raw-data Assets as schedule, and a parse that stays fast and never imports dbt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from energystat import dbt_runner

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.airflow]


@pytest.fixture(scope="module")
def rendered() -> dict:
    manifest = dbt_runner.parse()  # what `energystat marts parse` does at set-up
    nodes = json.loads(manifest.read_text(encoding="utf-8"))["nodes"].values()
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "build_marts_probe.py")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    shape = json.loads(out.stdout.strip().splitlines()[-1])
    shape["models"] = sorted(n["name"] for n in nodes if n["resource_type"] == "model")
    shape["seeds"] = sorted(n["name"] for n in nodes if n["resource_type"] == "seed")
    return shape


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

    dbt_runner.finish_watcher_polls_when_the_build_succeeded()
    dbt_runner.finish_watcher_polls_when_the_build_succeeded()  # idempotent
    from types import SimpleNamespace

    handle = BaseConsumerSensor._handle_no_dbt_node_status  # the sensor's state is these two attributes
    sensor = SimpleNamespace(poke_retry_number=1, producer_task_id="dbt.dbt_producer_watcher")
    assert handle(sensor, ProducerTaskState.SUCCESS, 1, {}) is True
    assert handle(sensor, "running", 1, {}) is False
    with pytest.raises(Exception, match="dbt build command failed"):
        handle(sensor, ProducerTaskState.FAILED, 1, {})
