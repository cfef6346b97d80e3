"""The circular's wording and 公文 settings on small hand-made years (no warehouse needed): zero, one and all
attained read right, counts are whole numbers, every cross-reference names an annex that exists, the title
breaks only between words, the 发文字号 takes the standard's form and the dates come from the reporting cycle.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from energystat.circular import fmt
from energystat.circular.blocks import break_lines, text_width
from energystat.circular.document import build_document, title_lines
from energystat.circular.model import (
    CircularData,
    IndicatorResult,
    OutlierRow,
    ReporterResult,
    ReportingRow,
    TaskRow,
)
from energystat.circular.settings import CircularSettings, load_settings, normalise_doc_number
from energystat.circular.wording import Wording

YEAR = 2023
INDICATORS = [("energy_per_capita", "人均综合能耗", "kgce/人"), ("energy_per_m2", "单位建筑面积能耗", "kgce/平方米"),
              ("water_per_capita", "人均用水量", "吨/人"), ("carbon_per_m2", "单位建筑面积碳排放", "kgCO2/平方米")]
CITIES = [("450100", "南宁市"), ("450200", "柳州市"), ("450300", "桂林市")]


def _reporter(code: str, name: str, rank: int | None, attained: list[bool]) -> ReporterResult:
    indicators = [IndicatorResult(key, zh, unit, 300.0, 305.0, -0.0164 if ok else 0.004, -0.011, ok, 0.0)
                  for (key, zh, unit), ok in zip(INDICATORS, attained, strict=True)]
    return ReporterResult(code, name, rank, sum(attained), len(attained), indicators)


def _reporting(code: str, name: str, on_time: int = 12) -> ReportingRow:
    return ReportingRow(code, name, 12, 12, on_time, on_time / 12, 0.0 if on_time == 12 else 3.0, 0, 0)


def year_with(attained_by_city: list[list[bool]], outliers: int = 0, tasks: list[TaskRow] | None = None) -> CircularData:
    reporters = [_reporter(code, name, n, a) for n, ((code, name), a) in
                 enumerate(zip(CITIES, attained_by_city, strict=True), start=1)]
    outlier_rows = [OutlierRow("450100", "南宁市", f"12450100MB{n:07d}X", f"南宁市第{n}中学", "中小学校",
                               "energy_per_m2", "单位建筑面积能耗", "kgce/平方米", 40.0 + n, 0.99)
                    for n in range(1, outliers + 1)]
    return CircularData(
        year=YEAR, region=_reporter("GX", "全区", None, [True] * 4), reporters=reporters, dual_control=[],
        tasks=tasks or [], reporting=[_reporting(c, n) for c, n in CITIES],
        reporting_total=ReportingRow("GX", "全区", 36, 36, 36, 1.0, 0.0, 0, 0), outliers=outlier_rows,
        missing=[], marts_loaded_at=datetime(2024, 2, 1, 8, 0, tzinfo=UTC),
    )


@pytest.fixture(scope="module")
def wording() -> Wording:
    return Wording(CircularSettings().wording_file)


def _text(data: CircularData, wording: Wording, settings: CircularSettings | None = None) -> str:
    document = build_document(data, settings or CircularSettings(), wording, charts={})
    return "\n".join(document.body_text())


def test_no_reporter_attaining_everything_is_said_in_words(wording: Wording) -> None:
    text = _text(year_with([[True, False, True, True]] * 3), wording)
    assert "没有单位全部完成四项强度目标，3个单位均有指标未完成年度目标" in text
    assert "0个单位" not in text


def test_one_reporter_attaining_everything_is_named_without_a_count(wording: Wording) -> None:
    text = _text(year_with([[True] * 4, [True, False, True, True], [True, True, True, False]]), wording)
    assert "南宁市全部完成四项强度目标；其余2个单位有指标未完成年度目标" in text
    assert "共1个单位" not in text
    # a single reporter missing an indicator is named without "共1个单位"
    assert "单位建筑面积能耗：柳州市未完成下降1.1%的年度目标" in text


def test_all_reporters_attaining_everything(wording: Wording) -> None:
    text = _text(year_with([[True] * 4] * 3), wording)
    assert "3个单位全部完成四项强度目标。" in text
    assert "各单位均完成四项强度指标年度目标" in text
    assert "整改" not in text


def _with_overrides(data: CircularData, by_city: dict[str, int]) -> CircularData:
    """`data` with uploads loaded by a reviewer's override (同意入库) per reporter code, and their total."""
    from dataclasses import replace

    reporting = [replace(r, overrides=by_city.get(r.reporter_code, 0)) for r in data.reporting]
    return replace(data, reporting=reporting,
                   reporting_total=replace(data.reporting_total, overrides=sum(by_city.values())))


