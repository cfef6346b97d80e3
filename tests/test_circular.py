"""The annual circular on a generated province, end to end against real PostgreSQL and real files.

The module follows a realistic year end: the province is ingested with three monthly files held back, the
marts are built, and the circular is refused (naming the reporters and months); the missing files arrive, the
marts are stale until rebuilt, then the circular is published. Its Word table, wording, HTML table and JSON
are compared with the marts, read here by independent SQL and formatted independently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import docx
import psycopg
import pytest
from psycopg.rows import dict_row

from energystat import cli, dbt_runner, reference
from energystat.circular import IncompleteReportingError, pages, publish
from energystat.circular.data import marts_freshness
from energystat.circular.settings import CircularSettings, load_settings
from energystat.ingest import run as ingest

# Every test of this module shares one warehouse whose state moves forward: keep them on one xdist worker.

YEAR = 2023
INSTITUTIONS = 150
HELD_BACK = [("451400", "2023-11"), ("451400", "2023-12"), ("450500", "2023-12")]
ISSUE_DATE = date(2024, 2, 5)
#: the units as the circular writes them (independent of the wording file)
UNITS_ZH = {"kgce/人": "千克标准煤/人", "kgce/平方米": "千克标准煤/平方米", "吨/人": "吨/人",
            "kgCO2/平方米": "千克二氧化碳/平方米"}
DOC_NUMBER = "桂机管发〔2024〕1号"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    assert cli.main(["generate", "--out", str(root), "--institutions", str(INSTITUTIONS),
                     "--years", str(YEAR - 1), str(YEAR), "--seed", "11"]) == 0
    return root


@pytest.fixture(scope="module")
def held_back(province: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Path]]:
    """Monthly files moved out of the landing tree before the first ingestion: (landing path, holding path)."""
    holding = tmp_path_factory.mktemp("held_back")
    moved = []
    for reporter, period in HELD_BACK:
        for path in (province / reporter / period).glob("*_能源资源消费月报.*"):
            target = holding / reporter / period / path.name
            target.parent.mkdir(parents=True)
            shutil.move(path, target)
            moved.append((path, target))
    assert len(moved) == len(HELD_BACK)
    return moved


@pytest.fixture(scope="module")
def incomplete(module_warehouse_dsn: str, province: Path, held_back: list) -> str:
    """The warehouse with the province ingested without the held-back files, marts built."""
    summary = ingest.ingest(province, dsn=module_warehouse_dsn, alert_urls=[])
    assert summary.count("rejected") == 0, summary.describe()
    dbt_runner.build(dsn=module_warehouse_dsn)
    return module_warehouse_dsn


@pytest.fixture(scope="module")
def complete(incomplete: str, province: Path, held_back: list[tuple[Path, Path]]) -> str:
    """The missing files arrive and are ingested; the marts are stale until rebuilt."""
    for landing, holding in held_back:
        shutil.move(holding, landing)
    summary = ingest.ingest(province, dsn=incomplete, alert_urls=[])
    assert summary.count("accepted") + summary.count("accepted_with_warnings") == len(held_back), summary.describe()
    fresh, why = marts_freshness(incomplete)
    assert not fresh, why
    dbt_runner.build(dsn=incomplete)
    return incomplete


@pytest.fixture(scope="module")
def published(complete: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("circular")
    settings = CircularSettings(issue_date=ISSUE_DATE, doc_number=DOC_NUMBER)
    return publish(YEAR, out, dsn=complete, settings=settings)


def _query(dsn: str, sql: str, *params: object) -> list[dict]:
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchall()


def _attainment(dsn: str) -> dict[tuple[str, str], dict]:
    rows = _query(dsn, "select * from marts.mart_target_attainment where year = %s", YEAR)
    return {(r["reporter_code"], r["indicator"]): r for r in rows}


# Independent formatting: from the mart's exact numeric, half up.
def _dec(value: Decimal | None, places: str) -> str:
    if value is None:
        return "—"
    text = str(Decimal(value).quantize(Decimal(places), rounding=ROUND_HALF_UP))
    return "0.0" if text == "-0.0" else text


def _two(value: Decimal | None) -> str:
    return _dec(value, "0.01")


def _pct(value: Decimal | None) -> str:
    return _dec(None if value is None else Decimal(value) * 100, "0.1")


# ------------------------------------------------------------------ refusal of an incomplete year

def test_incomplete_year_is_refused_naming_reporters_and_months(incomplete: str, tmp_path: Path) -> None:
    with pytest.raises(IncompleteReportingError) as refused:
        publish(YEAR, tmp_path, dsn=incomplete)
    message = str(refused.value)
    assert "451400 崇左市: 2023-11, 2023-12" in message
    assert "450500 北海市: 2023-12" in message
    assert {m.reporter_code for m in refused.value.missing} == {"451400", "450500"}
    assert not list(tmp_path.iterdir()), "nothing is written when refused"


def test_cli_refuses_then_publishes_with_force(incomplete: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", incomplete)
    assert cli.main(["circular", "--year", str(YEAR), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "报送不完整" in err and "崇左市" in err and "北海市" in err

    assert cli.main(["circular", "--year", str(YEAR), "--out", str(tmp_path), "--force"]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == [f"circular_{YEAR}.docx", f"circular_{YEAR}.html", f"circular_{YEAR}.json"]
    assert all(Path(p).is_file() for p in printed)
    text = "\n".join(p.text for p in docx.Document(printed[0]).paragraphs)
    assert "崇左市（2023-11、2023-12）" in text and "北海市（2023-12）" in text
    meta = json.loads(Path(printed[2]).read_text(encoding="utf-8"))["metadata"]
    assert meta["complete"] is False


def test_forced_circular_without_a_cjk_font_is_still_written(incomplete: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Both notes at once (no CJK font, incomplete reporting) are longer than a Word core property may be: the
    file is written, its comments cut to the limit."""
    from energystat.circular import charts

    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", incomplete)
    monkeypatch.setattr(charts, "find_cjk_font", lambda: None)
    assert cli.main(["circular", "--year", str(YEAR), "--out", str(tmp_path), "--force"]) == 0
    comments = docx.Document(str(tmp_path / f"circular_{YEAR}.docx")).core_properties.comments
    assert comments.startswith("数据来源") and len(comments) <= 255


