"""Ingestion end to end on real files and a real warehouse: load, re-run, supersede, duplicate, reject.

The province is generated once per module (CSV, for cheap edits); each test copies its landing tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from alert_servers import mail_url, smtp_server, webhook_server, webhook_url
from conftest import clone_database

from energystat import warehouse
from energystat.ingest import run as ingest
from energystat.synth import generate

RAW_AND_MART_TABLES = ("raw.monthly_statistics", "raw.task_progress", "raw.institution_registry")


KEPT_REPORTERS = ("450100", "450200")  # two reporters keep the module fast; rules see their whole registry


@pytest.fixture(scope="module")
def province(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("province")
    generate(root, institutions=150, years=[2022, 2023], seed=7, fmt="csv")
    for folder in root.iterdir():
        if folder.is_dir() and folder.name not in KEPT_REPORTERS:
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="module")
def loaded(province: Path, server_dsn: str, module_warehouse_dsn: str,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ingest.IngestSummary]:
    """The province ingested once; tests work on clones of this database."""
    from energystat import config

    os.environ.setdefault("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path_factory.mktemp("q")))
    summary = ingest.ingest(province, module_warehouse_dsn, alert_urls=[])
    assert config.quarantine_dir().exists() or summary.count("rejected") == 0
    return module_warehouse_dsn, summary


@pytest.fixture
def landing(province: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    target = tmp_path / "landing"
    shutil.copytree(province, target)
    monkeypatch.setenv("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    return target


@pytest.fixture
def dsn(loaded: tuple[str, ingest.IngestSummary], server_dsn: str) -> Iterator[str]:
    """A copy of the loaded warehouse for one test."""
    dsn = clone_database(server_dsn, loaded[0])
    yield dsn
    warehouse.drop_database(dsn)


def _csv_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("4*/*/*.csv") if "能源资源消费月报" in p.name)


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, encoding="utf-8-sig")


def _checksums(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {
            table: conn.execute(
                f"select count(*) || ':' || coalesce(md5(string_agg(t::text, '|' order by t::text)), '')"
                f" from {table} t"
            ).fetchone()[0]
            for table in RAW_AND_MART_TABLES
        }


def _statuses(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return dict(conn.execute("select status, count(*) from ops.upload_log group by status").fetchall())


def test_clean_province_is_loaded_whole(province: Path, loaded: tuple[str, ingest.IngestSummary]) -> None:
    dsn, summary = loaded
    monthly = _csv_files(province)
    statuses = _statuses(dsn)
    # Clean data: every file accepted, nothing flagged.
    assert statuses.get("rejected", 0) == 0, [o.reason for o in summary.outcomes if o.status == "rejected"]
    assert statuses.get("accepted_with_warnings", 0) == 0, [
        (o.rel_path, o.rule_summary) for o in summary.outcomes if o.status == "accepted_with_warnings"]
    expected_rows = sum(len(_read(p)) for p in monthly)
    with psycopg.connect(dsn) as conn:
        loaded_rows = conn.execute("select count(*), count(distinct upload_id) from raw.monthly_statistics").fetchone()
        electricity = conn.execute("select sum(electricity_kwh) from raw.monthly_statistics").fetchone()[0]
        registry = conn.execute("select count(*) from raw.institution_registry").fetchone()[0]
        tasks = conn.execute("select count(*) from raw.task_progress").fetchone()[0]
    assert loaded_rows == (expected_rows, len(monthly))
    independent = sum(pd.to_numeric(_read(p)["电力(千瓦时)"]).sum() for p in monthly)
    assert float(electricity) == pytest.approx(independent, rel=1e-12)
    assert registry == len(pd.read_csv(province / "institutions.csv"))
    # When an upload was received is when its file arrived (its modification time), not when it was processed.
    with psycopg.connect(dsn) as conn:
        received = dict(conn.execute("select path, received_at from ops.upload_log").fetchall())
    for path in monthly[:5]:
        assert received[path.relative_to(province).as_posix()].timestamp() == pytest.approx(path.stat().st_mtime)
    task_files = sorted(province.glob("4*/*/*重点任务进展*.csv"))
    assert task_files and tasks == sum(len(_read(p)) for p in task_files)


def test_rerun_on_unchanged_files_changes_nothing(landing: Path, dsn: str) -> None:
    before = (_checksums(dsn), _statuses(dsn))
    again = ingest.ingest(landing, dsn, alert_urls=[])
    assert again.outcomes == []
    assert (_checksums(dsn), _statuses(dsn)) == before


def test_new_file_supersedes_exactly_one_batch(landing: Path, dsn: str) -> None:
    target = next(p for p in _csv_files(landing) if "/2023-07/" in p.as_posix())
    frame = _read(target)
    frame.loc[0, "水(吨)"] = str(float(frame.loc[0, "水(吨)"]) + 1)  # a corrected figure
    target.unlink()
    corrected = target.with_name(target.stem + "_更正.csv")
    frame.to_csv(corrected, index=False, encoding="utf-8")

    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "accepted" and outcome.superseded_upload_id is not None
    with psycopg.connect(dsn) as conn:
        superseded = conn.execute(
            "select upload_id, superseded_by from ops.upload_log where status = 'superseded'").fetchall()
        live_water = conn.execute(
            "select sum(m.water_t) from raw.monthly_statistics m join ops.upload_log u using (upload_id)"
            " where u.status in ('accepted', 'accepted_with_warnings') and m.reporter_code = %s"
            " and m.period_month = '2023-07-01'", (outcome.reporter_code,)).fetchone()[0]
    assert superseded == [(outcome.superseded_upload_id, outcome.upload_id)]
    assert float(live_water) == pytest.approx(pd.to_numeric(frame["水(吨)"]).sum(), rel=1e-12)


def test_same_bytes_under_another_name_is_a_duplicate(landing: Path, dsn: str) -> None:
    before = _checksums(dsn)
    source = _csv_files(landing)[0]
    shutil.copy(source, source.with_name("再次上传_" + source.name))
    outcome, = ingest.ingest(landing, dsn, alert_urls=[]).outcomes
    assert outcome.status == "duplicate"
    assert _checksums(dsn) == before


def test_rejected_upload_leaves_the_warehouse_as_it_was_and_alerts(landing: Path, dsn: str, tmp_path: Path) -> None:
    before = _checksums(dsn)
    loaded_version = next(p for p in _csv_files(landing) if "/2023-11/" in p.as_posix())
    frame = _read(loaded_version)
    frame.loc[2, "电力(千瓦时)"] = "-5"  # data row 3 = file row 4
    bad = loaded_version.with_name(loaded_version.stem + "_第二版.csv")
    frame.to_csv(bad, index=False, encoding="utf-8")
    with smtp_server() as (smtp_port, box), webhook_server() as (http_port, posts):
        outcome, = ingest.ingest(landing, dsn, alert_urls=[mail_url(smtp_port), webhook_url(http_port)]).outcomes
    assert outcome.status == "rejected"
    assert _checksums(dsn) == before  # nothing loaded, the earlier version still live
    with psycopg.connect(dsn) as conn:
        findings = conn.execute(
            "select source_row, rule_id, severity from ops.dq_findings where upload_id = %s",
            (outcome.upload_id,)).fetchall()
        live = conn.execute("select count(*) from ops.upload_log where status = 'superseded'").fetchone()[0]
    assert (4, "M006", "error") in set(findings)
    assert live == 0
    # The file left the landing tree for quarantine, with the city statistician's report beside it.
    assert not bad.exists()
    quarantined = tmp_path / "quarantine" / outcome.reporter_code / outcome.period
    assert (quarantined / bad.name).exists()
    assert any(quarantined.glob("*.xlsx")) and any(quarantined.glob("*.html"))
    # Governance staff were told, by email and by webhook.
    assert len(box.messages) == 1 and len(posts) == 1
    assert "M006" in box.texts()[0] and outcome.period in posts[0]["json"]["title"]


def test_landing_on_an_object_store(province: Path, dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production landings are object stores: any fsspec URL works (here fsspec's in-memory filesystem)."""
    from upath import UPath

    monkeypatch.setenv("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    remote = UPath(f"memory://landing-{tmp_path.name}")
    good = next(p for p in _csv_files(province) if "/2023-08/" in p.as_posix())
    frame = _read(good)
    frame.loc[0, "水(吨)"] = str(float(frame.loc[0, "水(吨)"]) + 2)  # a corrected version, accepted
    bad = frame.copy()
    bad.loc[1, "统一社会信用代码"] = "123"  # malformed code, rejected
    folder = remote / good.parent.relative_to(province).as_posix()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("更正_" + good.name)).write_text(frame.to_csv(index=False), encoding="utf-8")
    (folder / ("错误_" + good.name)).write_text(bad.to_csv(index=False), encoding="utf-8")

    outcomes = {o.rel_path.split("/")[-1].split("_")[0]: o for o in ingest.ingest(str(remote), dsn, alert_urls=[]).outcomes}
    assert outcomes["更正"].status == "accepted" and outcomes["更正"].superseded_upload_id is not None
    assert outcomes["错误"].status == "rejected" and "M003" in outcomes["错误"].rule_summary
    assert not (folder / ("错误_" + good.name)).exists()  # moved out of the object store
    assert (tmp_path / "quarantine" / good.parent.parent.name / good.parent.name / ("错误_" + good.name)).exists()
