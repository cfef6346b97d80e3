"""Everything the circular shows, read from the marts by SQL (`load_circular_data`), and the completeness check.

Every number is a mart value, or an SQL aggregate of mart rows (counts and sums over the year's months, the
ranking); Python only orders rows by the seeds' display order and formats. The reporters and the year's
months that must be present come from the seeds (`energystat.reference`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from energystat import reference
from energystat.circular.model import (
    REGION_CODE,
    CircularData,
    DualControlRow,
    IndicatorResult,
    MissingReport,
    OutlierRow,
    ReporterResult,
    ReportingRow,
    TaskRow,
    TotalResult,
)

log = logging.getLogger(__name__)

#: Ranking: more targets attained first, then the larger decline of this indicator (the headline one).
RANKING_TIEBREAK_INDICATOR = "energy_per_capita"
#: 双控 totals of mart_dual_control: measure -> (value, prior, yoy) columns.
DUAL_CONTROL_COLUMNS = {
    "energy": ("energy_tce", "prior_energy_tce", "energy_yoy_change"),
    "water": ("water_t", "prior_water_t", "water_yoy_change"),
    "carbon": ("carbon_tco2", "prior_carbon_tco2", "carbon_yoy_change"),
}
#: Outliers named in the text (the JSON lists them all).
OUTLIERS_NAMED = 5


class IncompleteReportingError(RuntimeError):
    """The year's monthly reporting is incomplete; the circular is refused unless forced."""

    def __init__(self, year: int, missing: list[MissingReport]) -> None:
        self.year = year
        self.missing = missing
        lines = [
            f"  {m.reporter_code} {m.reporter_name}: " + ", ".join(m.missing_periods) for m in missing
        ]
        super().__init__(
            f"{year}年度报送不完整，拒绝生成通报 / reporting for {year} is incomplete, circular refused: "
            f"{len(missing)} reporter(s) lack accepted monthly statistics:\n" + "\n".join(lines)
            + "\nUse --force (force=True) to publish anyway; the documents then state what is missing."
        )


class MartsNotReadyError(RuntimeError):
    """The marts do not exist or hold nothing for the year."""


def _f(value: Any) -> float | None:
    return None if value is None else float(value) if isinstance(value, Decimal | int | float) else value


