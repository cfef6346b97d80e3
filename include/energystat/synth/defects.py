"""The defects catalogue of `energystat generate --defects`: one defect per file, in files of the last year.

Each kind names the rule it is designed to trip (docs/architecture.md rule table); `None` for defects that must
parse cleanly (GBK CSV, thousands separators, full-width digits, a correct 合计 row) or that are seen elsewhere
(a missing reporter-month: the timeliness mart). Other rules may fire too (a ×10 slip may also leave the M010
range); the manifest states the rule the defect was made for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from energystat import creditcode

#: kind → (rule_id, severity, needs the same month of the previous year)
MONTHLY_DEFECTS: dict[str, tuple[str | None, str | None, bool]] = {
    "missing_column": ("M001", "error", False),
    "non_numeric_value": ("M002", "error", False),
    "bad_check_character": ("M003", "error", False),
    "period_mismatch": ("M004", "error", False),
    "duplicate_row": ("M005", "error", False),
    "negative_value": ("M006", "error", False),
    "zero_headcount": ("M007", "error", False),
    "unknown_institution": ("M008", "warning", False),
    "wrong_reporter": ("M009", "error", False),
    "headcount_jump": ("M011", "warning", True),
    "area_jump": ("M011", "warning", True),
    "unit_slip_x10": ("M012", "error", True),
    "unit_slip_div10": ("M012", "error", True),
    "zero_consumption": ("M013", "warning", False),
    "incomplete_file": ("M014", "warning", False),
    "totals_row_mismatch": ("M015", "error", False),
    "unreadable_file": ("P001", "error", False),
    "totals_row": (None, None, False),
    "gbk_csv": (None, None, False),
    "thousands_separators": (None, None, False),
    "full_width_digits": (None, None, False),
    "missing_reporter_month": (None, None, False),
}
TASK_DEFECTS: dict[str, tuple[str | None, str | None]] = {
    "task_missing_column": ("T001", "error"),
    "task_non_numeric": ("T002", "error"),
    "task_period_mismatch": ("T003", "error"),
    "task_unknown_category": ("T004", "error"),
    "task_negative_quantity": ("T005", "error"),
    "task_unit_mismatch": ("T006", "error"),
    "task_bad_credit_code": ("T007", "warning"),
}
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass
class Applied:
    """A defect applied to one file's frame: the frame to write, how to write it, where the defect is."""

    frame: pd.DataFrame
    row: int | None = None  # row in the file, header = 1
    column: str | None = None
    encoding: str | None = None  # force a CSV in this encoding
    corrupt: bool = False
    skip: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def plan(monthly_keys: list[tuple[str, str]], task_keys: list[tuple[str, str]], years: list[int], fmt: str,
         rng: np.random.Generator) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """Distinct files of the last year for each defect kind: {(reporter, period): kind}."""
    last = str(max(years))
    kinds = [k for k, (_r, _s, needs_prior) in MONTHLY_DEFECTS.items() if not (needs_prior and len(years) < 2)]
    if fmt == "csv-gbk":
        kinds.remove("gbk_csv")  # every file is GBK already
    candidates = [k for k in monthly_keys if k[1].startswith(last)]
    chosen = rng.permutation(len(candidates))[: len(kinds)]
    monthly = {candidates[i]: kind for i, kind in zip(chosen, kinds, strict=False)}
    task_candidates = [k for k in task_keys if k[1].startswith(last)]
    chosen = rng.permutation(len(task_candidates))[: len(TASK_DEFECTS)]
    tasks = {task_candidates[i]: kind for i, kind in zip(chosen, TASK_DEFECTS, strict=False)}
    return monthly, tasks


def _row(i: int) -> int:
    return i + 2


def _as_text(frame: pd.DataFrame, column: str) -> None:
    frame[column] = frame[column].astype(object)


