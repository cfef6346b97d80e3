"""The annual circular as blocks (`blocks.Document`), built once from the marts' data, the settings and the
wording file, in the order of GB/T 9704-2012: 版头, 标题, 主送, 正文, 附件说明, 署名与成文日期, 附注, 附件, 版记.

The Word and HTML renderers draw the same blocks, so both documents say the same thing.
"""

from __future__ import annotations

from typing import Any

from energystat.circular import fmt
from energystat.circular.blocks import Block, Cell, Document, break_lines
from energystat.circular.charts import Chart
from energystat.circular.gbt9704 import SIZE_TABLE, TITLE_LINE_EMS, TITLE_LINE_EMS_WIDE, natural_size
from energystat.circular.model import CircularData, IndicatorResult, TaskRow
from energystat.circular.settings import CircularSettings
from energystat.circular.wording import Wording

#: Outlying institutions named in the body; the whole list is an annex.
OUTLIERS_NAMED = 5

# Backwards-compatible name: the circular's document is the generic block document.
CircularDocument = Document


def status_word(wording: Wording, attained: bool | None) -> str:
    key = "unknown" if attained is None else "attained" if attained else "missed"
    return wording.text(f"status.{key}")


def unit_zh(wording: Wording, unit: str) -> str:
    """The unit as written in the document (the wording file's `units`), e.g. kgce/人 -> 千克标准煤/人."""
    return str(wording.raw("units").get(unit, unit))


def title_lines(wording: Wording, year: int, key: str = "title", width: float = TITLE_LINE_EMS) -> tuple[str, list[str], list[str]]:
    """(title, its lines, its words): the wording's titles mark the allowed break points with "|"."""
    marked = wording.text(key, year=year)
    words = [w for w in marked.split("|") if w]
    return "".join(words), break_lines(words, width), words


def _uniform_target(data: CircularData, indicator: str) -> tuple[bool, float | None]:
    targets = {i.target_change for r in data.reporters if (i := r.indicator(indicator)) is not None}
    return len(targets) <= 1, next(iter(targets), None)


def _reporters_table(data: CircularData, w: Wording) -> Block:
    year = data.year
    indicators = list(data.region.indicators)
    h = "tables.reporters"
    top = [Cell(w.text(f"{h}.rank"), rowspan=2), Cell(w.text(f"{h}.name"), rowspan=2),
           Cell(w.text(f"{h}.attained_count"), rowspan=2)]
    sub: list[Cell] = []
    with_target_column = {}
    for ind in indicators:
        uniform, target = _uniform_target(data, ind.indicator)
        with_target_column[ind.indicator] = not uniform
        labels = {"year": year, "name_zh": ind.name_zh, "unit": unit_zh(w, ind.unit),
                  "target": target if uniform else None}
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
    return Block("table", key="reporters", header=[top, sub], rows=rows,
                 note=w.text("sections.reporters.table_note"))


def _outliers_table(data: CircularData, w: Wording) -> Block:
    rows = [[str(n), o.reporter_name, o.institution_name, o.institution_kind, o.indicator_name_zh,
             f"{fmt.num(o.value)}{unit_zh(w, o.unit)}", fmt.pct_plain(o.percentile)]
            for n, o in enumerate(data.outliers, start=1)]
    return Block("table", key="outliers", header=[[Cell(h) for h in _headers(w, "outliers", data.year)]], rows=rows)


def _simple_table(key: str, caption: str, headers: list[str], rows: list[list[str]], note: str = "") -> Block:
    return Block("table", key=key, text=caption, header=[[Cell(h) for h in headers]], rows=rows, note=note)


def _headers(w: Wording, key: str, year: int) -> list[str]:
    return [w.env.from_string(str(h)).render(year=year) for h in w.raw(f"tables.{key}")]


