"""Bench: the portal's upload-to-verdict time for one reporter's 6,000-row monthly form, in a warm process.

    python -m bench.portal_verdict                 # 6,000 rows, 5 warm runs
    python -m bench.portal_verdict --rows 6000 --runs 5 --no-summary

A fresh database gets a registry of `--rows` institutions of 450100 and their December of last year (loaded
through `ingest`, so the history rules compare with real rows). Then, in this one process, the real portal app
(FastAPI TestClient; the checker warmed at start-up as `energystat portal` does) is timed from the POST of the
.xlsx to the verdict page: sniff, store, parse, rulebook with the warehouse context, verdict JSON, the marked
workbook, the redirect and the page. The baseline is `energystat check FILE` in a fresh process (what a city
needs without the portal: Python, GX import included). Figures go to bench/results/ and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPORTER = "450100"
PERIOD = "2023-12"
SUBKINDS = ("机关", "高等学校", "中小学校", "医院", "场馆", "其他")


def _write_inputs(folder: Path, rows: int) -> tuple[Path, Path, Path]:
    """(registry CSV, last year's December .xlsx, this December .xlsx) of `rows` institutions of 450100."""
    import numpy as np
    import xlsxwriter

    from energystat import creditcode, reference
    from energystat.contract import forms

    rng = np.random.default_rng(2023)
    kinds = reference.institution_kinds()
    codes = []
    for n in range(rows):
        first17 = f"12{REPORTER}{n:09d}"
        codes.append(first17 + creditcode.check_character(first17))
    subkinds = [SUBKINDS[i % len(SUBKINDS)] for i in range(rows)]
    headcount = rng.integers(40, 400, rows)
    area = (headcount * rng.uniform(30, 60, rows)).round()
    registry = folder / forms.REGISTRY_FILE
    with registry.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(forms.REGISTRY_COLUMNS)
        for i in range(rows):
            writer.writerow([codes[i], f"测试单位{i}", REPORTER, kinds[subkinds[i]], subkinds[i], "市直",
                             int(headcount[i]), int(area[i]), "2020-01-01", ""])

    def month_file(path: Path, period: str, scale: float) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        sheet = book.add_worksheet(forms.MONTHLY_SHEET)
        sheet.write_row(0, 0, forms.MONTHLY_HEADERS)
        for i in range(rows):
            h, a = int(headcount[i]), int(area[i])
            electricity = round(a * 1.1 * scale * rng.uniform(0.9, 1.1))  # ≈ 0.14 kgce/m²·month
            sheet.write_row(i + 1, 0, [codes[i], f"测试单位{i}", subkinds[i], period, h, a, electricity,
                                       round(h * 3 * scale), round(h * 0.5), 0, 0, round(h * 1.5), 0, 0, 0])
        book.close()
        return path

    last = month_file(folder / "landing" / REPORTER / "2022-12" / forms.monthly_file_name(REPORTER, "2022-12"),
                      "2022-12", 1.0)
    this = month_file(folder / "upload" / forms.monthly_file_name(REPORTER, PERIOD), PERIOD, 0.99)
    return registry, last, this


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=5, help="warm uploads timed (the median is reported)")
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    parser.add_argument("--no-summary", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="energystat-bench-portal-"))
    os.environ.update(ENERGYSTAT_LANDING_DIR=str(folder / "landing"),
                      ENERGYSTAT_QUARANTINE_DIR=str(folder / "quarantine"),
                      ENERGYSTAT_PORTAL_WORK_DIR=str(folder / "portal"))
    from energystat import migrate, warehouse
    from energystat.ingest.run import ingest

    dsn = warehouse.with_database(warehouse.server_dsn(), f"es_bench_portal_{secrets.token_hex(3)}")
    warehouse.ensure_database(dsn)
    try:
        migrate.migrate(dsn)
        registry, last, this = _write_inputs(folder, args.rows)
        (folder / "landing" / registry.name).write_bytes(registry.read_bytes())
        summary = ingest(folder / "landing", dsn, alert_urls=[])
        assert summary.count("accepted") + summary.count("accepted_with_warnings") == 2, summary.describe()
        result = _measure(dsn, folder, this, args)
        result["check_cli_cold_s"] = _check_cli(this, dsn)
    finally:
        warehouse.drop_database(dsn)
    result["cli_over_portal_warm"] = round(result["check_cli_cold_s"] / result["warm_median_s"], 1)
    out = Path(args.results_dir) / f"{dt.date.today():%Y-%m-%d}-portal-verdict-{args.rows}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    if not args.no_summary:
        with (BENCH_DIR / "RESULTS.md").open("a", encoding="utf-8") as f:
            f.write(_markdown(result))
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return result


