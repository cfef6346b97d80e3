"""Early warnings: when a reporter's months so far are all in, which indicators may miss the year's target.

One message per reporter (to its own channels, else governance) listing the indicators whose year-end
projection is at risk or off track, with the year-to-date figure, the projection and the target; and a
province summary to the governance channel once every reporter's month is in. Each is sent once per reporter
and month (ops.reminders_sent), read from mart_year_end_projection. The marts are read as the transformer (who
builds them), the record written as the loader (who writes the rows of `ops`): energystat.roles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row

from energystat import reference, roles, warehouse
from energystat.contract.uploads import MONTHLY, WHOLE_REGION
from energystat.monitoring import channels
from energystat.monitoring.outbox import SENT, UNDELIVERED, Message, UndeliveredError, send_once

AT_RISK = ("at_risk", "off_track")

#: Each reporter's (and GX's) latest month-end whose months are all in, and the projection from it.
LATEST_COMPLETE_SQL = """
with latest as (
    select reporter_code, max(period_month) as period_month
    from marts.mart_year_end_projection
    where is_complete
    group by reporter_code
)
select p.reporter_code, p.reporter_name, p.year, p.through_month, p.indicator, p.indicator_name_zh, p.unit,
       p.ytd_value, p.ytd_change, p.projected_value, p.projected_change, p.projected_change_low,
       p.projected_change_high, p.target_change, p.risk_class, p.risk_class_zh
from marts.mart_year_end_projection as p
join latest as l on l.reporter_code = p.reporter_code and l.period_month = p.period_month
order by p.reporter_code, p.indicator
"""

#: Every reporter's projection from one month-end (for the province summary).
AT_MONTH_SQL = """
select reporter_code, reporter_name, indicator, indicator_name_zh, risk_class, risk_class_zh
from marts.mart_year_end_projection
where year = %s and through_month = %s and reporter_code <> %s
order by reporter_code, indicator
"""


@dataclass(frozen=True)
class Projection:
    reporter_code: str
    reporter_name: str
    year: int
    through_month: int
    indicator: str
    indicator_name_zh: str
    unit: str
    ytd_value: float
    ytd_change: float | None
    projected_value: float | None
    projected_change: float | None
    projected_change_low: float | None
    projected_change_high: float | None
    target_change: float | None
    risk_class: str | None
    risk_class_zh: str | None

    @property
    def period(self) -> str:
        return f"{self.year}-{self.through_month:02d}"


def pct(x: float | None) -> str:
    """−0.0112 → "−1.12%" (a real minus sign, as in printed statistics); None → "—"."""
    if x is None:
        return "—"
    return f"{x * 100:+.2f}%".replace("-", "−")


def months_label(year: int, through_month: int) -> str:
    return f"{year}年1月" if through_month == 1 else f"{year}年1—{through_month}月"


def latest_complete(conn: psycopg.Connection) -> dict[str, list[Projection]]:
    """reporter_code (and GX) → its projections from its latest complete month-end."""
    out: dict[str, list[Projection]] = {}
    with conn.cursor(row_factory=dict_row) as cur:
        for row in cur.execute(LATEST_COMPLETE_SQL):
            values = {k: (float(v) if k in _NUMERIC and v is not None else v) for k, v in row.items()}
            out.setdefault(row["reporter_code"], []).append(Projection(**values))
    return out


_NUMERIC = {"ytd_value", "ytd_change", "projected_value", "projected_change", "projected_change_low",
            "projected_change_high", "target_change"}


def indicator_line(p: Projection) -> str:
    return (f"  - {p.indicator_name_zh}：{months_label(p.year, p.through_month)} {p.ytd_value:.2f} {p.unit}，"
            f"同比 {pct(p.ytd_change)}；预计全年 {pct(p.projected_change)}"
            f"（80%区间 {pct(p.projected_change_low)} 至 {pct(p.projected_change_high)}），"
            f"目标 {pct(p.target_change)}：{p.risk_class_zh}")


def reporter_warning(projections: Sequence[Projection], today: dt.date) -> Message | None:
    """The reporter's warning, or None when every indicator is on track (or cannot be judged)."""
    risky = [p for p in projections if p.risk_class in AT_RISK]
    if not risky:
        return None
    first = projections[0]
    who = f"{reference.reporter_name(first.reporter_code)}（{first.reporter_code}）"
    label = months_label(first.year, first.through_month)
    title = f"【进度预警】{who} {label} {len(risky)} 项指标年度目标存在完成风险"
    body = "\n".join([
        f"报送单位：{who}",
        f"数据期：{label}（各月数据已齐）",
        "按季节法预测（剩余月份按上年同月 × 本年累计同比推算），以下指标全年目标存在风险：",
        *(indicator_line(p) for p in risky),
        "说明：“难以完成”指 80% 预测区间全部高于目标；“存在风险”指区间跨越目标。",
        "请分析原因，及早采取节能节水措施。",
    ])
    return Message(kind="early_warning", reporter_code=first.reporter_code, upload_kind=MONTHLY,
                   period=first.period, sent_on=today, title=title, body=body)


