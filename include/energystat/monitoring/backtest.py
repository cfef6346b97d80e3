"""Backtest of the year-end projection: from each month-end, how often its risk class matched December's outcome."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

#: Per month-end of `year`: projections, class hits (on_track & attained, off_track & not attained), decided
#: classes, point hits (projected change vs target agrees with the outcome), interval covering the outcome.
BACKTEST_SQL = """
select p.through_month,
       count(*) as projections,
       count(*) filter (where (p.risk_class = 'on_track' and a.attained)
                           or (p.risk_class = 'off_track' and not a.attained)) as class_hits,
       count(*) filter (where p.risk_class in ('on_track', 'off_track')) as decided,
       count(*) filter (where (p.projected_change <= p.target_change) = a.attained) as point_hits,
       count(*) filter (where a.yoy_change between p.projected_change_low and p.projected_change_high) as covered
from marts.mart_year_end_projection as p
join marts.mart_target_attainment as a
  on a.reporter_code = p.reporter_code and a.year = p.year and a.indicator = p.indicator
where p.year = %s and p.risk_class is not null and a.attained is not null
group by p.through_month
order by p.through_month
"""


@dataclass(frozen=True)
class MonthScore:
    through_month: int
    projections: int
    class_hits: int
    decided: int
    point_hits: int
    covered: int

    @property
    def class_hit_rate(self) -> float:
        """Share of projections whose class was right; at_risk counts as a miss (it never "matches")."""
        return self.class_hits / self.projections

    @property
    def decided_share(self) -> float:
        return self.decided / self.projections

    @property
    def decided_hit_rate(self) -> float | None:
        return self.class_hits / self.decided if self.decided else None

    @property
    def point_hit_rate(self) -> float:
        return self.point_hits / self.projections

    @property
    def coverage(self) -> float:
        return self.covered / self.projections


def backtest(dsn: str, year: int) -> list[MonthScore]:
    """The projection from each month-end of `year` scored against the year's real outcome (needs December)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(BACKTEST_SQL, (year,)).fetchall()
    return [MonthScore(*map(int, row)) for row in rows]


def markdown_table(scores: list[MonthScore]) -> str:
    """The scores as the Markdown table of docs/analysts.md."""
    lines = ["| from month-end | projections | class hit rate | decided (on/off track) | hit rate when decided "
             "| point hit rate | 80 % interval coverage |", "|---|---|---|---|---|---|---|"]
    for s in scores:
        decided = "—" if s.decided_hit_rate is None else f"{s.decided_hit_rate:.0%}"
        lines.append(f"| {s.through_month} | {s.projections} | {s.class_hit_rate:.0%} | {s.decided_share:.0%} "
                     f"| {decided} | {s.point_hit_rate:.0%} | {s.coverage:.0%} |")
    return "\n".join(lines)
