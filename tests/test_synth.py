"""The synthetic province: valid codes, exact headers, determinism, truth.json against the rows, defects manifest."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from energystat import creditcode, reference
from energystat.contract import forms
from energystat.synth import generate

YEARS = [2022, 2023]
INDICATORS = ["energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"]


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("province") / "landing"
    generate(out, institutions=90, years=YEARS, seed=7, fmt="csv")
    return out


@pytest.fixture(scope="module")
def defective(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("defective") / "landing"
    generate(out, institutions=90, years=YEARS, seed=7, fmt="xlsx", defects=True)
    return out


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def _monthly_rows(root: Path) -> pd.DataFrame:
    """All monthly rows of a CSV province, with the reporter from the folder."""
    frames = []
    for path in sorted(root.glob("*/*/*_能源资源消费月报.csv")):
        frame = _read_csv(path)
        frame["reporter_code"] = path.parts[-3]
        frames.append(frame)
    rows = pd.concat(frames, ignore_index=True)
    for header in forms.MONTHLY_HEADERS[4:]:
        rows[header] = rows[header].astype(float)
    rows["year"] = rows["统计期"].str[:4].astype(int)
    return rows


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_registry_codes_are_valid_and_distinct(province: Path) -> None:
    registry = _read_csv(province / forms.REGISTRY_FILE)
    assert list(registry.columns) == forms.REGISTRY_COLUMNS
    assert len(registry) == 90
    assert all(creditcode.is_valid(code) for code in registry["credit_code"])
    assert registry["credit_code"].is_unique
    assert registry["institution_name"].is_unique
    assert set(registry["reporter_code"]) == set(reference.reporter_codes())
    assert set(registry["institution_subkind"]) <= set(reference.institution_kinds())
    assert (registry["headcount"].astype(int) > 0).all() and (registry["floor_area_m2"].astype(float) > 0).all()


def test_every_reporter_and_month_has_a_file_with_the_exact_headers(province: Path) -> None:
    for reporter in reference.reporter_codes():
        for year in YEARS:
            for month in range(1, 13):
                period = f"{year}-{month:02d}"
                path = province / reporter / period / forms.monthly_file_name(reporter, period, ".csv")
                with path.open(encoding="utf-8-sig", newline="") as f:
                    header = next(csv.reader(f))
                assert header == forms.MONTHLY_HEADERS, path
            for quarter in range(1, 5):
                folder = province / reporter / forms.quarter_folder_period(year, quarter)
                task = _read_csv(folder / forms.task_file_name(reporter, year, quarter, ".csv"))
                assert list(task.columns) == forms.TASK_HEADERS
                assert set(task["统计期"]) == {f"{year}-Q{quarter}"}
                assert set(task["任务类别"]) <= {k.category_zh for k in reference.task_kinds().values()}


def test_rows_agree_with_registry_activity(province: Path) -> None:
    registry = _read_csv(province / forms.REGISTRY_FILE).set_index("credit_code")
    rows = _monthly_rows(province)
    joined = rows.join(registry.add_suffix("_registry").rename(columns=lambda c: c.removesuffix("_registry") if c != "reporter_code_registry" else c), on="统一社会信用代码")
    assert (joined["reporter_code_registry"] == rows["reporter_code"]).all()
    month_start = rows["统计期"] + "-01"
    assert (joined["active_from"] <= month_start).all()
    left = joined["active_to"] != ""
    assert (joined.loc[left, "active_to"] >= month_start[left]).all()
    # some institutions join or leave during the two years, and are absent outside their active period
    assert (registry["active_to"] != "").sum() >= 1
    assert (registry["active_from"] >= "2022-02-01").sum() >= 1
    present = rows.groupby("统一社会信用代码")["统计期"].nunique()
    assert present.max() == 24 and present.min() < 24


def test_seasonal_shape_and_kind_spread(province: Path) -> None:
    rows = _monthly_rows(province)
    rows["month"] = rows["统计期"].str[5:].astype(int)
    by_month = rows.groupby("month")["电力(千瓦时)"].sum()
    assert by_month[[7, 8]].mean() > 1.2 * by_month[[1, 2, 12]].mean()  # summer cooling peak
    kgce = reference.kgce_per_raw_unit()
    rows["kgce"] = sum(rows[h] * kgce[c] for h, c in forms.MONTHLY_COLUMNS.items() if c in kgce)
    per_person = rows.groupby("单位类型")["kgce"].sum() / rows.groupby("单位类型")["用能人数(人)"].sum()
    assert per_person["医院"] > 2 * per_person["机关"]


def _indicators(rows: pd.DataFrame) -> pd.DataFrame:
    """Independent recomputation of DOMAIN.md's indicators per reporter (and GX) and year."""
    kgce = reference.kgce_per_raw_unit()
    by_raw = {c: h for h, c in forms.MONTHLY_COLUMNS.items()}
    rows = rows.copy()
    rows["kgce"] = sum(rows[by_raw[c]] * f for c, f in kgce.items())
    rows["co2"] = 0.0
    for year in YEARS:
        factors = reference.kgco2_per_raw_unit(year)
        mask = rows["year"] == year
        rows.loc[mask, "co2"] = sum(rows.loc[mask, by_raw[c]] * f for c, f in factors.items())
    out = []
    for scope, part in [("GX", rows), *rows.groupby("reporter_code")]:
        per_inst = part.groupby(["year", "统一社会信用代码"]).agg(
            kgce=("kgce", "sum"), co2=("co2", "sum"), water=("水(吨)", "sum"),
            persons=("用能人数(人)", "mean"), area=("建筑面积(平方米)", "mean")).groupby("year").sum()
        frame = pd.DataFrame({"energy_per_capita": per_inst["kgce"] / per_inst["persons"],
                              "energy_per_m2": per_inst["kgce"] / per_inst["area"],
                              "water_per_capita": per_inst["water"] / per_inst["persons"],
                              "carbon_per_m2": per_inst["co2"] / per_inst["area"]})
        frame["scope"] = scope
        out.append(frame.reset_index())
    return pd.concat(out).set_index(["scope", "year"])


