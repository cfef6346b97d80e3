"""Quarterly key-task progress (重点任务进展) of the synthetic province.

Province-wide yearly totals are at the real province's scale (the targets are absolute numbers), whatever the
number of synthetic institutions; 节水型单位 rows name real registry institutions, so shares can be computed
against the registry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from energystat import reference
from energystat.synth.registry import REPORTER_WEIGHTS

#: Province totals in the first year and yearly growth (a generator choice: 2023 clears the targets except
#: 合同能源管理, which misses, so the circular has both cases).
FIRST_YEAR_TOTAL = {"ewaste_items": 15000, "retrofit_area_m2": 1_500_000, "rooftop_pv_projects": 38,
                    "epc_projects": 14, "saving_organs": 620}
GROWTH = {"ewaste_items": 1.22, "retrofit_area_m2": 1.29, "rooftop_pv_projects": 1.5, "epc_projects": 1.08,
          "saving_organs": 0.37}
QUARTER_WEIGHTS = np.array([0.15, 0.25, 0.25, 0.35])
#: Cumulative share of units built as 节水型单位 by the last year, per (level, kind); 区直 organs all, 市直 organs
#: almost all (a miss), 区直 事业单位 above 60 %, 市直 事业单位 below 50 % (a miss), 县级 some.
WATER_SAVING_SHARE = {("区直", "党政机关"): 1.0, ("市直", "党政机关"): 0.93, ("区直", "事业单位"): 0.68,
                      ("市直", "事业单位"): 0.44, ("县级", "党政机关"): 0.5, ("县级", "事业单位"): 0.3}


def _allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split an integer total by weights (largest remainder): the parts add up exactly."""
    exact = total * weights / weights.sum()
    parts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - parts), kind="stable")
    parts[order[: total - parts.sum()]] += 1
    return parts


def yearly_total(task_code: str, year_index: int) -> int:
    return int(round(FIRST_YEAR_TOTAL[task_code] * GROWTH[task_code] ** year_index))


def build_task_rows(registry: pd.DataFrame, years: list[int], rng: np.random.Generator) -> pd.DataFrame:
    """One row per project or count: reporter, year, quarter, task_code, project, credit code, level, kind, quantity."""
    kinds = reference.task_kinds()
    reporters = reference.reporter_codes()
    weights = np.array([REPORTER_WEIGHTS[c] for c in reporters])
    cells = np.outer(weights, QUARTER_WEIGHTS).ravel()  # reporter-major, then quarter
    out: list[dict] = []

    def pick_institution(reporter: str) -> pd.Series:
        candidates = registry[registry["reporter_code"] == reporter]
        return candidates.iloc[int(rng.integers(0, len(candidates)))]

    for y_index, year in enumerate(sorted(years)):
        for task_code in FIRST_YEAR_TOTAL:
            parts = _allocate(yearly_total(task_code, y_index), cells).reshape(len(reporters), 4)
            for r, reporter in enumerate(reporters):
                for q in range(4):
                    amount = int(parts[r, q])
                    if amount == 0:
                        continue
                    base = {"reporter_code": reporter, "year": year, "quarter": q + 1, "task_code": task_code,
                            "unit": kinds[task_code].unit_zh, "admin_level": "", "institution_kind": "",
                            "credit_code": "", "note": ""}
                    if task_code in ("ewaste_items", "saving_organs"):
                        label = "废旧电子产品集中处置" if task_code == "ewaste_items" else "新创建节约型机关（县级及以上）"
                        out.append({**base, "project_name": f"{year}年第{q + 1}季度{label}", "quantity": amount})
                    elif task_code == "retrofit_area_m2":
                        pieces = _allocate(amount, rng.uniform(0.5, 1.5, size=max(1, min(4, amount // 20000))))
                        for piece in pieces:
                            inst = pick_institution(reporter)
                            out.append({**base, "project_name": f"{inst['institution_name']}既有建筑节能改造",
                                        "credit_code": inst["credit_code"], "quantity": int(piece)})
                    else:  # one row per project
                        label = "屋顶分布式光伏项目" if task_code == "rooftop_pv_projects" else "合同能源管理项目"
                        for _ in range(amount):
                            inst = pick_institution(reporter)
                            out.append({**base, "project_name": f"{inst['institution_name']}{label}",
                                        "credit_code": inst["credit_code"], "quantity": 1})
    out.extend(_water_saving_rows(registry, sorted(years), rng, kinds["water_saving_units"].unit_zh))
    frame = pd.DataFrame(out)
    order = {code: i for i, code in enumerate(kinds)}
    frame["_order"] = frame["task_code"].map(order)
    frame = frame.sort_values(["reporter_code", "year", "quarter", "_order"], kind="stable").drop(columns="_order")
    return frame.reset_index(drop=True)


def _water_saving_rows(registry: pd.DataFrame, years: list[int], rng: np.random.Generator, unit: str) -> list[dict]:
    """Institutions built as 节水型单位: the share of each (level, kind) rises linearly to WATER_SAVING_SHARE."""
    rows = []
    for (level, kind), final_share in WATER_SAVING_SHARE.items():
        group = registry[(registry["admin_level"] == level) & (registry["institution_kind"] == kind)
                         & (registry["active_to"] == "")]
        if group.empty:
            continue
        chosen = group.iloc[rng.permutation(len(group))[: int(round(final_share * len(group)))]]
        year_of = np.minimum((np.arange(len(chosen)) * len(years)) // max(len(chosen), 1), len(years) - 1)
        quarter_of = rng.integers(1, 5, size=len(chosen))
        for (_, inst), y, q in zip(chosen.iterrows(), year_of, quarter_of, strict=True):
            rows.append({"reporter_code": inst["reporter_code"], "year": years[int(y)], "quarter": int(q),
                         "task_code": "water_saving_units", "unit": unit, "admin_level": level,
                         "institution_kind": kind, "credit_code": inst["credit_code"],
                         "project_name": f"{inst['institution_name']}节水型单位建设", "quantity": 1, "note": ""})
    return rows
