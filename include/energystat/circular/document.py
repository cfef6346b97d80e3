"""The circular as a list of blocks (headings, paragraphs, tables, figures), built once from the data and the
wording file; the Word and HTML renderers draw the same blocks, so both documents say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from energystat.circular import fmt
from energystat.circular.charts import Chart
from energystat.circular.model import CircularData, IndicatorResult
from energystat.circular.settings import CircularSettings
from energystat.circular.wording import Wording


@dataclass(frozen=True)
class Cell:
    text: str
    colspan: int = 1
    rowspan: int = 1


@dataclass
class Block:
    kind: str  # title | doc_number | addressee | heading | subheading | paragraph | table | figure | signature
    #            | annex_list | annex_label | note
    text: str = ""
    key: str = ""  # tables and figures: a stable id (reporters, region, totals, tasks, reporting, chart_<indicator>)
    header: list[list[Cell]] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    wide: bool = False  # a table that needs a landscape page in Word
    note: str = ""
    chart: Chart | None = None
    lines: list[str] = field(default_factory=list)  # signature: issuer, date


@dataclass
class CircularDocument:
    year: int
    title: str
    blocks: list[Block]
    metadata: dict[str, Any]

    def table(self, key: str) -> Block:
        return next(b for b in self.blocks if b.kind == "table" and b.key == key)


def status_word(wording: Wording, attained: bool | None) -> str:
    key = "unknown" if attained is None else "attained" if attained else "missed"
    return wording.text(f"status.{key}")


def _uniform_target(data: CircularData, indicator: str) -> tuple[bool, float | None]:
    targets = {i.target_change for r in data.reporters if (i := r.indicator(indicator)) is not None}
    return len(targets) <= 1, next(iter(targets), None)


def _reporters_table(data: CircularData, w: Wording) -> Block:
    year = data.year
    indicators = [i for i in data.region.indicators]
    h = "tables.reporters"
    top = [Cell(w.text(f"{h}.rank"), rowspan=2), Cell(w.text(f"{h}.name"), rowspan=2),
           Cell(w.text(f"{h}.attained_count"), rowspan=2)]
    sub: list[Cell] = []
    with_target_column = {}
    for ind in indicators:
        uniform, target = _uniform_target(data, ind.indicator)
        with_target_column[ind.indicator] = not uniform
        labels = {"year": year, "name_zh": ind.name_zh, "unit": ind.unit, "target": target if uniform else None}
        columns = [w.text(f"{h}.value", **labels), w.text(f"{h}.yoy")]
        if not uniform:
            columns.append(w.text(f"{h}.target"))
        columns.append(w.text(f"{h}.status"))
        top.append(Cell(w.text(f"{h}.group", **labels), colspan=len(columns)))
        sub += [Cell(c) for c in columns]

    def cells(result: IndicatorResult | None, key: str) -> list[str]:
        if result is None:
            return [fmt.MISSING] * (4 if with_target_column[key] else 3)
        out = [fmt.num(result.value), fmt.pct(result.yoy_change)]
        if with_target_column[key]:
            out.append(fmt.pct(result.target_change))
        return out + [status_word(w, result.attained)]

    rows = []
    for rep in [*data.reporters, data.region]:
        row = [str(rep.rank) if rep.rank is not None else fmt.MISSING, rep.reporter_name,
               f"{rep.attained_count}/{rep.indicator_count}"]
        for ind in indicators:
            row += cells(rep.indicator(ind.indicator), ind.indicator)
        rows.append(row)
    return Block("table", key="reporters", text=w.text("sections.reporters.table_caption", year=year),
                 header=[top, sub], rows=rows, wide=True, note=w.text("sections.reporters.table_note"))


def _simple_table(key: str, caption: str, headers: list[str], rows: list[list[str]], note: str = "") -> Block:
    return Block("table", key=key, text=caption, header=[[Cell(h) for h in headers]], rows=rows, note=note)


def _headers(w: Wording, key: str, year: int) -> list[str]:
    return [w.env.from_string(str(h)).render(year=year) for h in w.raw(f"tables.{key}")]


def build_document(
    data: CircularData, settings: CircularSettings, wording: Wording, charts: dict[str, Chart],
    notes: list[str] | None = None,
) -> CircularDocument:
    w, year = wording, data.year
    blocks: list[Block] = []
    title = w.text("title", year=year)
    blocks.append(Block("title", text=title))
    if settings.doc_number:
        blocks.append(Block("doc_number", text=settings.doc_number))
    blocks.append(Block("addressee", text=settings.addressee))
    blocks += [Block("paragraph", text=p) for p in w.paragraphs("opening", year=year)]
    if data.missing:
        blocks.append(Block("paragraph", text=w.text("incomplete_note", year=year, missing=data.missing)))

    # 一、总体情况
    region = data.region
    blocks.append(Block("heading", text=w.text("sections.overall.heading")))
    sentences = "".join(
        w.text("sections.overall.indicator_sentence", i=i, status_word=status_word(w, i.attained))
        for i in region.indicators
    )
    blocks.append(Block("paragraph", text=w.text("sections.overall.intro", year=year) + sentences))
    blocks.append(_simple_table(
        "region", w.text("sections.overall.table_region_caption", year=year), _headers(w, "region", year),
        [[i.name_zh, i.unit, fmt.num(i.prior_value), fmt.num(i.value), fmt.pct(i.yoy_change),
          fmt.pct(i.target_change), status_word(w, i.attained)] for i in region.indicators],
    ))
    region_totals = next((d for d in data.dual_control if d.reporter_code == region.reporter_code), None)
    if region_totals is not None:
        blocks.append(Block("paragraph", text=w.text("sections.overall.dual_control_intro", totals=region_totals.totals)))
        blocks.append(_simple_table(
            "totals", w.text("sections.overall.table_totals_caption", year=year), _headers(w, "totals", year),
            [[t.name_zh, t.unit, fmt.total(t.prior_value), fmt.total(t.value), fmt.pct(t.yoy_change)]
             for t in region_totals.totals],
        ))

    # 二、各设区市及区直单位完成情况
    blocks.append(Block("heading", text=w.text("sections.reporters.heading")))
    all_attained = [r for r in data.reporters if r.attained_count == r.indicator_count]
    some_missed = [r for r in data.reporters if r.attained_count < r.indicator_count]
    blocks.append(Block("paragraph", text=w.text("sections.reporters.intro", year=year, all_attained=all_attained,
                                                 some_missed=some_missed)))
    missed_by_indicator = [
        {"name_zh": i.name_zh, "target": i.target_change, "missed": data.missed(i.indicator)}
        for i in region.indicators if data.missed(i.indicator)
    ]
    if missed_by_indicator:
        text = "".join(w.text("sections.reporters.missed_sentence", **m) for m in missed_by_indicator)
    else:
        text = w.text("sections.reporters.none_missed")
    blocks.append(Block("paragraph", text=text))
    annex = _reporters_table(data, w)  # too wide for the body: the annex, on a landscape page
    for n, ind in enumerate(region.indicators, start=1):
        chart = charts.get(ind.indicator)
        if chart is not None:
            blocks.append(Block("figure", key=f"chart_{ind.indicator}", chart=chart,
                                text=w.text("sections.reporters.chart_caption", n=n, name_zh=ind.name_zh)))

    # 三、重点任务进展
    blocks.append(Block("heading", text=w.text("sections.tasks.heading")))
    if data.tasks:
        label = [t.name_zh + (f"（{t.detail}）" if t.detail else "") for t in data.tasks]
        done = [lbl for lbl, t in zip(label, data.tasks, strict=True) if t.completed]
        not_done = [lbl for lbl, t in zip(label, data.tasks, strict=True) if t.completed is False]
        blocks.append(Block("paragraph", text=w.text("sections.tasks.intro", year=year, done=done, not_done=not_done)))
        blocks.append(_simple_table(
            "tasks", w.text("sections.tasks.table_caption", year=year), _headers(w, "tasks", year),
            [[lbl, t.unit, fmt.num(t.target, 0 if t.target is not None and float(t.target).is_integer() else 1),
              fmt.num(t.achieved, 0), fmt.pct(t.completion_ratio), status_word(w, t.completed)]
             for lbl, t in zip(label, data.tasks, strict=True)],
        ))
    else:
        not_done = []
        blocks.append(Block("paragraph", text=w.text("sections.tasks.none")))

    # 四、数据质量与报送情况
    blocks.append(Block("heading", text=w.text("sections.reporting.heading")))
    late = [r for r in data.reporting if r.periods_on_time < r.periods_expected]
    all_on_time = [r for r in data.reporting if r.periods_on_time == r.periods_expected]
    total = data.reporting_total
    blocks.append(Block("paragraph", text=w.text(
        "sections.reporting.intro", year=year, periods_expected=total.periods_expected,
        periods_on_time=total.periods_on_time, all_on_time=all_on_time, late=late,
        rejections=total.rejections, warnings=total.warnings, reporter_count=len(data.reporting),
    )))

    def reporting_row(r: Any, name: str) -> list[str]:
        return [name, str(r.periods_expected), str(r.periods_reported), str(r.periods_on_time),
                fmt.pct(r.on_time_rate), fmt.num(r.days_late_max, 0), str(r.rejections), str(r.warnings)]

    blocks.append(_simple_table(
        "reporting", w.text("sections.reporting.table_caption", year=year), _headers(w, "reporting", year),
        [reporting_row(r, r.reporter_name) for r in data.reporting] + [reporting_row(total, total.reporter_name)],
    ))

    # 五、存在问题和下一步要求
    s5 = "sections.next_steps"
    blocks.append(Block("heading", text=w.text(f"{s5}.heading")))
    blocks.append(Block("subheading", text=w.text(f"{s5}.problems_heading")))
    problems = []
    if missed_by_indicator:
        problems.append(w.text(f"{s5}.problem_missed", missed=missed_by_indicator))
    if late:
        problems.append(w.text(f"{s5}.problem_late", late=late, reporter_count=len(data.reporting)))
    if data.outliers:
        from energystat.circular.data import OUTLIERS_NAMED

        problems.append(w.text(f"{s5}.problem_outliers", outliers=data.outliers[:OUTLIERS_NAMED],
                               outliers_more=max(len(data.outliers) - OUTLIERS_NAMED, 0)))
    if not_done:
        problems.append(w.text(f"{s5}.problem_tasks", not_done=not_done))
    if not problems:
        problems.append(w.text(f"{s5}.no_problems"))
    blocks += [Block("paragraph", text=f"{n}. {p}" if len(problems) > 1 else p) for n, p in enumerate(problems, 1)]
    blocks.append(Block("subheading", text=w.text(f"{s5}.requirements_heading")))
    missed_reporters = [r for r in data.reporters if r.attained_count < r.indicator_count]
    blocks += [Block("paragraph", text=p)
               for p in w.paragraphs(f"{s5}.requirements", year=year, missed_reporters=missed_reporters)]

    blocks.append(Block("paragraph", text=w.text("closing")))
    blocks.append(Block("annex_list", text=w.text("annex_list", caption=annex.text)))
    blocks.append(Block("signature", lines=[settings.issuer, fmt.cn_date(settings.effective_date)]))
    generated_at = data.marts_loaded_at.astimezone().strftime("%Y-%m-%d %H:%M")
    for note in [w.text("data_note", generated_at=generated_at), *(notes or [])]:
        blocks.append(Block("note", text=note))
    blocks.append(Block("annex_label", text=w.text("annex_label")))
    blocks.append(annex)

    metadata = {
        "title": title, "year": year, "issuer": settings.issuer, "issue_date": settings.effective_date.isoformat(),
        "doc_number": settings.doc_number, "generated_at": data.marts_loaded_at.isoformat(),
        "wording_file": str(settings.wording_file), "complete": data.complete, "notes": list(notes or []),
    }
    return CircularDocument(year=year, title=title, blocks=blocks, metadata=metadata)
