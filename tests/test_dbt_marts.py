"""The dbt marts on a generated province: `dbt build` passes, every target-attainment value agrees with an
independent pandas recomputation from the landing files, the attained flags are the generator's intended
ones, and the analyst role sees the marts and nothing else.

One expensive set-up per module: generate a small province, ingest it with `energystat.ingest`, build.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import re
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from energystat import cli, dbt_runner, reference, roles, warehouse
from energystat.contract import forms
from energystat.ingest import run as ingest

INSTITUTIONS = 150
YEARS = [2022, 2023]
REL_TOL = 1e-9


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("landing")
    code = cli.main(["generate", "--out", str(root), "--institutions", str(INSTITUTIONS),
                     "--years", *map(str, YEARS), "--seed", "2023", "--format", "csv"])
    assert code == 0
    return root


@pytest.fixture(scope="module")
def built(module_warehouse_dsn: str, province: Path) -> str:
    """The module's warehouse with the province ingested and the marts built (raises if dbt build fails)."""
    summary = ingest.ingest(province, dsn=module_warehouse_dsn, alert_urls=[])
    assert summary.count("rejected") == 0, summary.describe()
    dbt_runner.build(dsn=module_warehouse_dsn)
    return module_warehouse_dsn


def _query(dsn: str, sql: str) -> pd.DataFrame:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=[d.name for d in cur.description])


# ------------------------------------------------------------------ independent recomputation from the files

def _read_monthly_file(path: Path) -> pd.DataFrame:
    if path.suffix == ".xlsx":
        frame = pd.read_excel(path, sheet_name=forms.MONTHLY_SHEET, dtype=str, engine="calamine")
    else:
        frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    frame = frame.rename(columns=lambda h: str(h).strip())
    missing = set(forms.MONTHLY_HEADERS) - set(frame.columns)
    assert not missing, f"{path}: unexpected headers, missing {missing}"
    frame = frame.rename(columns=forms.MONTHLY_COLUMNS)
    # a trailing 合计 (totals) row is not an institution
    frame = frame[frame["credit_code"].notna() & ~frame["credit_code"].str.contains("合计", na=False)]
    frame = frame[~frame["institution_name"].fillna("").str.contains("合计")]
    for column in forms.MONTHLY_NUMERIC_COLUMNS:
        frame[column] = pd.to_numeric(frame[column]).fillna(0.0).astype(float)
    frame["reporter_code"] = path.parts[-3]
    frame["year"] = frame["period_month"].str[:4].astype(int)
    return frame


def _seed(name: str) -> pd.DataFrame:
    return pd.DataFrame(list(reference.load(name)))


def monthly_rows(root: Path) -> pd.DataFrame:
    """Every institution-month row of the landing files, with its kgce and kgCO₂ computed from the seed CSVs."""
    files = sorted(root.glob("*/*/*_能源资源消费月报.*"))
    assert files, f"no monthly files under {root}"
    rows = pd.concat([_read_monthly_file(p) for p in files], ignore_index=True)

    coal = _seed("ref_standard_coal_coefficients")
    coal = coal[coal["is_default"].str.lower() == "true"]
    kgce = dict(zip(coal["raw_column"], coal["kgce_per_unit"].astype(float), strict=True))
    density = dict(zip(_seed("ref_fuel_densities")["raw_column"],
                       _seed("ref_fuel_densities")["kg_per_l"].astype(float), strict=True))
    co2 = _seed("ref_co2_factors")
    co2 = co2[co2["is_default"].str.lower() == "true"].assign(year=lambda f: f["year"].astype(int))

    @functools.cache  # once per (column, year), not once per row
    def co2_factor(column: str, year: int) -> float:
        candidates = co2[co2["raw_column"] == column]
        earlier = candidates[candidates["year"] <= year]
        row = earlier.loc[earlier["year"].idxmax()] if len(earlier) else candidates.loc[candidates["year"].idxmin()]
        return float(row["kgco2_per_unit"])

    rows["energy_kgce"] = 0.0
    rows["carbon_kgco2"] = 0.0
    for column in reference.ENERGY_COLUMNS:
        kg = density.get(column, 1.0)
        rows["energy_kgce"] += rows[column] * kg * kgce[column]
        factors = rows["year"].map(lambda y, c=column: co2_factor(c, y))
        rows["carbon_kgco2"] += rows[column] * kg * factors
    rows["month"] = rows["period_month"].str[5:7].astype(int)
    return rows


