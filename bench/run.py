"""`make bench`: province-scale throughput of energystat, the naive pandas baseline and plain COPY, side by side.

    python -m bench.run --institutions 10000          # or 80000; `--quick` = 300 institutions (smoke size)
    python -m bench.run --quick --skip nightly dag_parse --results-dir /tmp/x

Each stage runs in its own process (bench/stages.py) so its peak RSS is its own. Figures go to
`<results-dir>/<date>-<size>.json` and a Markdown section is appended to `<results-dir>/../RESULTS.md`
(bench/RESULTS.md by default). The bench uses its own databases on the warehouse server (`es_bench_<size>…`), so
the demo's data is untouched; the landing tree is kept in `.energystat/bench/<size>/` and reused when it was
generated with the same arguments. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from energystat import config, warehouse

BENCH_DIR = Path(__file__).resolve().parent
QUICK_INSTITUTIONS = 300
ALL_STAGES = ("generate", "prepare", "parse", "ingest_year", "copy_reference", "baseline", "dbt_build",
              "build_marts", "build_marts_dags_test", "circular", "nightly", "dag_parse", "demo", "batches")
OPTIONAL_STAGES = ("batches", "build_marts_dags_test")  # only with --batches, --dags-test


def run_stage(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """Run one stage in a fresh interpreter; its JSON figures (or the error, when it failed)."""
    print(f"[bench] {name} …", flush=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(BENCH_DIR.parent), str(config.PROJECT_ROOT / "include"),
                                                         os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "bench.stages", name, json.dumps(params)], cwd=BENCH_DIR.parent,
                         env=env, capture_output=True, text=True)
    for line in run.stdout.splitlines():
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line.removeprefix("BENCH-RESULT "))
            print(f"[bench] {name}: {json.dumps(result, ensure_ascii=False)[:400]}", flush=True)
            return result
    print(run.stdout[-2000:], run.stderr[-4000:], file=sys.stderr)
    return {"error": (run.stderr or run.stdout)[-800:]}


def versions() -> dict[str, str]:
    names = ("apache-airflow", "great-expectations", "dbt-core", "dbt-postgres", "pandas", "psycopg",
             "python-calamine", "openpyxl", "SQLAlchemy")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_mib": memory, "platform": platform.platform(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def summarise(figures: dict[str, Any]) -> dict[str, Any]:
    """The ratios and targets of issue 8 from the stage figures."""
    ingest = figures.get("ingest_year", {})
    steps = ingest.get("steps_s", {})
    # Readers parse ahead of the run (in their own processes): the parse that costs the run is its wait for them.
    parse_monthly = steps.get("parse_wait_monthly", steps.get("parse_monthly"))
    parse_load_monthly = (parse_monthly or 0) + (steps.get("load_monthly") or 0)
    baseline = figures.get("baseline", {})
    monthly_rows = ingest.get("rows_by_kind", {}).get("monthly")
    # The baseline may run on a subset of files: compare per row.
    es_rate = monthly_rows / parse_load_monthly if monthly_rows and parse_load_monthly else None
    baseline_rate = baseline.get("rows_per_s")
    copy = figures.get("copy_reference", {})
    dags = figures.get("dag_parse", {}).get("files", {})
    peaks = [s.get("peak_rss_mib") or 0 for s in figures.values() if isinstance(s, dict)]
    return {
        "ingest_s": ingest.get("seconds"),
        "ingest_rows": ingest.get("rows"),
        "ingest_rows_per_s": ingest.get("rows_per_s"),
        # The target's figure: the baseline's files parsed and loaded by energystat in the same stage, no rules.
        "baseline_over_energystat_parse_load_same_files": baseline.get("over_energystat_parse_load"),
        # The ingest run's view: its wait for the readers plus its loads, while the rules run alongside.
        "baseline_over_energystat_parse_load": _ratio(es_rate, baseline_rate),
        "baseline_over_energystat_ingest_with_rules": _ratio(ingest.get("rows_per_s"), baseline_rate),
        "ingest_over_plain_copy": _ratio(ingest.get("seconds"), copy.get("seconds")),
        "dbt_build_s": figures.get("dbt_build", {}).get("seconds"),
        "build_marts_s": figures.get("build_marts", {}).get("seconds"),
        "build_marts_over_dbt_build": figures.get("build_marts", {}).get("dag_run_over_dbt_build"),
        "build_marts_local_mode_s": (figures.get("build_marts", {}).get("local") or {}).get("seconds"),
        "build_marts_local_mode_over_dbt_build": (figures.get("build_marts", {}).get("local") or {}).get(
            "over_dbt_build"),
        "nightly_one_file_s": figures.get("nightly", {}).get("seconds"),
        "slowest_dag_parse_s": max((d["median_s"] for d in dags.values()), default=None),
        "make_demo_s": figures.get("demo", {}).get("seconds"),
        "peak_rss_mib": max(peaks, default=None),
    }


def markdown(result: dict[str, Any]) -> str:
    f, s = result["figures"], result["summary"]

    def cell(stage: str, key: str = "seconds") -> str:
        value = f.get(stage, {}).get(key)
        return "-" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)

    def scheduled(execution: str, key: str) -> str:
        value = (f.get("build_marts", {}).get(execution) or {}).get(key)
        return "-" if value is None else str(value)

    lines = [
        f"## {result['date']} — {result['size']} ({result['institutions']:,} institutions, years "
        f"{', '.join(map(str, result['years']))}; timed year {result['year']})",
        "",
        f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
        f"{result['machine']['memory_mib']} MiB, load average at start {result['machine']['load_average_at_start']}. "
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ".",
        "",
        "| stage | rows | wall s | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    parse = f.get("parse", {})
    rows = [
        (f"generate (xlsx, all years; {cell('generate', 'cpu_s')} CPU s)", cell("generate", "rows"),
         cell("generate", "wall_s"), "-", cell("generate", "peak_rss_mib")),
        ("parse xlsx", f"{parse.get('xlsx', {}).get('rows', '-'):,}" if parse.get("xlsx") else "-",
         str(parse.get("xlsx", {}).get("seconds", "-")), f"{parse.get('xlsx', {}).get('rows_per_s', '-'):,}" if parse.get("xlsx") else "-",
         cell("parse", "peak_rss_mib")),
        ("parse CSV (GBK, one month)", f"{parse.get('csv_gbk', {}).get('rows', '-'):,}" if parse.get("csv_gbk") else "-",
         str(parse.get("csv_gbk", {}).get("seconds", "-")), f"{parse.get('csv_gbk', {}).get('rows_per_s') or '-':,}" if parse.get("csv_gbk") else "-", "(same process)"),
    ]
    ingest = f.get("ingest_year", {})
    ours = f.get("baseline", {}).get("energystat_parse_load") or {}
    steps = ingest.get("steps_s", {})
    for label, key in (("ingest: parse (run waiting for its readers)", "parse"), ("ingest: validate (GX suites)", "validate"),
                       ("ingest: load (COPY)", "load")):
        seconds = sum(v for k, v in steps.items() if k == key or k.startswith(key + "_"))
        rows.append((label, f"{ingest.get('rows', 0):,}", f"{seconds:.2f}",
                     f"{round(ingest.get('rows', 0) / seconds):,}" if seconds else "-", "(ingest process)"))
    repeats = ingest.get("runs") or []
    repeated = ("; the run of median ratio of " + ", ".join(f"{r['ingest_s']} s / {r['copy_reference_s']} s COPY"
                                                            for r in repeats)) if repeats else ""
    rows += [
        (f"**ingest total** (parse+validate+load, {ingest.get('files', '-')} files; + GX import "
         f"{ingest.get('gx_import_s', '-')} s once{repeated})", cell("ingest_year", "rows"), cell("ingest_year"),
         cell("ingest_year", "rows_per_s"), cell("ingest_year", "peak_rss_mib")),
        ("plain COPY FROM STDIN of the same rows as CSV", cell("copy_reference", "rows"), cell("copy_reference"),
         cell("copy_reference", "rows_per_s"), cell("copy_reference", "peak_rss_mib")),
        (f"baseline read_excel(openpyxl)+to_sql ({cell('baseline', 'files')} monthly files)", cell("baseline", "rows"),
         cell("baseline"), cell("baseline", "rows_per_s"), cell("baseline", "peak_rss_mib")),
        ("energystat parse+load of the baseline's files (reader processes + COPY, no rules; same stage)",
         f"{ours.get('rows', '-'):,}" if ours else "-", str(ours.get("seconds", "-")),
         f"{ours.get('rows_per_s', '-'):,}" if ours else "-", "(same process)"),
        ("dbt build (all years)", cell("dbt_build", "rows"), cell("dbt_build"), cell("dbt_build", "rows_per_s"),
         cell("dbt_build", "peak_rss_mib")),
        (f"build_marts through the scheduler (LocalExecutor), watcher mode (DAG run; trigger to end "
         f"{scheduled('watcher', 'trigger_to_end_s')} s; plain `dbt build` CLI before/after "
         f"{cell('build_marts', 'dbt_build_cli_s')} s)", "-", cell("build_marts"), "-",
         cell("build_marts", "peak_rss_mib")),
        (f"build_marts through the scheduler (LocalExecutor), local mode (DAG run; trigger to end "
         f"{scheduled('local', 'trigger_to_end_s')} s; {scheduled('local', 'over_dbt_build')}× dbt build)", "-",
         scheduled("local", "seconds"), "-", "(same process)"),
        (f"build_marts, `airflow dags test` (DAG run; command {cell('build_marts_dags_test', 'command_s')} s; "
         f"plain `dbt build` CLI before/after {cell('build_marts_dags_test', 'dbt_build_cli_s')} s)", "-",
         cell("build_marts_dags_test"), "-", cell("build_marts_dags_test", "peak_rss_mib")),
        ("circular (docx, html, json)", "-", cell("circular"), "-", cell("circular", "peak_rss_mib")),
        (f"nightly run, one new file, `airflow dags test` ({cell('nightly', 'new_file_status')})",
         cell("nightly", "file_rows"), cell("nightly"), "-", cell("nightly", "peak_rss_mib")),
        (f"`make demo` ({cell('demo', 'institutions')} institutions, fresh state folder; median of runs "
         + ", ".join(f"{r['seconds']} s at CPU probe {r['cpu_probe_s']} s" for r in f.get("demo", {}).get("runs", []))
         + ")", "-", cell("demo"), "-", cell("demo", "peak_rss_mib")),
    ]
    lines += [f"| {' | '.join(map(str, r))} |" for r in rows]
    lines += ["", "Ratios and targets (issue 8):", ""]
    target = {"ingest_s": "≤ 60 s at 80,000", "baseline_over_energystat_parse_load_same_files": "≥ 10",
              "ingest_over_plain_copy": "≤ 3", "dbt_build_s": "≤ 60 s at 80,000", "nightly_one_file_s": "≤ 60 s",
              "build_marts_over_dbt_build": "≤ 1.3", "make_demo_s": "≤ 90 s",
              "slowest_dag_parse_s": "≤ 0.5 s", "peak_rss_mib": "≤ 2048"}
    lines += [f"- {k}: **{v}**" + (f" (target {target[k]})" if k in target else "") for k, v in s.items()]
    dags = f.get("dag_parse", {}).get("files", {})
    if dags:
        lines += ["", "DAG file parse (DagBag of one file, fresh process, median): " + ", ".join(
            f"{name} {d['median_s']} s" for name, d in dags.items()) + "."]
    if f.get("batches"):
        lines += ["", "ENERGYSTAT_INGEST_BATCHES (parallel processes on the timed year): " + ", ".join(
            f"{n}: {d['seconds']} s" for n, d in f["batches"].items() if isinstance(d, dict)) + "."]
    errors = {k: v["error"][-200:] for k, v in f.items() if isinstance(v, dict) and "error" in v}
    if errors:
        lines += ["", "Stages that failed: " + "; ".join(f"{k}: `{v.splitlines()[-1] if v else ''}`"
                                                         for k, v in errors.items())]
    return "\n".join(lines) + "\n\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--institutions", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_INSTITUTIONS} institutions, smoke size")
    parser.add_argument("--years", type=int, nargs="+", default=[2022, 2023],
                        help="generated years; the last one is timed through ingestion, earlier ones preloaded")
    parser.add_argument("--skip", nargs="*", default=[], choices=ALL_STAGES, help="stages to leave out")
    parser.add_argument("--batches", type=int, nargs="*", default=[],
                        help="also time ENERGYSTAT_INGEST_BATCHES of these sizes (e.g. 1 2 4)")
    parser.add_argument("--dags-test", action="store_true",
                        help="also time `airflow dags test build_marts` (slow: one task after another)")
    parser.add_argument("--baseline-files", type=int, default=0, help="baseline on the first N monthly files only")
    parser.add_argument("--marts-executions", nargs="+", choices=config.DBT_EXECUTIONS, default=list(config.DBT_EXECUTIONS),
                        help="build_marts stage: the Cosmos executions to time (local mode is slow at 80,000)")
    parser.add_argument("--dag-parse-runs", type=int, default=5)
    parser.add_argument("--demo-runs", type=int, default=2, help="demo stage: fresh `make demo` runs (median)")
    parser.add_argument("--ingest-runs", type=int, default=1,
                        help="ingest_year + copy_reference this many times, each ingest on a fresh copy of the "
                             "prepared database; the run of median ingest / COPY ratio is reported, all are listed")
    parser.add_argument("--workdir", help="landing tree and scratch (default .energystat/bench/<size>)")
    parser.add_argument("--tag", default="", help="appended to the size in the result's file name and heading")
    parser.add_argument("--db-prefix", default="es_bench", help="bench databases are <prefix>_<size>…")
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    parser.add_argument("--no-summary", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)

    institutions = QUICK_INSTITUTIONS if args.quick else args.institutions
    size = "quick" if args.quick else f"{institutions}"
    years = sorted(args.years)
    workdir = Path(args.workdir or config.state_dir() / "bench" / size).resolve()
    landing = workdir / "landing"
    server = warehouse.server_dsn()  # starts the embedded server when needed
    database = f"{args.db_prefix}_{size}"
    params: dict[str, Any] = {
        "institutions": institutions, "years": years, "year": years[-1], "landing": str(landing),
        "workdir": str(workdir), "dsn": warehouse.with_database(server, database),
        "copy_dsn": warehouse.with_database(server, database + "_copy"),
        "baseline_dsn": warehouse.with_database(server, database + "_baseline"),
        # one per size: its Airflow home (secrets, Fernet key) is per size too, and a trigger row another key
        # encrypted (a run aborted in another size's bench) kills the triggerer that cannot decrypt it
        "airflow_dsn": warehouse.with_database(server, f"{database}_airflow"),
        "baseline_files": args.baseline_files, "marts_executions": args.marts_executions, "runs": args.dag_parse_runs, "counts": args.batches,
        "demo_runs": args.demo_runs,
        "template_db": database + "_prepared",
        **{f"batch_dsn_{n}": warehouse.with_database(server, f"{database}_batches{n}") for n in args.batches},
    }
    skip = (set(args.skip) | ({"batches"} if not args.batches else set())
            | ({"build_marts_dags_test"} if not args.dags_test else set()))
    figures: dict[str, Any] = {}
    truth = landing / "truth.json"
    generated = json.loads(truth.read_text())["generator"] if truth.exists() else {}
    if generated.get("institutions") == institutions and generated.get("years") == years and "generate" not in args.skip:
        print(f"[bench] reusing the province in {landing} (delete it to time generation again)")
        skip.add("generate")
        saved = workdir / "generate.json"  # the figures of the run that generated it
        figures["generate"] = {**(json.loads(saved.read_text()) if saved.exists() else {}), "reused": True}
    for name in ALL_STAGES:
        if name in skip:
            continue
        figures[name] = run_stage(name, params)
        if name == "generate" and "error" not in figures[name]:
            (workdir / "generate.json").write_text(json.dumps(figures[name]) + "\n")
        if name == "prepare" and (args.batches or args.ingest_runs > 1):  # later runs start from this state
            warehouse.copy_database(params["dsn"], warehouse.with_database(server, params["template_db"]))
        if name == "copy_reference" and args.ingest_runs > 1 and "ingest_year" not in skip:
            _repeat_ingest(params, figures, args.ingest_runs)
    for db in ("copy_dsn", "baseline_dsn"):
        warehouse.drop_database(params[db])  # big and only needed while timing
    if args.batches or args.ingest_runs > 1:
        warehouse.drop_database(warehouse.with_database(server, params["template_db"]))

    now = dt.datetime.now()
    result = {"date": now.strftime("%Y-%m-%d %H:%M"), "size": size + (f"-{args.tag}" if args.tag else ""), "institutions": institutions, "years": years,
              "year": years[-1], "machine": machine(), "versions": versions(), "figures": figures}
    result["summary"] = summarise(figures)
    out_dir = Path(args.results_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{now:%Y-%m-%d}-{result['size']}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"[bench] figures in {path}")
    if not args.no_summary:
        summary_file = out_dir.parent / "RESULTS.md"
        update_results_md(summary_file, out_dir, markdown(result))
        print(f"[bench] table appended to {summary_file}, current figures refreshed")
    return result


CURRENT_START, CURRENT_END = "<!-- current-figures:start -->", "<!-- current-figures:end -->"
#: Figures of the "current figures" table: (label, summary key or stage.key, target).
CURRENT_FIGURES = (
    ("generate xlsx province, s", "generate.wall_s", "≤ 120 at 80,000"),
    ("generate xlsx province, CPU s (all processes)", "generate.cpu_s", ""),
    ("ingest (parse + validate + load), s", "ingest_s", "≤ 60 at 80,000"),
    ("ingest / plain COPY", "ingest_over_plain_copy", "≤ 3"),
    ("baseline / energystat parse+load, the same files in one stage", "baseline_over_energystat_parse_load_same_files",
     "≥ 10"),
    ("baseline / ingest run's parse wait + load (rules alongside)", "baseline_over_energystat_parse_load", ""),
    ("dbt build, s", "dbt_build_s", "≤ 60 at 80,000"),
    ("build_marts DAG run, s", "build_marts_s", ""),
    ("build_marts / dbt build", "build_marts_over_dbt_build", "≤ 1.3"),
    ("nightly run, one new file, s", "nightly_one_file_s", "≤ 60"),
    ("slowest DAG file parse, s", "slowest_dag_parse_s", "≤ 0.5"),
    ("`make demo` (600 institutions), s", "make_demo_s", "≤ 90"),
    ("peak RSS of a stage, MiB", "peak_rss_mib", "≤ 2048"),
)


def _figure(result: dict[str, Any], key: str) -> Any:
    if "." not in key:
        return result.get("summary", {}).get(key)
    stage, name = key.split(".", 1)
    figures = result.get("figures", {}).get(stage, {})
    if "error" in figures or figures.get(name) is None:
        return None
    return f"{figures[name]} (reused)" if figures.get("reused") else figures[name]


def current_figures(results_dir: Path) -> str:
    """The newest value of every figure per size (each from the newest run that measured it), as Markdown."""
    runs = sorted((run for run in (json.loads(p.read_text(encoding="utf-8")) for p in results_dir.glob("*.json"))
                   if "institutions" in run),  # not the other benches' figures (portal_verdict)
                  key=lambda r: r.get("date", ""))
    sizes = sorted({r["institutions"] for r in runs})
    lines = [CURRENT_START, "## Current figures", "",
             "Newest value of each figure per size (the run it comes from in brackets; history below, oldest "
             "first). Timings come from a shared 2-core machine: compare ratios measured in one run.", "",
             "| figure | target | " + " | ".join(f"{n:,} institutions" for n in sizes) + " |",
             "|---|---|" + "---:|" * len(sizes)]
    for label, key, target in CURRENT_FIGURES:
        cells = []
        for size in sizes:
            found = [(r["date"], r["size"], _figure(r, key)) for r in runs if r["institutions"] == size]
            found = [f for f in found if f[2] is not None]
            cells.append(f"{found[-1][2]} ({found[-1][0]}, {found[-1][1]})" if found else "-")
        lines.append(f"| {label} | {target} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, CURRENT_END]) + "\n\n"


def update_results_md(summary_file: Path, results_dir: Path, section: str) -> None:
    """Append the run's section to the history and put the current-figures table on top."""
    text = summary_file.read_text(encoding="utf-8") if summary_file.exists() else ""
    if CURRENT_START in text and CURRENT_END in text:
        head, rest = text.split(CURRENT_START, 1)
        text = head + rest.split(CURRENT_END, 1)[1].lstrip("\n")
    title = "# Bench results\n\n"
    history = text.removeprefix(title)
    summary_file.write_text(title + current_figures(results_dir) + history + section, encoding="utf-8")