def _task_cells(w: Wording, t: TaskRow) -> tuple[str, str]:
    """(年度目标, 实际完成) of a task, counts as whole numbers, shares as percentages."""
    whole = t.target_count if t.target_count is not None else t.target
    values = {"target": whole, "unit": t.unit, "share": t.target_share, "base": t.base_count,
              "achieved": t.achieved, "achieved_share": t.achieved_share}
    if t.target_type == "share":
        return w.text("task_target.share", **values), w.text("task_achieved.share", **values)
    kind = "count_of_base" if t.target_share is not None and t.base_count else "count"
    return w.text(f"task_target.{kind}", **values), w.text("task_achieved.count", **values)


def build_document(
    data: CircularData, settings: CircularSettings, wording: Wording, charts: dict[str, Chart],
    notes: list[str] | None = None,
) -> Document:
    w, year = wording, data.year
    blocks: list[Block] = []
    issued = settings.dated(year)
    title, lines, words = title_lines(w, year)
    number = settings.number(year)
    blocks.append(Block("masthead", text=settings.mark(), lines=[number] if number else []))
    blocks.append(Block("title", text=title, lines=lines))
    blocks.append(Block("addressee", text=settings.addressee))
    blocks += [Block("paragraph", text=p) for p in w.paragraphs("opening", year=year)]
    if data.missing:
        blocks.append(Block("paragraph", text=w.text("incomplete_note", year=year, missing=data.missing)))

    # 一、总体情况
    region = data.region
    indicator_count = len(region.indicators)
    blocks.append(Block("heading", text=w.text("sections.overall.heading")))
    sentences = "".join(
        w.text("sections.overall.indicator_sentence", i=i, unit=unit_zh(w, i.unit), status_word=status_word(w, i.attained))
        for i in region.indicators
    )
    blocks.append(Block("paragraph", text=w.text("sections.overall.intro", year=year) + sentences))
    blocks.append(_simple_table(
        "region", w.text("sections.overall.table_region_caption", year=year), _headers(w, "region", year),
        [[i.name_zh, unit_zh(w, i.unit), fmt.num(i.prior_value), fmt.num(i.value), fmt.pct(i.yoy_change),
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

    # 附件: the ranking (always), the outlying institutions (when there are more than the body names)
    annexes: list[tuple[tuple[str, list[str], list[str]], Block]] = [
        (title_lines(w, year, "annexes.reporters"), _reporters_table(data, w))]
    outliers_annex = ""
    if len(data.outliers) > OUTLIERS_NAMED:
        annexes.append((title_lines(w, year, "annexes.outliers"), _outliers_table(data, w)))
        outliers_annex = str(len(annexes))
    numbered = len(annexes) > 1  # GB/T 9704: a single annex is "附件", several are "附件1", "附件2"

    # 二、各设区市及区直单位完成情况
    blocks.append(Block("heading", text=w.text("sections.reporters.heading")))
    all_attained = [r for r in data.reporters if r.attained_count == r.indicator_count]
    some_missed = [r for r in data.reporters if r.attained_count < r.indicator_count]
    blocks.append(Block("paragraph", text=w.text("sections.reporters.intro", year=year, all_attained=all_attained,
                                                 some_missed=some_missed, indicator_count=indicator_count,
                                                 ranking_annex=w.text("annex_label", n=1 if numbered else ""))))
    missed_by_indicator = [
        {"name_zh": i.name_zh, "target": i.target_change, "missed": data.missed(i.indicator)}
        for i in region.indicators if data.missed(i.indicator)
    ]
    if missed_by_indicator:
        text = "".join(w.text("sections.reporters.missed_sentence", **m) for m in missed_by_indicator)
    else:
        text = w.text("sections.reporters.none_missed", indicator_count=indicator_count)
    blocks.append(Block("paragraph", text=text))
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
            [[t.name_zh + (f"\n（{t.detail}）" if t.detail else ""), *_task_cells(w, t), fmt.pct_plain(t.completion_ratio),
              status_word(w, t.completed)] for t in data.tasks],
            note=w.text("sections.tasks.table_note"),
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
        overrides=total.overrides, overridden=[r for r in data.reporting if r.overrides],
    )))

    def reporting_row(r: Any, name: str) -> list[str]:
        return [name, str(r.periods_expected), str(r.periods_reported), str(r.periods_on_time),
                fmt.pct(r.on_time_rate), fmt.num(r.days_late_max, 0), str(r.rejections), str(r.warnings),
                str(r.overrides)]

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
        named = data.outliers[:OUTLIERS_NAMED]
        problems.append(w.text(
            f"{s5}.problem_outliers", outliers=[_outlier_view(w, o) for o in named],
            outliers_more=len(data.outliers) - len(named), outliers_total=len(data.outliers),
            outliers_annex=outliers_annex,
        ))
    if not_done:
        problems.append(w.text(f"{s5}.problem_tasks", not_done=not_done))
    if not problems:
        problems.append(w.text(f"{s5}.no_problems"))
    blocks += [Block("paragraph", text=f"{n}.{p}" if len(problems) > 1 else p) for n, p in enumerate(problems, 1)]
    blocks.append(Block("subheading", text=w.text(f"{s5}.requirements_heading")))
    missed_reporters = [r for r in data.reporters if r.attained_count < r.indicator_count]
    blocks += [Block("paragraph", text=p)
               for p in w.paragraphs(f"{s5}.requirements", year=year, missed_reporters=missed_reporters,
                                     rectification_date=settings.rectification_date(year))]
    blocks.append(Block("paragraph", text=w.text("closing")))

    # 附件说明, 署名与成文日期, 附注
    blocks.append(Block("annex_list", lines=[t[0] for t, _ in annexes]))
    blocks.append(Block("signature", lines=[settings.issuer, fmt.cn_date(issued)]))
    if settings.remark:
        blocks.append(Block("remark", text=w.text("remark", remark=settings.remark)))

    # 附件, each on its own page; the ranking is wide (landscape)
    for n, ((annex_title, annex_lines, _), table) in enumerate(annexes, start=1):
        wide = natural_size(table) < SIZE_TABLE  # too wide for a portrait page at 五号: landscape
        if wide:
            annex_lines = title_lines(w, year, f"annexes.{table.key}", TITLE_LINE_EMS_WIDE)[1]
        blocks.append(Block("annex", note=w.text("annex_label", n=n if numbered else ""), text=annex_title,
                            lines=annex_lines, wide=wide))
        blocks.append(table)

    # 版记
    cc_lines = [w.text("imprint.cc", cc=list(settings.cc))] if settings.cc else []
    blocks.append(Block("imprint", lines=cc_lines, text=settings.printing_office(),
                        note=w.text("imprint.printed", day=settings.printed(year))))

    generated_at = data.marts_loaded_at.astimezone().strftime("%Y-%m-%d %H:%M")
    metadata = {
        "title": title, "title_lines": lines, "title_break_points": words, "year": year,
        "issuer": settings.issuer, "issuer_mark": settings.mark(), "doc_number": number,
        "addressee": settings.addressee, "issue_date": issued.isoformat(),
        "print_date": settings.printed(year).isoformat(), "cc": list(settings.cc),
        "printer": settings.printing_office(), "annexes": [t[0] for t, _ in annexes],
        "generated_at": data.marts_loaded_at.isoformat(), "wording_file": str(settings.wording_file),
        "settings_file": settings.source, "complete": data.complete,
        "data_note": w.text("data_note", generated_at=generated_at), "notes": list(notes or []),
    }
    return Document(title=title, blocks=blocks, metadata=metadata)


def _outlier_view(w: Wording, o: Any) -> dict[str, Any]:
    return {"institution_name": o.institution_name, "institution_kind": o.institution_kind,
            "indicator_name_zh": o.indicator_name_zh, "value": o.value, "unit": unit_zh(w, o.unit),
            "percentile": o.percentile}