def province_summary(region: Sequence[Projection], reporters: Sequence[dict], today: dt.date) -> Message:
    """The governance summary: the whole region's projection and, per indicator, who is off track / at risk."""
    first = region[0]
    label = months_label(first.year, first.through_month)
    counts = {c: sum(r["risk_class"] == c for r in reporters) for c in ("off_track", "at_risk", "on_track")}
    title = (f"【进度简报】全区 {label} 年度目标预测：难以完成 {counts['off_track']} 项、"
             f"存在风险 {counts['at_risk']} 项（各市×指标）")
    lines = [f"数据期：{label}（全部报送单位各月数据已齐）", "全区："]
    lines += [indicator_line(p) for p in region]
    for p in region:
        names = {c: [r["reporter_name"] for r in reporters if r["indicator"] == p.indicator and r["risk_class"] == c]
                 for c in AT_RISK}
        lines.append(f"{p.indicator_name_zh}：难以完成 {len(names['off_track'])} 个"
                     f"（{'、'.join(names['off_track']) or '无'}）；存在风险 {len(names['at_risk'])} 个"
                     f"（{'、'.join(names['at_risk']) or '无'}）")
    lines.append("各单位预警已分别发送。")
    return Message(kind="early_warning_summary", reporter_code=WHOLE_REGION, upload_kind=MONTHLY,
                   period=first.period, sent_on=today, title=title, body="\n".join(lines))


@dataclass
class WarningsSent:
    reporters: list[str]
    summary_period: str | None


def send_early_warnings(dsn: str, today: dt.date, reporter_urls: Mapping[str, Sequence[str]] | None = None,
                        governance_urls: Sequence[str] = ()) -> WarningsSent:
    """Send the warnings of each reporter's latest complete month, and the province summary, not sent before."""
    own = channels.configured_reporter_urls() if reporter_urls is None else reporter_urls
    sent = WarningsSent(reporters=[], summary_period=None)
    undelivered: list[Message] = []
    with warehouse.connect(dsn, role=roles.TRANSFORMER) as marts:  # the projections: marts, as the circular reads them
        latest = latest_complete(marts)
        region = latest.get(WHOLE_REGION)
        reporters = []
        if region:
            with marts.cursor(row_factory=dict_row) as cur:
                reporters = cur.execute(AT_MONTH_SQL, (region[0].year, region[0].through_month, WHOLE_REGION)).fetchall()
    with warehouse.connect(dsn, role=roles.LOADER) as conn:  # what was sent: ops.reminders_sent, rows of ops
        for code, projections in latest.items():
            message = reporter_warning(projections, today) if code != WHOLE_REGION else None
            if message is None:
                continue
            outcome = send_once(conn, message, channels.urls_for(code, own, governance_urls))
            if outcome == SENT:
                sent.reporters.append(code)
            elif outcome == UNDELIVERED:
                undelivered.append(message)
        if region:
            summary = province_summary(region, reporters, today)
            outcome = send_once(conn, summary, governance_urls)
            if outcome == SENT:
                sent.summary_period = region[0].period
            elif outcome == UNDELIVERED:
                undelivered.append(summary)
    if undelivered:
        raise UndeliveredError(sent.reporters, undelivered)
    return sent