# ------------------------------------------------------------------ the published circular

def _docx_table(path: Path, first_header: str) -> list[list[str]]:
    for table in docx.Document(str(path)).tables:
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if rows and rows[0][0] == first_header:
            return rows
    raise AssertionError(f"no table starting with {first_header!r} in {path}")


def _indicator_columns(header: list[list[str]], attainment: dict) -> dict[str, int]:
    """Indicator -> first column of its group, found by the mart's indicator_name_zh in the group header."""
    names = {r["indicator_name_zh"]: r["indicator"] for r in attainment.values()}
    columns: dict[str, int] = {}
    for c, text in enumerate(header[0]):
        for name, key in names.items():
            if text.startswith(name + "\n") and key not in columns:
                columns[key] = c
    assert len(columns) == 4, f"indicator groups not found in {header[0]}"
    return columns


def test_docx_reporters_table_equals_mart(published: dict[str, Path], complete: str) -> None:
    attainment = _attainment(complete)
    table = _docx_table(published["docx"], "排名")
    header, body = table[:2], table[2:]
    columns = _indicator_columns(header, attainment)
    for key, c in columns.items():
        mart_row = attainment[("GX", key)]
        unit = UNITS_ZH[mart_row["unit"]]
        assert mart_row["target_change"] < 0, "the seed's targets are declines"
        target = _pct(mart_row["target_change"]).lstrip("-")
        assert header[0][c] == f"{mart_row['indicator_name_zh']}\n（{unit}）\n目标下降{target}%"
        assert header[1][c:c + 3] == [f"{YEAR}年", "同比\n（%）", "完成\n情况"]

    names = {r.code: r.name for r in reference.reporters(include_whole_region=True)}
    assert [row[1] for row in body[:-1]] != [], "reporter rows"
    assert sorted(row[1] for row in body[:-1]) == sorted(n for c, n in names.items() if c != "GX")
    assert body[-1][1] == names["GX"] and body[-1][0] == "—"
    code_of = {n: c for c, n in names.items()}
    for row in body:
        code = code_of[row[1]]
        attained = 0
        for key, c in columns.items():
            m = attainment[(code, key)]
            assert row[c] == _two(m["value"]), (row[1], key)
            assert row[c + 1] == _pct(m["yoy_change"]), (row[1], key)
            assert row[c + 2] == ("完成" if m["attained"] else "未完成"), (row[1], key)
            attained += bool(m["attained"])
        assert row[2] == f"{attained}/4"

    # Ranked: more targets attained first, then the larger fall of 人均综合能耗.
    assert [row[0] for row in body[:-1]] == [str(n) for n in range(1, 16)]
    order = [(-int(row[2].split("/")[0]), attainment[(code_of[row[1]], "energy_per_capita")]["yoy_change"])
             for row in body[:-1]]
    assert order == sorted(order)


