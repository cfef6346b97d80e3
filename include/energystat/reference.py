"""Reference data (reporters, coefficients, factors, targets, deadlines…) read from the dbt seeds.

The seeds in `dbt_project/seeds/*.csv` are the only home of reference values: dbt loads them into the
`reference` schema for SQL, and Python reads the same files here (cached, standard library only). A new year's
target or factor is a new seed row, never code. Rows carry `valid_from`/`valid_to` (empty = still valid) or a
`year`; the functions below pick the row that applies.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from energystat import config
from energystat.contract.forms import ENERGY_COLUMNS
from energystat.contract.uploads import MONTHLY, TASK_PROGRESS, WHOLE_REGION

__all__ = ["ENERGY_COLUMNS", "WHOLE_REGION"]  # re-exported: the contract's, for callers reading reference data

DEFAULT_METHOD = "当量值"


def seeds_dir() -> Path:
    return config.DBT_PROJECT_DIR / "seeds"


@cache
def load(seed: str) -> tuple[dict[str, str], ...]:
    """All rows of seed `seed` (e.g. "ref_reporters") as dicts of strings. Shared and cached: do not mutate."""
    path = seeds_dir() / f"{seed}.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return tuple(csv.DictReader(f))


def clear_cache() -> None:
    """Forget loaded seeds (after editing a CSV in a long-running process, or in tests)."""
    load.cache_clear()


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _valid_in_year(row: dict[str, str], year: int | None) -> bool:
    """Row applies to some day of `year`; with year None, the row is still valid (empty valid_to)."""
    valid_from, valid_to = _date(row["valid_from"]), _date(row.get("valid_to", ""))
    if year is None:
        return valid_to is None
    return valid_from <= dt.date(year, 12, 31) and (valid_to is None or valid_to >= dt.date(year, 1, 1))


def _latest_valid(rows: list[dict[str, str]], key: str, year: int | None) -> dict[str, dict[str, str]]:
    """For each value of `key`, the valid row with the latest valid_from."""
    chosen: dict[str, dict[str, str]] = {}
    for row in sorted((r for r in rows if _valid_in_year(r, year)), key=lambda r: r["valid_from"]):
        chosen[row[key]] = row
    return chosen


def _true(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "t", "yes")


# ---------------------------------------------------------------- reporters, kinds, levels

@dataclass(frozen=True)
class Reporter:
    code: str
    name: str
    short_name: str
    type: str  # city | region_units | whole_region
    sort_order: int


def reporters(include_whole_region: bool = False) -> list[Reporter]:
    """The 15 reporters (区直单位 then cities by code); with include_whole_region, 全区 (GX) first."""
    rows = [r for r in load("ref_reporters") if _valid_in_year(r, None)]
    out = [
        Reporter(r["reporter_code"], r["reporter_name"], r["reporter_short_name"], r["reporter_type"],
                 int(r["sort_order"]))
        for r in rows
        if include_whole_region or r["reporter_code"] != WHOLE_REGION
    ]
    return sorted(out, key=lambda rep: rep.sort_order)


def reporter_codes() -> list[str]:
    """The 15 reporter codes that name landing folders (no GX)."""
    return [rep.code for rep in reporters()]


def reporter_name(code: str) -> str:
    """Chinese name of a reporter code (`450100` → 南宁市, `GX` → 全区)."""
    for rep in reporters(include_whole_region=True):
        if rep.code == code:
            return rep.name
    raise KeyError(f"unknown reporter code {code!r} (not in seed ref_reporters)")


def institution_kinds() -> dict[str, str]:
    """单位类型 (subkind) → kind, in display order: {"机关": "党政机关", "高等学校": "事业单位", …}."""
    rows = sorted((r for r in load("ref_institution_kinds") if _valid_in_year(r, None)),
                  key=lambda r: int(r["sort_order"]))
    return {r["institution_subkind"]: r["institution_kind"] for r in rows}


def admin_levels() -> list[str]:
    """单位级别 in display order: 区直, 市直, 县级."""
    rows = sorted((r for r in load("ref_admin_levels") if _valid_in_year(r, None)),
                  key=lambda r: int(r["sort_order"]))
    return [r["admin_level"] for r in rows]


# ---------------------------------------------------------------- coefficients and factors

def coal_coefficients(method: str = DEFAULT_METHOD, year: int | None = None) -> dict[str, float]:
    """kgce per coefficient unit for each raw column (GB/T 2589-2020).

    Units are those of ref_standard_coal_coefficients.unit: gasoline/diesel per kg (see `kgce_per_raw_unit` for
    per litre). `method` is 当量值 (default) or 等价值; `year` picks rows valid that year (None: current rows).
    """
    rows = [r for r in load("ref_standard_coal_coefficients") if r["method"] == method]
    if not rows:
        methods = sorted({r["method"] for r in load("ref_standard_coal_coefficients")})
        raise ValueError(f"unknown standard-coal method {method!r}; seed has {methods}")
    return {col: float(r["kgce_per_unit"]) for col, r in _latest_valid(rows, "raw_column", year).items()}


def fuel_densities(year: int | None = None) -> dict[str, float]:
    """kg per litre for the litre columns: {"gasoline_l": 0.73, "diesel_l": 0.85}."""
    rows = list(load("ref_fuel_densities"))
    return {col: float(r["kg_per_l"]) for col, r in _latest_valid(rows, "raw_column", year).items()}


def _per_raw_unit(per_unit: dict[str, float], year: int | None) -> dict[str, float]:
    densities = fuel_densities(year)
    return {col: value * densities.get(col, 1.0) for col, value in per_unit.items()}


def kgce_per_raw_unit(method: str = DEFAULT_METHOD, year: int | None = None) -> dict[str, float]:
    """kgce per unit of each raw column as reported (litres already multiplied by the density)."""
    return _per_raw_unit(coal_coefficients(method, year), year)


def co2_scopes() -> list[str]:
    return sorted({r["scope"] for r in load("ref_co2_factors")})


def co2_factors(year: int, scope: str | None = None) -> dict[str, float]:
    """kgCO₂ per coefficient unit for each raw column, for `year`.

    Default: the `is_default` rows (Guangxi grid for electricity, guideline factors for fuels). With `scope`
    (e.g. "national_grid"), that scope replaces the default for the columns it covers. For each column the
    latest year ≤ `year` is used; when there is none, the earliest year on file.
    """
    rows = list(load("ref_co2_factors"))
    if scope is not None and scope not in {r["scope"] for r in rows}:
        raise ValueError(f"unknown CO2 factor scope {scope!r}; seed has {co2_scopes()}")
    factors: dict[str, float] = {}
    for column in sorted({r["raw_column"] for r in rows}):
        candidates = [r for r in rows if r["raw_column"] == column and r["scope"] == scope] if scope else []
        if not candidates:
            candidates = [r for r in rows if r["raw_column"] == column and _true(r["is_default"])]
        if not candidates:
            continue
        earlier = [r for r in candidates if int(r["year"]) <= year]
        pick = max(earlier, key=lambda r: int(r["year"])) if earlier else min(candidates, key=lambda r: int(r["year"]))
        factors[column] = float(pick["kgco2_per_unit"])
    return factors


def kgco2_per_raw_unit(year: int, scope: str | None = None) -> dict[str, float]:
    """kgCO₂ per unit of each raw column as reported (litres already multiplied by the density)."""
    return _per_raw_unit(co2_factors(year, scope), year)


# ---------------------------------------------------------------- targets

@dataclass(frozen=True)
class IntensityTarget:
    indicator: str  # energy_per_capita | energy_per_m2 | water_per_capita | carbon_per_m2
    name_zh: str
    unit: str
    target_change: float  # fraction: -0.011 = down 1.1 %
    year: int


def intensity_targets(year: int, fallback_to_latest: bool = False) -> dict[str, IntensityTarget]:
    """The year's intensity targets by indicator; {} when the seed has none for that year.

    With fallback_to_latest, a year without targets gets the latest earlier year's (the synthetic generator
    uses this for years past the seed document; official marts should not).
    """
    rows = list(load("ref_intensity_targets"))
    years = sorted({int(r["year"]) for r in rows})
    if year not in years:
        earlier = [y for y in years if y <= year]
        if not (fallback_to_latest and earlier):
            return {}
        year = earlier[-1]
    return {
        r["indicator"]: IntensityTarget(r["indicator"], r["indicator_name_zh"], r["unit"],
                                        float(r["target_change"]), int(r["year"]))
        for r in rows if int(r["year"]) == year
    }


def task_targets(year: int) -> list[dict[str, object]]:
    """The year's key-task targets (rows of ref_task_targets, numbers converted; empty fields → None)."""
    out: list[dict[str, object]] = []
    for r in load("ref_task_targets"):
        if int(r["year"]) != year:
            continue
        row: dict[str, object] = {k: (v if v != "" else None) for k, v in r.items()}
        row["year"] = int(r["year"])
        for name in ("target_value", "target_share"):
            row[name] = float(r[name]) if r[name] else None
        row["base_count"] = int(r["base_count"]) if r["base_count"] else None
        out.append(row)
    return out