def apply_monthly(kind: str, frame: pd.DataFrame, ctx: dict[str, Any], rng: np.random.Generator) -> Applied:
    """Apply monthly defect `kind` to a copy of one file's frame (header names as columns)."""
    df = frame.copy()
    n = len(df)
    i = int(rng.integers(0, n))
    electricity, water = "电力(千瓦时)", "水(吨)"
    if kind == "missing_column":
        return Applied(df.drop(columns=[water]), column=water)
    if kind == "non_numeric_value":
        _as_text(df, electricity)
        df.iat[i, df.columns.get_loc(electricity)] = "约" + str(int(df.iat[i, df.columns.get_loc(electricity)]))
        return Applied(df, _row(i), electricity)
    if kind == "bad_check_character":
        code = df.iat[i, 0]
        wrong = next(ch for ch in creditcode.ALPHABET if ch != code[17])
        df.iat[i, 0] = code[:17] + wrong
        return Applied(df, _row(i), "统一社会信用代码")
    if kind == "period_mismatch":
        df["统计期"] = ctx["other_period"]
        return Applied(df, None, "统计期")
    if kind == "duplicate_row":
        df = pd.concat([df, df.iloc[[i]]], ignore_index=True)
        return Applied(df, _row(n), "统一社会信用代码")
    if kind == "negative_value":
        df.iat[i, df.columns.get_loc(water)] = -df.iat[i, df.columns.get_loc(water)]
        return Applied(df, _row(i), water)
    if kind == "zero_headcount":
        df.iat[i, df.columns.get_loc("用能人数(人)")] = 0
        return Applied(df, _row(i), "用能人数(人)")
    if kind == "unknown_institution":
        extra = df.iloc[[i]].copy()
        extra.iloc[0, 0] = ctx["unregistered_code"]
        extra.iloc[0, 1] = extra.iloc[0, 1] + "（新设）"
        return Applied(pd.concat([df, extra], ignore_index=True), _row(n), "统一社会信用代码")
    if kind == "wrong_reporter":
        return Applied(pd.concat([df, ctx["foreign_row"]], ignore_index=True), _row(n), "统一社会信用代码")
    if kind in ("headcount_jump", "area_jump", "unit_slip_x10", "unit_slip_div10"):
        i = int(rng.choice(ctx["rows_with_last_year"]))
        column = {"headcount_jump": "用能人数(人)", "area_jump": "建筑面积(平方米)"}.get(kind, electricity)
        factor = {"headcount_jump": 1.3, "area_jump": 1.25, "unit_slip_x10": 10, "unit_slip_div10": 0.1}[kind]
        value = df.iat[i, df.columns.get_loc(column)] * factor
        df.iat[i, df.columns.get_loc(column)] = round(value) if column == "用能人数(人)" else round(value, 2)
        return Applied(df, _row(i), column)
    if kind == "zero_consumption":
        for col in df.columns[6:]:
            df.iat[i, df.columns.get_loc(col)] = 0.0
        return Applied(df, _row(i), None)
    if kind == "incomplete_file":
        keep = np.sort(rng.permutation(n)[: int(n * 0.8)])
        return Applied(df.iloc[keep].reset_index(drop=True), None, None, extra={"rows_dropped": n - len(keep)})
    if kind in ("totals_row", "totals_row_mismatch"):
        totals = {col: (round(float(df[col].sum()), 2) if j >= 4 else "") for j, col in enumerate(df.columns)}
        totals[df.columns[0]] = "合计"
        if kind == "totals_row_mismatch":
            totals[electricity] = round(totals[electricity] + 1000.0, 2)
        return Applied(pd.concat([df, pd.DataFrame([totals])], ignore_index=True), _row(n),
                       electricity if kind == "totals_row_mismatch" else None)
    if kind == "unreadable_file":
        return Applied(df, corrupt=True)
    if kind == "gbk_csv":
        return Applied(df, encoding="gbk")
    if kind in ("thousands_separators", "full_width_digits"):
        _as_text(df, electricity)
        text = [f"{v:,.2f}" for v in df[electricity]]
        if kind == "full_width_digits":
            text = [f"{v:.2f}".translate(_FULL_WIDTH) for v in df[electricity]]
        df[electricity] = text
        return Applied(df, None, electricity)
    if kind == "missing_reporter_month":
        return Applied(df, skip=True)
    raise ValueError(f"unknown defect kind {kind!r}")


def apply_task(kind: str, frame: pd.DataFrame, ctx: dict[str, Any], rng: np.random.Generator) -> Applied:
    """Apply task-progress defect `kind` to a copy of one quarterly file's frame."""
    df = frame.copy()
    i = int(rng.integers(0, len(df)))
    if kind == "task_missing_column":
        return Applied(df.drop(columns=["数量"]), column="数量")
    if kind == "task_non_numeric":
        _as_text(df, "数量")
        df.iat[i, df.columns.get_loc("数量")] = "若干"
        return Applied(df, _row(i), "数量")
    if kind == "task_period_mismatch":
        df["统计期"] = ctx["other_quarter"]
        return Applied(df, None, "统计期")
    if kind == "task_unknown_category":
        df.iat[i, df.columns.get_loc("任务类别")] = "绿色出行宣传"
        return Applied(df, _row(i), "任务类别")
    if kind == "task_negative_quantity":
        df.iat[i, df.columns.get_loc("数量")] = -abs(df.iat[i, df.columns.get_loc("数量")])
        return Applied(df, _row(i), "数量")
    if kind == "task_unit_mismatch":
        df.iat[i, df.columns.get_loc("计量单位")] = "吨"
        return Applied(df, _row(i), "计量单位")
    if kind == "task_bad_credit_code":
        with_code = [j for j, code in enumerate(df["实施单位统一社会信用代码"]) if code]
        if with_code:
            i = with_code[int(rng.integers(0, len(with_code)))]
            code = df.iat[i, df.columns.get_loc("实施单位统一社会信用代码")]
            wrong = next(ch for ch in creditcode.ALPHABET if ch != code[17])
            df.iat[i, df.columns.get_loc("实施单位统一社会信用代码")] = code[:17] + wrong
        else:  # no code in the file: add one with a wrong check character to the first row
            i, first17 = 0, "12450000MB0000000"
            wrong = next(ch for ch in creditcode.ALPHABET if ch != creditcode.check_character(first17))
            df.iat[0, df.columns.get_loc("实施单位统一社会信用代码")] = first17 + wrong
        return Applied(df, _row(i), "实施单位统一社会信用代码")
    raise ValueError(f"unknown defect kind {kind!r}")