def _repeat_ingest(params: dict[str, Any], figures: dict[str, Any], runs: int) -> None:
    """More ingest + COPY reference pairs, each ingest from the prepared state (the template database): one pair's
    ratio moves by ±0.3 on the shared 2-core machine. The pair of median ratio becomes the stage figures (all of
    one run, so its steps add up); every pair is listed under `ingest_year.runs`."""
    pairs = [(figures["ingest_year"], figures["copy_reference"])]
    for _ in range(runs - 1):
        warehouse.copy_database(warehouse.with_database(params["dsn"], params["template_db"]), params["dsn"])
        pairs.append((run_stage("ingest_year", params), run_stage("copy_reference", params)))
    timed = [(i, c) for i, c in pairs if "error" not in i and "error" not in c]
    if not timed:
        return
    timed.sort(key=lambda pair: pair[0]["seconds"] / pair[1]["seconds"])
    ingest, copy = timed[(len(timed) - 1) // 2]  # an even count: the lower middle
    figures["ingest_year"] = {**ingest, "runs": [
        {"ingest_s": i.get("seconds"), "copy_reference_s": c.get("seconds"),
         "ratio": _ratio(i.get("seconds"), c.get("seconds")), "run_cpu_s": i.get("run_cpu_s"),
         "statuses": i.get("statuses")} for i, c in pairs]}
    figures["copy_reference"] = copy


if __name__ == "__main__":
    main()
