"""The annual circular on a generated province, end to end against real PostgreSQL and real files.

The module follows a realistic year end: the province is ingested with three monthly files held back, the
marts are built, and the circular is refused (naming the reporters and months); the missing files arrive, the
marts are stale until rebuilt, then the circular is published. Its Word table, wording, HTML table and JSON
are compared with the marts, read here by independent SQL and formatted independently.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import docx
import psycopg
import pytest
from psycopg.rows import dict_row

from energystat import cli, dbt_runner, reference
from energystat.circular import IncompleteReportingError, publish
from energystat.circular.data import marts_freshness
from energystat.circular.settings import CircularSettings
from energystat.ingest import run as ingest

# Every test of this module shares one warehouse whose state moves forward: keep them on one xdist worker.
pytestmark = pytest.mark.xdist_group("circular")

YEAR = 2023
INSTITUTIONS = 150
HELD_BACK = [("451400", "2023-11"), ("451400", "2023-12"), ("450500", "2023-12")]
ISSUE_DATE = date(2024, 2, 5)
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
            if text.startswith(name + "（") and key not in columns:
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
        assert header[0][c] == f"{mart_row['indicator_name_zh']}（{mart_row['unit']}，目标{_pct(mart_row['target_change'])}%）"
        assert header[1][c:c + 3] == [f"{YEAR}年", "同比（%）", "完成情况"]

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
    paragraphs = [p.text for p in docx.Document(str(published["docx"])).paragraphs]
    text = "\n".join(paragraphs)
    assert paragraphs[0] == f"关于{YEAR}年度全区公共机构能源资源消费情况的通报"
    assert DOC_NUMBER in text and "2024年2月5日" in text and "广西壮族自治区机关事务管理局" in text
    for heading in ("一、总体情况", "二、各设区市及区直单位完成情况", "三、重点任务进展", "四、数据质量与报送情况",
                    "五、存在问题和下一步要求"):
        assert heading in paragraphs

    for key in ("energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"):
        gx = attainment[("GX", key)]
        word = "完成" if gx["attained"] else "未完成"
        # 全区: "<name><value><unit>，同比下降x%，年度目标为下降y%，完成年度目标。"
        assert f"{gx['indicator_name_zh']}{_two(gx['value'])}{gx['unit']}，" in text
        assert f"年度目标为下降{_pct(gx['target_change']).lstrip('-')}%，{word}年度目标。" in text
        missed = sorted(r["reporter_name"] for (code, k), r in attainment.items()
                        if k == key and code != "GX" and r["attained"] is False)
        sentence = next((p for p in paragraphs if f"{gx['indicator_name_zh']}：" in p), None)
        if not missed:
            assert sentence is None or f"{gx['indicator_name_zh']}：" not in sentence
            continue
        assert sentence is not None, f"no sentence on the reporters that missed {key}"
        part = sentence.split(f"{gx['indicator_name_zh']}：", 1)[1]
        listed, count = part.split("共", 1)
        assert sorted(listed.split("、")) == missed
        assert count.startswith(f"{len(missed)}个单位未完成")

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