def intensities(rows: pd.DataFrame) -> pd.DataFrame:
    """The four indicators per reporter (and GX) and year of the given rows: Σ numerators ÷ Σ over institutions
    of their mean monthly denominators."""
    per_institution = rows.groupby(["reporter_code", "credit_code", "year"]).agg(
        energy=("energy_kgce", "sum"), water=("water_t", "sum"), carbon=("carbon_kgco2", "sum"),
        persons=("headcount", "mean"), area=("floor_area_m2", "mean"),
    ).reset_index()
    by_reporter = per_institution.groupby(["reporter_code", "year"])[["energy", "water", "carbon", "persons", "area"]].sum()
    region = per_institution.groupby("year")[["energy", "water", "carbon", "persons", "area"]].sum()
    region.index = pd.MultiIndex.from_product([["GX"], region.index], names=["reporter_code", "year"])
    totals = pd.concat([by_reporter, region])
    return pd.DataFrame({
        "energy_per_capita": totals["energy"] / totals["persons"],
        "energy_per_m2": totals["energy"] / totals["area"],
        "water_per_capita": totals["water"] / totals["persons"],
        "carbon_per_m2": totals["carbon"] / totals["area"],
    }).stack().rename("value").reset_index().rename(columns={"level_2": "indicator"})


def compare_with_prior_and_target(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """prior_value (same keys, year − 1), yoy_change and target_change added to `values`."""
    prior = values.assign(year=values["year"] + 1).rename(columns={"value": "prior_value"})
    out = values.merge(prior, on=keys, how="left")
    out["yoy_change"] = out["value"] / out["prior_value"] - 1
    targets = _seed("ref_intensity_targets").assign(
        year=lambda f: f["year"].astype(int), target_change=lambda f: f["target_change"].astype(float))
    return out.merge(targets[["year", "indicator", "target_change"]], on=["year", "indicator"], how="left")


def expected_attainment(root: Path) -> pd.DataFrame:
    """mart_target_attainment recomputed with pandas from the landing files and the seed CSVs."""
    return compare_with_prior_and_target(intensities(monthly_rows(root)), ["reporter_code", "year", "indicator"])


def _close(a: float | None, b: float | None) -> bool:
    if a is None or pd.isna(a) or b is None or pd.isna(b):
        return (a is None or pd.isna(a)) and (b is None or pd.isna(b))
    return math.isclose(float(a), float(b), rel_tol=REL_TOL, abs_tol=1e-12)


# ------------------------------------------------------------------ tests

def test_build_covers_every_reporter_and_the_whole_region(built: str) -> None:
    mart = _query(built, "select reporter_code, year, indicator from marts.mart_target_attainment")
    reporters = set(reference.reporter_codes()) | {"GX"}
    assert set(mart["reporter_code"]) == reporters
    assert set(mart["year"]) == set(YEARS)
    assert len(mart) == len(reporters) * len(YEARS) * 4


def test_target_attainment_agrees_with_independent_pandas(built: str, province: Path) -> None:
    expected = expected_attainment(province).set_index(["reporter_code", "year", "indicator"])
    actual = _query(built, "select * from marts.mart_target_attainment").set_index(
        ["reporter_code", "year", "indicator"])
    assert set(actual.index) == set(expected.index)
    mismatches = []
    for key, row in actual.iterrows():
        want = expected.loc[key]
        for column in ("value", "prior_value", "yoy_change", "target_change"):
            got = None if pd.isna(row[column]) else float(row[column])
            if not _close(got, want[column]):
                mismatches.append((key, column, got, want[column]))
        if not pd.isna(want["target_change"]) and not pd.isna(want["yoy_change"]):
            assert row["attained"] == (want["yoy_change"] <= want["target_change"]), key
            assert _close(float(row["gap"]), want["yoy_change"] - want["target_change"]), key
        else:
            assert pd.isna(row["attained"]), key
    assert not mismatches, mismatches[:10]


def test_attained_flags_match_the_generators_intended_directions(built: str, province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))
    intended = _intended_attainment(truth)
    assert intended, "truth.json lists no intended attainment"
    actual = _query(built, "select reporter_code, year, indicator, attained from marts.mart_target_attainment"
                           " where attained is not null")
    got = {(r.reporter_code, int(r.year), r.indicator): bool(r.attained) for r in actual.itertuples()}
    for key, attained in intended.items():
        assert got.get(key) == attained, f"{key}: mart says {got.get(key)}, generator intended {attained}"


