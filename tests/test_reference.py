"""Reference data: the seeds read by Python agree with DOMAIN.md's facts, and load with `dbt seed`."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from energystat import dbt_runner, reference


def test_reporters_are_the_15_and_the_whole_region() -> None:
    codes = reference.reporter_codes()
    assert len(codes) == 15 and codes[0] == "450000" and codes[-1] == "451400"
    assert reference.reporter_name("450100") == "南宁市"
    assert reference.reporter_name("GX") == "全区"
    with pytest.raises(KeyError, match="450199"):
        reference.reporter_name("450199")


def test_coal_coefficients_default_to_equivalent_calorific_value() -> None:
    assert reference.coal_coefficients()["electricity_kwh"] == 0.1229
    assert reference.coal_coefficients("等价值")["electricity_kwh"] > 0.25
    assert reference.coal_coefficients()["heat_gj"] == pytest.approx(0.03412 * 1000)
    per_litre = reference.kgce_per_raw_unit()
    assert per_litre["gasoline_l"] == pytest.approx(1.4714 * 0.73)
    assert per_litre["diesel_l"] == pytest.approx(1.4571 * 0.85)
    with pytest.raises(ValueError, match="method"):
        reference.coal_coefficients("估算值")


def test_co2_factors_default_guangxi_and_fall_back_to_latest_year() -> None:
    assert reference.co2_factors(2022)["electricity_kwh"] == 0.4044
    assert reference.co2_factors(2025)["electricity_kwh"] == 0.4044  # latest earlier year
    assert reference.co2_factors(2023, scope="national_grid")["electricity_kwh"] == 0.5703
    assert reference.co2_factors(2023, scope="national_grid")["natural_gas_m3"] == 2.1622  # fuels keep defaults
    assert reference.co2_factors(2022)["heat_gj"] == 110


def test_targets_by_year() -> None:
    targets = reference.intensity_targets(2023)
    assert {k: t.target_change for k, t in targets.items()} == {
        "energy_per_capita": -0.011, "energy_per_m2": -0.009, "water_per_capita": -0.011, "carbon_per_m2": -0.018}
    assert reference.intensity_targets(2024) == {}
    assert reference.intensity_targets(2024, fallback_to_latest=True)["energy_per_m2"].year == 2023
    organs = next(t for t in reference.task_targets(2023) if t["task_code"] == "saving_organs")
    assert organs["target_value"] == round(0.85 * 980)
    shares = {(t["admin_level"], t["institution_kind"]): t["target_share"]
              for t in reference.task_targets(2023) if t["target_type"] == "share"}
    assert shares[("区直", "事业单位")] == 0.6 and shares[("市直", "党政机关")] == 1.0
    assert set(reference.task_kinds()) == {"ewaste_items", "retrofit_area_m2", "rooftop_pv_projects",
                                           "epc_projects", "saving_organs", "water_saving_units"}


def test_deadlines_and_ranges() -> None:
    assert reference.reporting_deadline("2023-05") == dt.date(2023, 6, 10)
    assert reference.reporting_deadline("2023-12") == dt.date(2024, 1, 10)
    assert reference.reporting_deadline("2023-Q4") == dt.date(2024, 1, 15)
    with pytest.raises(ValueError):
        reference.reporting_deadline("2023/05")
    ranges = reference.intensity_ranges()
    assert len(ranges) == 7 * 3
    assert all(low < high for low, high in ranges.values())


def test_every_seed_row_has_a_source_and_validity() -> None:
    for path in sorted(reference.seeds_dir().glob("*.csv")):
        rows = reference.load(path.stem)
        assert rows, path
        for row in rows:
            assert row["source"], (path.name, row)
            assert row.get("valid_from") or row.get("year"), (path.name, row)


def test_dbt_seed_loads_the_seeds(warehouse_dsn: str) -> None:
    assert dbt_runner.run_dbt(["seed"], dsn=warehouse_dsn).success
    tests = dbt_runner.run_dbt(["test", "--select", "resource_type:test,path:seeds", "--indirect-selection", "cautious"], dsn=warehouse_dsn)  # the seeds' own data tests
    assert tests.success and len(tests.result) > 50
    with psycopg.connect(warehouse_dsn) as conn:
        reporters = conn.execute("select count(*) from reference.ref_reporters").fetchone()[0]
        electricity, is_default = conn.execute(
            "select kgce_per_unit, is_default from reference.ref_standard_coal_coefficients"
            " where raw_column = 'electricity_kwh' and method = '当量值'").fetchone()
        kind = conn.execute("select data_type from information_schema.columns where table_schema = 'reference'"
                            " and table_name = 'ref_reporters' and column_name = 'valid_from'").fetchone()[0]
    assert reporters == 16
    assert float(electricity) == 0.1229 and is_default is True
    assert kind == "date"


def test_python_deadline_rule_gives_the_dates_of_the_dbt_unit_test(monkeypatch: pytest.MonkeyPatch) -> None:
    """One deadline rule: the rows and dates of dbt's unit test `deadline_rule_follows_validity` (run by `dbt
    build`) go through `reference.reporting_deadline` and give the same dates."""
    import yaml

    from energystat import config

    document = yaml.safe_load((config.DBT_PROJECT_DIR / "models" / "intermediate" / "_intermediate.yml")
                              .read_text(encoding="utf-8"))
    [unit] = [u for u in document["unit_tests"] if u["name"] == "deadline_rule_follows_validity"]
    [seed] = [g["rows"] for g in unit["given"] if g["input"] == "ref('ref_reporting_deadlines')"]
    rows = tuple({k: "" if v is None else str(v) for k, v in {**row, "deadline_rule_zh": "", "source": ""}.items()}
                 for row in seed)
    real_load = reference.load
    monkeypatch.setattr(reference, "load", lambda name: rows if name == "ref_reporting_deadlines" else real_load(name))
    for row in unit["expect"]["rows"]:
        period = row["period"]
        if row["upload_kind"] == "task_progress":  # the quarter whose last month the folder names
            period = f"{period[:4]}-Q{int(period[5:]) // 3}"
        assert reference.reporting_deadline(period) == row["deadline_date"], row
    assert len({r["deadline_day"] for r in seed}) > 2  # the case really spans two validity periods per kind