@dataclass(frozen=True)
class TaskKind:
    task_code: str
    category_zh: str
    unit_zh: str
    is_cumulative: bool
    has_level_and_kind: bool


def task_kinds() -> dict[str, TaskKind]:
    """task_code → TaskKind, in the form's order (废旧电子产品规范处置 … 节水型单位建设)."""
    rows = sorted((r for r in load("ref_task_kinds") if _valid_in_year(r, None)), key=lambda r: int(r["sort_order"]))
    return {
        r["task_code"]: TaskKind(r["task_code"], r["category_zh"], r["unit_zh"], _true(r["is_cumulative"]),
                                 _true(r["has_level_and_kind"]))
        for r in rows
    }


def intensity_ranges() -> dict[tuple[str, str], tuple[float, float]]:
    """(单位类型, indicator) → (low, high) plausible monthly intensity (rule M010)."""
    rows = [r for r in load("ref_intensity_ranges") if _valid_in_year(r, None)]
    return {(r["institution_subkind"], r["indicator"]): (float(r["low"]), float(r["high"])) for r in rows}


# ---------------------------------------------------------------- deadlines

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")


def _deadline_rule(form_kind: str, period_start: dt.date) -> dict[str, str]:
    """The seed row of `form_kind` valid at `period_start` (the latest valid_from among valid rows).

    `int_expected_uploads.sql` picks its row the same way; tests/test_dbt_marts.py checks the two agree."""
    rows = [r for r in load("ref_reporting_deadlines") if r["form_kind"] == form_kind
            and _date(r["valid_from"]) <= period_start
            and (not r["valid_to"] or _date(r["valid_to"]) >= period_start)]
    if not rows:
        raise KeyError(f"no reporting deadline for {form_kind} at {period_start} (seed ref_reporting_deadlines)")
    return max(rows, key=lambda r: r["valid_from"])


