"""Smoke test of `make bench` at the quick size: the runner completes, writes its JSON and its Markdown section, and
the row counts its stages report agree with each other (timings are never asserted: they depend on the machine).

The slow stages (dbt build, build_marts, circular, Airflow nightly run, DAG parse) are left out here: each has its
own tests.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from energystat import config


def test_quick_bench_runs_and_reports(tmp_path: Path, server_dsn: str) -> None:
    results = tmp_path / "results"
    env = {**os.environ, config.WAREHOUSE_DSN_ENV: server_dsn}
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick", "--years", "2023", "--baseline-files", "12", "--ingest-runs", "2",
         "--skip", "parse", "dbt_build", "build_marts", "circular", "nightly", "dag_parse", "demo",
         "--workdir", str(tmp_path / "work"), "--db-prefix", f"es_smoke_{secrets.token_hex(3)}", "--results-dir", str(results)],
        cwd=config.PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    [path] = results.glob("*-quick.json")
    result = json.loads(path.read_text())
    figures = result["figures"]
    assert not [name for name, f in figures.items() if "error" in f], run.stderr[-3000:]

    ingest = figures["ingest_year"]
    generated = json.loads((tmp_path / "work" / "landing" / "truth.json").read_text())["generator"]
    assert generated["institutions"] == 300 and result["year"] == 2023
    # Every file of the year was accepted, and the rows agree across independent paths: the plain COPY reference
    # re-loads what ingest stored; the baseline read its 12 monthly files with openpyxl, not our parser.
    assert ingest["statuses"] == {"accepted": ingest["files"]} and ingest["files"] == figures["generate"]["files"]
    assert figures["copy_reference"]["rows"] == ingest["rows"] == figures["generate"]["rows"]
    assert figures["baseline"]["files"] == 12 and 0 < figures["baseline"]["rows"] < ingest["rows_by_kind"]["monthly"]
    # The same 12 files parsed and loaded by energystat in the baseline's stage (the stage checks that both
    # warehouses hold the same rows and column totals): the ratio the target is about.
    assert figures["baseline"]["energystat_parse_load"]["rows"] == figures["baseline"]["rows"]
    assert result["summary"]["baseline_over_energystat_parse_load_same_files"] > 0
    for stage in ("ingest_year", "copy_reference", "baseline"):
        assert figures[stage]["seconds"] > 0 and figures[stage]["peak_rss_mib"] > 0
    # Two ingest + COPY pairs, the second ingest from the prepared state again: it loads the whole year too.
    assert [r["statuses"] for r in ingest["runs"]] == [{"accepted": ingest["files"]}] * 2
    assert result["summary"]["ingest_over_plain_copy"] in [r["ratio"] for r in ingest["runs"]]
    assert set(ingest["steps_s"]) >= {"parse_wait_monthly", "validate_context", "validate_rules", "load_monthly"}
    assert result["summary"]["ingest_over_plain_copy"] > 0
    assert result["machine"]["cores"] == os.cpu_count() and result["versions"]["great-expectations"] != "-"

    table = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    # The current-figures table on top, then the run's section appended to the history.
    assert table.startswith("# Bench results\n\n<!-- current-figures:start -->")
    assert f"\n## {result['date']} — quick (300 institutions" in table.split("<!-- current-figures:end -->")[1]
    assert "| **ingest total**" in table and "ingest_over_plain_copy" in table


def test_the_demo_stage_reads_every_step_of_the_demo_output() -> None:
    from bench.stages import demo_steps

    output = ("\n==> Warehouse: start the embedded PostgreSQL\n    (0.9 s)\n\n==> Sample data: 600 institutions\n"
              "    plus a faulty re-upload, to show the quarantine: 450100/2023-12/x.xlsx\n    (2.5 s)\n"
              "==> DAG annual_circular for 2023\n    success: manual__1\n    (5.1 s)\nDone in 73 s.\n")
    assert demo_steps(output) == {"Warehouse: start the embedded PostgreSQL": 0.9,
                                  "Sample data: 600 institutions": 2.5, "DAG annual_circular for 2023": 5.1}
