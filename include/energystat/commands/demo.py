"""`energystat demo`: the main job end to end on the embedded default, through Airflow.

set up (warehouse, migrations) -> sample province in the landing folder, while the local Airflow stack
starts in the background (api-server, scheduler, triggerer; the dag-processor once dbt's manifest is written)
-> through the REST API: run
`ingest_monthly_uploads`, which triggers `build_marts` by its Asset, then `annual_circular` -> run links and
paths printed -> the components told to stop, which they do while the monthly bulletin is written (on failure:
stopped at once), so `make airflow` afterwards shows the runs and logs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energystat.orchestration.rest import AirflowClient
    from energystat.orchestration.stack import Stack


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run everything end to end on a synthetic province (what `make demo` does)")
    p.add_argument("--institutions", type=int, default=600, help="size of the synthetic province")
    p.add_argument("--years", type=int, nargs="+", default=[2022, 2023])
    p.add_argument("--seed", type=int, default=42, help="generator seed (42: a province whose story reads well)")
    p.add_argument("--no-airflow", action="store_true",
                   help="run the same steps in-process instead of through Airflow's scheduler (faster)")
    p.set_defaults(handler=_run)


def _step(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f"    ({time.perf_counter() - started:.1f} s)", flush=True)


def _energystat(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, "-m", "energystat.cli", *args], check=True, env=env)


def _energystat_in_background(*args: str, env: dict[str, str] | None = None) -> str:
    """`_energystat` with its output kept (printed when awaited, not amid the step running meanwhile)."""
    done = subprocess.run([sys.executable, "-m", "energystat.cli", *args], env=env, capture_output=True, text=True)
    if done.returncode:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        raise subprocess.CalledProcessError(done.returncode, done.args)
    return done.stdout


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _quiet_env() -> dict[str, str]:
    return {} if os.environ.get("ENERGYSTAT_DEMO_VERBOSE") else {"AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}


def _run_dags_through_the_scheduler(running: Stack, year: int) -> list[tuple[str, str]]:
    """Each DAG once, in order, as a scheduler runs them; every DAG is paused again afterwards."""
    from energystat.orchestration import stack

    client = running.client()
    links: list[tuple[str, str]] = []
    try:
        t = _step("DAG ingest_monthly_uploads, then build_marts triggered by its raw-table Asset (Cosmos: dbt)")
        ingest, marts = client.run_ingestion_and_marts(timeout=1800, note="make demo")
        links.append(("ingest_monthly_uploads", _check(client, "ingest_monthly_uploads", ingest)["dag_run_id"]))
        links.append(("build_marts", _check(client, "build_marts", marts)["dag_run_id"]))
        # Nothing after build_marts defers: the triggerer stops while the circular is written (its stop can wait
        # 10 s for its trigger runner, which Airflow gives that long to exit).
        running.stop_early("triggerer")
        _done(t)
        t = _step(f"DAG annual_circular for {year}")
        circular = client.run_once("annual_circular", {"year": year}, note="make demo")
        circular = client.wait_for_run("annual_circular", circular["dag_run_id"], timeout=1800)
        links.append(("annual_circular", _check(client, "annual_circular", circular)["dag_run_id"]))
        _done(t)
    finally:
        for dag_id in stack.DAG_IDS:
            client.set_paused(dag_id, True)
    return links


def _check(client: AirflowClient, dag_id: str, run: dict) -> dict:
    """The finished run, or exit naming its failed tasks and where to read their logs."""
    if not run:
        raise SystemExit(f"{dag_id} did not run (the ingestion before it failed)")
    if run["state"] != "success":
        failed = [ti["task_id"] for ti in client.task_instances(dag_id, run["dag_run_id"])
                  if ti["state"] not in ("success", "skipped")]
        raise SystemExit(f"{dag_id} run {run['dag_run_id']} {run['state']}: {failed}\n"
                         f"    see {client.run_url(dag_id, run['dag_run_id'])} (the stack stops now; "
                         "`make airflow` shows the run and its logs)")
    print(f"    {run['state']}: {run['dag_run_id']}")
    return run


def _run(args: argparse.Namespace) -> int:
    from energystat import config, migrate, warehouse
    from energystat.orchestration import environment

    total = time.perf_counter()
    t = _step("Warehouse: start the embedded PostgreSQL (or use ENERGYSTAT_WAREHOUSE_DSN) and migrate")
    dsn = warehouse.warehouse_dsn()
    migrate.migrate(dsn)
    env = {**os.environ, **environment.apply()}
    _done(t)
    year = str(max(args.years))
    if args.no_airflow:
        _make_sample_data(args, env)
        t = _step("Nightly ingestion (in-process)")
        _energystat("ingest", env=env)
        _done(t)
        t = _step("Marts: dbt seed + build")
        _energystat("marts", "build", env=env)
        _done(t)
        t = _step(f"Annual circular {year}")
        _energystat("circular", "--year", year, "--out", str(config.circular_dir()), env=env)
        _done(t)
    stopping = None if args.no_airflow else _through_airflow(args, env, year)
    try:
        t = _step(f"Monthly progress bulletin {year}-07 (月度进度简报)")  # listed below beside the circular
        _energystat("bulletin", "--year", year, "--month", "7", "--out", str(config.circular_dir()), env=env)
        _done(t)
    finally:
        if stopping is not None:
            t = _step("Airflow: the components the demo started stop (told to after the last run)")
            stopping.stop()
            _done(t)
    return _summary_and_logins(dsn, year, total)


def _make_sample_data(args: argparse.Namespace, env: dict[str, str]) -> None:
    from energystat import config

    landing = config.landing_dir()
    t = _step(f"Sample data: a synthetic province of {args.institutions} institutions in {landing}")
    if (landing / "institutions.csv").exists():
        print("    landing folder already holds a province: kept (delete .energystat/ to start afresh)")
    else:
        _energystat("generate", "--out", str(landing), "--institutions", str(args.institutions),
                    "--years", *map(str, args.years), "--seed", str(args.seed), env=env)
        faulty = _drop_faulty_reupload(landing, max(args.years))
        print(f"    plus a faulty re-upload, to show the quarantine: {faulty.relative_to(landing)}")
    _done(t)


def _start_airflow_without_dag_processor(env: dict[str, str]) -> Stack:
    """Airflow's metadata database migrated, then its components started (not waited for), all but the DAG
    processor: the DAG files need dbt's manifest first."""
    from energystat.orchestration import environment, stack

    stack.migrate_metadata_db(env)
    return stack.start(stack.LOCAL, migrate=False, dag_processor=False, **_quiet_env(),
                       **environment.local_stack_environ(os.environ, environment.DEMO_STACK_SETTINGS))