def test_docx_wording_follows_the_attained_flags(published: dict[str, Path], complete: str) -> None:
    attainment = _attainment(complete)
    # the renderer glues numbers to their "%" with a word joiner (drawn as nothing)
    paragraphs = [p.text.replace("\u2060", "") for p in docx.Document(str(published["docx"])).paragraphs]
    text = "\n".join(paragraphs)
    assert paragraphs[0] == "广西壮族自治区机关事务管理局文件"  # 版头 first
    assert f"关于{YEAR}年度全区公共机构能源资源消费情况的通报" in [p.replace("\n", "") for p in paragraphs]
    assert DOC_NUMBER in text and "2024年2月5日" in text and "广西壮族自治区机关事务管理局" in text
    for heading in ("一、总体情况", "二、各设区市及区直单位完成情况", "三、重点任务进展", "四、数据质量与报送情况",
                    "五、存在问题和下一步要求"):
        assert heading in paragraphs

    for key in ("energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"):
        gx = attainment[("GX", key)]
        word = "完成" if gx["attained"] else "未完成"
        # 全区: "<name><value><unit>，同比下降x%，年度目标为下降y%，完成年度目标。"
        assert f"{gx['indicator_name_zh']}{_two(gx['value'])}{UNITS_ZH[gx['unit']]}，" in text
        assert f"年度目标为下降{_pct(gx['target_change']).lstrip('-')}%，{word}年度目标。" in text
        missed = sorted(r["reporter_name"] for (code, k), r in attainment.items()
                        if k == key and code != "GX" and r["attained"] is False)
        sentence = next((p for p in paragraphs if f"{gx['indicator_name_zh']}：" in p), None)
        if not missed:
            assert sentence is None or f"{gx['indicator_name_zh']}：" not in sentence
            continue
        assert sentence is not None, f"no sentence on the reporters that missed {key}"
        part = sentence.split(f"{gx['indicator_name_zh']}：", 1)[1]
        listed = part.split("未完成", 1)[0]
        if len(missed) > 1:
            listed, count = listed.split("共", 1)
            assert count == f"{len(missed)}个单位"
        assert sorted(listed.split("、")) == missed

    region = _docx_table(published["docx"], "指标")
    for row in region[1:]:
        m = next(r for (code, _k), r in attainment.items() if code == "GX" and r["indicator_name_zh"] == row[0])
        assert row[2:] == [_two(m["prior_value"]), _two(m["value"]), _pct(m["yoy_change"]), _pct(m["target_change"]),
                           "完成" if m["attained"] else "未完成"]


class _TableReader(HTMLParser):
    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table" and ("id", self.table_id) in attrs:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""
            self.span = int(dict(attrs).get("colspan", 1))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th"):
            self.rows[-1] += [self.cell] * self.span
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell += data


