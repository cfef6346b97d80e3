"""The governance review loop on a real warehouse: explained, held uploads are decided by a person.

A rejection whose every error is reviewable is logged `held`, never loaded. Approve loads the quarantined file as
an accepted file (superseding, findings kept and marked overridden, an insert-only decision row); 退回 leaves every
raw table byte-identical and makes the upload `rejected`; a non-reviewable error never becomes a review.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from conftest import clone_database

from energystat import dbt_runner, warehouse
from energystat.ingest import review
from energystat.ingest import run as ingest
from energystat.ingest.validate.results import clerk_number
from energystat.synth import generate

RAW_TABLES = ("raw.monthly_statistics", "raw.task_progress", "raw.institution_registry")
REPORTER = "450100"
EXPLANATION = "本单位新住院楼于2023年7月启用，用电量大幅增加，数据属实。"


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("province")
    generate(root, institutions=150, years=[2022, 2023], seed=7, fmt="csv")
    for folder in root.iterdir():
        if folder.is_dir() and folder.name != REPORTER:
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="module")
def loaded(province: Path, module_warehouse_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    os.environ.setdefault("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path_factory.mktemp("q")))
    summary = ingest.ingest(province, module_warehouse_dsn, alert_urls=[])
    assert summary.count("rejected") == 0
    return module_warehouse_dsn


@pytest.fixture
def landing(province: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "landing"
    shutil.copytree(province, target)
    monkeypatch.setenv("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    return target


@pytest.fixture
def dsn(loaded: str, server_dsn: str) -> Iterator[str]:
    dsn = clone_database(server_dsn, loaded)
    yield dsn
    warehouse.drop_database(dsn)


def _checksums(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"select count(*) || ':' || coalesce(md5(string_agg(x::text, '|' order by"
                                f" x::text)), '') from {t} x").fetchone()[0] for t in RAW_TABLES}


def _correction(landing: Path, column: str, value: object, explanation: str | None,
                month: str = "2023-07") -> tuple[Path, pd.DataFrame]:
    """A second version of the reporter's file of `month` with row 1's `column` set to `value` (file row 2)."""
    original = next(landing.glob(f"{REPORTER}/{month}/*能源资源消费月报*.csv"))
    frame = pd.read_csv(original, dtype=str, encoding="utf-8-sig")
    frame.loc[0, column] = value if not callable(value) else value(frame.loc[0, column])
    bad = original.with_name(original.stem + "_更正.csv")
    frame.to_csv(bad, index=False, encoding="utf-8")
    if explanation is not None:
        review.sidecar_of(bad).write_text(explanation, encoding="utf-8")
    return bad, frame


def _times_ten(text: str) -> str:
    return str(float(text) * 10)



def _status_and_live_july(dsn: str, upload_id: int, aggregate: str) -> tuple[str, object]:
    """The upload's status, and `aggregate` over the reporter's live July 2023 rows (what the marts will read)."""
    with psycopg.connect(dsn) as conn:
        status = conn.execute("select status from ops.upload_log where upload_id = %s", (upload_id,)).fetchone()[0]
        live = conn.execute(
            f"select {aggregate} from raw.monthly_statistics m join ops.upload_log u using (upload_id)"
            " where u.status in ('accepted', 'accepted_with_warnings') and m.reporter_code = %s"
            " and m.period_month = '2023-07-01'", (REPORTER,)).fetchone()[0]
    return status, live


def test_an_explained_tenfold_month_is_reviewed_and_approved_into_the_warehouse(landing: Path, dsn: str) -> None:
    bad, frame = _correction(landing, "电力(千瓦时)", _times_ten, EXPLANATION)
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes  # the sidecar is not an upload
    assert outcome.status == "held" and "M012" in (outcome.reason or "")
    pending, = review.pending_reviews(dsn)
    assert pending.upload_id == outcome.upload_id and pending.explanation == EXPLANATION
    finding, = [f for f in pending.findings if f.column_name == "electricity_kwh"]
    last_year = float(finding.last_year_value)
    assert finding.source_row == 2 and float(finding.observed_value) / last_year >= 5
    text = review.describe(pending)
    assert "南宁市" in text and "2023-07" in text and EXPLANATION in text
    assert f"| {clerk_number(float(finding.last_year_value))} |" in text  # last year's value, as reports show it

    with pytest.raises(review.ReviewError):  # the comment is required
        review.approve(dsn, outcome.upload_id, "张审核", "  ")
    decision = review.approve(dsn, outcome.upload_id, "张审核", "新楼启用属实，同意入库", via="airflow")
    assert decision["rows_loaded"] == len(frame)
    status, live_kwh = _status_and_live_july(dsn, outcome.upload_id, "sum(m.electricity_kwh)")
    with psycopg.connect(dsn) as conn:
        superseded = conn.execute("select count(*) from ops.upload_log where superseded_by = %s",
                                  (outcome.upload_id,)).fetchone()[0]
        marks = conn.execute("select count(*), count(overridden_by) from ops.dq_findings where upload_id = %s"
                             " and severity = 'error'", (outcome.upload_id,)).fetchone()
        row = conn.execute("select reviewer, decision, comment, findings_overridden from ops.review_decisions"
                           " where upload_id = %s", (outcome.upload_id,)).fetchone()
    assert status == "accepted_with_warnings" and superseded == 1
    assert float(live_kwh) == pytest.approx(pd.to_numeric(frame["电力(千瓦时)"]).sum(), rel=1e-12)
    assert marks[0] >= 1 and marks == (marks[0], marks[0])
    assert row == ("张审核", "approved", "新楼启用属实，同意入库", marks[0])
    assert review.pending_reviews(dsn) == []
    # The audit trail cannot be rewritten, not even by the superuser the tests connect as.
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("update ops.review_decisions set comment = 'x'")
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.RaiseException):
        conn.execute("delete from ops.review_decisions")


def test_returned_review_leaves_every_raw_table_byte_identical(landing: Path, dsn: str) -> None:
    _correction(landing, "电力(千瓦时)", _times_ten, EXPLANATION)
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "held"
    before = _checksums(dsn)
    review.return_(dsn, outcome.upload_id, "李审核", "请核实电表读数后重新报送")
    assert _checksums(dsn) == before
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select status from ops.upload_log where upload_id = %s",
                            (outcome.upload_id,)).fetchone()[0] == "rejected"
        assert conn.execute("select decision, comment from ops.review_decisions").fetchall() == [
            ("returned", "请核实电表读数后重新报送")]
    assert review.pending_reviews(dsn) == []


def test_more_explanation_requested_then_given_makes_it_pending_again(landing: Path, dsn: str) -> None:
    bad, _ = _correction(landing, "电力(千瓦时)", _times_ten, None)
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "held"  # held while it waits for its 说明
    assert review.pending_reviews(dsn) == []  # no 说明, no review
    review.explain(dsn, bad.name, "新楼启用")
    assert [p.upload_id for p in review.pending_reviews(dsn)] == [outcome.upload_id]
    review.request_more(dsn, outcome.upload_id, "张审核", "请说明新楼面积和启用日期")
    assert review.pending_reviews(dsn) == []
    review.explain(dsn, outcome.rel_path, "新楼面积12000平方米，2023年7月1日启用")
    again, = review.pending_reviews(dsn)
    assert again.explanation == "新楼面积12000平方米，2023年7月1日启用"


def test_a_non_reviewable_error_never_becomes_a_review_whatever_its_explanation(landing: Path, dsn: str) -> None:
    _correction(landing, "电力(千瓦时)", "-5", EXPLANATION)  # negative: M006, never reviewable
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "rejected" and "M006" in (outcome.reason or "")
    review.explain(dsn, outcome.rel_path, "确实是负数")
    assert review.pending_reviews(dsn) == []
    before = _checksums(dsn)
    with pytest.raises(review.ReviewError):
        review.approve(dsn, outcome.upload_id, "张审核", "同意")
    assert _checksums(dsn) == before


def test_the_circular_counts_the_years_overrides_by_reporter_as_the_decisions_say(landing: Path, dsn: str) -> None:
    from energystat.circular.data import load_circular_data
    from energystat.circular.document import build_document
    from energystat.circular.settings import CircularSettings
    from energystat.circular.wording import Wording

    _correction(landing, "电力(千瓦时)", _times_ten, EXPLANATION)
    _correction(landing, "电力(千瓦时)", _times_ten, EXPLANATION, month="2023-08")
    july, august = sorted(ingest.ingest(landing, dsn, alert_urls=[]).outcomes, key=lambda o: o.rel_path)
    assert "2023-07" in july.rel_path and {july.status, august.status} == {"held"}
    review.approve(dsn, july.upload_id, "张审核", "新楼启用属实，同意入库")
    review.return_(dsn, august.upload_id, "张审核", "请核实电表读数后重新报送")  # a decision, not an override
    with psycopg.connect(dsn) as conn:
        counted = dict(conn.execute(
            "select u.reporter_code, count(distinct d.upload_id) from ops.review_decisions d"
            " join ops.upload_log u using (upload_id) where d.decision = 'approved' and u.kind = 'monthly'"
            " and u.period like '2023-%' group by u.reporter_code").fetchall())
    assert counted == {REPORTER: 1}

    dbt_runner.build(dsn)
    data = load_circular_data(dsn, 2023)
    assert {r.reporter_code: r.overrides for r in data.reporting if r.overrides} == counted
    assert data.reporting_total.overrides == sum(counted.values())
    settings = CircularSettings()
    document = build_document(data, settings, Wording(settings.wording_file), charts={})
    assert "经审核同意入库的异常数据1份，为南宁市报送" in "\n".join(document.body_text())
    table = document.table("reporting")
    assert table.header[-1][-1].text == "同意入库\n（份）"
    assert [row[-1] for row in table.rows if row[0] == "南宁市"] == ["1"] and table.rows[-1][-1] == "1"


def test_a_correction_removing_many_institutions_is_held_then_loaded_when_approved(landing: Path, dsn: str) -> None:
    original = next(landing.glob(f"{REPORTER}/2023-07/*能源资源消费月报*.csv"))
    frame = pd.read_csv(original, dtype=str, encoding="utf-8-sig")
    kept = frame.iloc[: len(frame) * 3 // 4]  # a quarter of the institutions removed (the guard allows 10 %)
    correction = original.with_name(original.stem + "_更正.csv")
    kept.to_csv(correction, index=False, encoding="utf-8")
    review.sidecar_of(correction).write_text("部分单位已撤并，名单已核实。", encoding="utf-8")
    before = _checksums(dsn)
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "held" and "M017" in (outcome.reason or ""), outcome.reason
    assert _checksums(dsn) == before  # held: nothing loaded, the live month as it was
    report = Path(outcome.report_path or "").read_text(encoding="utf-8")
    # the report says held, and what to do: correct and resubmit, or explain in the portal or a sidecar file
    assert "待审核" in report and "如何重新上报" not in report
    assert f"{correction.name}.说明.txt" in report and "无误则附说明，由数据治理人员审核" in report
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select status, rows_loaded from ops.upload_log where upload_id = %s",
                            (outcome.upload_id,)).fetchone() == ("held", 0)
    pending, = review.pending_reviews(dsn)
    assert pending.upload_id == outcome.upload_id

    decision = review.approve(dsn, outcome.upload_id, "张审核", "撤并属实，同意入库")
    assert decision["rows_loaded"] == len(kept)
    status, live = _status_and_live_july(dsn, outcome.upload_id, "count(*)")
    assert status == "accepted_with_warnings" and live == len(kept)
