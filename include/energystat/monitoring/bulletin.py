"""The monthly progress bulletin (月度进度简报): the year-to-date ranking, the risk classes and the late reporters,
laid out with the annual circular's document model and drawn by its Word and HTML renderers (no second copy).

    from energystat.monitoring.bulletin import publish_bulletin
    publish_bulletin(2023, 7, "out/")     # {"docx": …/bulletin_2023-07.docx, "html": …/bulletin_2023-07.html}

Every number is read from the marts (mart_ytd_attainment, mart_year_end_projection, mart_reporting_timeliness),
as the transformer, like the circular (energystat.roles); this module orders and formats them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row

from energystat import roles, warehouse
from energystat.circular import fmt
from energystat.circular.blocks import break_lines
from energystat.circular.document import Block, Cell, CircularDocument
from energystat.circular.docx_render import render_docx
from energystat.circular.gbt9704 import TITLE_LINE_EMS
from energystat.circular.publish import render_html
from energystat.circular.settings import CircularSettings, load_settings
from energystat.circular.wording import Wording
from energystat.contract.uploads import MONTHLY
from energystat.contract.uploads import WHOLE_REGION as REGION
from energystat.monitoring.early_warning import months_label

#: Year-to-date rows with a rank: most indicators on target so far first, then the smaller per-capita change.
YTD_SQL = """
with t as (
    select y.*, d.sort_order from marts.mart_ytd_attainment as y
    join marts.dim_reporter as d using (reporter_code)
    where y.year = %(year)s and y.through_month = %(month)s
),
summary as (
    select reporter_code, count(*) filter (where attained) as attained_count,
           max(yoy_change) filter (where indicator = 'energy_per_capita') as tiebreak
    from t group by reporter_code
)
select t.reporter_code, t.reporter_name, t.indicator, t.indicator_name_zh, t.unit, t.value, t.prior_value,
       t.yoy_change, t.target_change, t.attained, t.is_complete, s.attained_count,
       case when t.reporter_code <> %(region)s then dense_rank() over (
           partition by t.reporter_code = %(region)s
           order by s.attained_count desc, s.tiebreak asc nulls last, t.reporter_code) end as rank,
       p.projected_change, p.projected_change_low, p.projected_change_high, p.risk_class, p.risk_class_zh
from t
join summary as s using (reporter_code)
left join marts.mart_year_end_projection as p
  on p.reporter_code = t.reporter_code and p.year = t.year and p.through_month = t.through_month
 and p.indicator = t.indicator
order by rank nulls first, t.sort_order, t.indicator
"""

#: Monthly uploads of the year so far that came late or not at all.
LATE_SQL = """
select t.reporter_code, t.reporter_name, t.period, t.deadline_date, t.first_accepted_at, t.days_late, t.is_missing
from marts.mart_reporting_timeliness as t
join marts.dim_reporter as d using (reporter_code)
where t.upload_kind = %(monthly)s and t.period_month between make_date(%(year)s, 1, 1) and make_date(%(year)s, %(month)s, 1)
  and (t.is_missing or t.days_late > 0)
