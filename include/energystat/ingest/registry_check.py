"""Check a registry export (institutions.csv) before it replaces raw.institution_registry.

R001 (error): the columns are there, every row has a valid credit code, a whole-number headcount, a number for
the floor area and real dates, and no credit code appears twice — so the COPY cannot fail half-way and a bad
export never stops the night. R002 (error, reviewable): an export that would remove more than a set share of the
registered institutions is held for review (the correction guard of `energystat.ingest.guard`). Each problem is a
`RegistryProblem` naming the row (header = row 1) and column, in Chinese and English.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from energystat.contract.findings import REGISTRY_GUARD, REGISTRY_ROWS
from energystat.creditcode import is_valid
from energystat.ingest.guard import BatchSummary, holds

_REQUIRED = ("credit_code", "institution_name", "reporter_code", "institution_kind", "institution_subkind",
             "admin_level", "headcount", "floor_area_m2", "active_from")
_KEPT = 50  # problems listed per file (the first ones; the count says how many in all)


@dataclass(frozen=True)
class RegistryProblem:
    rule_id: str
    zh: str
    en: str
    row: int | None = None
    column: str | None = None
    credit_code: str | None = None
    observed: str | None = None


def _number(text: str, whole: bool) -> bool:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0 and (not whole or value.is_integer())


def _date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def row_problems(rows: Sequence[dict[str, str | None]], columns: Sequence[str]) -> list[RegistryProblem]:
    """R001 problems of the export (empty: it can be loaded)."""
    if not rows:
        return [RegistryProblem(REGISTRY_ROWS, "名录文件没有数据行", "the registry file has no data rows")]
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        return [RegistryProblem(REGISTRY_ROWS, "名录缺少列：" + "、".join(missing),
                                "registry misses columns: " + ", ".join(missing), column=",".join(missing))]
    problems: list[RegistryProblem] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):
        code = (row.get("credit_code") or "").strip()

        def problem(column: str, zh: str, en: str, value: str | None, code: str = code, number: int = number) -> None:
            problems.append(RegistryProblem(REGISTRY_ROWS, f"第 {number} 行“{column}”：{zh}",
                                            f"row {number}, {column}: {en}", number, column, code or None, value))

        for column in _REQUIRED:
            if not (row.get(column) or "").strip():
                problem(column, "必须填写", "must be given", None)
        if code and not is_valid(code):
            problem("credit_code", f"统一社会信用代码无效：{code}", f"invalid credit code {code!r}", code)
        elif code in seen:
            problem("credit_code", f"与第 {seen[code]} 行重复", f"same credit code as row {seen[code]}", code)
        seen.setdefault(code, number)
        for column, whole, zh in (("headcount", True, "人数须为非负整数"), ("floor_area_m2", False, "面积须为非负数字")):
            value = (row.get(column) or "").strip()
            if value and not _number(value, whole):
                problem(column, f"{zh}，实际为“{value}”", f"not a {'whole ' if whole else ''}number: {value!r}", value)
        for column in ("active_from", "active_to"):
            value = (row.get(column) or "").strip()
            if value and not _date(value):
                problem(column, f"日期应为 YYYY-MM-DD，实际为“{value}”", f"not a date (YYYY-MM-DD): {value!r}", value)
    return problems


def guard_problems(rows: Sequence[dict[str, str | None]], live_codes: frozenset[str],
                   max_removed_share: float) -> list[RegistryProblem]:
    """R002: the export would remove too many registered institutions (held for review)."""
    new = BatchSummary(frozenset((r.get("credit_code") or "").strip() for r in rows), len(rows))
    return [RegistryProblem(REGISTRY_GUARD, h.zh, h.en, observed=h.observed)
            for h in holds(new, BatchSummary(live_codes, len(live_codes)), max_removed_share, math.inf)]


def summary(problems: Sequence[RegistryProblem]) -> tuple[str, str]:
    """A one-line reason (Chinese; English) for the upload log."""
    shown = problems[:3]
    more_zh = f"等共 {len(problems)} 处" if len(problems) > len(shown) else ""
    more_en = f" ({len(problems)} in all)" if len(problems) > len(shown) else ""
    return ("；".join(p.zh for p in shown) + more_zh, "; ".join(p.en for p in shown) + more_en)


def kept(problems: Sequence[RegistryProblem]) -> list[RegistryProblem]:
    return list(problems[:_KEPT])
