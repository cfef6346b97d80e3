"""The safety pieces of the ingestion on their own: bounded reader, workbook scan, landing boundary, correction
guard, registry checks, run lock (issue 13). The end-to-end behaviour is in test_hostile_inputs.py."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hostile_files import Formula, raw_xlsx
from reader_functions import (
    allocate_gigabytes,
    bounded_sum_or_error,
    open_calamine,
    raise_unreadable,
    touch_megabytes,
)

from energystat.contract.forms import MONTHLY_SHEET
from energystat.ingest import boundary, bounded, guard, registry_check, run_lock, workbook_scan

LIMITS = bounded.ReaderLimits(memory_bytes=512 << 20, seconds=5)


def test_bounded_reader_returns_results_and_turns_every_failure_into_a_reason(tmp_path: Path) -> None:
    assert bounded.run_bounded(sum, [1, 2, 3], limits=LIMITS) == 6
    with pytest.raises(bounded.ReaderFailed) as caught:
        bounded.run_bounded(raise_unreadable, limits=LIMITS)
    assert (caught.value.zh, caught.value.en, caught.value.unexpected) == ("坏文件", "bad file", False)
    with pytest.raises(bounded.ReaderFailed) as caught:
        bounded.run_bounded(allocate_gigabytes, limits=LIMITS)
    assert "内存" in caught.value.zh and "memory" in caught.value.en
    started = time.monotonic()
    with pytest.raises(bounded.ReaderFailed) as caught:
        bounded.run_bounded(time.sleep, 60, limits=bounded.ReaderLimits(512 << 20, 1))
    assert time.monotonic() - started < 30 and "超时" in caught.value.zh and "timed out" in caught.value.en
    with pytest.raises(bounded.ReaderFailed) as caught:
        bounded.run_bounded(int, "x", limits=LIMITS)
    assert caught.value.unexpected and "ValueError" in caught.value.en


def test_a_reader_process_serves_file_after_file_until_a_call_fails() -> None:
    """A reader is kept for the next file (a process per file cost more than a small file's parse); each call
    gets its own memory limit and its own peak, and a reader whose call failed is never used again."""
    first = bounded.run_bounded(os.getpid, limits=LIMITS)
    assert first != os.getpid()
    assert bounded.run_bounded(touch_megabytes, 300, limits=LIMITS) == 300
    big_peak = bounded.last_usage.peak_rss_bytes
    assert bounded.run_bounded(os.getpid, limits=LIMITS) == first  # the same process, after 300 MiB came and went
    assert bounded.last_usage.peak_rss_bytes < big_peak - (200 << 20)  # this call's peak, not the process's
    # The limit is per call: 300 MiB twice more in the same reader fits under 512 MiB each time.
    assert bounded.run_bounded(touch_megabytes, 300, limits=LIMITS) == 300
    assert bounded.run_bounded(touch_megabytes, 300, limits=LIMITS) == 300
    assert bounded.run_bounded(os.getpid, limits=LIMITS) == first
    with pytest.raises(bounded.ReaderFailed):
        bounded.run_bounded(raise_unreadable, limits=LIMITS)
    with pytest.raises(bounded.ReaderFailed):
        bounded.run_bounded(allocate_gigabytes, limits=LIMITS)
    assert bounded.run_bounded(os.getpid, limits=LIMITS) != first


def test_native_abort_of_the_reader_is_the_files_rejection_not_the_processs(tmp_path: Path) -> None:
    """python-calamine asked for a sheet used to A1:XFD1048576 allocates 512 GB and aborts (exit 134)."""
    bomb = raw_xlsx(tmp_path / "bomb.xlsx", {MONTHLY_SHEET: {1: {0: "统一社会信用代码"}, 1048576: {16383: 1}}})
    with pytest.raises(bounded.ReaderFailed) as caught:
        bounded.run_bounded(open_calamine, str(bomb), limits=LIMITS)
    assert "内存" in caught.value.zh and not caught.value.unexpected
    assert os.getpid() > 0  # still here


def _bounded_sum_then_report(conn) -> None:
    try:
        conn.send(("ok", bounded.run_bounded(sum, [1, 2, 3], limits=LIMITS)))
    except BaseException as exc:  # noqa: BLE001 - the test wants to see whatever happened
        conn.send(("error", repr(exc)))


def test_bounded_reader_runs_inside_a_daemonic_process_like_a_celery_worker() -> None:
    """Celery's prefork pool runs Airflow tasks in daemonic processes, where multiprocessing refuses children;
    the bounded reader must still start its child there (it joins or kills it itself)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(target=_bounded_sum_then_report, args=(sender,), daemon=True)
    worker.start()
    assert receiver.poll(60), "the daemonic process did not answer"
    assert receiver.recv() == ("ok", 6)
    worker.join(timeout=30)
    assert not multiprocessing.current_process()._config.get("daemon")


def test_readers_started_by_a_script_do_not_rerun_it(tmp_path: Path) -> None:
    """multiprocessing would have the fork server and each reader re-run the caller's main script (`airflow`,
    `celery`, pytest: seconds and side effects per file); readers started from several threads at once, while the
    main thread goes on, each answer, and the script's top level ran once."""
    marker = tmp_path / "ran.txt"
    script = tmp_path / "night.py"
    script.write_text(textwrap.dedent(f"""
        import threading
        from pathlib import Path
        with open({str(marker)!r}, "a") as fh:
            fh.write("top level ran\\n")
        from energystat.ingest import bounded
        if __name__ == "__main__":
            limits = bounded.ReaderLimits(512 << 20, 60)
            answers = []
            threads = [threading.Thread(target=lambda n=n: answers.append(bounded.run_bounded(sum, [n, 1], limits=limits)))
                       for n in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            print(sorted(answers))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[1, 2, 3, 4]"
    assert marker.read_text() == "top level ran\n"


def test_bounded_reader_runs_in_a_celery_pool_process() -> None:
    """Celery's prefork pool (billiard) gives its processes an authentication key that refuses to be pickled; the
    readers' fork server is sent the key with every start (seen as every validate_and_load failing on workers)."""
    import billiard

    with billiard.Pool(1) as pool:
        assert pool.apply(bounded_sum_or_error) == 3


def test_workbook_scan_reads_declared_size_and_formulas_without_value(tmp_path: Path) -> None:
    path = raw_xlsx(tmp_path / "f.xlsx", {MONTHLY_SHEET: [["a", "b"], [1, Formula("A2*2")], [2, Formula("A3*2", 4)]],
                                          "说明": [["notes"]]},
                    {MONTHLY_SHEET: "A1:XFD1048576"})
    first, notes = workbook_scan.scan_workbook(path)
    assert (first.name, first.declared_rows, first.declared_columns) == (MONTHLY_SHEET, 1048576, 16384)
    assert first.formula_cells_without_value == 1 and first.formula_refs == ["B2"]
    assert (notes.name, notes.declared_rows, notes.formula_cells_without_value) == ("说明", None, 0)


@pytest.mark.parametrize(("xml", "found"), [
    (b'<c r="B2"><f>A2*2</f></c>', True),
    (b'<c r="B2"><f t="shared" si="0"/></c>', True),
    (b'<c r="B2"><f/></c>', True),
    (b'<x:c r="B2"><x:f>A2*2</x:f></x:c>', True),
    (b'<c r="B2" t="inlineStr"><is><t>fuel f&gt; of</t></is></c>', False),  # an `f` in text or a name: no tag
    (b'<sheetFormatPr defaultRowHeight="15"/><c r="F2"><v>1</v></c>', False),
    (b"f>", False),  # no opener before it
])
def test_the_formula_tag_search_finds_every_form_of_the_tag_and_nothing_else(xml: bytes, found: bool) -> None:
    assert workbook_scan._formula_tag_in(xml) is found


@pytest.mark.parametrize("split", range(1, 4))
def test_a_formula_tag_split_across_the_scan_s_read_chunks_is_found(split: int) -> None:
    padding = b"<c><v>1</v></c>" * (((1 << 20) // 15) + 1)
    xml = padding[: (1 << 20) - split] + b"<f>A1</f>"  # the tag straddles the 1 MB chunk boundary
    assert workbook_scan._has_formula(io.BytesIO(xml))
    assert not workbook_scan._has_formula(io.BytesIO(padding * 2))


def test_boundary_refuses_links_special_files_other_suffixes_and_bad_periods(tmp_path: Path) -> None:
    root, outside = tmp_path / "landing", tmp_path / "outside"
    (root / "450100" / "2024-03").mkdir(parents=True)
    outside.mkdir()
    (outside / "x.csv").write_text("a,b\n")
    (outside / "2024-04").mkdir()
    (outside / "2024-04" / "y.csv").write_text("a,b\n")
    good = root / "450100" / "2024-03" / "good.csv"
    good.write_text("a,b\n")
    (root / "450100" / "2024-03" / "link.csv").symlink_to(outside / "x.csv")
    os.mkfifo(root / "450100" / "2024-03" / "pipe.csv")
    (root / "450100" / "2024-03" / "note.docx").write_text("x")
    (root / "450100" / "2024-04").symlink_to(outside / "2024-04", target_is_directory=True)
    (root / "450100" / "2023-13").mkdir()
    (root / "450100" / "2023-13" / "z.csv").write_text("a,b\n")
    (root / "450100" / "2099-01").mkdir()
    (root / "450100" / "2099-01" / "w.csv").write_text("a,b\n")
    (root / "450100" / "说明").mkdir()  # a clerk's own folder: not the platform's business
    entries = {e.path.relative_to(root).as_posix(): e for e in
               boundary.walk(root, re.compile(r"^\d{6}$"), today=dt.date(2024, 5, 1))}
    assert set(entries) == {"450100/2024-03/good.csv", "450100/2024-03/link.csv", "450100/2024-03/pipe.csv",
                            "450100/2024-03/note.docx", "450100/2024-04", "450100/2023-13/z.csv",
                            "450100/2099-01/w.csv"}
    assert entries["450100/2024-03/good.csv"].refusal is None
    assert "链接" in entries["450100/2024-03/link.csv"].refusal.zh
    assert "not a regular file" in entries["450100/2024-03/pipe.csv"].refusal.en
    assert ".docx" in entries["450100/2024-03/note.docx"].refusal.en
    assert "link" in entries["450100/2024-04"].refusal.en
    assert "not a valid month" in entries["450100/2023-13/z.csv"].refusal.en
    assert "future" in entries["450100/2099-01/w.csv"].refusal.en
    assert (outside / "x.csv").read_text() == "a,b\n" and (outside / "2024-04" / "y.csv").exists()


def test_long_names_are_shortened_for_written_files_and_shown_safely() -> None:
    stem = "能源资源消费月报_" + "长" * 80
    short = boundary.short_stem(stem)
    assert len(short.encode()) <= 120 and short != boundary.short_stem(stem + "二")
    assert boundary.short_stem("450100_2024-03_能源资源消费月报") == "450100_2024-03_能源资源消费月报"
    assert boundary.display_name("a\u202eb\x00c") == "a?b?c"


def test_correction_guard_holds_erasures_and_unit_slips() -> None:
    live = guard.summarize([f"c{i}" for i in range(40)], 40, {"electricity_kwh": 1000.0, "water_t": 50.0})
    same = guard.summarize([f"c{i}" for i in range(40)], 40, {"electricity_kwh": 1100.0, "water_t": 50.0})
    assert guard.holds(same, live, 0.10, 5) == []
    few = guard.summarize([f"c{i}" for i in range(4)], 4, {"electricity_kwh": 100.0, "water_t": 5.0})
    assert any("36" in h.en and "held for review" in h.en for h in guard.holds(few, live, 0.10, 5))
    slip = guard.summarize([f"c{i}" for i in range(40)], 40, {"electricity_kwh": 10000.0, "water_t": 50.0})
    [hold] = guard.holds(slip, live, 0.10, 5)
    assert "electricity_kwh" in hold.en and "10" in hold.zh
    empty = guard.summarize([], 0, {})
    assert guard.holds(empty, live, 0.10, 5)
    assert guard.holds(few, None, 0.10, 5) == []  # nothing live: nothing to guard


def test_registry_checks_name_row_and_column_and_hold_shrinking_exports() -> None:
    from energystat.contract.forms import REGISTRY_COLUMNS

    def row(code: str, **changes: str) -> dict[str, str]:
        values = {"credit_code": code, "institution_name": "单位", "reporter_code": "450100",
                  "institution_kind": "事业单位", "institution_subkind": "其他", "admin_level": "市直",
                  "headcount": "10", "floor_area_m2": "100.5", "active_from": "2020-01-01", "active_to": ""}
        return {**values, **changes}

    from fixtures_uploads import credit_code

    rows = [row(credit_code(i)) for i in range(1, 11)]
    assert registry_check.row_problems(rows, REGISTRY_COLUMNS) == []
    rows[3] = row(credit_code(4), headcount="约100人")
    [problem] = registry_check.row_problems(rows, REGISTRY_COLUMNS)
    assert (problem.rule_id, problem.row, problem.column) == ("R001", 5, "headcount")
    assert "第 5 行" in problem.zh and "row 5" in problem.en
    live = frozenset(credit_code(i) for i in range(1, 11))
    [held] = registry_check.guard_problems(rows[:1], live, 0.10)
    assert held.rule_id == "R002" and "held for review" in held.en
    assert registry_check.guard_problems(rows, live, 0.10) == []


def test_a_second_run_on_the_same_landing_tree_does_not_get_the_lock(warehouse_dsn: str) -> None:
    with run_lock.landing_lock(warehouse_dsn, "/srv/landing") as first:
        assert first
        with run_lock.landing_lock(warehouse_dsn, "/srv/landing/") as second:
            assert not second
        with run_lock.landing_lock(warehouse_dsn, "/srv/other") as other:
            assert other
    with run_lock.landing_lock(warehouse_dsn, "/srv/landing") as again:
        assert again