def test_html_is_self_contained_and_has_the_same_table(published: dict[str, Path]) -> None:
    html = published["html"].read_text(encoding="utf-8")
    assert "<svg" in html and html.count("<figure") == 4
    # nothing fetched from elsewhere (XML namespace URIs in the SVG are names, not resources)
    for reference_to_outside in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link", "<script"):
        assert reference_to_outside not in html, reference_to_outside
    reader = _TableReader("table-reporters")
    reader.feed(html)
    docx_body = _docx_table(published["docx"], "排名")[2:]
    assert reader.rows[2:] == docx_body


def test_json_numbers_equal_the_marts(published: dict[str, Path], complete: str) -> None:
    circular = json.loads(published["json"].read_text(encoding="utf-8"))
    data = circular["data"]
    attainment = _attainment(complete)
    seen = 0
    for rep in [*data["reporters"], data["region"]]:
        for ind in rep["indicators"]:
            m = attainment[(rep["reporter_code"], ind["indicator"])]
            for field in ("value", "prior_value", "yoy_change", "target_change", "gap"):
                assert ind[field] == float(m[field]), (rep["reporter_code"], ind["indicator"], field)
            assert ind["attained"] is m["attained"]
            seen += 1
    assert seen == len(attainment) == 16 * 4

    dual = {r["reporter_code"]: r for r in _query(complete, "select * from marts.mart_dual_control where year = %s", YEAR)}
    columns = {"energy": "energy_tce", "water": "water_t", "carbon": "carbon_tco2"}
    assert {d["reporter_code"] for d in data["dual_control"]} == set(dual)
    for row in data["dual_control"]:
        for total in row["totals"]:
            m = dual[row["reporter_code"]]
            assert total["value"] == float(m[columns[total["measure"]]])
            assert total["prior_value"] == float(m["prior_" + columns[total["measure"]]])
            assert total["yoy_change"] == float(m[f"{total['measure']}_yoy_change"])

    tasks = _query(complete, "select * from marts.mart_task_progress where year = %s and reporter_code = 'GX' "
                             "and target is not null", YEAR)
    assert len(data["tasks"]) == len(tasks) > 0
    by_code: dict[str, set] = {}
    for t in tasks:
        by_code.setdefault(t["task_code"], set()).add((float(t["target"]), float(t["achieved"])))
    for t in data["tasks"]:
        assert (t["target"], t["achieved"]) in by_code[t["task_code"]]

    # the displayed tables are in the JSON too, cell for cell
    assert circular["tables"]["reporters"]["rows"] == _docx_table(published["docx"], "排名")[2:]
    assert circular["metadata"]["complete"] is True and circular["metadata"]["issue_date"] == ISSUE_DATE.isoformat()


def test_marts_are_fresh_after_the_rebuild(complete: str) -> None:
    fresh, why = marts_freshness(complete)
    assert fresh, why


@pytest.mark.parametrize("with_cjk_font", [True, False], ids=["cjk-font", "no-cjk-font"])
def test_charts_have_no_missing_glyphs(complete: str, with_cjk_font: bool) -> None:
    """Chinese labels with a CJK font; without one, reporter codes and English (never tofu boxes)."""
    import warnings

    from energystat.circular import charts, load_circular_data

    font = charts.find_cjk_font() if with_cjk_font else None
    if with_cjk_font and font is None:
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
    data = load_circular_data(complete, YEAR)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        chart = charts.yoy_chart("energy_per_capita", "人均综合能耗", data.reporters, data.region, font)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert missing == []
    assert chart.png.startswith(b"\x89PNG") and chart.svg.startswith("<svg")
    assert chart.cjk is with_cjk_font


def test_a_font_cache_older_than_the_cjk_fonts_still_gives_simplified_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """fonts-noto-cjk installed after matplotlib built its cache: the fonts are registered from disk and the chart
    family is the Simplified Chinese face, not the .ttc's first (Japanese) one."""
    from matplotlib import font_manager

    from energystat.circular import charts

    if not any("notosanscjk" in path.lower() for path in font_manager.findSystemFonts()):
        pytest.skip("Noto Sans CJK not installed (apt-get install fonts-noto-cjk)")
    without_cjk = [f for f in font_manager.fontManager.ttflist if not any(
        token in f.fname.lower() for token in charts.CJK_FILE_TOKENS)]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", without_cjk)
    assert charts.find_cjk_font() == "Noto Sans CJK SC"