def _intended_attainment(truth: dict) -> dict[tuple[str, int, str], bool]:
    """(reporter, year, indicator) -> attained as the generator intended it (truth.json `indicators`)."""
    out: dict[tuple[str, int, str], bool] = {}
    for code, years in truth["indicators"].items():
        for year, entry in years.items():
            for indicator in ("energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"):
                item = entry[indicator]
                intended = item.get("intended_attained", item.get("attained"))
                if intended is not None:
                    out[(code, int(year), indicator)] = bool(intended)
    return out


def test_dual_control_totals_match_truth(built: str, province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))["indicators"]
    dual = _query(built, "select reporter_code, year, energy_tce, water_t, carbon_tco2 from marts.mart_dual_control")
    assert len(dual) == len(truth) * len(YEARS)
    for row in dual.itertuples():
        totals = truth[row.reporter_code][str(row.year)]["totals"]
        assert math.isclose(float(row.energy_tce) * 1000, totals["energy_kgce"], rel_tol=1e-6), row
        assert math.isclose(float(row.water_t), totals["water_t"], rel_tol=1e-6), row
        assert math.isclose(float(row.carbon_tco2) * 1000, totals["co2_kg"], rel_tol=1e-6), row


def test_task_progress_matches_truth(built: str, province: Path) -> None:
    truth = json.loads((province / "truth.json").read_text(encoding="utf-8"))["tasks"]
    mart = _query(built, "select reporter_code, year, task_code, sum(achieved_in_year) as in_year,"
                         " sum(achieved) as achieved, bool_or(is_cumulative) as cumulative"
                         " from marts.mart_task_progress group by 1, 2, 3")
    assert len(mart) == len(truth) * len(YEARS) * len(truth["GX"][str(YEARS[0])])
    for row in mart.itertuples():
        item = truth[row.reporter_code][str(row.year)][row.task_code]
        assert float(row.in_year) == pytest.approx(item["total"]), row
        if row.cumulative:
            assert float(row.achieved) == pytest.approx(item["cumulative"]), row
    # GX's count targets: completion as the generator says
    gx = _query(built, "select task_code, achieved, target, completion_ratio from marts.mart_task_progress"
                       f" where reporter_code = 'GX' and year = {max(YEARS)} and target_type = 'count'")
    assert len(gx) > 0
    for row in gx.itertuples():
        item = truth["GX"][str(max(YEARS))][row.task_code]
        assert float(row.target) == pytest.approx(float(item["target_value"]))
        assert (float(row.completion_ratio) >= 1) == item["attained"], row
    # share targets (节水型单位 by level and kind): base, achieved and verdict as the generator says
    shares = _query(built, "select admin_level, institution_kind, achieved, target_base_count, completion_ratio"
                           " from marts.mart_task_progress where reporter_code = 'GX'"
                           f" and year = {max(YEARS)} and target_type = 'share'")
    expected = truth["GX"][str(max(YEARS))]["water_saving_units"]["shares"]
    assert len(shares) == len(expected)
    for row in shares.itertuples():
        item = expected[f"{row.admin_level}|{row.institution_kind}"]
        assert int(row.target_base_count) == item["registered_active"], row
        assert float(row.achieved) == item["built"], row
        assert (float(row.completion_ratio) >= 1) == item["attained"], row


def test_analyst_reads_marts_and_is_refused_elsewhere(built: str) -> None:
    analyst = warehouse.analyst_dsn(built)
    with psycopg.connect(analyst) as conn:
        count = conn.execute("select count(*) from marts.mart_target_attainment").fetchone()[0]
        assert count > 0
        for table in ("raw.monthly_statistics", "ops.upload_log", "staging.stg_monthly_statistics",
                      "intermediate.int_institution_month", "reference.ref_reporters"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")
            conn.rollback()


def test_whole_region_energy_is_the_sum_of_reporters(built: str) -> None:
    dual = _query(built, "select reporter_code, year, energy_tce, carbon_tco2 from marts.mart_dual_control")
    for year in YEARS:
        region = dual[(dual.reporter_code == "GX") & (dual.year == year)].iloc[0]
        reporters = dual[(dual.reporter_code != "GX") & (dual.year == year)]
        assert math.isclose(float(region.energy_tce), float(reporters.energy_tce.sum()), rel_tol=REL_TOL)
        assert math.isclose(float(region.carbon_tco2), float(reporters.carbon_tco2.sum()), rel_tol=REL_TOL)


def test_timeliness_counts_every_reporter_month(built: str) -> None:
    timeliness = _query(built, "select * from marts.mart_reporting_timeliness where upload_kind = 'monthly'")
    assert len(timeliness) == 15 * 12 * len(YEARS)
    assert not timeliness["is_missing"].any()
    assert (timeliness["institutions_reported"] <= timeliness["institutions_expected"]).all()


def test_days_late_follow_the_files_submission_times(built: str, province: Path) -> None:
    """Ingestion records a file's modification time as its receipt; recompute days late from the files."""
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    expected = {}
    for path in province.glob("*/*/*_*.*"):
        quarter = re.search(r"_(\d{4})Q([1-4])_", path.name)
        kind, period = ("task_progress", f"{quarter[1]}-Q{quarter[2]}") if quarter else ("monthly", path.parent.name)
        received = datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=shanghai).date()
        late = (received - reference.reporting_deadline(period)).days
        expected[(path.parts[-3], kind, path.parent.name)] = max(late, 0)
    mart = _query(built, "select reporter_code, upload_kind, period, days_late from marts.mart_reporting_timeliness")
    got = {(r.reporter_code, r.upload_kind, r.period): r.days_late for r in mart.itertuples()}
    assert got == expected
    assert any(v > 0 for v in got.values()) and any(v == 0 for v in got.values())