def test_truth_agrees_with_the_rows(province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))["indicators"]
    values = _indicators(_monthly_rows(province))
    targets = reference.intensity_targets(2023)
    assert set(truth) == {"GX", *reference.reporter_codes()}
    for scope in truth:
        for indicator in INDICATORS:
            change = values.loc[(scope, 2023), indicator] / values.loc[(scope, 2022), indicator] - 1
            item = truth[scope]["2023"][indicator]
            assert item["change"] == pytest.approx(change, abs=1e-5), (scope, indicator)
            assert item["direction"] == ("down" if change < 0 else "up")
            assert item["attained"] == (change <= targets[indicator].target_change)
            assert abs(change - targets[indicator].target_change) >= 0.005, (scope, indicator)  # visible margin
            if scope != "GX":
                assert item["intended_attained"] == item["attained"]
                assert item["intended_change"] == pytest.approx(change, abs=2e-4)


def test_default_data_has_reporters_attaining_and_missing_each_target(province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))["indicators"]
    for indicator in INDICATORS:
        flags = [truth[code]["2023"][indicator]["attained"] for code in reference.reporter_codes()]
        assert any(flags) and not all(flags), indicator


def test_magnitudes_near_national_means(province: Path) -> None:
    values = _indicators(_monthly_rows(province)).loc[("GX", 2022)]
    assert 220 < values["energy_per_capita"] < 450
    assert 11 < values["energy_per_m2"] < 28
    assert 14 < values["water_per_capita"] < 30


def test_task_totals_in_truth(province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))["tasks"]
    frames = [_read_csv(p).assign(reporter=p.parts[-3]) for p in province.glob("*/*/*_重点任务进展.csv")]
    tasks = pd.concat(frames, ignore_index=True)
    tasks["数量"] = tasks["数量"].astype(float)
    tasks["year"] = tasks["统计期"].str[:4]
    category = {k.category_zh: code for code, k in reference.task_kinds().items()}
    tasks["task_code"] = tasks["任务类别"].map(category)
    assert (tasks["计量单位"] == tasks["task_code"].map(
        {c: k.unit_zh for c, k in reference.task_kinds().items()})).all()
    totals = tasks[tasks["year"] == "2023"].groupby("task_code")["数量"].sum()
    for code, total in totals.items():
        assert truth["GX"]["2023"][code]["total"] == total
    ewaste = truth["GX"]["2023"]["ewaste_items"]
    assert ewaste["attained"] == (ewaste["total"] >= 17000)


