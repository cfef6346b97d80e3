"""The correction guard: a new version of a live batch may not silently erase or inflate it.

A reporter's new file for a month replaces the live batch of that month (or quarter, or the whole registry). Before
it may, this module compares the two: a version that would remove more than a set share of the live batch's
institutions (default 10 %), or change a month total by a factor of 5 or more either way, is *held* — an error
marked reviewable (M017 / T009 for uploads, R002 for the registry), which the review loop may approve — instead
of replacing the live data. The comparison is pure: callers give the live batch's summary and the new one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchSummary:
    """What the guard compares: the batch's institutions (or row count when rows carry no code) and totals."""

    codes: frozenset[str] = frozenset()
    rows: int = 0
    totals: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Hold:
    """One reason to hold a correction for review (Chinese and English), with what was observed."""

    zh: str
    en: str
    observed: str


def summarize(codes: Iterable[str | None], rows: int, totals: Mapping[str, float]) -> BatchSummary:
    return BatchSummary(frozenset(c for c in codes if isinstance(c, str) and c), rows,
                        {k: float(v) for k, v in totals.items() if v is not None and math.isfinite(float(v))})


def holds(new: BatchSummary, live: BatchSummary | None, max_removed_share: float, max_factor: float,
          labels: Mapping[str, str] | None = None) -> list[Hold]:
    """Why `new` may not replace `live` without review (empty: it may). No live batch: nothing to guard."""
    if live is None or (not live.codes and not live.rows):
        return []
    labels = labels or {}
    out: list[Hold] = []
    if live.codes:
        removed = len(live.codes - new.codes)
        share = removed / len(live.codes)
        if share > max_removed_share:
            out.append(Hold(
                f"本次更正将删除当前已入库数据中 {removed} 家单位（共 {len(live.codes)} 家，{share:.0%}），"
                f"超过允许的 {max_removed_share:.0%}：已暂扣待审核，原数据保持不变",
                f"this correction would remove {removed} of the {len(live.codes)} institutions of the live batch "
                f"({share:.0%}, more than {max_removed_share:.0%}): held for review, the live data is kept",
                f"{len(new.codes)}/{len(live.codes)}"))
    elif live.rows and new.rows < live.rows * (1 - max_removed_share):
        out.append(Hold(
            f"本次更正只有 {new.rows} 行，当前已入库 {live.rows} 行，减少超过 {max_removed_share:.0%}：已暂扣待审核",
            f"this correction has {new.rows} rows against {live.rows} live rows (fewer by more than "
            f"{max_removed_share:.0%}): held for review, the live data is kept",
            f"{new.rows}/{live.rows}"))
    for column, before in sorted(live.totals.items()):
        after = new.totals.get(column, 0.0)
        if before <= 0:
            continue
        ratio = after / before
        if ratio >= max_factor or ratio <= 1 / max_factor:
            label = labels.get(column, column)
            out.append(Hold(
                f"本次更正使“{label}”月合计由 {before:,.2f} 变为 {after:,.2f}（{ratio:.3g} 倍），"
                f"达到 {max_factor:g} 倍或其倒数：疑似单位或填报错误，已暂扣待审核",
                f"this correction changes the month total of {label} from {before:,.2f} to {after:,.2f} "
                f"(×{ratio:.3g}, at least ×/÷{max_factor:g}): suspected unit or entry slip, held for review",
                f"{after:g}/{before:g}"))
    return out