def _rows(conn: Any, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        return list(cur.fetchall())


ATTAINMENT_SQL = """
with t as (
    select * from marts.mart_target_attainment where year = %(year)s
),
summary as (
    select reporter_code,
           count(*) filter (where attained) as attained_count,
           count(*) as indicator_count,
           max(yoy_change) filter (where indicator = %(tiebreak)s) as tiebreak_change
    from t group by reporter_code
),
ranked as (
    select s.*,
           case when s.reporter_code <> %(region)s then row_number() over (
               partition by s.reporter_code = %(region)s
               order by s.attained_count desc, s.tiebreak_change asc nulls last, s.reporter_code) end as rank
    from summary as s
)
select t.reporter_code, t.reporter_name, t.indicator, t.indicator_name_zh, t.unit, t.value, t.prior_value,
       t.yoy_change, t.target_change, t.attained, t.gap, r.rank, r.attained_count, r.indicator_count
from t join ranked as r using (reporter_code)
order by r.rank nulls last, t.reporter_code, t.indicator
"""

DUAL_CONTROL_SQL = """
select * from marts.mart_dual_control where year = %(year)s
"""

# A share target (60 % of 120 units = 72) is a count of whole units: "at least" rounds up.
TASKS_SQL = """
select task_code, category_zh, unit_zh, admin_level, institution_kind, target_type, target_share,
       target_base_count, achieved, target, ceil(target) as target_count, completion_ratio,
       achieved >= target as completed,
       case when target_type = 'share' then achieved / nullif(target_base_count, 0) end as achieved_share
from marts.mart_task_progress
where year = %(year)s and reporter_code = %(region)s and target is not null
order by task_code, admin_level, institution_kind
"""

# One row per reporter (and a total row, reporter_code null) over the 12 months of the year; a reporter-month
# without a mart row or without an accepted upload counts as missing.
REPORTING_SQL = """
with months as (
    select generate_series(make_date(%(year)s, 1, 1), make_date(%(year)s, 12, 1), interval '1 month')::date
        as period_month
),
grid as (
    select r.reporter_code, m.period_month from unnest(%(reporters)s::text[]) as r (reporter_code) cross join months as m
),
t as (
    select * from marts.mart_reporting_timeliness
    where upload_kind = 'monthly' and period_month >= make_date(%(year)s, 1, 1)
      and period_month < make_date(%(year)s + 1, 1, 1)
)
select g.reporter_code,
       count(*) as periods_expected,
       count(*) filter (where t.is_missing is false) as periods_reported,
       count(*) filter (where t.is_on_time) as periods_on_time,
       (count(*) filter (where t.is_on_time))::numeric / count(*) as on_time_rate,
       max(t.days_late) as days_late_max,
       coalesce(sum(t.rejected_uploads), 0) as rejections,
       coalesce(sum(t.warning_count), 0) as warnings,
       coalesce(sum(t.override_uploads), 0) as overrides,
       coalesce(array_agg(to_char(g.period_month, 'YYYY-MM') order by g.period_month)
                filter (where t.is_missing is not false), '{}') as missing_periods
from grid as g
left join t on t.reporter_code = g.reporter_code and t.period_month = g.period_month
group by grouping sets ((g.reporter_code), ())
"""

OUTLIERS_SQL = """
select reporter_code, credit_code, institution_name, institution_subkind,
       case when energy_per_m2_percentile >= energy_per_capita_percentile then 'energy_per_m2'
            else 'energy_per_capita' end as indicator,
       case when energy_per_m2_percentile >= energy_per_capita_percentile then energy_per_m2_kgce
            else energy_per_capita_kgce end as value,
       greatest(energy_per_m2_percentile, energy_per_capita_percentile) as percentile
from marts.mart_institution_year
where year = %(year)s and is_top_outlier
order by percentile desc, value desc, credit_code
"""


def _indicator_order(year: int, present: set[str]) -> list[str]:
    """The seed's order of the intensity indicators (then any other indicator of the mart, by name)."""
    seeded = [k for k in reference.intensity_targets(year, fallback_to_latest=True) if k in present]
    return seeded + sorted(present - set(seeded))


def _load_attainment(conn: Any, year: int) -> tuple[ReporterResult, list[ReporterResult]]:
    rows = _rows(conn, ATTAINMENT_SQL, {"year": year, "tiebreak": RANKING_TIEBREAK_INDICATOR, "region": REGION_CODE})
    if not rows:
        raise MartsNotReadyError(
            f"marts.mart_target_attainment has no rows for {year}: ingest the year's data and build the marts "
            "(`energystat marts build` or DAG build_marts) first"
        )
    order = _indicator_order(year, {r["indicator"] for r in rows})
    by_reporter: dict[str, list[dict[str, Any]]] = {}
    for row in rows:  # rows come ranked
        by_reporter.setdefault(row["reporter_code"], []).append(row)
    results = []
    for code, items in by_reporter.items():
        items.sort(key=lambda r: order.index(r["indicator"]))
        first = items[0]
        results.append(ReporterResult(
            reporter_code=code,
            reporter_name=first["reporter_name"],
            rank=first["rank"],
            attained_count=first["attained_count"],
            indicator_count=first["indicator_count"],
            indicators=[
                IndicatorResult(
                    indicator=r["indicator"], name_zh=r["indicator_name_zh"] or r["indicator"], unit=r["unit"] or "",
                    value=_f(r["value"]), prior_value=_f(r["prior_value"]), yoy_change=_f(r["yoy_change"]),
                    target_change=_f(r["target_change"]), attained=r["attained"], gap=_f(r["gap"]),
                )
                for r in items
            ],
        ))
    region = next((r for r in results if r.reporter_code == REGION_CODE), None)
    if region is None:
        raise MartsNotReadyError(f"marts.mart_target_attainment has no {REGION_CODE} (全区) rows for {year}")
    return region, [r for r in results if r.reporter_code != REGION_CODE]


def _load_dual_control(conn: Any, year: int, totals_wording: dict[str, dict[str, str]]) -> list[DualControlRow]:
    rows = {r["reporter_code"]: r for r in _rows(conn, DUAL_CONTROL_SQL, {"year": year})}
    out = []
    for rep in reference.reporters(include_whole_region=True):  # GX first, then the seed order
        row = rows.get(rep.code)
        if row is None:
            continue
        totals = []
        for measure, (value_col, prior_col, yoy_col) in DUAL_CONTROL_COLUMNS.items():
            label = totals_wording.get(measure, {})
            totals.append(TotalResult(measure, label.get("name_zh", measure), label.get("unit", value_col),
                                      _f(row[value_col]), _f(row[prior_col]), _f(row[yoy_col])))
        out.append(DualControlRow(rep.code, row["reporter_name"], totals))
    return out


def _load_tasks(conn: Any, year: int) -> list[TaskRow]:
    kinds = list(reference.task_kinds())
    rows = _rows(conn, TASKS_SQL, {"year": year, "region": REGION_CODE})
    rows.sort(key=lambda r: (kinds.index(r["task_code"]) if r["task_code"] in kinds else len(kinds), r["task_code"]))
    out = []
    for r in rows:
        scoped = r["admin_level"] not in (None, "全部") or r["institution_kind"] not in (None, "全部")
        detail = f"{r['admin_level']}{r['institution_kind']}" if scoped else ""
        out.append(TaskRow(
            task_code=r["task_code"], name_zh=r["category_zh"], unit=r["unit_zh"], target=_f(r["target"]),
            achieved=_f(r["achieved"]), completion_ratio=_f(r["completion_ratio"]), completed=r["completed"],
            detail=detail, target_count=_f(r["target_count"]), target_type=r["target_type"] or "count",
            target_share=_f(r["target_share"]),
            base_count=_f(r["target_base_count"]), achieved_share=_f(r["achieved_share"]),
        ))
    return out


def _load_reporting(conn: Any, year: int) -> tuple[list[ReportingRow], ReportingRow]:
    reporters = reference.reporters()
    rows = _rows(conn, REPORTING_SQL, {"year": year, "reporters": [r.code for r in reporters]})
    by_code = {r["reporter_code"]: r for r in rows}

    def make(row: dict[str, Any], code: str, name: str) -> ReportingRow:
        return ReportingRow(
            reporter_code=code, reporter_name=name, periods_expected=row["periods_expected"],
            periods_reported=row["periods_reported"], periods_on_time=row["periods_on_time"],
            on_time_rate=_f(row["on_time_rate"]), days_late_max=_f(row["days_late_max"]),
            rejections=int(row["rejections"]), warnings=int(row["warnings"]),
            missing_periods=list(row["missing_periods"]), overrides=int(row["overrides"]),
        )

    per_reporter = [make(by_code[r.code], r.code, r.name) for r in reporters]
    total = make(by_code[None], REGION_CODE, reference.reporter_name(REGION_CODE))
    return per_reporter, total


def _load_outliers(conn: Any, year: int) -> list[OutlierRow]:
    targets = reference.intensity_targets(year, fallback_to_latest=True)
    out = []
    for r in _rows(conn, OUTLIERS_SQL, {"year": year}):
        target = targets.get(r["indicator"])
        out.append(OutlierRow(
            reporter_code=r["reporter_code"], reporter_name=reference.reporter_name(r["reporter_code"]),
            credit_code=r["credit_code"], institution_name=r["institution_name"] or r["credit_code"],
            institution_kind=r["institution_subkind"] or "", indicator=r["indicator"],
            indicator_name_zh=target.name_zh if target else r["indicator"], unit=target.unit if target else "",
            value=_f(r["value"]), percentile=_f(r["percentile"]),
        ))
    return out


def load_circular_data(dsn: str | None, year: int, totals_wording: dict[str, dict[str, str]] | None = None) -> CircularData:
    """Read the year's circular from the marts of the warehouse at `dsn` (default: the configured warehouse).

    `totals_wording` names and units the 双控 measures ({"energy": {"name_zh": …, "unit": …}, …}, from the
    wording file). Raises MartsNotReadyError when the marts hold nothing for the year.
    """
    import psycopg

    from energystat import roles, warehouse

    try:
        with warehouse.connect(dsn, role=roles.TRANSFORMER) as conn:  # marts, and ops for freshness
            region, reporters = _load_attainment(conn, year)
            dual_control = _load_dual_control(conn, year, totals_wording or {})
            tasks = _load_tasks(conn, year)
            reporting, reporting_total = _load_reporting(conn, year)
            outliers = _load_outliers(conn, year)
    except psycopg.errors.UndefinedTable as exc:
        raise MartsNotReadyError(f"the marts are not built ({exc.diag.message_primary}): run `energystat marts build`") from exc

    reported_codes = {r.reporter_code for r in reporters}
    missing = [
        MissingReport(r.reporter_code, r.reporter_name, r.missing_periods) for r in reporting if r.missing_periods
    ]
    for rep in reference.reporters():
        if rep.code not in reported_codes and rep.code not in {m.reporter_code for m in missing}:
            missing.append(MissingReport(rep.code, rep.name, [f"{year} (no rows in mart_target_attainment)"]))
    data = CircularData(
        year=year, region=region, reporters=reporters, dual_control=dual_control, tasks=tasks,
        reporting=reporting, reporting_total=reporting_total, outliers=outliers, missing=missing,
        marts_loaded_at=datetime.now(UTC),
    )
    log.info("circular %s: %d reporters, %d tasks, %d outliers, %d reporters incomplete", year, len(reporters),
             len(tasks), len(outliers), len(missing))
    return data


def check_complete(data: CircularData) -> None:
    """Raise IncompleteReportingError naming the reporters and months without accepted monthly statistics."""
    if data.missing:
        raise IncompleteReportingError(data.year, data.missing)


FRESHNESS_SQL = """
select (select max(upload_id) from ops.upload_log
         where status in ('accepted', 'accepted_with_warnings') and kind in ('monthly', 'task_progress'))
           as latest_accepted_upload,
       (select max(live_upload_id) from marts.mart_reporting_timeliness) as latest_upload_in_marts
"""


def marts_freshness(dsn: str | None = None) -> tuple[bool, str]:
    """Whether the marts include the latest accepted upload (the marts record each period's live upload id).

    Returns (fresh, explanation); marts that do not exist yet are not fresh.
    """
    import psycopg

    from energystat import roles, warehouse

    try:
        with warehouse.connect(dsn, role=roles.TRANSFORMER) as conn:
            latest, in_marts = conn.execute(FRESHNESS_SQL).fetchone()
    except psycopg.errors.UndefinedTable:
        return False, "the marts are not built yet (marts.mart_reporting_timeliness is missing)"
    if latest is None:
        return False, "no accepted monthly or task-progress upload in ops.upload_log"
    if in_marts is None or in_marts < latest:
        return False, f"marts are stale: latest accepted upload {latest}, latest upload in the marts {in_marts}"
    return True, f"marts include the latest accepted upload ({latest})"


def default_year(moment: datetime | None = None) -> int:
    """The circular's year when none is given: the year before `moment` (default now) in Asia/Shanghai."""
    from zoneinfo import ZoneInfo

    moment = moment or datetime.now(UTC)
    return moment.astimezone(ZoneInfo("Asia/Shanghai")).year - 1
