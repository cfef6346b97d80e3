"""What the circular shows, as plain data: every number is a value read from a mart (see `data.py`).

Renderers only format these values; they never add, divide or compare numbers themselves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

#: The whole region's reporter code in the marts (全区).
REGION_CODE = "GX"


@dataclass(frozen=True)
class IndicatorResult:
    """One row of marts.mart_target_attainment."""

    indicator: str
    name_zh: str
    unit: str
    value: float | None
    prior_value: float | None
    yoy_change: float | None
    target_change: float | None
    attained: bool | None
    gap: float | None


@dataclass(frozen=True)
class ReporterResult:
    reporter_code: str
    reporter_name: str
    rank: int | None  # None for the whole region
    attained_count: int
    indicator_count: int
    indicators: list[IndicatorResult]

    def indicator(self, key: str) -> IndicatorResult | None:
        return next((i for i in self.indicators if i.indicator == key), None)


@dataclass(frozen=True)
class TotalResult:
    """One 双控 total of marts.mart_dual_control."""

    measure: str
    name_zh: str
    unit: str
    value: float | None
    prior_value: float | None
    yoy_change: float | None


@dataclass(frozen=True)
class DualControlRow:
    reporter_code: str
    reporter_name: str
    totals: list[TotalResult]


@dataclass(frozen=True)
class TaskRow:
    """One task of marts.mart_task_progress for the whole region (targets are region-wide)."""

    task_code: str
    name_zh: str
    unit: str
    target: float | None
    achieved: float | None
    completion_ratio: float | None
    completed: bool | None
    detail: str = ""  # e.g. the admin level and kind of a share target
    target_count: float | None = None  # the target as whole units (the mart's target rounded up, SQL)
    target_type: str = "count"  # count | share (the seed's target_type)
    target_share: float | None = None  # share targets, and count targets set as a share of a base
    base_count: float | None = None  # the base of the share (registered units, or the seed's base_count)
    achieved_share: float | None = None  # share targets: achieved / base_count (SQL)


@dataclass(frozen=True)
class ReportingRow:
    """A reporter's reporting discipline over the year (marts.mart_reporting_timeliness, summed in SQL)."""

    reporter_code: str
    reporter_name: str
    periods_expected: int
    periods_reported: int
    periods_on_time: int
    on_time_rate: float | None
    days_late_max: float | None
    rejections: int
    warnings: int
    missing_periods: list[str] = field(default_factory=list)
    overrides: int = 0  # uploads loaded by a reviewer's override (同意入库) of reviewable errors


@dataclass(frozen=True)
class OutlierRow:
    """An institution flagged as a top outlier of its kind (marts.mart_institution_year)."""

    reporter_code: str
    reporter_name: str
    credit_code: str
    institution_name: str
    institution_kind: str
    indicator: str
    indicator_name_zh: str
    unit: str
    value: float | None
    percentile: float | None


@dataclass(frozen=True)
class MissingReport:
    """A reporter with months of the year without an accepted monthly upload."""

    reporter_code: str
    reporter_name: str
    missing_periods: list[str]


@dataclass
class CircularData:
    year: int
    region: ReporterResult
    reporters: list[ReporterResult]  # ranked, best first
    dual_control: list[DualControlRow]  # the whole region first, then the reporters in their seed order
    tasks: list[TaskRow]
    reporting: list[ReportingRow]  # the 15 reporters in their seed order
    reporting_total: ReportingRow  # all reporters together
    outliers: list[OutlierRow]
    missing: list[MissingReport]
    marts_loaded_at: datetime

    @property
    def complete(self) -> bool:
        return not self.missing

    def missed(self, indicator: str) -> list[ReporterResult]:
        """Reporters whose mart row has attained = false for the indicator (ranked order)."""
        return [r for r in self.reporters if (i := r.indicator(indicator)) is not None and i.attained is False]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["marts_loaded_at"] = self.marts_loaded_at.isoformat()
        return out