def _period_rule(period: str) -> tuple[dict[str, str], int, int]:
    """(deadline row, year, last month) of a period: "2023-05" (monthly form) or "2023-Q2" (task progress)."""
    if m := _MONTH.match(period):
        year, month, form_kind = int(m[1]), int(m[2]), MONTHLY
        if not 1 <= month <= 12:
            raise ValueError(f"not a month period: {period!r}")
        start, last_month = dt.date(year, month, 1), month
    elif m := _QUARTER.match(period):
        year, quarter, form_kind = int(m[1]), int(m[2]), TASK_PROGRESS
        start, last_month = dt.date(year, 3 * quarter - 2, 1), 3 * quarter
    else:
        raise ValueError(f"period must be YYYY-MM or YYYY-Qn, got {period!r}")
    return _deadline_rule(form_kind, start), year, last_month


def deadline_rule_zh(period: str) -> str:
    """The deadline rule of a period as printed for users, e.g. 统计期次月10日前报送."""
    return _period_rule(period)[0]["deadline_rule_zh"]


def reporting_deadline(period: str) -> dt.date:
    """Due date of an upload: "2023-05" (monthly form) → 2023-06-10; "2023-Q2" (task progress) → 2023-07-15."""
    rule, year, last_month = _period_rule(period)
    months = year * 12 + (last_month - 1) + int(rule["deadline_month_offset"])
    return dt.date(months // 12, months % 12 + 1, int(rule["deadline_day"]))