def test_same_seed_gives_identical_bytes(province: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(again, institutions=90, years=YEARS, seed=7, fmt="csv")
    assert _hashes(again) == _hashes(province)
    other = tmp_path / "other"
    generate(other, institutions=90, years=YEARS, seed=8, fmt="csv")
    assert _hashes(other) != _hashes(province)


def test_gbk_format_is_gbk(tmp_path: Path) -> None:
    generate(tmp_path / "gbk", institutions=30, years=[2023], seed=1, fmt="csv-gbk")
    path = next((tmp_path / "gbk").glob("450100/2023-01/*.csv"))
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert data.decode("gbk").splitlines()[0].split(",") == forms.MONTHLY_HEADERS


def test_xlsx_files_open_with_the_exact_headers(defective: Path) -> None:
    manifest = {d["file"] for d in json.loads((defective / "defects.json").read_text(encoding="utf-8"))}
    checked = 0
    for path in sorted(defective.glob("*/*/*.xlsx")):
        if path.relative_to(defective).as_posix() in manifest:
            continue
        workbook = openpyxl.load_workbook(path, read_only=True)
        monthly = forms.MONTHLY_SHEET in path.name
        sheet = workbook[forms.MONTHLY_SHEET if monthly else forms.TASK_SHEET]
        header = [c.value for c in next(sheet.iter_rows(max_row=1))]
        assert header == (forms.MONTHLY_HEADERS if monthly else forms.TASK_HEADERS), path
        workbook.close()
        checked += 1
    assert checked > 400


def _cells(path: Path) -> list[list]:
    if path.suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk")
        return list(csv.reader(text.splitlines()))
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = [list(r) for r in workbook.worksheets[0].iter_rows(values_only=True)]
    workbook.close()
    return rows


def test_defects_manifest_points_at_real_defects(defective: Path) -> None:
    manifest = json.loads((defective / "defects.json").read_text(encoding="utf-8"))
    registry = _read_csv(defective / forms.REGISTRY_FILE).set_index("credit_code")
    files = [d["file"] for d in manifest]
    assert len(files) == len(set(files)), "one file = one defect"
    kinds = {d["kind"] for d in manifest}
    from energystat.synth.defects import MONTHLY_DEFECTS, TASK_DEFECTS

    assert kinds == set(MONTHLY_DEFECTS) | set(TASK_DEFECTS)
    for d in manifest:
        path = defective / d["file"]
        kind = d["kind"]
        expected_rule = (MONTHLY_DEFECTS.get(kind) or TASK_DEFECTS.get(kind))[0]
        assert d["rule_id"] == expected_rule
        if kind == "missing_reporter_month":
            assert not path.exists() and not path.with_suffix(".csv").exists()
            continue
        if kind == "unreadable_file":
            with pytest.raises(Exception):  # noqa: B017 - any reader error is the point
                openpyxl.load_workbook(path)
            continue
        if kind == "gbk_csv":
            assert path.suffix == ".csv"
            path.read_bytes().decode("gbk")
            with pytest.raises(UnicodeDecodeError):
                path.read_bytes().decode("utf-8")
            continue
        cells = _cells(path)
        header = [str(h) for h in cells[0]]
        row = cells[d["row"] - 1] if d["row"] else None
        value = row[header.index(d["column"])] if row and d["column"] in header else None
        if kind in ("missing_column", "task_missing_column"):
            assert d["column"] not in header
        elif kind in ("non_numeric_value", "task_non_numeric"):
            assert isinstance(value, str) and not value.replace(".", "").isdigit()
        elif kind in ("bad_check_character", "task_bad_credit_code"):
            assert creditcode.is_well_formed(value) and not creditcode.is_valid(value)
        elif kind == "period_mismatch":
            folder_period = path.parts[-2]
            assert {r[header.index("统计期")] for r in cells[1:]} == {str(pd.Period(folder_period, "M") - 1)}
        elif kind == "task_period_mismatch":
            quarter = int(path.parts[-2][5:]) // 3
            assert cells[1][0] != f"{path.parts[-2][:4]}-Q{quarter}"
        elif kind == "duplicate_row":
            codes = [r[0] for r in cells[1:]]
            assert codes.count(row[0]) == 2
        elif kind in ("negative_value", "task_negative_quantity"):
            assert float(value) < 0
        elif kind == "zero_headcount":
            assert float(value) == 0
        elif kind == "unknown_institution":
            assert creditcode.is_valid(value) and value not in registry.index
        elif kind == "wrong_reporter":
            assert registry.loc[value, "reporter_code"] != path.parts[-3]
        elif kind in ("headcount_jump", "area_jump", "unit_slip_x10", "unit_slip_div10"):
            last_year = f"{int(path.parts[-2][:4]) - 1}{path.parts[-2][4:]}"
            before = _cells(next((defective / path.parts[-3] / last_year).glob("*月报*")))
            previous = {r[0]: r for r in before[1:]}[row[0]]
            ratio = float(value) / float(previous[header.index(d["column"])])
            if kind in ("headcount_jump", "area_jump"):
                assert abs(ratio - 1) > 0.1
            else:
                assert ratio >= 5 or ratio <= 0.2
        elif kind == "zero_consumption":
            assert all(float(v) == 0 for v in row[6:])
        elif kind == "incomplete_file":
            assert d["rows_dropped"] > 0
        elif kind in ("totals_row", "totals_row_mismatch"):
            assert row[0] == "合计"
            column = header.index("电力(千瓦时)")
            column_sum = sum(float(r[column]) for r in cells[1:-1])
            assert (abs(float(row[column]) - column_sum) < 0.01) == (kind == "totals_row")
        elif kind == "thousands_separators":
            assert any("," in str(r[header.index(d["column"])]) for r in cells[1:])
        elif kind == "full_width_digits":
            assert all(any("０" <= ch <= "９" for ch in str(r[header.index(d["column"])])) for r in cells[1:])
        elif kind == "task_unknown_category":
            assert value not in {k.category_zh for k in reference.task_kinds().values()}
        elif kind == "task_unit_mismatch":
            category = row[header.index("任务类别")]
            unit = {k.category_zh: k.unit_zh for k in reference.task_kinds().values()}[category]
            assert value != unit
        else:
            pytest.fail(f"defect kind {kind} not checked")


def test_defects_leave_most_files_clean(defective: Path) -> None:
    manifest = json.loads((defective / "defects.json").read_text(encoding="utf-8"))
    files = list(defective.glob("*/*/*.*"))
    assert len(manifest) < 0.1 * len(files)