order by d.sort_order, t.period
"""

INDICATORS = ["energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"]


class NoDataError(LookupError):
    """The marts have no year-to-date figures for the month (not built, or no data yet)."""


@dataclass
class BulletinData:
    year: int
    month: int
    rows: list[dict[str, Any]]  # YTD_SQL rows, ranked
    late: list[dict[str, Any]]
    generated_at: dt.datetime

    def reporter_rows(self) -> list[list[dict[str, Any]]]:
        """Per reporter (ranked, GX first): its four indicator rows in INDICATORS order."""
        by_code: dict[str, list[dict[str, Any]]] = {}
        for row in self.rows:
            by_code.setdefault(row["reporter_code"], []).append(row)
        return [sorted(rows, key=lambda r: INDICATORS.index(r["indicator"])) for rows in by_code.values()]


def load_bulletin_data(dsn: str, year: int, month: int) -> BulletinData:
    with warehouse.connect(dsn, role=roles.TRANSFORMER) as conn, conn.cursor(row_factory=dict_row) as cur:
        params = {"year": year, "month": month, "region": REGION, "monthly": MONTHLY}
        rows = [{k: float(v) if hasattr(v, "as_integer_ratio") and not isinstance(v, bool | int) else v
                 for k, v in r.items()} for r in cur.execute(YTD_SQL, params).fetchall()]
        late = cur.execute(LATE_SQL, params).fetchall()
    if not rows:
        raise NoDataError(f"no year-to-date figures for {year}-{month:02d} in marts.mart_ytd_attainment "
                          f"(run `energystat marts build`) / 数据集市中没有 {year}年{month}月 的累计数据")
    return BulletinData(year, month, rows, late, dt.datetime.now().astimezone())


BULLETIN_MARK = "公共机构能源资源消费进度简报"


def _interval(row: dict[str, Any]) -> str:
    if row["projected_change_low"] is None:
        return fmt.MISSING
    return f"{fmt.pct(row['projected_change_low'])}～{fmt.pct(row['projected_change_high'])}"


def build_bulletin(data: BulletinData, settings: CircularSettings) -> CircularDocument:
    """The bulletin as the circular's blocks: overview, ranking, risk classes, reporting."""
    label = months_label(data.year, data.month)
    title = f"{label}全区公共机构能源资源消费进度简报"
    groups = data.reporter_rows()
    region = next(g for g in groups if g[0]["reporter_code"] == REGION)
    reporters = [g for g in groups if g[0]["reporter_code"] != REGION]
    names = [r["indicator_name_zh"] for r in region]
    # A 简报's 版头: its red mark and the issue number 第n期 over the red line, as the circular's 发文字号.
    blocks = [Block("masthead", text=BULLETIN_MARK, lines=[f"{data.year}年第{data.month}期"]),
              Block("title", text=title, lines=break_lines([label, "全区公共机构", "能源资源消费", "进度简报"],
                                                           TITLE_LINE_EMS))]

    # 一、总体情况
    blocks.append(Block("heading", text="一、全区累计情况"))
    parts = [f"{r['indicator_name_zh']}{fmt.change(r['yoy_change'])}（年度目标{fmt.change(r['target_change'])}，"
             f"预计全年{r['risk_class_zh'] or '无法判断'}）" for r in region]
    incomplete = [g[0]["reporter_name"] for g in reporters if not g[0]["is_complete"]]
    blocks.append(Block("paragraph", text=f"{label}，全区公共机构" + "；".join(parts) + "。" + (
        f"{fmt.names(incomplete)}尚有月份数据未报送，其累计数据不完整。" if incomplete else "各单位各月数据均已报送。")))
    blocks.append(Block("table", key="region", text=f"表1 {label}全区四项强度指标累计情况",
                        header=[[Cell(h) for h in ("指标（单位）", label, "上年同期", "同比（%）", "年度目标（%）",
                                                   "全年预测（%）", "80%区间（%）", "判断")]],
                        rows=[[f"{r['indicator_name_zh']}（{r['unit']}）", fmt.num(r["value"]),
                               fmt.num(r["prior_value"]), fmt.pct(r["yoy_change"]), fmt.pct(r["target_change"]),
                               fmt.pct(r["projected_change"]), _interval(r), r["risk_class_zh"] or fmt.MISSING]
                              for r in region]))

    # 二、各地区累计排名
    blocks.append(Block("heading", text="二、各地区累计完成情况排名"))
    leaders = [g[0]["reporter_name"] for g in reporters if g[0]["attained_count"] == len(INDICATORS)]
    blocks.append(Block("paragraph", text=(
        f"按累计同比达到年度目标的指标个数排名（相同时按人均综合能耗降幅）。{label}"
        + (f"四项指标累计均达到目标的有{fmt.names(leaders)}。" if leaders else "尚无四项指标累计均达到目标的单位。"))))
    blocks.append(Block("table", key="ranking", text=f"表2 {label}各地区累计同比（%）及排名",
                        header=[[Cell("排名"), Cell("单位"), Cell("达标指标数"), *(Cell(n) for n in names)]],
                        rows=[[str(g[0]["rank"]), g[0]["reporter_name"], f"{g[0]['attained_count']}/{len(g)}",
                               *(fmt.pct(r["yoy_change"]) + ("" if r["attained"] else "▲") for r in g)]
                              for g in reporters],
                        note="▲ 累计同比未达到年度目标。"))

    # 三、年度目标完成预测
    blocks.append(Block("heading", text="三、年度目标完成预测"))
    off = {n: [g[0]["reporter_name"] for g in reporters for r in g
               if r["indicator_name_zh"] == n and r["risk_class"] == "off_track"] for n in names}
    sentences = [f"{n}难以完成的有{fmt.names(v)}" for n, v in off.items() if v]
    blocks.append(Block("paragraph", text=(
        "按季节法预测全年（剩余月份按上年同月乘以本年累计同比推算），以月度同比的离散程度给出80%预测区间："
        "区间全部优于目标为“有望完成”，全部差于目标为“难以完成”，跨越目标为“存在风险”。"
        + ("；".join(sentences) + "。" if sentences else "暂无难以完成目标的单位。"))))
    blocks.append(Block("table", key="risk", text=f"表3 各地区年度目标完成预测（{label}数据）",
                        header=[[Cell("单位"), *(Cell(n) for n in names)]],
                        rows=[[g[0]["reporter_name"], *(r["risk_class_zh"] or fmt.MISSING for r in g)]
                              for g in [region, *reporters]]))

    # 四、报送情况
    blocks.append(Block("heading", text="四、数据报送情况"))
    if data.late:
        late_names = list(dict.fromkeys(r["reporter_name"] for r in data.late))
        blocks.append(Block("paragraph", text=f"{data.year}年1—{data.month}月月报逾期或未报送的有"
                                              f"{fmt.names(late_names)}，请按时报送。"))
        blocks.append(Block("table", key="late", text="表4 逾期或未报送的月报",
                            header=[[Cell(h) for h in ("单位", "统计期", "截止日期", "情况")]],
                            rows=[[r["reporter_name"], r["period"], fmt.cn_date(r["deadline_date"]),
                                   "未报送" if r["is_missing"] else f"逾期{r['days_late']}天"] for r in data.late]))
    else:
        blocks.append(Block("paragraph", text=f"{data.year}年1—{data.month}月各单位月报均按时报送。"))

    today = data.generated_at.date()
    blocks.append(Block("signature", lines=[settings.issuer, fmt.cn_date(today)]))
    blocks.append(Block("remark", text=f"（数据来源：能源资源消费统计数据集市，生成于 {data.generated_at:%Y-%m-%d %H:%M}。"
                                     "累计指标口径与年度通报相同，12月累计值即全年值。）"))
    metadata = {"title": title, "year": data.year, "month": data.month, "issuer": settings.issuer,
                "issue_date": today.isoformat(), "doc_number": "", "generated_at": data.generated_at.isoformat(),
                "wording_file": str(settings.wording_file), "complete": not incomplete, "notes": []}
    return CircularDocument(title=title, blocks=blocks, metadata=metadata)


def file_stem(year: int, month: int) -> str:
    return f"bulletin_{year}-{month:02d}"


def publish_bulletin(year: int, month: int, out_dir: Path | str, dsn: str | None = None,
                     settings: CircularSettings | None = None) -> dict[str, Path]:
    """Write bulletin_<year>-<month>.docx and .html into out_dir; returns {"docx": …, "html": …}."""
    settings = settings or load_settings()
    document = build_bulletin(load_bulletin_data(dsn or warehouse.warehouse_dsn(), year, month), settings)
    out = Path(out_dir)
    stem = file_stem(year, month)
    return {"docx": render_docx(document, out / f"{stem}.docx"),
            "html": render_html(document, out / f"{stem}.html", Wording(settings.wording_file))}


def latest_complete_month(dsn: str) -> tuple[int, int] | None:
    """(year, month) of the latest month-end whose months every reporter has reported, or None."""
    with warehouse.connect(dsn, role=roles.TRANSFORMER) as conn:
        row = conn.execute("select year, through_month from marts.mart_ytd_attainment"
                           " where reporter_code = %s and is_complete"
                           " order by year desc, through_month desc limit 1", (REGION,)).fetchone()
    return (int(row[0]), int(row[1])) if row else None