# ------------------------------------------------------------------ the printed pages (GB/T 9704-2012)

MM = 72 / 25.4  # points per millimetre in the PDFs
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
HANGING = "，。、；：！？”’）》"
PAGE_NUMBER = re.compile(r"^—\s*(\d+)\s*—$")


def _need(*tools: str) -> None:
    """Skip (with the packages to install) where a renderer is missing; fail instead under CI's flag."""
    missing = pages.missing_tools(*tools)
    if missing:
        message = "cannot print the circular's pages, not installed: " + ", ".join(missing)
        if os.environ.get("ENERGYSTAT_REQUIRE_RENDER") == "1":
            pytest.fail(message + " (ENERGYSTAT_REQUIRE_RENDER=1)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def as_sent(complete: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The circular with the repository's settings (config/circular.yaml): dates from the reporting cycle."""
    return publish(YEAR, tmp_path_factory.mktemp("as_sent"), dsn=complete, settings=load_settings())


@pytest.fixture(scope="module")
def docx_pdf(as_sent: dict[str, Path]) -> Path:
    _need("libreoffice", "pdftotext", "pdfinfo", "pdffonts", "pdftoppm")
    return pages.docx_to_pdf(as_sent["docx"], as_sent["docx"].parent / "docx_pdf")


@pytest.fixture(scope="module")
def html_pdf(as_sent: dict[str, Path]) -> Path:
    _need("chromium", "pdftotext", "pdfinfo")
    return pages.html_to_pdf(as_sent["html"], as_sent["html"].parent / "html_pdf" / f"circular_{YEAR}.pdf")


def _metadata(as_sent: dict[str, Path]) -> dict:
    return json.loads(as_sent["json"].read_text(encoding="utf-8"))["metadata"]


def _page_numbers_alternate(printed: list[pages.Page]) -> None:
    for page in printed:
        numbers = [line for line in page.lines if PAGE_NUMBER.match(line.text)]
        assert len(numbers) == 1, f"page {page.number}: page number lines {[n.text for n in numbers]}"
        line = numbers[0]
        assert int(PAGE_NUMBER.match(line.text)[1]) == page.number
        x0, y0, x1, _ = line.box
        centre = (x0 + x1) / 2
        if page.number % 2:
            assert centre > page.width * 0.6, f"odd page {page.number}: number on the right"
        else:
            assert centre < page.width * 0.4, f"even page {page.number}: number on the left"
        assert y0 > page.height - 36 * MM, f"page {page.number}: number under the 版心"


def _text_inside_the_page(printed: list[pages.Page]) -> None:
    for page in printed:
        landscape = page.width > page.height
        top, left = (28, 37) if landscape else (37, 28)
        right, bottom = (page.width / MM - (35 if landscape else 26)), (page.height / MM - (26 if landscape else 35))
        for line in page.lines:
            x0, y0, x1, y1 = line.box
            assert x0 >= 0 and x1 <= page.width and y0 >= 0 and y1 <= page.height, (page.number, line.text)
            if PAGE_NUMBER.match(line.text):
                continue
            # every other line inside the 版心: its ends within 2 mm (glyph overhang), its middle inside; a line
            # may end in one hanging full-width punctuation mark (LibreOffice hangs them; 标点悬挂)
            hang = 6 if line.text[-1:] in HANGING else 0
            assert x0 >= (left - 2) * MM and x1 <= (right + 2 + hang) * MM, (page.number, line.text, line.box)
            assert top * MM <= (y0 + y1) / 2 <= bottom * MM, (page.number, line.text, line.box)


def test_printed_word_file_is_a_gbt9704_document(docx_pdf: Path, as_sent: dict[str, Path]) -> None:
    meta = _metadata(as_sent)
    printed = pages.pages(docx_pdf)
    assert 6 <= len(printed) <= 16, f"{len(printed)} pages"
    _text_inside_the_page(printed)
    _page_numbers_alternate(printed)

    first = printed[0].lines
    # 版头: the mark first, its top 35 mm under the 版心 (37 mm): 72 mm from the page's top edge
    assert first[0].text == meta["issuer_mark"] == "广西壮族自治区机关事务管理局文件"
    assert abs(first[0].box[1] / MM - 72) < 5, first[0].box
    number = next(line for line in first if line.text == meta["doc_number"])
    assert meta["doc_number"] == "桂机管发〔2024〕3号"
    assert abs((number.box[0] + number.box[2]) / 2 - printed[0].width / 2) < 3 * MM, "发文字号 centred"
    # title: in the lines the document chose, each break at an allowed point, then 主送机关
    n = first.index(number)
    title_printed = [line.text for line in first[n + 1:n + 1 + len(meta["title_lines"])]]
    assert title_printed == meta["title_lines"], title_printed
    breaks = {len("".join(meta["title_break_points"][:k])) for k in range(1, len(meta["title_break_points"]))}
    assert all(len("".join(title_printed[:k])) in breaks for k in range(1, len(title_printed)))
    assert first[n + 1 + len(title_printed)].text == meta["addressee"]

    text = "\n".join(p.text for p in printed)
    assert LATIN_WORD.findall(text) == [], "no English in the printed document"
    assert "2024年2月5日" in text and "（此件公开发布）" in text
    assert "附件：1." + meta["annexes"][0] in text.replace("\n", "") or "附件：" + meta["annexes"][0] in text

    # 附件: each starts a page with its label top left and its title; the ranking's page is landscape
    annex_pages = [p for p in printed if p.lines and re.fullmatch(r"附件\d*", p.lines[0].text)]
    assert len(annex_pages) == len(meta["annexes"])
    ranking = annex_pages[0]
    assert ranking.width > ranking.height, "the ranking annex is on a landscape page"
    assert ranking.lines[0].box[0] < 40 * MM, "附件 label top left"
    assert meta["annexes"][0] in ranking.text.replace("\n", "")

    # 版记 on the last page, its last line on the 版心's bottom edge (262 mm)
    last = printed[-1]
    cc = next(line for line in last.lines if line.text.startswith("抄送："))
    printed_line = next(line for line in last.lines if line.text.endswith("印发"))
    printer = next(line for line in last.lines if line.text.startswith(meta["printer"]))
    assert printed_line.text.endswith("2024年2月5日印发")
    assert abs(printer.box[1] - printed_line.box[1]) < 2 * MM, "印发机关 and 印发日期 on one line"
    assert printer.box[0] < printed_line.box[0]
    assert cc.box[1] < printed_line.box[1]
    assert 245 * MM < printed_line.box[3] < 264 * MM, printed_line.box

    # table headers: every header line is printed whole, on one line
    lines_printed = {line.text for p in printed for line in p.lines}
    for table in docx.Document(str(as_sent["docx"])).tables[:-1]:  # the last table holds the 版记
        for row in table.rows[:2]:
            for cell in row.cells:
                for part in filter(None, cell.text.split("\n")):
                    assert any(part in line for line in lines_printed), f"header {part!r} broken"

    # the fonts: CJK serif (仿宋, 小标宋) and sans (黑体) embedded
    embedded = " ".join(pages.fonts(docx_pdf))
    assert "NotoSerifCJK" in embedded and "NotoSansCJK" in embedded, embedded


def test_printed_word_file_has_the_red_masthead(docx_pdf: Path, tmp_path: Path) -> None:
    from PIL import Image

    png = pages.to_png(docx_pdf, tmp_path / "page", dpi=72, first=1, last=1)[0]
    image = Image.open(png).convert("RGB")
    width, height = image.size
    red_rows = []
    for y in range(height // 2):
        reds = sum(1 for x in range(width) if (p := image.getpixel((x, y)))[0] > 200 and p[1] < 90 and p[2] < 90)
        red_rows.append(reds)
    text_width_px = 156 * 72 / 25.4
    assert max(red_rows) > 0.95 * text_width_px, "a red separator line as wide as the 版心"
    assert sum(1 for r in red_rows if 20 < r < 0.9 * text_width_px) > 10, "a red 发文机关标志"


def test_word_file_asks_for_the_standards_fonts_and_dates(as_sent: dict[str, Path]) -> None:
    from docx.oxml.ns import qn
    from docx.shared import Emu

    document = docx.Document(str(as_sent["docx"]))

    def fonts_of(paragraph) -> set[tuple[str, float]]:
        return {(r._element.rPr.rFonts.get(qn("w:eastAsia")), r.font.size.pt) for r in paragraph.runs if r.text}

    paragraphs = [p for p in document.paragraphs if p.text.strip()]
    by_text = {p.text: p for p in paragraphs}
    meta = _metadata(as_sent)
    assert fonts_of(by_text["\n".join(meta["title_lines"])]) == {("方正小标宋简体", 22.0)}
    assert fonts_of(by_text["一、总体情况"]) == {("黑体", 16.0)}
    assert fonts_of(by_text["（一）存在问题"]) == {("楷体", 16.0)}
    assert fonts_of(by_text["特此通报。"]) == {("仿宋", 16.0)}
    mark = by_text[meta["issuer_mark"]]
    assert str(mark.runs[0].font.color.rgb) == "FF0000"
    section = document.sections[0]
    assert (round(section.top_margin.mm), round(section.left_margin.mm)) == (37, 28)
    assert round(Emu(section.page_width - section.left_margin - section.right_margin).mm) == 156
    assert round(Emu(section.page_height - section.top_margin - section.bottom_margin).mm) == 225
    assert document.settings.odd_and_even_pages_header_footer
    created = document.core_properties.created.replace(tzinfo=None)  # UTC
    assert abs((created - datetime.now(UTC).replace(tzinfo=None)).total_seconds()) < 24 * 3600, created
    body = "\n".join(p.text for p in document.paragraphs)
    assert "energystat" not in body and "mart_" not in body
    assert "mart_target_attainment" in document.core_properties.comments


def test_html_prints_the_same_pages_as_the_word_file(html_pdf: Path, docx_pdf: Path, as_sent: dict[str, Path]) -> None:
    meta = _metadata(as_sent)
    printed = pages.pages(html_pdf)
    word_pages = pages.page_count(docx_pdf)
    assert abs(len(printed) - word_pages) <= 1, f"HTML prints {len(printed)} pages, Word {word_pages}"
    _page_numbers_alternate(printed)
    _text_inside_the_page(printed)
    assert printed[0].lines[0].text == meta["issuer_mark"]
    assert any(p.width > p.height and meta["annexes"][0] in p.text.replace("\n", "") for p in printed)
    imprint = [line.text for line in printed[-1].lines if not PAGE_NUMBER.match(line.text)]
    assert imprint[0].startswith("抄送：") and imprint[-1].endswith("印发"), imprint


def test_html_tables_fit_a_960px_window(as_sent: dict[str, Path]) -> None:
    _need("chromium")
    measured = json.loads(pages.html_measure(as_sent["html"], """
        const wraps = [...document.querySelectorAll('.table-wrap')].map(w => [w.querySelector('table').id,
                                                                              w.scrollWidth, w.clientWidth]);
        const broken = [...document.querySelectorAll('th span, td')].filter(e => e.getClientRects().length > 1
                         || (e.tagName === 'SPAN' && e.getBoundingClientRect().height > 30)).map(e => e.textContent);
        return JSON.stringify({wraps, broken, page: document.documentElement.scrollWidth});
    """, width=960))
    assert measured["page"] <= 960
    for table_id, scroll, client in measured["wraps"]:
        assert scroll <= client + 1, f"{table_id} scrolls sideways: {scroll} > {client}"
    assert measured["broken"] == []