def _through_airflow(args: argparse.Namespace, env: dict[str, str], year: str) -> Stack:
    """The sample data and the DAG runs through Airflow; returns the stack, its components told to stop (they stop
    while the bulletin is written: `Stack.stop` waits for them). On failure they are stopped before it raises."""
    # While the sample data is made: Airflow's metadata database migrates, the components start (each mostly an
    # Airflow import) and dbt writes the manifest the build_marts DAG is rendered from. One step at a time in the
    # background: the generator keeps a core.
    signal.signal(signal.SIGTERM, _interrupt)  # a closed terminal, CI's timeout: stop the components as Ctrl-C
    background = ThreadPoolExecutor(max_workers=1)
    starting = background.submit(_start_airflow_without_dag_processor, env)
    manifest = background.submit(_energystat_in_background, "marts", "parse", env=env)
    background.shutdown(wait=False)  # the work goes on; its results are awaited in the Airflow step
    try:
        _make_sample_data(args, env)
        t = _step("Airflow: metadata database, components, dbt manifest, then the DAG processor")
        running = starting.result()
        print(manifest.result().strip().splitlines()[-1])  # "manifest written: <path>"
        running.start_dag_processor()
        running.wait_ready()
        _done(t)
        links = _run_dags_through_the_scheduler(running, int(year))
    except BaseException:
        manifest.cancel()
        if not starting.cancel():  # it started the components, or is starting them: stop them
            started = None
            with contextlib.suppress(Exception):  # its failure is the error already raised above
                started = starting.result()
            if started is not None:
                t = _step("Airflow: stop the components the demo started")
                started.stop()
                _done(t)
        raise
    for name in running.processes:
        running.stop_early(name)
    print("\nRuns (open them after `make airflow`, http://localhost:8080):")
    for dag_id, run_id in links:
        print(f"    {dag_id}: http://localhost:8080/dags/{dag_id}/runs/{run_id}")
    return running