@pytest.mark.parametrize(("by_city", "said"), [
    ({}, "没有经审核同意入库的异常数据（详见表4）"),
    ({"450200": 1}, "经审核同意入库的异常数据1份，为柳州市报送（详见表4）"),
    ({"450100": 3}, "经审核同意入库的异常数据共3份，均为南宁市报送（详见表4）"),
    ({"450100": 2, "450300": 1}, "经审核同意入库的异常数据共3份，其中南宁市2份、桂林市1份（详见表4）"),
], ids=["none", "one", "one-reporter", "several-reporters"])
def test_overrides_are_counted_by_reporter_in_words_and_in_table_4(wording: Wording, by_city: dict[str, int],
                                                                   said: str) -> None:
    data = _with_overrides(year_with([[True] * 4] * 3), by_city)
    document = build_document(data, CircularSettings(), wording, charts={})
    text = "\n".join(document.body_text())
    assert said in text
    assert "0份" not in text and "共1份" not in text
    table = document.table("reporting")
    assert table.header[-1][-1].text == "同意入库\n（份）"
    assert [row[-1] for row in table.rows] == [str(by_city.get(code, 0)) for code, _ in CITIES] + \
        [str(sum(by_city.values()))]


def test_cross_references_resolve_to_existing_annexes(wording: Wording) -> None:
    # Few outliers: one annex, called "附件" without a number, and no reference to a list elsewhere.
    document = build_document(year_with([[True] * 4] * 3, outliers=3), CircularSettings(), wording, charts={})
    text = "\n".join(document.body_text())
    annexes = [b for b in document.blocks if b.kind == "annex"]
    assert [a.note for a in annexes] == ["附件"]
    assert "见附件，" in text and "附件1" not in text and "数据附表" not in text
    # Many outliers: their list is 附件2, and the text says so.
    document = build_document(year_with([[True] * 4] * 3, outliers=8), CircularSettings(), wording, charts={})
    text = "\n".join(document.body_text())
    annexes = [b for b in document.blocks if b.kind == "annex"]
    assert [a.note for a in annexes] == ["附件1", "附件2"]
    assert "等8家机构（名单见附件2）" in text and "见附件1，" in text
    annex_list = next(b for b in document.blocks if b.kind == "annex_list")
    assert annex_list.lines == [a.text for a in annexes], "附件说明 names the annexes by their titles"
    for reference in re.findall(r"附件\d*", text):
        assert reference in {a.note for a in annexes} | {"附件"}, reference
    outliers = document.table("outliers")
    assert len(outliers.rows) == 8


def test_share_targets_are_whole_units_and_shares(wording: Wording) -> None:
    tasks = [
        TaskRow("water_saving_units", "节水型单位建设", "个", 72.6, 80.0, 80 / 72.6, True, "区直事业单位",
                target_count=73.0, target_type="share", target_share=0.6, base_count=121.0, achieved_share=80 / 121),
        TaskRow("saving_organs", "节约型机关创建", "个", 833.0, 850.0, 850 / 833, True, "",
                target_type="count", target_share=0.85, base_count=980.0),
        TaskRow("ewaste_items", "废旧电子产品规范处置", "件", 17000.0, 16000.0, 16000 / 17000, False),
    ]
    document = build_document(year_with([[True] * 4] * 3, tasks=tasks), CircularSettings(), wording, charts={})
    rows = document.table("tasks").rows
    assert rows[0][:3] == ["节水型单位建设\n（区直事业单位）", "建成比例60%\n（121个中至少73个）", "80个\n（占66.1%）"]
    assert rows[1][:3] == ["节约型机关创建", "833个\n（980个的85%）", "850个"]
    assert rows[2][:3] == ["废旧电子产品规范处置", "17,000件", "16,000件"]
    text = "\n".join(document.body_text())
    assert not re.search(r"\d+\.\d+个", text), "no fractional counts"
    assert "废旧电子产品规范处置任务进度滞后" in text