# ------------------------------------------------------------------ the profile's connection settings

def _sessions_opened(dsn: str) -> int:
    """Sessions the server has opened on `dsn`'s database so far (each backend reports its own at exit)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("select sessions from pg_stat_database where datname = current_database()").fetchone()[0]


def test_dbt_reuses_a_connection_per_thread_instead_of_one_per_node(built: str) -> None:
    """A data test takes milliseconds; a fresh connection (a new server backend, its catalog caches cold) per node
    cost the build more than many tests did. dbt's threads keep theirs from node to node, and close them all
    when the build ends."""
    before = _sessions_opened(built)
    # tables only: rebuilding a staging view would drop the views that read it (dbt's `drop … cascade`)
    result = dbt_runner.build(dsn=built, select=["dim_reporter", "dim_institution", "mart_task_progress",
                                                 "mart_reporting_timeliness"])
    nodes = len(result.result.results)
    # this check's own connection, dbt's main one and one per thread (profiles.yml: 2), with slack for a third
    opened = _sessions_opened(built) - before
    assert nodes >= 40 and opened <= 5, (nodes, opened)
    with psycopg.connect(built, autocommit=True) as conn:
        left_open = conn.execute("select count(*) from pg_stat_activity where datname = current_database() "
                                 "and usename = %s", (roles.TRANSFORMER,)).fetchone()[0]
    assert left_open == 0


def test_dbt_env_from_a_socket_uri() -> None:
    env = dbt_runner.dbt_env("postgresql://postgres:@/energystat?host=/srv/pgdata")
    assert env["ENERGYSTAT_DBT_HOST"] == "/srv/pgdata"
    assert env["ENERGYSTAT_DBT_DBNAME"] == "energystat"
    assert env["ENERGYSTAT_DBT_USER"] == "postgres"
    assert env["ENERGYSTAT_DBT_PORT"] == "5432"


def test_dbt_env_from_a_tcp_uri_with_password() -> None:
    env = dbt_runner.dbt_env("postgresql://es%40user:p%2Fw@db.example:6543/wh")
    assert env == {"ENERGYSTAT_DBT_HOST": "db.example", "ENERGYSTAT_DBT_PORT": "6543",
                   "ENERGYSTAT_DBT_USER": "es@user", "ENERGYSTAT_DBT_PASSWORD": "p/w",
                   "ENERGYSTAT_DBT_DBNAME": "wh"}


def test_configured_dsn_reads_airflow_connection_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENERGYSTAT_WAREHOUSE_DSN", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps(
        {"conn_type": "postgres", "host": "/srv/pgdata", "login": "postgres", "schema": "energystat", "port": 5432}))
    env = dbt_runner.dbt_env(dbt_runner.configured_dsn())
    assert env["ENERGYSTAT_DBT_HOST"] == "/srv/pgdata" and env["ENERGYSTAT_DBT_DBNAME"] == "energystat"


def test_python_and_dbt_reach_the_same_server_when_only_airflow_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """One lookup order: with only AIRFLOW_CONN_WAREHOUSE set, the Python tasks and dbt use that server."""
    monkeypatch.delenv("ENERGYSTAT_WAREHOUSE_DSN", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://etl:secret@db.example:6543/energystat")
    assert warehouse.server_dsn(start=False) == dbt_runner.configured_dsn()
    assert dbt_runner.dbt_env(warehouse.warehouse_dsn(start=False))["ENERGYSTAT_DBT_HOST"] == "db.example"
    assert not warehouse.is_embedded()