def _summary_and_logins(dsn: str, year: str, total: float) -> int:
    from energystat import roles, warehouse

    _summary(dsn, year)
    print(f"\nDone in {time.perf_counter() - total:.0f} s.")
    print(f"Warehouse DSN (psql / BI tools): {roles.masked(dsn)}")
    print(f"Analysts (read-only, marts only): {roles.masked(warehouse.analyst_dsn(dsn))}")
    print("Airflow UI: `make airflow`, then http://localhost:8080")
    print("Upload portal (报送门户): `.venv/bin/energystat portal`, then http://localhost:8090 — demo logins: "
          + ", ".join(_portal_login(dsn, *account) for account in (("450100", "city", "450100"),
                                                                   ("governance", "governance", None))))
    return 0


def _portal_login(dsn: str, username: str, role: str, reporter: str | None) -> str:
    """A demo portal account with a fresh password (printed once, here): `user / password`."""
    from energystat.portal import accounts

    password = accounts.generate_password()
    accounts.add_user(dsn, username, role, reporter, password, "演示账户")
    return f"{username} / {password}"


def _drop_faulty_reupload(landing: Path, year: int) -> Path:
    """A second version of 南宁市's December form with a negative electricity figure: the original stays live,
    the re-upload is rejected and quarantined with its report, and governance staff are alerted."""
    import openpyxl

    from energystat.contract import forms

    original = next((landing / "450100" / f"{year}-12").glob("*能源资源消费月报*"))
    faulty = original.with_name(original.stem + "_更正" + original.suffix)
    if original.suffix == ".csv":
        lines = original.read_text(encoding="utf-8-sig").splitlines()
        header = lines[0].split(",")
        cells = lines[2].split(",")
        cells[header.index("电力(千瓦时)")] = "-1200"
        lines[2] = ",".join(cells)
        faulty.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return faulty
    book = openpyxl.load_workbook(original)
    sheet = book[forms.MONTHLY_SHEET]
    header = [cell.value for cell in sheet[1]]
    sheet.cell(row=3, column=header.index("电力(千瓦时)") + 1, value=-1200)
    book.save(faulty)
    return faulty


def _summary(dsn: str, year: str) -> None:
    import psycopg

    from energystat import config

    with psycopg.connect(dsn) as conn:
        statuses = conn.execute(
            "select status, count(*) from ops.upload_log group by status order by status"
        ).fetchall()
        rejected = conn.execute(
            "select path, reason, report_path from ops.upload_log where status = 'rejected' order by upload_id"
        ).fetchall()
        rows = conn.execute("select count(*) from raw.monthly_statistics").fetchone()[0]
    print("\nUploads: " + ", ".join(f"{s} {n}" for s, n in statuses) + f"; {rows} monthly rows in raw")
    for path, reason, report in rejected:
        print(f"Rejected: {path} ({reason})\n    report for the city statistician: {report}")
    circular = sorted(config.circular_dir().glob(f"*{year}*")) if config.circular_dir().exists() else []
    print("Circular:")
    for path in circular:
        print(f"    {path}")
    _say_when_charts_lack_chinese()


def _say_when_charts_lack_chinese() -> None:
    """A fresh machine has no CJK font: say so plainly rather than leave English charts unexplained."""
    from energystat.circular.charts import find_cjk_font

    if find_cjk_font() is None:
        print("\nNote: no Chinese (CJK) font is installed, so the circular's charts label cities by code and in "
              "English.\n      Install one and run `make demo` again: sudo apt-get install fonts-noto-cjk "
              "(Debian/Ubuntu), or any Noto Sans CJK SC font.\n"
              "注意：本机未安装中文字体，通报图表中的单位以代码、英文标注；安装 fonts-noto-cjk 后重新运行 make demo。")
