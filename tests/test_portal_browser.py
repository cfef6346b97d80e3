"""The portal in a real browser (Playwright driving Debian's chromium) against the real server on a free port:
a city statistician logs in, downloads the template, checks a clean and a faulty file, submits, sees the month
turn accepted after the ingestion run; governance sees it in the province matrix.

Without chromium the tests skip with a message; CI sets ENERGYSTAT_REQUIRE_BROWSER=1 to make that a failure.
Screenshots go to ENERGYSTAT_SCREENSHOT_DIR when set (docs/img for docs/portal.md), else to the test's folder.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from portal_world import HELD_PERIOD, PASSWORDS, World, running_portal, world_in_environment

from energystat import config

CHROMIUM = os.environ.get("ENERGYSTAT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        message = (f"no chromium at {CHROMIUM}: browser tests not run (apt-get install -y chromium fonts-noto-cjk, "
                   "or set ENERGYSTAT_CHROMIUM)")
        if os.environ.get("ENERGYSTAT_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_warehouse_dsn: str) -> Iterator[World]:
    with world_in_environment(tmp_path_factory.mktemp("portal-browser"), module_warehouse_dsn) as world:
        yield world


@pytest.fixture(scope="module")
def portal(world: World) -> Iterator[str]:
    settings = dataclasses.replace(config.portal_settings(), work_dir=world.work_dir, dsn=world.dsn)
    with running_portal(settings) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("ENERGYSTAT_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _log_in(page, portal: str, username: str) -> None:  # noqa: ANN001
    page.goto(f"{portal}/")
    assert "/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("button:has-text('登录')")


def _upload(page, portal: str, period: str, path: Path) -> str:  # noqa: ANN001
    page.goto(f"{portal}/r/450100?year={period[:4]}")
    page.select_option("select[name=period]", period)
    page.set_input_files("input[name=file]", str(path))
    page.click("button:has-text('上传并检查')")
    page.wait_for_url(re.compile(r"/checks/\d+$"))
    return page.url


def _screenshot(page, path: Path, full_page: bool = False) -> None:  # noqa: ANN001
    """A screenshot saved as a 256-colour PNG (a third of the size; the pages use few colours)."""
    from PIL import Image

    page.screenshot(path=str(path), full_page=full_page)
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def _ingest(world: World) -> list[dict]:
    """The ingestion run for 450100/2023-12, through the functions the DAG's tasks call."""
    from energystat.ingest.run import plan_run, run_batch

    plan = plan_run(str(world.landing), world.dsn, "450100", HELD_PERIOD)
    return [o for batch in plan["batches"] for o in run_batch(batch, world.dsn, str(world.landing))]


def test_city_checks_submits_and_follows_its_month_then_governance_sees_it(
        browser, portal: str, world: World, shots: Path, tmp_path: Path) -> None:  # noqa: ANN001
    import openpyxl

    from energystat.contract import forms

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    _log_in(page, portal, "450100")
    page.wait_for_url(re.compile(r"/r/450100$"))
    december = page.locator("li.cell").nth(11)
    assert "逾期未报" in december.inner_text() and "截止 2024-01-10" in december.inner_text()

    # the month's template, from the existing template writer, pre-filled with the reporter's institutions
    with page.expect_download() as download:
        december.locator("a.tpl").click()
    template = tmp_path / download.value.suggested_filename
    download.value.save_as(template)
    assert template.name == forms.monthly_file_name("450100", HELD_PERIOD)
    sheet = openpyxl.load_workbook(template)[forms.MONTHLY_SHEET]
    assert [c.value for c in sheet[1]] == forms.MONTHLY_HEADERS and sheet.cell(row=2, column=1).value

    clean_url = _upload(page, portal, HELD_PERIOD, world.clean_file)
    assert page.locator("h1 .verdict").inner_text() == "通过"
    assert page.locator("text=未发现问题").count() == 1

    faulty_url = _upload(page, portal, HELD_PERIOD, world.faulty_file)
    assert page.locator("h1 .verdict").inner_text() == "不通过"
    first = page.locator("table.findings tbody tr.sev-error").first.inner_text()
    assert first.split("\t")[:4] == ["3", "电力(千瓦时)", "-1,200", ""], first  # as the report shows it; no last year
    assert re.search(r"[\u4e00-\u9fff]", first.split("\t")[-1])  # the reason, in Chinese
    with page.expect_download() as marked:
        page.click("text=下载问题标注表")
    marked_path = tmp_path / "marked.xlsx"
    marked.value.save_as(marked_path)
    marked_sheet = openpyxl.load_workbook(marked_path).worksheets[0]
    electricity = forms.MONTHLY_HEADERS.index("电力(千瓦时)") + 1
    assert marked_sheet.cell(row=3, column=electricity).fill.start_color.rgb.endswith("FFC7CE")  # red = error
    _screenshot(page, shots / "portal_verdict.png")

    page.goto(clean_url)
    page.click("button:has-text('提交入库')")
    page.wait_for_url(clean_url)
    assert "已提交，待入库" in page.locator("section.follow").inner_text()
    assert "夜间例行入库" in page.locator("section.follow").inner_text()  # no Airflow configured here

    outcomes = _ingest(world)
    assert [o["status"] for o in outcomes] == ["accepted"], outcomes
    page.reload()
    assert "已通过" in page.locator("section.follow").inner_text()

    # the faulty version, submitted with its 说明: ingestion rejects it, the accepted month stays
    page.goto(faulty_url)
    page.fill("textarea[name=explanation]", "12月电费含冲红更正，负数属实，已与供电局核对")
    page.click("button:has-text('附说明提交')")
    page.wait_for_url(faulty_url)
    assert [o["status"] for o in _ingest(world)] == ["rejected"]
    page.reload()
    assert "被退回" in page.locator("section.follow").inner_text()

    page.goto(f"{portal}/r/450100?year=2023")
    december = page.locator("li.cell").nth(11)
    assert "已通过" in december.inner_text(), december.inner_text()
    _screenshot(page, shots / "portal_city_home.png", full_page=True)
    page.click("button:has-text('退出')")
    page.wait_for_url(re.compile(r"/login$"))

    _log_in(page, portal, "gov")
    page.wait_for_url(re.compile(r"/governance$"))
    page.goto(f"{portal}/governance?year=2023")
    row = page.locator("table.matrix tbody tr", has_text="南宁市")
    assert "已通过" in row.locator("td").nth(11).inner_text()
    liuzhou = page.locator("table.matrix tbody tr", has_text="柳州市")
    assert "已通过" in liuzhou.locator("td").nth(11).inner_text()
    assert "逾期未报" in page.locator("table.matrix tbody tr", has_text="百色市").locator("td").nth(0).inner_text()
    explained = page.locator("table", has_text="12月电费含冲红更正").last.inner_text()
    assert "不通过" in explained and "南宁市" in explained
    _screenshot(page, shots / "portal_governance.png", full_page=True)
    page.select_option("select[name=status_filter]", "accepted")
    page.click("button:has-text('筛选')")
    assert page.locator("table.matrix td.dim").count() > 0
    with page.expect_download() as exported:
        page.click("text=导出 CSV")
    text = Path(exported.value.path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("报送单位代码,报送单位") and "450100,南宁市,能源资源消费月报,2023-12" in text
    context.close()