def _measure(dsn: str, folder: Path, upload: Path, args: argparse.Namespace) -> dict:
    from fastapi.testclient import TestClient

    from energystat import config
    from energystat.portal import accounts
    from energystat.portal.app import create_app

    accounts.add_user(dsn, "bench", "city", REPORTER, "bench-password-1")
    settings = dataclasses.replace(config.portal_settings(), dsn=dsn, work_dir=folder / "portal")
    started = time.perf_counter()
    app = create_app(settings, warm=True)
    with TestClient(app, follow_redirects=False) as client:
        app.state.warm_thread.join()
        warm_up_s = time.perf_counter() - started
        page = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
        client.post("/login", data={"username": "bench", "password": "bench-password-1", "csrf_token": token})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"/r/{REPORTER}").text)[1]
        data = upload.read_bytes()
        times, cpu, server, verdicts, phases = [], [], [], [], []
        for _ in range(args.runs):
            t, c = time.perf_counter(), time.process_time()
            response = client.post(f"/r/{REPORTER}/upload", data={"period": PERIOD, "csrf_token": csrf},
                                   files={"file": (upload.name, data)})
            verdict_page = client.get(response.headers["location"])
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            check_id = int(response.headers["location"].rsplit("/", 1)[1])
            phases.append(json.loads((settings.work_dir / str(check_id) / "verdict.json").read_text("utf-8"))["timings"])
            verdicts.append(re.search(r'class="verdict v-(\w+)"', verdict_page.text)[1])
            server.append(float(re.search(r"用时 ([\d.]+) 秒", verdict_page.text)[1]))
    return {
        "measured_at": dt.datetime.now().isoformat(timespec="seconds"), "rows": args.rows,
        "file_bytes": len(data), "machine": {"cpu": platform.processor() or platform.machine(),
                                             "cores": os.cpu_count(), "load_avg": list(os.getloadavg())},
        "warm_up_s": round(warm_up_s, 2), "upload_to_verdict_s": [round(x, 2) for x in times],
        "warm_median_s": round(statistics.median(times), 2),
        "check_in_server_median_s": round(statistics.median(server), 2), "verdicts": verdicts,
        "cpu_median_s": round(statistics.median(cpu), 2),
        "phases_median_s": {k: round(statistics.median(p[k] for p in phases), 2) for k in phases[0]},
        "goal_s": 3.0,
    }


def _check_cli(path: Path, dsn: str) -> float:
    env = {**os.environ, "ENERGYSTAT_WAREHOUSE_DSN": dsn}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "energystat.cli", "check", str(path), "--region", REPORTER,
                    "--period", PERIOD, "--json"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return round(time.perf_counter() - started, 2)


def _markdown(r: dict) -> str:
    return (f"\n## {r['measured_at'][:16].replace('T', ' ')} — portal upload-to-verdict ({r['rows']:,} rows)\n\n"
            f"Machine: {r['machine']['cpu']}, {r['machine']['cores']} cores, load average at start "
            f"{[round(x, 2) for x in r['machine']['load_avg']]}. `python -m bench.portal_verdict`.\n\n"
            f"| what | seconds |\n|---|---:|\n"
            f"| portal start-up warm-up (GX import + one check, background thread) | {r['warm_up_s']} |\n"
            f"| **upload → verdict page, warm** (median of {len(r['upload_to_verdict_s'])}: "
            f"{', '.join(map(str, r['upload_to_verdict_s']))}) | **{r['warm_median_s']}** |\n"
            f"| of which the check on the server (sniff, store, parse, context, rules, verdict) | "
            f"{r['check_in_server_median_s']} |\n"
            + "".join(f"| &nbsp;&nbsp;{k.removesuffix('_s')} | {v} |\n" for k, v in r["phases_median_s"].items())
            + f"| CPU seconds of the process per upload (load-independent; median) | {r['cpu_median_s']} |\n"
            f"| baseline: `energystat check FILE` in a fresh process (GX import included) | {r['check_cli_cold_s']} |\n\n"
            f"Ratios: goal ≤ {r['goal_s']} s warm; fresh-process check / warm portal = **{r['cli_over_portal_warm']}×**."
            f" Verdicts: {', '.join(sorted(set(r['verdicts'])))}.\n")


if __name__ == "__main__":
    main()
