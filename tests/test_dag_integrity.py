"""DAG integrity: every file in dags/ imports cleanly, every DAG follows the house rules (description, tags
from the one list in `energystat.orchestration.tags`, owner, retries), and parsing the DAG folder does not
drag Great Expectations or dbt into the scheduler (they cost seconds to import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from energystat.orchestration import tags

ROOT = Path(__file__).resolve().parents[1]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))



@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory) -> dict:
    result = tmp_path_factory.mktemp("dagbag") / "dagbag.json"
    out = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "dagbag_probe.py"), str(result)],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(result.read_text(encoding="utf-8"))


def test_there_are_dag_files() -> None:
    assert DAG_FILES, "dags/ holds no DAG file"


def test_every_dag_file_imports_without_errors(dagbag: dict) -> None:
    assert dagbag["import_errors"] == {}


def test_every_dag_file_defines_a_dag(dagbag: dict) -> None:
    files_with_dags = {Path(d["fileloc"]).name for d in dagbag["dags"].values()}
    assert {p.name for p in DAG_FILES} <= files_with_dags


def test_house_rules(dagbag: dict) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert dag["doc_md"] and len(dag["doc_md"].strip()) > 20, f"{dag_id}: needs a docstring (doc_md)"
        assert dag["description"] and len(dag["description"]) > 20, f"{dag_id}: needs a description (DAG list)"
        assert dag["owners"] and "airflow" not in dag["owners"], f"{dag_id}: needs a real owner"
        assert min(dag["retries"]) >= 2, f"{dag_id}: every task needs retries >= 2"
        assert dag["catchup"] is False, f"{dag_id}: catchup must be off unless backfill is intended"
        assert dag["timezone"] == "Asia/Shanghai", f"{dag_id}: schedules are in Asia/Shanghai"


def test_parsing_dags_does_not_import_gx_or_dbt(dagbag: dict) -> None:
    heavy = {"great_expectations", "dbt"} & set(dagbag["modules"])
    assert not heavy, f"DAG files import {heavy} at parse time"


def test_tags_come_from_the_one_list(dagbag: dict) -> None:
    for dag_id, dag in dagbag["dags"].items():
        assert set(dag["tags"]) <= tags.ALLOWED, f"{dag_id}: tags {set(dag['tags']) - tags.ALLOWED} not in tags.py"
        assert set(dag["tags"]) >= tags.REQUIRED, f"{dag_id}: lacks {set(tags.REQUIRED) - set(dag['tags'])}"
        assert len(dag["tags"]) >= 2, f"{dag_id}: needs a stage tag besides {tags.Tag.PROJECT.value}"


def test_every_asset_a_dag_waits_for_is_emitted_by_a_task(dagbag: dict) -> None:
    """The data-aware chain: ingestion → build_marts (raw tables) → annual_circular (marts), ingestion →
    review_exceptions (held uploads). A misspelt URI would leave a DAG waiting forever."""
    emitted = {uri for dag in dagbag["dags"].values() for uri in dag["emits"]}
    for dag_id, dag in dagbag["dags"].items():
        assert set(dag["waits_for"]) <= emitted, f"{dag_id} waits for {set(dag['waits_for']) - emitted}"
    assert "postgres://warehouse:5432/energystat/ops/upload_log" in dagbag["dags"]["review_exceptions"]["waits_for"]
    assert "postgres://warehouse:5432/energystat/ops/upload_log" in dagbag["dags"]["ingest_monthly_uploads"]["emits"]


def test_dag_files_take_their_airflow_glue_from_one_module() -> None:
    """default_args, notifier and Assets come from energystat.orchestration.glue, not from plugins/ or copies."""
    for path in DAG_FILES:
        text = path.read_text(encoding="utf-8")
        assert "from energystat.orchestration.glue import" in text, f"{path.name} does not use the glue module"
        assert "energystat_alerts" not in text, path.name
    assert not list((ROOT / "plugins").glob("*.py")) or all(
        "AirflowPlugin" in p.read_text(encoding="utf-8") for p in (ROOT / "plugins").glob("*.py")
    ), "plugins/ holds something that is not an Airflow plugin"
