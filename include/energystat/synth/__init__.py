"""The synthetic province: institution registry, monthly forms, quarterly task progress, truth and defects.

`generate(out_dir, institutions=600, years=[2022, 2023], seed=2023, fmt="xlsx", defects=False)` writes the landing
tree of docs/architecture.md:

    institutions.csv                                       the registry (columns of raw.institution_registry)
    <reporter>/<YYYY-MM>/<reporter>_<YYYY-MM>_能源资源消费月报.xlsx|.csv
    <reporter>/<YYYY-MM>/<reporter>_<YYYY>Q<n>_重点任务进展.xlsx|.csv   (folder of the quarter's last month)
    truth.json                                             what the clean data says (indicators, attainment, tasks)
    defects.json                                           with defects=True: every injected defect

Same seed and arguments → byte-identical files (xlsx, CSV, JSON), whether the workbooks are written in worker
processes (a large province) or not. Random streams are split per purpose, so asking for
defects does not change the clean data around them; truth.json always describes the data before defects.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import re
import shutil
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from energystat import creditcode, reference
from energystat.contract.forms import (
    MONTHLY_COLUMNS,
    MONTHLY_HEADERS,
    MONTHLY_SHEET,
    REGISTRY_COLUMNS,
    REGISTRY_FILE,
    TASK_HEADERS,
    TASK_SHEET,
    monthly_file_name,
    quarter_folder_period,
    task_file_name,
)
from energystat.contract.uploads import WHOLE_REGION
from energystat.synth import defects as defect_kinds
from energystat.synth.monthly import (
    INDICATORS,
    calibrate,
    draw_rows,
    indicators,
    reporter_year_sums,
    round_rows,
)
from energystat.synth.registry import build_registry
from energystat.synth.tasks import build_task_rows
from energystat.synth.xlsx import write_xlsx

log = logging.getLogger(__name__)

FORMATS = ("xlsx", "csv", "csv-gbk")
TRUTH_FILE = "truth.json"
DEFECTS_FILE = "defects.json"
_CSV_ENCODING = {"csv": "utf-8-sig", "csv-gbk": "gbk"}
#: From this many monthly rows on, xlsx workbooks are written by os.cpu_count() worker processes.
PARALLEL_MIN_ROWS = 100_000


def generate(out_dir: str | Path, institutions: int = 600, years: list[int] | tuple[int, ...] = (2022, 2023),
             seed: int = 2023, fmt: str = "xlsx", defects: bool = False, overwrite: bool = False) -> dict[str, Any]:
    """Write a synthetic province into `out_dir`; returns a summary (counts, paths, seconds)."""
    started = dt.datetime.now()
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    years = sorted({int(y) for y in years})
    if years != list(range(years[0], years[-1] + 1)):
        raise ValueError(f"years must be consecutive, got {years}")
    out = Path(out_dir)
    _prepare(out, overwrite)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6)]
    rng_registry, rng_rows, rng_trends, rng_tasks, rng_defects, rng_defect_rows = streams

    registry = build_registry(institutions, years, rng_registry)
    rows = draw_rows(registry, years, rng_rows)
    intended = calibrate(rows, years, rng_trends)
    round_rows(rows)
    tasks = build_task_rows(registry, years, rng_tasks)
    truth = build_truth(rows, registry, tasks, intended, years)
    truth["generator"] = {"institutions": institutions, "years": years, "seed": seed, "format": fmt,
                          "defects": defects}

    out.mkdir(parents=True, exist_ok=True)
    registry[REGISTRY_COLUMNS].to_csv(out / REGISTRY_FILE, index=False, encoding="utf-8", lineterminator="\n")
    rows = rows.sort_values(["reporter_code", "year", "month", "inst"], kind="stable").reset_index(drop=True)
    monthly_keys = _file_keys(rows)
    task_keys = sorted({(r, quarter_folder_period(y, q)) for r, y, q in
                        tasks[["reporter_code", "year", "quarter"]].itertuples(index=False)})
    monthly_plan, task_plan = ({}, {})
    if defects:
        monthly_plan, task_plan = defect_kinds.plan(monthly_keys, task_keys, years, fmt, rng_defects)
    manifest: list[dict[str, Any]] = []
    with _FormWriter(parallel=fmt == "xlsx" and len(rows) >= PARALLEL_MIN_ROWS) as writer:
        files = _write_monthly(out, rows, registry, fmt, monthly_plan, manifest, rng_defect_rows, writer)
        files += _write_tasks(out, tasks, fmt, task_plan, manifest, rng_defect_rows, writer)
    _stamp_submission_times(out, seed)
    _write_json(out / TRUTH_FILE, truth)
    if defects:
        manifest.sort(key=lambda d: (d["file"], d["row"] or 0))
        _write_json(out / DEFECTS_FILE, manifest)
    summary = {
        "out_dir": str(out), "institutions": int(len(registry)), "years": years, "monthly_rows": int(len(rows)),
        "task_rows": int(len(tasks)), "files": files, "defects": len(manifest), "format": fmt,
        "seconds": round((dt.datetime.now() - started).total_seconds(), 2),
    }
    log.info("synthetic province: %s", summary)
    return summary


def _prepare(out: Path, overwrite: bool) -> None:
    """Refuse to mix provinces: an existing tree is replaced only with overwrite=True (our files only)."""
    if not out.exists() or not any(out.iterdir()):
        return
    ours = [out / REGISTRY_FILE, out / TRUTH_FILE, out / DEFECTS_FILE]
    reporter_dirs = [p for p in out.iterdir() if p.is_dir() and p.name.isdigit() and len(p.name) == 6]
    if not overwrite:
        raise FileExistsError(f"{out} is not empty; pass overwrite=True (CLI: --force) to replace the province")
    for path in ours:
        path.unlink(missing_ok=True)
    for path in reporter_dirs:
        shutil.rmtree(path)


def _stamp_submission_times(out: Path, seed: int) -> None:
    """Give every upload the modification time of a plausible submission: most arrive 1–9 days before the
    deadline (ref_reporting_deadlines), about one in eight 1–12 days after it. Ingestion records the file's
    modification time as when it was received, so the timeliness mart and the circular have a story to tell."""
    rng = np.random.default_rng([seed, 20230610])  # its own stream: the data files stay byte-identical
    shanghai = dt.timezone(dt.timedelta(hours=8))
    for path in sorted(out.glob("[0-9]*/[0-9]*-[0-9]*/*")):
        quarter = re.search(r"_(\d{4})Q([1-4])_", path.name)
        period = f"{quarter[1]}-Q{quarter[2]}" if quarter else path.parent.name
        deadline = dt.datetime.combine(reference.reporting_deadline(period), dt.time(18), shanghai)
        late = rng.random() < 0.125
        days = rng.integers(1, 13) if late else -rng.integers(1, 10)
        moment = deadline + dt.timedelta(days=int(days), hours=-int(rng.integers(0, 9)))
        os.utime(path, (moment.timestamp(), moment.timestamp()))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _file_keys(rows: pd.DataFrame) -> list[tuple[str, str]]:
    keys = rows[["reporter_code", "year", "month"]].drop_duplicates()
    return [(r, f"{y}-{m:02d}") for r, y, m in keys.itertuples(index=False)]


# ------------------------------------------------------------------------------------------------ truth

def build_truth(rows: pd.DataFrame, registry: pd.DataFrame, tasks: pd.DataFrame,
                intended: dict[tuple[str, int], dict], years: list[int]) -> dict[str, Any]:
    """Indicators per reporter (and GX) and year as the rows say, with intended changes and attainment."""
    sums = reporter_year_sums(rows, ["reporter_code"])
    whole = sums.groupby(level="year").sum()
    whole.index = pd.MultiIndex.from_product([[WHOLE_REGION], whole.index], names=["reporter_code", "year"])
    sums = pd.concat([whole, sums])
    values = indicators(sums)
    out: dict[str, Any] = {}
    for (code, year), row in values.iterrows():
        year = int(year)
        targets = reference.intensity_targets(year, fallback_to_latest=True)
        entry: dict[str, Any] = {}
        for indicator in INDICATORS:
            item: dict[str, Any] = {"value": round(float(row[indicator]), 6)}
            if (code, year - 1) in values.index:
                change = float(row[indicator] / values.loc[(code, year - 1), indicator] - 1)
                target = targets.get(indicator)
                item.update({
                    "change": round(change, 6),
                    "direction": "down" if change < 0 else "up",
                    "target_change": target.target_change if target else None,
                    "target_year": target.year if target else None,
                    "attained": bool(change <= target.target_change) if target else None,
                })
                plan = intended.get((code, year))
                if plan:
                    item["intended_change"] = round(plan["change"][indicator], 6)
                    item["intended_attained"] = plan["attained"][indicator]
            entry[indicator] = item
        s = sums.loc[(code, year)]
        entry["totals"] = {
            "energy_kgce": round(float(s["kgce_e"] + s["kgce_f"]), 2), "co2_kg": round(float(s["co2_e"] + s["co2_f"]), 2),
            "water_t": round(float(s["water"]), 2), "persons": round(float(s["persons"]), 4),
            "area_m2": round(float(s["area"]), 4),
        }
        out.setdefault(code, {})[str(year)] = entry
    return {
        "definitions": (
            "Per reporter and year (GX = all reporters): numerator = sum over the year's institution-month rows "
            "(energy in kgce at 当量值, litres via ref_fuel_densities, CO2 with the year's default factors or the "
            "latest earlier year's); denominator = sum over institutions reporting that year of their mean "
            "monthly 用能人数 / 建筑面积. change = this year / last year - 1; attained = change <= target_change. "
            "Describes the clean data: files listed in defects.json differ."
        ),
        "indicators": out,
        "tasks": task_truth(tasks, registry, years),
    }


def task_truth(tasks: pd.DataFrame, registry: pd.DataFrame, years: list[int]) -> dict[str, Any]:
    kinds = reference.task_kinds()
    out: dict[str, Any] = {}
    for scope in [WHOLE_REGION, *reference.reporter_codes()]:
        part = tasks if scope == WHOLE_REGION else tasks[tasks["reporter_code"] == scope]
        for year in years:
            entry = {}
            for code, kind in kinds.items():
                in_year = float(part.loc[(part["year"] == year) & (part["task_code"] == code), "quantity"].sum())
                cumulative = float(part.loc[(part["year"] <= year) & (part["task_code"] == code), "quantity"].sum())
                entry[code] = {"total": in_year, "cumulative": cumulative if kind.is_cumulative else None}
            out.setdefault(scope, {})[str(year)] = entry
    for year in years:  # whole-region targets
        year_end = dt.date(year, 12, 31).isoformat()
        for target in reference.task_targets(year):
            item = out[WHOLE_REGION][str(year)][target["task_code"]]
            if target["target_type"] == "count":
                reached = item["cumulative"] if item["cumulative"] is not None else item["total"]
                item["target_value"] = target["target_value"]
                item["attained"] = bool(reached >= target["target_value"])
                continue
            level, kind = target["admin_level"], target["institution_kind"]
            active = registry[(registry["admin_level"] == level) & (registry["institution_kind"] == kind)
                              & (registry["active_from"] <= year_end)
                              & ((registry["active_to"] == "") | (registry["active_to"] >= year_end))]
            built = tasks[(tasks["task_code"] == target["task_code"]) & (tasks["year"] <= year)
                          & (tasks["admin_level"] == level) & (tasks["institution_kind"] == kind)]
            n_built = int(built["credit_code"].isin(active["credit_code"]).sum())
            share = n_built / len(active) if len(active) else None
            item.setdefault("shares", {})[f"{level}|{kind}"] = {
                "built": n_built, "registered_active": int(len(active)),
                "share": round(share, 6) if share is not None else None, "target_share": target["target_share"],
                "attained": bool(share >= target["target_share"]) if share is not None else None,
            }
    return out


# ------------------------------------------------------------------------------------------------ writers

class _FormWriter:
    """Writes the xlsx workbooks in place, or in worker processes (one workbook per task) for a large province.

    The main process keeps drawing frames and defects in order (the random streams stay as they were) while
    the workers turn frames into workbooks; at most a few frames per worker wait, so memory stays flat."""

    def __init__(self, parallel: bool) -> None:
        self._pool: ProcessPoolExecutor | None = None
        if parallel and (os.cpu_count() or 1) > 1:
            methods = multiprocessing.get_all_start_methods()  # fork: workers need not re-import pandas
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            self._pool = ProcessPoolExecutor(os.cpu_count(), mp_context=context)
        self._most_pending = 3 * (os.cpu_count() or 1)
        self._pending: list[Future] = []

    def xlsx(self, path: Path, frame: pd.DataFrame, sheet: str, created: dt.datetime) -> None:
        args = (path, list(frame.columns), [frame[c].to_numpy() for c in frame.columns], sheet, created)
        if self._pool is None:
            write_xlsx(*args)
            return
        self._pending.append(self._pool.submit(write_xlsx, *args))
        while len(self._pending) > self._most_pending:
            self._pending.pop(0).result()

    def __enter__(self) -> _FormWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is None:
            return
        try:
            for future in self._pending:
                if exc[0] is None:
                    future.result()  # a worker's error surfaces here
                else:
                    future.cancel()
        finally:
            self._pool.shutdown(wait=True)


def _write_frame(path: Path, frame: pd.DataFrame, sheet: str, fmt: str, encoding: str | None,
                 created: dt.datetime, writer: _FormWriter) -> Path:
    """Write one form: .xlsx (sheet `sheet`, synth.xlsx) or CSV; returns the path written."""
    if encoding or fmt != "xlsx":
        path = path.with_suffix(".csv")
        frame.to_csv(path, index=False, encoding=encoding or _CSV_ENCODING[fmt], lineterminator="\n")
        return path
    writer.xlsx(path, frame, sheet, created)
    return path


def _monthly_frame(part: pd.DataFrame, registry: pd.DataFrame, period: str) -> pd.DataFrame:
    inst = part["inst"].to_numpy()
    data: dict[str, Any] = {
        "统一社会信用代码": registry["credit_code"].to_numpy()[inst],
        "单位名称": registry["institution_name"].to_numpy()[inst],
        "单位类型": registry["institution_subkind"].to_numpy()[inst],
        "统计期": period,
    }
    for header, column in list(MONTHLY_COLUMNS.items())[4:]:
        data[header] = part[column].to_numpy()
    return pd.DataFrame(data, columns=MONTHLY_HEADERS)


def _write_monthly(out: Path, rows: pd.DataFrame, registry: pd.DataFrame, fmt: str,
                   plan: dict[tuple[str, str], str], manifest: list[dict], rng: np.random.Generator,
                   writer: _FormWriter) -> int:
    keys = rows["reporter_code"] + (rows["year"] * 100 + rows["month"]).astype(str)
    bounds = np.flatnonzero(np.r_[True, keys.to_numpy()[1:] != keys.to_numpy()[:-1], True])
    present = set(zip(rows["inst"], rows["year"], rows["month"], strict=True)) if plan else set()
    written = 0
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        part = rows.iloc[start:stop]
        reporter, year, month = part["reporter_code"].iat[0], int(part["year"].iat[0]), int(part["month"].iat[0])
        period = f"{year}-{month:02d}"
        folder = out / reporter / period
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / monthly_file_name(reporter, period)
        frame = _monthly_frame(part, registry, period)
        kind = plan.get((reporter, period))
        if kind is None:
            _write_frame(path, frame, MONTHLY_SHEET, fmt, None, dt.datetime(year, month, 1), writer)
            written += 1
            continue
        ctx = _monthly_context(kind, part, rows, registry, present, year, month)
        applied = defect_kinds.apply_monthly(kind, frame, ctx, rng)
        if applied.skip:
            final = path.with_suffix(".xlsx" if fmt == "xlsx" else ".csv")
        elif applied.corrupt:
            final = path.with_suffix(".xlsx")
            final.write_bytes(b"PK\x03\x04" + bytes(rng.integers(0, 256, 512, dtype=np.uint8)))
            written += 1
        else:
            final = _write_frame(path, applied.frame, MONTHLY_SHEET, fmt, applied.encoding, dt.datetime(year, month, 1),
                                 writer)
            written += 1
        rule, severity, _ = defect_kinds.MONTHLY_DEFECTS[kind]
        manifest.append({"file": final.relative_to(out).as_posix(), "row": applied.row, "kind": kind, "rule_id": rule,
                         "severity": severity, "column": applied.column, **applied.extra})
    return written


def _monthly_context(kind: str, part: pd.DataFrame, rows: pd.DataFrame, registry: pd.DataFrame,
                     present: set, year: int, month: int) -> dict[str, Any]:
    """What a defect needs beyond its own file."""
    ctx: dict[str, Any] = {}
    if kind == "period_mismatch":
        prev = pd.Period(f"{year}-{month:02d}", freq="M") - 1
        ctx["other_period"] = str(prev)
    elif kind == "unknown_institution":
        first17 = "12450000MA" + f"{(year * 100 + month) % 10_000_000:07d}"
        ctx["unregistered_code"] = first17 + creditcode.check_character(first17)
    elif kind == "wrong_reporter":
        reporter = part["reporter_code"].iat[0]
        other = rows[(rows["year"] == year) & (rows["month"] == month) & (rows["reporter_code"] != reporter)]
        ctx["foreign_row"] = _monthly_frame(other.iloc[[0]], registry, f"{year}-{month:02d}")
    elif kind in ("headcount_jump", "area_jump", "unit_slip_x10", "unit_slip_div10"):
        with_last_year = [i for i, inst in enumerate(part["inst"]) if (inst, year - 1, month) in present]
        ctx["rows_with_last_year"] = with_last_year or [0]
    return ctx


def _task_frame(part: pd.DataFrame, year: int, quarter: int) -> pd.DataFrame:
    kinds = reference.task_kinds()
    return pd.DataFrame({
        "统计期": f"{year}-Q{quarter}",
        "任务类别": part["task_code"].map({c: k.category_zh for c, k in kinds.items()}).to_numpy(),
        "项目名称": part["project_name"].to_numpy(),
        "实施单位统一社会信用代码": part["credit_code"].to_numpy(),
        "单位级别": part["admin_level"].to_numpy(),
        "单位类型": part["institution_kind"].to_numpy(),
        "数量": part["quantity"].to_numpy(),
        "计量单位": part["unit"].to_numpy(),
        "备注": part["note"].to_numpy(),
    }, columns=TASK_HEADERS)


def _write_tasks(out: Path, tasks: pd.DataFrame, fmt: str, plan: dict[tuple[str, str], str],
                 manifest: list[dict], rng: np.random.Generator, writer: _FormWriter) -> int:
    written = 0
    for (reporter, year, quarter), part in tasks.groupby(["reporter_code", "year", "quarter"], sort=True):
        year, quarter = int(year), int(quarter)
        period = quarter_folder_period(year, quarter)
        folder = out / reporter / period
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / task_file_name(reporter, year, quarter)
        frame = _task_frame(part, year, quarter)
        created = dt.datetime(year, 3 * quarter, 1)
        kind = plan.get((reporter, period))
        if kind is None:
            _write_frame(path, frame, TASK_SHEET, fmt, None, created, writer)
        else:
            other = f"{year}-Q{quarter - 1}" if quarter > 1 else f"{year - 1}-Q4"
            applied = defect_kinds.apply_task(kind, frame, {"other_quarter": other}, rng)
            final = _write_frame(path, applied.frame, TASK_SHEET, fmt, applied.encoding, created, writer)
            rule, severity = defect_kinds.TASK_DEFECTS[kind]
            manifest.append({"file": final.relative_to(out).as_posix(), "row": applied.row, "kind": kind,
                             "rule_id": rule, "severity": severity, "column": applied.column})
        written += 1
    return written
