"""`energystat demo`: the main job end to end on the embedded default, through Airflow.

set up (warehouse, migrations, Airflow metadata DB, dbt manifest) -> sample province in the landing folder ->
DAG `ingest_monthly_uploads` -> DAG `build_marts` (Cosmos) -> DAG `annual_circular` -> paths printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run everything end to end on a synthetic province (what `make demo` does)")
    p.add_argument("--institutions", type=int, default=600, help="size of the synthetic province")
    p.add_argument("--years", type=int, nargs="+", default=[2022, 2023])
    p.add_argument("--seed", type=int, default=42, help="generator seed (42: a province whose story reads well)")
    p.add_argument("--no-airflow", action="store_true",
                   help="run the same steps in-process instead of through Airflow's `dags test` (faster)")
    p.set_defaults(handler=_run)


def _step(title: str) -> float:
    print(f"\n==> {title}", flush=True)
    return time.perf_counter()


def _done(started: float) -> None:
    print(f"    ({time.perf_counter() - started:.1f} s)", flush=True)


def _energystat(*args: str, env: dict[str, str] | None = None) -> None:
    subprocess.run([sys.executable, "-m", "energystat.cli", *args], check=True, env=env)


def _airflow(*args: str, env: dict[str, str]) -> None:
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, *args], check=True, env=env, stdout=subprocess.DEVNULL if not os.environ.get(
        "ENERGYSTAT_DEMO_VERBOSE") else None)


def _run(args: argparse.Namespace) -> int:
    from energystat import airflow_env, config, migrate, warehouse

    total = time.perf_counter()
    t = _step("Warehouse: start the embedded PostgreSQL (or use ENERGYSTAT_WAREHOUSE_DSN) and migrate")
    dsn = warehouse.warehouse_dsn()
    migrate.migrate(dsn)
    env = {**os.environ, **airflow_env.apply()}
    _done(t)

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

    year = str(max(args.years))
    if args.no_airflow:
        t = _step("Nightly ingestion (in-process)")
        _energystat("ingest", env=env)
        _done(t)
        t = _step("Marts: dbt seed + build")
        _energystat("marts", "build", env=env)
        _done(t)
        t = _step(f"Annual circular {year}")
        _energystat("circular", "--year", year, "--out", str(config.circular_dir()), env=env)
        _done(t)
    else:
        t = _step("Airflow: metadata database and dbt manifest")
        _airflow("db", "migrate", env=env)
        _energystat("marts", "parse", env=env)
        _done(t)
        t = _step("DAG ingest_monthly_uploads (airflow dags test)")
        _airflow("dags", "test", "ingest_monthly_uploads", env=env)
        _done(t)
        t = _step("DAG build_marts (Cosmos: dbt seed, models and tests)")
        _airflow("dags", "test", "build_marts", env=env)
        _done(t)
        t = _step(f"DAG annual_circular for {year}")
        _airflow("dags", "test", "annual_circular", "-c", f'{{"year": {year}}}', env=env)
        _done(t)

    _summary(dsn, year)
    print(f"\nDone in {time.perf_counter() - total:.0f} s.")
    print(f"Warehouse DSN (psql / BI tools): {dsn}")
    print(f"Analysts (read-only, marts only): {warehouse.analyst_dsn(dsn)}")
    print("Airflow UI: `make airflow`, then http://localhost:8080")
    return 0


def _drop_faulty_reupload(landing: Path, year: int) -> Path:
    """A second version of 南宁市's December form with a negative electricity figure: the original stays live,
    the re-upload is rejected and quarantined with its report, and governance staff are alerted."""
    import openpyxl

    from energystat import forms

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
