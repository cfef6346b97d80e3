"""The year-to-date marts and the year-end projection on a generated province: every year-to-date value agrees
with an independent pandas recomputation from the landing files, December equals the annual mart, the
projection follows its stated method, the backtest scores it against the real December outcome, and the early
warnings say what the projection says, once.

Reuses test_dbt_marts' province, build and recomputation helpers (one generated province, ingested and built).
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from airflow_harness import dags_test
from alert_servers import webhook_server, webhook_url
from test_dbt_marts import (  # noqa: F401  (province and built are fixtures used by name)
    YEARS,
    _close,
    _query,
    built,
    compare_with_prior_and_target,
    intensities,
    monthly_rows,
    province,
)

from energystat import reference
from energystat.contract import forms
from energystat.monitoring import backtest, early_warning

KEYS = ["reporter_code", "year", "through_month", "indicator"]


@pytest.fixture(scope="module")
def rows(province: Path) -> pd.DataFrame:  # noqa: F811
    """The province's institution-month rows with kgce and kgCO₂ (test_dbt_marts' independent computation)."""
    return monthly_rows(province)


def expected_ytd(rows: pd.DataFrame) -> pd.DataFrame:
    """mart_ytd_attainment recomputed with pandas: the annual recomputation over January…M, for each M."""
    per_month_end = [intensities(rows[rows["month"] <= m]).assign(through_month=m) for m in range(1, 13)]
    return compare_with_prior_and_target(pd.concat(per_month_end, ignore_index=True), KEYS)


def expected_like_for_like(rows: pd.DataFrame) -> pd.DataFrame:
    """The like-for-like columns recomputed: only (institution, month) pairs reported in both years."""
    seen = set(zip(rows["credit_code"], rows["year"], rows["month"], strict=True))
    has_prior = [(c, y - 1, m) in seen for c, y, m in zip(rows["credit_code"], rows["year"], rows["month"], strict=True)]
    has_next = [(c, y + 1, m) in seen for c, y, m in zip(rows["credit_code"], rows["year"], rows["month"], strict=True)]
    current, prior = rows[has_prior], rows[has_next].assign(year=lambda f: f["year"] + 1)
    frames = []
    for m in range(1, 13):
        cur = intensities(current[current["month"] <= m]).rename(columns={"value": "like_for_like_value"})
        pri = intensities(prior[prior["month"] <= m]).rename(columns={"value": "like_for_like_prior_value"})
        frames.append(cur.merge(pri, on=["reporter_code", "year", "indicator"]).assign(through_month=m))
    out = pd.concat(frames, ignore_index=True)
    out["like_for_like_change"] = out["like_for_like_value"] / out["like_for_like_prior_value"] - 1
    return out


def test_ytd_attainment_agrees_with_independent_pandas(built: str, rows: pd.DataFrame) -> None:  # noqa: F811
    expected = expected_ytd(rows).merge(expected_like_for_like(rows), on=KEYS, how="left").set_index(KEYS)
    actual = _query(built, "select * from marts.mart_ytd_attainment").set_index(KEYS)
    assert set(actual.index) == set(expected.index)
    assert len(actual) == (len(reference.reporter_codes()) + 1) * len(YEARS) * 12 * 4
    mismatches = []
    for key, row in actual.iterrows():
        want = expected.loc[key]
        for column in ("value", "prior_value", "yoy_change", "target_change", "like_for_like_value",
                       "like_for_like_prior_value", "like_for_like_change"):
            got = None if pd.isna(row[column]) else float(row[column])
            if not _close(got, want[column]):
                mismatches.append((key, column, got, want[column]))
        if not pd.isna(want["yoy_change"]) and not pd.isna(want["target_change"]):
            assert row["attained"] == (want["yoy_change"] <= want["target_change"]), key
    assert not mismatches, mismatches[:10]
    differs = (actual["yoy_change"].astype(float) - actual["like_for_like_change"].astype(float)).abs() > 1e-9
    assert differs.any(), "the province has institutions joining or leaving: like for like must differ somewhere"
    assert actual["is_complete"].all() and actual["prior_is_complete"].xs(2023, level="year").all()


def test_december_ytd_equals_the_annual_mart_for_every_reporter_and_indicator(built: str) -> None:  # noqa: F811
    annual = _query(built, "select reporter_code, year, indicator, value, prior_value, yoy_change, attained"
                           " from marts.mart_target_attainment").set_index(["reporter_code", "year", "indicator"])
    december = _query(built, "select reporter_code, year, indicator, value, prior_value, yoy_change, attained"
                             " from marts.mart_ytd_attainment where through_month = 12"
                      ).set_index(["reporter_code", "year", "indicator"])
    assert set(december.index) == set(annual.index)
    for key, row in annual.iterrows():
        got = december.loc[key]
        assert float(got["value"]) == float(row["value"]), key  # same sums, same order: exactly equal
        for column in ("prior_value", "yoy_change"):
            assert _close(None if pd.isna(got[column]) else float(got[column]),
                          None if pd.isna(row[column]) else float(row[column])), (key, column)
        assert (pd.isna(got["attained"]) and pd.isna(row["attained"])) or got["attained"] == row["attained"], key


def test_ytd_by_kind_agrees_with_independent_pandas(built: str, province: Path, rows: pd.DataFrame) -> None:  # noqa: F811
    rows = rows.copy()
    # an institution's kind: the registry's, else its form's 单位类型 mapped through the seed (as the fact does)
    registry = pd.read_csv(province / forms.REGISTRY_FILE, dtype=str).set_index("credit_code")["institution_kind"]
    by_subkind = {r["institution_subkind"]: r["institution_kind"] for r in reference.load("ref_institution_kinds")}
    rows["kind"] = rows["credit_code"].map(registry).fillna(rows["institution_kind"].map(by_subkind))  # the form's 单位类型
    mart = _query(built, "select reporter_code, institution_kind, indicator, value from"
                         " marts.mart_ytd_attainment_by_kind where year = 2023 and through_month = 7")
    got = mart.set_index(["institution_kind", "reporter_code", "indicator"])["value"]
    july = rows[(rows["year"] == 2023) & (rows["month"] <= 7)]
    expected = pd.concat([intensities(group).assign(institution_kind=kind) for kind, group in july.groupby("kind")])
    expected = expected.dropna(subset=["value"]).set_index(["institution_kind", "reporter_code", "indicator"])
    assert set(got.index) == set(expected.index)
    for key, value in expected["value"].items():
        assert _close(float(got.loc[key]), value), key


# ------------------------------------------------------------------ projection and backtest

def test_projection_follows_the_seasonal_method_and_its_interval(built: str) -> None:  # noqa: F811
    p = _query(built, "select * from marts.mart_year_end_projection")
    annual = _query(built, "select reporter_code, year, indicator, value from marts.mart_target_attainment")
    assert set(p["year"]) == {2023}  # only years with a prior year are projected
    prior = annual.assign(year=annual["year"] + 1).set_index(["reporter_code", "year", "indicator"])["value"]
    for row in p.itertuples():
        prior_annual = float(prior.loc[(row.reporter_code, row.year, row.indicator)])
        assert math.isclose(float(row.prior_annual_value), prior_annual, rel_tol=1e-12)
        # each remaining month = last year's month × the ytd ratio  ⇒  annual = last year × (1 + ytd change)
        assert math.isclose(float(row.projected_value), prior_annual * (1 + float(row.ytd_change)), rel_tol=1e-9)
        low, high, target = float(row.projected_change_low), float(row.projected_change_high), float(row.target_change)
        assert low <= float(row.projected_change) <= high
        expected_class = "on_track" if high <= target else "off_track" if low > target else "at_risk"
        assert row.risk_class == expected_class, row
    december = p[p["through_month"] == 12]
    final = annual[annual["year"] == 2023].set_index(["reporter_code", "indicator"])["value"]
    for row in december.itertuples():  # the year is known in December: no width, the real value
        assert float(row.projected_change_low) == float(row.projected_change_high)
        assert math.isclose(float(row.projected_value), float(final.loc[(row.reporter_code, row.indicator)]),
                            rel_tol=1e-9)
    width = p.assign(w=p["projected_change_high"].astype(float) - p["projected_change_low"].astype(float))
    median_width = width[width["reporter_code"] != "GX"].groupby("through_month")["w"].median()
    assert median_width.loc[3] > median_width.loc[9] > median_width.loc[11] > 0  # narrows as the year fills in


def test_backtest_scores_each_month_end_against_the_real_december_outcome(built: str) -> None:  # noqa: F811
    scores = backtest.backtest(built, 2023)
    assert [s.through_month for s in scores] == list(range(1, 13))
    # recount independently from the two marts' rows
    p = _query(built, "select reporter_code, through_month, indicator, risk_class, projected_change, target_change,"
                      " projected_change_low, projected_change_high from marts.mart_year_end_projection")
    a = _query(built, "select reporter_code, indicator, attained, yoy_change from marts.mart_target_attainment"
                      " where year = 2023")
    both = p.merge(a, on=["reporter_code", "indicator"])
    for s in scores:
        month = both[both["through_month"] == s.through_month]
        hits = ((month["risk_class"] == "on_track") & month["attained"]) | \
               ((month["risk_class"] == "off_track") & ~month["attained"].astype(bool))
        assert (s.projections, s.class_hits) == (len(month), int(hits.sum()))
        assert s.point_hits == int(((month["projected_change"] <= month["target_change"]) == month["attained"]).sum())
    assert scores[-1].class_hit_rate == 1.0  # December's projection is the outcome
    late, early = scores[9], scores[0]  # from October vs from January
    assert late.class_hit_rate > early.class_hit_rate
    assert all(s.decided_hit_rate is None or s.decided_hit_rate >= 0.6 for s in scores)
    print("\n" + backtest.markdown_table(scores))


def test_early_warnings_list_the_risky_indicators_once_per_reporter(built: str) -> None:  # noqa: F811
    latest = _query(built, "select reporter_code, reporter_name, indicator_name_zh, risk_class"
                           " from marts.mart_year_end_projection where year = 2023 and through_month = 12")
    risky = latest[latest["risk_class"].isin(["at_risk", "off_track"]) & (latest["reporter_code"] != "GX")]
    with webhook_server() as (port, posts):
        own = {"450100": [f"json://127.0.0.1:{port}/r450100"]}
        sent = early_warning.send_early_warnings(built, dt.date(2024, 1, 12), own, [webhook_url(port)])
        again = early_warning.send_early_warnings(built, dt.date(2024, 1, 13), own, [webhook_url(port)])
    assert sorted(sent.reporters) == sorted(set(risky["reporter_code"])) and sent.summary_period == "2023-12"
    assert again.reporters == [] and again.summary_period is None
    assert len(posts) == len(sent.reporters) + 1
    for code, group in risky.groupby("reporter_code"):
        path = "/r450100" if code == "450100" else "/energystat-alerts"
        message = next(p["json"] for p in posts if p["path"] == path and f"（{code}）" in p["json"]["title"])
        listed = [line for line in message["message"].splitlines() if line.startswith("  - ")]
        assert len(listed) == len(group)
        assert all(name in message["message"] for name in group["indicator_name_zh"])
    summary = next(p["json"] for p in posts if p["json"]["title"].startswith("【进度简报】全区"))
    assert f"难以完成 {int((risky['risk_class'] == 'off_track').sum())} 项" in summary["title"]


# ------------------------------------------------------------------ monthly bulletin

def test_bulletin_command_writes_the_july_ranking_risks_and_late_reporters(
        built: str, tmp_path: Path, monkeypatch) -> None:  # noqa: F811
    import docx

    from energystat import cli

    monkeypatch.setenv("ENERGYSTAT_WAREHOUSE_DSN", built)
    assert cli.main(["bulletin", "--year", "2023", "--month", "7", "--out", str(tmp_path)]) == 0
    document = docx.Document(str(tmp_path / "bulletin_2023-07.docx"))
    html = (tmp_path / "bulletin_2023-07.html").read_text(encoding="utf-8")
    text = "\n".join(p.text for p in document.paragraphs)
    # A 简报's 版头 (red mark, 第n期), then the title broken between words, as the circular's.
    assert text.lstrip().startswith("公共机构能源资源消费进度简报") and "2023年第7期" in text
    assert "2023年1—7月全区公共机构\n能源资源消费进度简报" in text and "2023年1—7月全区公共机构能源资源消费进度简报" in html

    mart = _query(built, "select reporter_code, reporter_name, indicator, yoy_change, attained, risk_class_zh"
                         " from marts.mart_ytd_attainment join marts.mart_year_end_projection"
                         " using (reporter_code, reporter_name, year, through_month, indicator)"
                         " where year = 2023 and through_month = 7")
    _region, ranking, risk_table = document.tables[:3]  # 表1 全区, 表2 排名, 表3 预测 (表4 逾期, if any)
    assert ranking.rows[0].cells[0].text == "排名"
    ranked = [[c.text for c in row.cells] for row in ranking.rows[1:]]
    assert len(ranked) == len(reference.reporter_codes())
    attained = mart[mart["reporter_code"] != "GX"].groupby("reporter_name")["attained"].sum()
    counts = [int(row[2].split("/")[0]) for row in ranked]
    assert counts == sorted(counts, reverse=True)  # most indicators on target first
    for row in ranked:
        assert int(row[2].split("/")[0]) == int(attained[row[1]]), row
        energy = mart[(mart["reporter_name"] == row[1]) & (mart["indicator"] == "energy_per_capita")].iloc[0]
        assert row[3].rstrip("▲") == f"{float(energy['yoy_change']) * 100:.1f}".replace("-0.0", "0.0"), row
    risk = {row.cells[0].text: [c.text for c in row.cells[1:]] for row in risk_table.rows[1:]}
    for row in mart.itertuples():
        order = ["energy_per_capita", "energy_per_m2", "water_per_capita", "carbon_per_m2"]
        assert risk[row.reporter_name][order.index(row.indicator)] == row.risk_class_zh, row
    late = _query(built, "select distinct reporter_name from marts.mart_reporting_timeliness where upload_kind ="
                         " 'monthly' and period between '2023-01' and '2023-07' and (is_missing or days_late > 0)")
    for name in late["reporter_name"]:
        assert name in text.split("四、数据报送情况")[1]


def test_monthly_progress_dag_repeats_no_warning_and_writes_the_latest_bulletin(
        built: str, tmp_path: Path) -> None:  # noqa: F811
    with psycopg.connect(built) as conn:
        already = conn.execute("select count(*) from ops.reminders_sent where message_kind like 'early_warning%'"
                               ).fetchone()[0]
    with webhook_server() as (port, posts):
        run = dags_test("monthly_progress", ENERGYSTAT_WAREHOUSE_DSN=built, ENERGYSTAT_ALERT_URLS=webhook_url(port),
                        ENERGYSTAT_CIRCULAR_DIR=str(tmp_path))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    if already:  # the early-warning test ran first in this module: nothing is sent twice
        assert posts == []
    else:
        assert posts and posts[-1]["json"]["title"].startswith("【进度简报】全区")
    assert (tmp_path / "bulletin_2023-12.docx").exists() and (tmp_path / "bulletin_2023-12.html").exists()