def test_units_and_body_are_chinese(wording: Wording) -> None:
    text = _text(year_with([[True, False, True, True]] * 3, outliers=8), wording)
    assert re.findall(r"[A-Za-z]{2,}", text) == []
    assert "千克标准煤/人" in text


def test_title_breaks_only_between_words(wording: Wording) -> None:
    title, lines, words = title_lines(wording, YEAR)
    assert title == "关于2023年度全区公共机构能源资源消费情况的通报"
    assert "".join(lines) == title and len(lines) == 2
    breaks = {len("".join(words[:n])) for n in range(1, len(words))}
    assert len(lines[0]) in breaks
    assert all(text_width(line) <= 20 for line in lines)
    assert lines == ["关于2023年度全区公共机构", "能源资源消费情况的通报"]


def test_break_lines_balances_and_never_splits_a_word() -> None:
    assert break_lines(["短标题"], 20) == ["短标题"]
    assert break_lines(["甲乙丙丁", "戊己庚辛", "壬癸"], 6) == ["甲乙丙丁", "戊己庚辛壬癸"]
    assert break_lines(["一二三四五六七八九十一二三四五六七八九十一二"], 20) == ["一二三四五六七八九十一二三四五六七八九十一二"]


@pytest.mark.parametrize(("given", "expected"), [
    ("桂机管发〔2024〕3号", "桂机管发〔2024〕3号"), ("桂机管发[2024]03号", "桂机管发〔2024〕3号"),
    ("桂机管发（2024）第12号", "桂机管发〔2024〕12号"), ("桂机管发【2024】1号", "桂机管发〔2024〕1号"),
])
def test_doc_number_takes_the_standards_form(given: str, expected: str) -> None:
    assert normalise_doc_number(given) == expected


def test_doc_number_without_a_year_is_refused_naming_the_file(tmp_path: Path) -> None:
    settings_file = tmp_path / "circular.yaml"
    settings_file.write_text("doc_number: 桂机管发3号\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"circular\.yaml.*发文字号"):
        load_settings(settings_file)


def test_dates_come_from_the_reporting_cycle_not_today(wording: Wording) -> None:
    settings = load_settings()  # the repository's config/circular.yaml
    assert settings.issue_date is None
    assert settings.dated(YEAR) == date(2024, 2, 5)
    assert settings.number(YEAR) == "桂机管发〔2024〕3号"
    document = build_document(year_with([[True, False, True, True]] * 3), settings, wording, charts={})
    signature = next(b for b in document.blocks if b.kind == "signature")
    assert signature.lines == ["广西壮族自治区机关事务管理局", "2024年2月5日"]
    imprint = next(b for b in document.blocks if b.kind == "imprint")
    assert imprint.note == "2024年2月5日印发" and imprint.lines[0].startswith("抄送：")
    text = "\n".join(document.body_text())
    assert "于2024年3月31日前将整改措施报我局" in text
    assert fmt.cn_date(date(2024, 2, 5)) == "2024年2月5日"


def test_technical_notes_stay_out_of_the_body(wording: Wording) -> None:
    document = build_document(year_with([[True] * 4] * 3), CircularSettings(), wording, charts={},
                              notes=["no CJK font found: chart labels use reporter codes"])
    text = "\n".join(document.body_text())
    assert "energystat" not in text and "mart_" not in text and "CJK" not in text
    assert "mart_target_attainment" in document.metadata["data_note"]
    assert document.metadata["notes"] == ["no CJK font found: chart labels use reporter codes"]
