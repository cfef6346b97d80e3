"""The rulebook on real files: each rule fires on the intended row at the intended severity, nothing on clean data;
registry and history rules against a real warehouse."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import unquote

import pytest
from fixtures_uploads import (
    credit_code,
    gx_rules,
    monthly_row,
    task_row,
    write_csv,
    write_task_xlsx,
    write_xlsx,
)

from energystat import config
from energystat.contract.forms import MONTHLY_COLUMNS
from energystat.ingest.parse import parse_upload

__all__ = ["gx_rules"]  # the module-scoped fixture (one GX context for the module)


def found(report):
    return {(f.rule_id, f.source_row, f.severity) for f in report.findings}


def no_warehouse(rules, reporter="450100", period="2024-03"):
    return rules.context_without_warehouse(reporter, period, "no warehouse in this test")


def test_suites_are_valid_gx_suites_with_complete_meta(gx_rules):
    for kind, document in gx_rules.load_suites().items():
        suite = gx_rules._gx_suite(kind)  # GX itself accepts every expectation type and kwarg
        assert len(suite.expectations) == len(document["expectations"]) > 0
        described = set(gx_rules.rule_descriptions(kind))
        for exp in document["expectations"]:
            meta = exp["meta"]
            assert meta["severity"] in ("error", "warning")
            assert meta["rule_id"] in described, meta["rule_id"]
            assert meta["description_zh"] and meta["description_en"]
    documented = {line.split("|")[1].strip() for line in (config.PROJECT_ROOT / "docs/architecture.md")
                  .read_text(encoding="utf-8").splitlines() if line.startswith("| M0") or line.startswith("| P0")}
    assert documented == set(gx_rules.rule_descriptions("monthly"))


def test_clean_file_raises_nothing(gx_rules, tmp_path):
    path = write_xlsx(tmp_path / "clean.xlsx", [monthly_row(n) for n in range(1, 6)])
    report = gx_rules.validate(parse_upload(path, "450100", "2024-03"), no_warehouse(gx_rules))
    assert report.status == "accepted" and report.findings == []
    assert set(report.skipped_rules) == {"M008", "M009", "M011", "M012", "M013", "M014"}
    assert report.rule_summary == {}


def test_each_file_rule_fires_on_its_row(gx_rules, tmp_path):
    rows = [
        monthly_row(1),                                               # row 2: clean
        monthly_row(2, **{"电力(千瓦时)": "三万"}),                     # row 3: M002
        monthly_row(3, 统一社会信用代码=credit_code(3)[:17] + "0"        # row 4: M003 (check character)
                    if credit_code(3)[17] != "0" else credit_code(3)[:17] + "1"),
        monthly_row(4, 统计期="2024-04"),                              # row 5: M004
        monthly_row(5), monthly_row(5, 单位名称="重复"),                 # rows 6, 7: M005
        monthly_row(7, **{"水(吨)": -5}),                               # row 8: M006
        monthly_row(8, **{"用能人数(人)": 0}),                          # row 9: M007
        monthly_row(9, **{"电力(千瓦时)": 3_000_000}),                  # row 10: M010 (above the range)
    ]
    report = gx_rules.validate(parse_upload(write_csv(tmp_path / "m.csv", rows), "450100", "2024-03"),
                               no_warehouse(gx_rules))
    assert found(report) == {
        ("M002", 3, "error"), ("M003", 4, "error"), ("M004", 5, "error"), ("M005", 6, "error"),
        ("M005", 7, "error"), ("M006", 8, "error"), ("M007", 9, "error"), ("M010", 10, "warning"),
    }
    assert report.status == "rejected"
    by_rule = {f.rule_id: f for f in report.findings}
    assert by_rule["M002"].column_name == "electricity_kwh" and by_rule["M002"].observed_value == "三万"
    assert "三万" in by_rule["M002"].message_zh and "电力(千瓦时)" in by_rule["M002"].message_zh
    assert by_rule["M006"].observed_value == "-5"
    assert "2024-04" in by_rule["M004"].message_zh
    assert report.rule_summary["M005"] == {"severity": "error", "failed": 2}
    assert report.outcomes["M010"].failed_rows == [10]


def test_only_warnings_means_accepted_with_warnings(gx_rules, tmp_path):
    path = write_xlsx(tmp_path / "w.xlsx", [monthly_row(1), monthly_row(2, **{"水(吨)": 1})])  # 0.01 t/person
    report = gx_rules.validate(parse_upload(path, "450100", "2024-03"), no_warehouse(gx_rules))
    assert found(report) == {("M010", 3, "warning")}
    assert report.status == "accepted_with_warnings"


def test_parser_findings_reject_and_skip_the_missing_column(gx_rules, tmp_path):
    headers = [h for h in MONTHLY_COLUMNS if h != "用能人数(人)"]
    rows = [[v for h, v in zip(MONTHLY_COLUMNS, monthly_row(1), strict=True) if h != "用能人数(人)"]]
    report = gx_rules.validate(parse_upload(write_xlsx(tmp_path / "m.xlsx", rows, headers), "450100", "2024-03"),
                               no_warehouse(gx_rules))
    assert found(report) == {("M001", None, "error")}  # not also M007 "用能人数 must be given" on every row
    assert report.status == "rejected"


def test_unreadable_file_report(gx_rules, tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"not a workbook")
    report = gx_rules.validate(parse_upload(path), no_warehouse(gx_rules))
    assert report.unreadable and report.status == "rejected" and found(report) == {("P001", None, "error")}


def test_task_progress_rules(gx_rules, tmp_path):
    bad_code = credit_code(9)[:17] + ("0" if credit_code(9)[17] != "0" else "1")
    rows = [
        task_row(),                                                  # row 2: clean
        task_row(实施单位统一社会信用代码=""),                         # row 3: clean (code optional)
        task_row(数量="若干"),                                        # row 4: T002
        task_row(统计期="2024-Q2"),                                   # row 5: T003
        task_row(任务类别="植树造林"),                                # row 6: T004
        task_row(数量=-1),                                            # row 7: T005
        task_row(计量单位="件"),                                      # row 8: T006
        task_row(实施单位统一社会信用代码=bad_code),                   # row 9: T007
    ]
    parsed = parse_upload(write_task_xlsx(tmp_path / "450100_2024Q1_重点任务进展.xlsx", rows), "450100", "2024-03")
    report = gx_rules.validate(parsed, no_warehouse(gx_rules))
    assert found(report) == {("T002", 4, "error"), ("T003", 5, "error"), ("T004", 6, "error"),
                             ("T005", 7, "error"), ("T006", 8, "error"), ("T007", 9, "warning")}


# ------------------------------------------------------------------------------------------- against the warehouse

LAST_YEAR = dt.date(2023, 3, 1)


def _insert_registry(conn, n, reporter="450100", active_to=None):
    conn.execute(
        "insert into raw.institution_registry (credit_code, institution_name, reporter_code, institution_kind, "
        "institution_subkind, admin_level, headcount, floor_area_m2, active_from, active_to) "
        "values (%s, %s, %s, '党政机关', '机关', '市直', 100, 5000, '2020-01-01', %s)",
        (credit_code(n, "450100"), f"测试单位{n}", reporter, active_to))


def _insert_batch(conn, status, rows):
    """An upload_log row of 450100 for 2023-03 and its monthly rows: (code number, headcount, electricity)."""
    upload_id = conn.execute(
        "insert into ops.upload_log (path, file_name, sha256, size_bytes, reporter_code, period, kind, status) "
        "values ('450100/2023-03/f.xlsx', 'f.xlsx', repeat('a', 64), 1, '450100', '2023-03', 'monthly', %s) "
        "returning upload_id", (status,)).fetchone()[0]
    for i, (n, headcount, electricity) in enumerate(rows):
        conn.execute(
            "insert into raw.monthly_statistics (upload_id, source_row, reporter_code, period_month, credit_code, "
            "headcount, floor_area_m2, electricity_kwh, water_t, natural_gas_m3, lpg_kg, coal_kg, gasoline_l, "
            "diesel_l, heat_gj, pv_kwh) values (%s, %s, '450100', %s, %s, %s, 5000, %s, 300, 100, 0, 0, 200, 0, 0, 0)",
            (upload_id, i + 2, LAST_YEAR, credit_code(n), headcount, electricity))


@pytest.fixture
def history_warehouse(warehouse_dsn):
    import psycopg

    with psycopg.connect(warehouse_dsn) as conn:
        for n in range(1, 25):
            _insert_registry(conn, n)
        _insert_registry(conn, 25, active_to=dt.date(2023, 12, 31))  # closed: not expected in 2024
        _insert_registry(conn, 50, reporter="450200")
        _insert_batch(conn, "accepted", [(1, 100, 30000), (2, 100, 30000), (3, 100, 3000), (4, 100, 30000)])
        # A superseded batch must be ignored: its electricity for institution 1 would make row 2 a unit slip.
        _insert_batch(conn, "superseded", [(1, 100, 1_000_000)])
    return warehouse_dsn


def _history_file(tmp_path):
    zero = {"电力(千瓦时)": 0, "天然气(立方米)": 0, "汽油(升)": 0}
    rows = [
        monthly_row(1),                                      # row 2: same as last year: clean
        monthly_row(2, **{"用能人数(人)": 120}),              # row 3: M011 (+20 %)
        monthly_row(3),                                      # row 4: M012 (30000 vs 3000 last year)
        monthly_row(4, **zero),                              # row 5: M013
        monthly_row(50),                                     # row 6: M009 (registered under 450200)
        monthly_row(99),                                     # row 7: M008 (not registered)
        *[monthly_row(n) for n in range(5, 22)],             # rows 8-24: clean, no history
    ]  # 21 of the 24 active registered institutions: 87.5 % → M014
    return write_xlsx(tmp_path / "450100" / "2024-03" / "450100_2024-03_能源资源消费月报.xlsx", rows)


HISTORY_FINDINGS = {("M011", 3, "warning"), ("M012", 4, "error"), ("M013", 5, "warning"), ("M009", 6, "error"),
                    ("M008", 7, "warning"), ("M014", None, "warning")}


def test_registry_and_history_rules_against_the_warehouse(gx_rules, history_warehouse, tmp_path):
    context = gx_rules.load_context(history_warehouse, "450100", "2024-03")
    report = gx_rules.validate(parse_upload(_history_file(tmp_path), "450100", "2024-03"), context)
    assert found(report) == HISTORY_FINDINGS
    assert report.skipped_rules == []
    by_rule = {f.rule_id: f for f in report.findings}
    assert by_rule["M012"].column_name == "electricity_kwh" and "10" in by_rule["M012"].message_zh
    assert "21 / 24" in by_rule["M014"].message_zh and credit_code(22) in by_rule["M014"].message_zh
    assert "450200" in by_rule["M009"].message_zh


def test_validate_many_equals_one_by_one(gx_rules, history_warehouse, tmp_path):
    monthly = parse_upload(_history_file(tmp_path), "450100", "2024-03")
    clean = parse_upload(write_xlsx(tmp_path / "c.xlsx", [monthly_row(n) for n in range(1, 25) if n != 3]),
                         "450100", "2024-03")  # institution 3 left out: its 2023 electricity was a tenth
    duplicate_in_other = parse_upload(write_xlsx(tmp_path / "d.xlsx", [monthly_row(1), monthly_row(1)]),
                                      "450100", "2024-03")
    task = parse_upload(write_task_xlsx(tmp_path / "t.xlsx", [task_row(), task_row(数量=-1)]), "450100", "2024-03")
    broken = tmp_path / "b.csv"
    broken.write_bytes(b"")
    contexts = gx_rules.load_contexts(history_warehouse, [("450100", "2024-03"), ("450200", "2024-03")])
    context = contexts[("450100", "2024-03")]
    # The same rows under another reporter, first in the chunk: its rows must meet 450200's last year (none),
    # not 450100's (the chunk's history lookups are positions into every file's last year).
    other_reporter = parse_upload(_history_file(tmp_path / "other"), "450200", "2024-03")
    items = [(other_reporter, contexts[("450200", "2024-03")]), (monthly, context), (clean, context),
             (task, context), (parse_upload(broken), context), (duplicate_in_other, context)]
    together = gx_rules.validate_many(items)
    alone = [gx_rules.validate(p, c) for p, c in items]
    assert [found(r) for r in together] == [found(r) for r in alone]
    assert [[f.as_dict() for f in r.findings] for r in together] == [[f.as_dict() for f in r.findings] for r in alone]
    assert not {rule for rule, _, _ in found(together[0])} & {"M011", "M012"}
    assert found(together[1]) == HISTORY_FINDINGS
    assert found(together[2]) == set()  # 23 of 24 present (95.8 %): complete enough, nothing else
    assert found(together[5]) == {("M005", 2, "error"), ("M005", 3, "error"), ("M014", None, "warning")}
    assert [r.status for r in together] == ["rejected", "rejected", "accepted", "rejected", "rejected", "rejected"]
    json.dumps([f.as_dict() for r in together for f in r.findings], ensure_ascii=False)  # ops.dq_findings shape


#: A number as the clerk's page and workbook show it: thousands separators, at most two decimals.
CLERK_NUMBER = re.compile(r"-?\d{1,3}(,\d{3})*(\.\d{1,2})?%?")


def test_history_findings_show_last_years_value_in_every_report_file(gx_rules, history_warehouse, tmp_path):
    from openpyxl import load_workbook

    from energystat.ingest.report import PRIOR_HEADER, report_paths, write_report

    rows = [
        monthly_row(2, **{"用能人数(人)": 120}),           # row 2: M011, last year 100
        monthly_row(3, **{"电力(千瓦时)": 34567.891}),     # row 3: M012, last year 3000
        monthly_row(5, **{"用能人数(人)": 7}),             # row 4: M010 twice (intensities 574.75…, 42.857…), no history
    ]
    path = write_xlsx(tmp_path / "450100" / "2024-03" / "450100_2024-03_能源资源消费月报.xlsx", rows)
    parsed = parse_upload(path, "450100", "2024-03")
    report = gx_rules.validate(parsed, gx_rules.load_context(history_warehouse, "450100", "2024-03"))
    assert {("M011", 2), ("M012", 3), ("M010", 4)} <= {(f.rule_id, f.source_row) for f in report.findings}
    write_report(parsed, report, tmp_path / "quarantine")
    paths = report_paths(parsed, tmp_path / "quarantine")

    # the engineers' JSON: last year's value as its own field, on the history findings only
    findings = json.loads(paths["json"].read_text(encoding="utf-8"))["findings"]
    prior = {(f["rule_id"], f["source_row"]): f["prior_value"] for f in findings}
    assert prior[("M011", 2)] == "100" and prior[("M012", 3)] == "3000" and prior[("M010", 4)] is None
    assert all(f["prior_value"] is None for f in findings if f["rule_id"] not in ("M011", "M012"))
    [slip] = [f for f in findings if f["rule_id"] == "M012"]
    assert "3,000" in slip["message_zh"] and "34,567.89" in slip["message_zh"]  # no 3000.0, no 3.457e+04
    assert not any(re.search(r"\de[+-]\d|\.\d{4,}", f["message_zh"] + f["message_en"]) for f in findings)

    # the clerk's page: a 上年同期值 column; value cells formatted for people
    page = paths["html"].read_text(encoding="utf-8")
    assert f"<th>填报值</th><th>{PRIOR_HEADER}</th>" in page
    cells = re.findall(r'<td class="num">([^<]*)</td><td class="num">([^<]*)</td>', page)
    assert len(cells) == len(findings)
    assert ("34,567.89", "3,000") in cells and ("120", "100") in cells and ("12.5%", "") in cells  # M014: 3 / 24
    # a value the rule computed is named, so it is not taken for the marked cell (M010 marks 用能人数)
    computed = [v for v, _ in cells if v.startswith("人均综合能耗（计算值） ")]
    assert len(computed) == 1 and re.fullmatch(r"人均综合能耗（计算值） \d+\.\d\d", computed[0]), cells  # not 574.7512…
    plain = [v.removeprefix("人均综合能耗（计算值） ").removeprefix("人均用水量（计算值） ") for pair in cells for v in pair]
    assert all(CLERK_NUMBER.fullmatch(v) for v in plain if v), cells

    # the marked workbook's 问题汇总: the same column, the same values
    summary = load_workbook(paths["xlsx"])["问题汇总"]
    header = [c.value for c in summary[1]]
    value, last = header.index("填报值"), header.index(PRIOR_HEADER)
    assert last == value + 1
    table = [[c.value for c in row] for row in summary.iter_rows(min_row=2)]
    assert ["34,567.89", "3,000"] in [[r[value], r[last]] for r in table if r[header.index("规则")] == "M012"]
    assert [r[value] for r in table if r[value] and r[value].startswith("人均综合能耗")] == computed


def test_check_context_without_warehouse_skips(gx_rules, monkeypatch, tmp_path):
    monkeypatch.setenv("ENERGYSTAT_STATE_DIR", str(tmp_path / "state"))  # no embedded server there
    monkeypatch.delenv("ENERGYSTAT_WAREHOUSE_DSN", raising=False)
    context = gx_rules.context_for_check("450100", "2024-03")
    assert context.available == {"folder_period"} and context.unavailable_reason


def test_rejected_report_files(gx_rules, tmp_path):
    from openpyxl import load_workbook

    from energystat.ingest.report import (
        ERROR_FILL,
        REASON_HEADER,
        ROW_TINT,
        WARNING_FILL,
        report_paths,
        write_report,
    )

    rows = [monthly_row(1), monthly_row(2, **{"电力(千瓦时)": "三万"}), monthly_row(3, **{"水(吨)": 1})]
    parsed = parse_upload(write_csv(tmp_path / "up" / "450100_2024-03_能源资源消费月报.csv", rows, encoding="gbk"),
                          "450100", "2024-03")
    other = parse_upload(write_xlsx(tmp_path / "other.xlsx", [monthly_row(1)]), "450100", "2024-03")
    report, _ = gx_rules.validate_many([(parsed, no_warehouse(gx_rules)), (other, no_warehouse(gx_rules))])
    assert report.status == "rejected"
    assert write_report(parsed, report, tmp_path / "quarantine") == tmp_path / "quarantine"
    paths = report_paths(parsed, tmp_path / "quarantine")

    page = paths["html"].read_text(encoding="utf-8")
    assert "<style>" in page and "://" not in page.split("</style>")[0]  # styles inline, nothing from a CDN
    assert "不通过" in page and "三万" in page and "第 1 行" in page

    result = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert result["status"] == "rejected" and result["rule_summary"]["M002"] == {"severity": "error", "failed": 1}
    assert {(f["rule_id"], f["source_row"]) for f in result["findings"]} == {("M002", 3), ("M010", 4)}
    gx_result = json.loads(paths["gx_json"].read_text(encoding="utf-8"))
    assert gx_result["success"] is False  # this file alone: one result per expectation of the suite
    assert len(gx_result["results"]) == len(gx_rules.load_suites()["monthly"]["expectations"])
    assert all(r["result"].get("element_count", 3) == 3 for r in gx_result["results"])

    # GX's own Data Docs: an index naming the suite, linked from the engineers' JSON (not the clerk's page)
    docs_index = paths["gx_docs"]
    suite_name = gx_rules.load_suites()["monthly"]["name"]
    assert suite_name in docs_index.read_text(encoding="utf-8")
    assert result["engineering"]["gx_data_docs"] == docs_index.relative_to(paths["json"].parent).as_posix()
    assert "gx_data_docs" not in unquote(page) and "Data Docs" not in page
    [validation_page] = docs_index.parent.glob(f"validations/{suite_name}/**/*.html")
    validation_text = " ".join(re.sub(r"<[^>]+>", " ", validation_page.read_text(encoding="utf-8")).split())
    failed = sum(not r["success"] for r in gx_result["results"])
    assert "Status: Failed" in validation_text and f"Unsuccessful Expectations {failed}" in validation_text
    assert "Unexpected Value Count Index 三万 1" in validation_text  # M002's failed expectation, with the cell

    sheet = load_workbook(paths["xlsx"]).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[-1] == REASON_HEADER
    electricity = header.index("电力(千瓦时)") + 1
    water = header.index("水(吨)") + 1
    assert sheet.cell(row=3, column=electricity).fill.start_color.rgb.endswith(ERROR_FILL)
    assert sheet.cell(row=3, column=electricity).value == "三万"
    assert sheet.cell(row=4, column=water).fill.start_color.rgb.endswith(WARNING_FILL)
    assert sheet.cell(row=2, column=electricity).fill.fill_type is None  # clean row untouched
    assert "M002" in sheet.cell(row=3, column=len(header)).value and "三万" in sheet.cell(row=3, column=len(header)).value
    assert sheet.cell(row=2, column=len(header)).value is None

    # what a clerk needs to act: the reporter by name, each finding's institution, what to do, how to resubmit
    assert "南宁市（450100）" in page
    assert "测试单位2" in page and credit_code(2, "450100") in page and "改正后重新上报" in page
    assert "如何重新上报" in page and "2024年4月10日" in page  # seed: 统计期次月10日前
    assert config.settings().contact_zh in page
    # the whole failing row tinted, the failing cell framed; columns fit; A4 landscape, one page wide, header repeated
    name_column = header.index("单位名称") + 1
    assert sheet.cell(row=3, column=name_column).fill.start_color.rgb.endswith(ROW_TINT)
    assert sheet.cell(row=3, column=electricity).border.left.style == "medium"
    assert sheet.cell(row=2, column=name_column).fill.fill_type is None
    code_column = sheet.cell(row=1, column=header.index("统一社会信用代码") + 1).column_letter
    assert sheet.column_dimensions[code_column].width >= 18
    assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToWidth == 1
    assert sheet.print_title_rows == "$1:$1"
    summary = load_workbook(paths["xlsx"])["问题汇总"]
    summary_header = [c.value for c in summary[1]]
    assert summary_header == ["行号", "统一社会信用代码", "单位名称", "列", "填报值", "上年同期值", "规则", "级别", "问题说明",
                              "处理"]
    assert not any(re.search(r"[A-Za-z]{3,}", str(v)) for v in summary_header)
    assert [c.value for c in summary[2]][:3] == [3, credit_code(2, "450100"), "测试单位2"]


# ------------------------------------------------------------------------------------------- generator's defects

def _load_registry_and_year(dsn, root, year):
    """The registry and every monthly file of `year` as accepted batches (the generator's defects are all in the
    last year, so earlier years are clean history)."""
    import psycopg

    from energystat.contract.forms import REGISTRY_COLUMNS

    with psycopg.connect(dsn) as conn:
        with conn.cursor().copy(f"copy raw.institution_registry ({', '.join(REGISTRY_COLUMNS)}) "
                                "from stdin with (format csv, header true)") as copy:
            copy.write((root / "institutions.csv").read_bytes())
        columns = ["source_row", "credit_code", "institution_name", "institution_kind", *MONTHLY_COLUMNS.values()][:4]
        numbers = list(MONTHLY_COLUMNS.values())[4:]
        for path in sorted(root.glob(f"*/{year}-*/*月报.*")):
            reporter, period = path.parts[-3], path.parts[-2]
            parsed = parse_upload(path, reporter, period)
            assert parsed.findings == [], path
            upload_id = conn.execute(
                "insert into ops.upload_log (path, file_name, sha256, size_bytes, reporter_code, period, kind, "
                "status) values (%s, %s, repeat('0', 64), 1, %s, %s, 'monthly', 'accepted') returning upload_id",
                (str(path.relative_to(root)), path.name, reporter, period)).fetchone()[0]
            frame = parsed.frame
            with conn.cursor().copy(
                    f"copy raw.monthly_statistics (upload_id, reporter_code, period_month, {', '.join(columns)}, "
                    f"{', '.join(numbers)}) from stdin") as copy:
                for record in frame[columns + numbers].itertuples(index=False):
                    values = [None if isinstance(v, float) and v != v else v for v in record]
                    copy.write_row([upload_id, reporter, f"{period}-01", *values])


def test_generator_defects_are_caught_by_their_rule_and_clean_files_raise_nothing(gx_rules, warehouse_dsn,
                                                                                    tmp_path):
    from energystat.synth import generate

    root = tmp_path / "landing"
    generate(root, institutions=150, years=[2022, 2023], seed=7, defects=True)
    _load_registry_and_year(warehouse_dsn, root, 2022)
    manifest = json.loads((root / "defects.json").read_text(encoding="utf-8"))
    defects_by_file: dict[str, list[dict]] = {}
    for defect in manifest:
        defects_by_file.setdefault(defect["file"], []).append(defect)

    files = sorted(p for p in root.glob("*/2023-*/*") if p.is_file())
    keys = [(p.parts[-3], p.parts[-2]) for p in files]
    contexts = gx_rules.load_contexts(warehouse_dsn, keys)
    parsed = [parse_upload(p, r, m) for p, (r, m) in zip(files, keys, strict=True)]
    reports = gx_rules.validate_many([(p, contexts[k]) for p, k in zip(parsed, keys, strict=True)])

    caught, unexpected = [], []
    for path, report in zip(files, reports, strict=True):
        relative = str(path.relative_to(root))
        intended = [d for d in defects_by_file.get(relative, []) if d["rule_id"]]
        for defect in intended:
            hits = [f for f in report.findings if f.rule_id == defect["rule_id"]
                    and f.severity == defect["severity"] and (defect["row"] is None or f.source_row == defect["row"])]
            (caught if hits else unexpected).append((relative, defect["kind"], defect["rule_id"], defect["row"],
                                                      [(f.rule_id, f.source_row) for f in report.findings][:8]))
        if not intended and report.findings:  # clean files and must-parse-cleanly defects raise nothing
            unexpected.append((relative, "clean", None, None, [(f.rule_id, f.source_row, f.message_en)
                                                                 for f in report.findings][:5]))
    assert unexpected == []
    assert len(caught) == sum(1 for d in manifest if d["rule_id"] and d["file"] in {str(p.relative_to(root))
                                                                                      for p in files})
    assert {c[2] for c in caught} >= {f"M{n:03d}" for n in range(1, 16) if n != 10} | {"P001"}
