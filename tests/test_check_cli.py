"""`energystat check` and `energystat rules` as a user runs them (subprocesses: exit codes, JSON shape, tables)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from fixtures_uploads import monthly_row, write_xlsx


def _energystat(*args, env=None):
    return subprocess.run([sys.executable, "-m", "energystat.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_check_exit_codes_and_json(tmp_path, monkeypatch, capsys):
    """The first check runs as a user runs it (a subprocess); the others in-process (each process pays the GX
    import)."""
    from energystat import cli

    env = {**os.environ, "ENERGYSTAT_STATE_DIR": str(tmp_path / "no-warehouse")}
    env.pop("ENERGYSTAT_WAREHOUSE_DSN", None)
    monkeypatch.setenv("ENERGYSTAT_STATE_DIR", env["ENERGYSTAT_STATE_DIR"])
    monkeypatch.delenv("ENERGYSTAT_WAREHOUSE_DSN", raising=False)
    folder = tmp_path / "450100" / "2024-03"
    rejected = write_xlsx(folder / "450100_2024-03_能源资源消费月报.xlsx",
                          [monthly_row(1), monthly_row(2, 统计期="2024-02"), monthly_row(3, **{"水(吨)": -1})])
    result = _energystat("check", str(rejected), "--json", env=env)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"status", "file", "rows", "rules"}
    assert document["status"] == "rejected" and document["rows"] == 3
    rules = {r["id"]: r for r in document["rules"]}
    for rule in document["rules"]:
        assert set(rule) == {"id", "severity", "passed", "failed_rows", "message_zh", "message_en"}
    assert rules["M004"]["failed_rows"] == [3] and rules["M004"]["passed"] is False  # period from the folder
    assert "2024-02" in rules["M004"]["message_zh"] and "第 3 行" in rules["M004"]["message_zh"]
    assert rules["M006"]["failed_rows"] == [4] and rules["M006"]["severity"] == "error"
    assert rules["M001"]["passed"] is True and rules["M001"]["failed_rows"] == []
    assert rules["M012"]["passed"] is None and "跳过" in rules["M012"]["message_zh"]  # no warehouse: skipped

    clean = write_xlsx(tmp_path / "elsewhere.xlsx", [monthly_row(1)])
    assert cli.main(["check", str(clean), "--region", "450100", "--period", "2024-03"]) == 0
    table = capsys.readouterr().out
    assert "通过 accepted" in table and "M003" in table

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04garbage")
    assert cli.main(["check", str(broken), "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "unreadable"
    assert [r["id"] for r in document["rules"] if r["passed"] is False] == ["P001"]


def test_check_of_a_correction_removing_many_institutions_says_held_for_review(
        tmp_path, warehouse_dsn, monkeypatch, capsys):
    """With the warehouse holding the live month, a correction that drops most of its institutions fails only
    the correction guard (M017, reviewable): `check` says what ingestion will log — held, exit 3 — not rejected."""
    import shutil

    import pandas as pd

    from energystat import cli
    from energystat.ingest.run import ingest
    from energystat.synth import generate

    province = tmp_path / "province"
    generate(province, institutions=60, years=[2023], seed=7, fmt="csv")
    for folder in province.iterdir():
        if folder.is_dir() and folder.name != "450100":
            shutil.rmtree(folder)
    monkeypatch.setenv("ENERGYSTAT_QUARANTINE_DIR", str(tmp_path / "quarantine"))
    original = next(province.glob("450100/2023-03/*能源资源消费月报*.csv"))
    frame = pd.read_csv(original, dtype=str, encoding="utf-8-sig")
    assert len(frame) >= 4
    assert ingest(province, warehouse_dsn, alert_urls=[]).count("rejected") == 0  # the live month

    correction = tmp_path / "check" / "450100" / "2023-03" / original.name
    correction.parent.mkdir(parents=True)
    frame.iloc[: len(frame) // 2].to_csv(correction, index=False, encoding="utf-8")
    assert cli.main(["check", str(correction), "--json"]) == 3
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "held"
    failed = {r["id"] for r in document["rules"] if r["passed"] is False and r["severity"] == "error"}
    assert failed == {"M017"}
    assert cli.main(["check", str(correction)]) == 3
    table = capsys.readouterr().out
    assert "结论 status: 暂缓入库，待审核 held for review" in table and "说明" in table

    frame.loc[0, "电力(千瓦时)"] = "-5"  # and a non-reviewable error besides: rejected, as before
    frame.iloc[: len(frame) // 2].to_csv(correction, index=False, encoding="utf-8")
    assert cli.main(["check", str(correction), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["status"] == "rejected"


def test_rules_prints_the_rulebook():
    result = _energystat("rules")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for rule_id in [f"M{n:03d}" for n in range(1, 16)] + [f"T{n:03d}" for n in range(1, 8)] + ["P001"]:
        assert any(line.startswith(rule_id) for line in lines), rule_id
    m012 = next(line for line in lines if line.startswith("M012"))
    assert "错误 error" in m012 and "去年同月" in m012 and "unit slip" in m012
