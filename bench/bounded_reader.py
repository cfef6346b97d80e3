"""What reading every upload in a bounded child process costs, and what the largest allowed file takes.

    python -m bench.bounded_reader [--files 40] [--rows 200000]

1. The same monthly files (a synthetic province's CSVs, then as xlsx) parsed in-process (`parse_upload`) and in a
   bounded child (`parse_bounded`, as the nightly run does): the ratio is the isolation's price per file.
2. One workbook of `--rows` data rows (with its header, the `max_rows` default): seconds and the child's peak RSS, the "largest file".
3. A 1,000,000-row workbook: refused before reading (declared size), seconds.
Prints one JSON document (append it to bench/RESULTS.md by hand, as ratios).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _monthly_rows(province: Path) -> list[list[str]]:
    import csv

    path = next(province.glob("4*/*/*能源资源消费月报.csv"))
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows", type=int, default=199_999)  # + header = the max_rows default
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "tests"))
    from hostile_files import raw_xlsx

    from energystat.contract.forms import MONTHLY_SHEET
    from energystat.ingest import bounded
    from energystat.ingest.parse import parse_bounded, parse_upload
    from energystat.synth import generate

    out: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        province = Path(tmp) / "province"
        generate(province, institutions=600, years=[2023], seed=3, fmt="xlsx")
        files = sorted(province.glob("4*/*/*能源资源消费月报.xlsx"))[: args.files]
        parse_upload(files[0])  # warm imports (reference seeds, calamine) in the parent first
        started = time.perf_counter()
        for path in files:
            parse_upload(path, data=path.read_bytes())
        in_process = time.perf_counter() - started
        started = time.perf_counter()
        for path in files:
            parse_bounded(path, data=path.read_bytes())
        isolated = time.perf_counter() - started
        out["files"] = len(files)
        out["parse_in_process_s"] = round(in_process, 3)
        out["parse_bounded_s"] = round(isolated, 3)
        out["bounded_over_in_process"] = round(isolated / in_process, 2)
        out["bounded_extra_ms_per_file"] = round((isolated - in_process) / len(files) * 1000, 1)

        csv_rows = []
        for path in sorted(province.glob("4*/*/*能源资源消费月报.xlsx"))[:1]:
            from python_calamine import CalamineWorkbook

            csv_rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header, body = csv_rows[0], csv_rows[1:]

        def rows(n: int):
            yield header
            for i in range(n):
                yield body[i % len(body)]

        largest = raw_xlsx(Path(tmp) / "largest.xlsx", {MONTHLY_SHEET: rows(args.rows)},
                           {MONTHLY_SHEET: f"A1:O{args.rows + 1}"})
        data = largest.read_bytes()
        started = time.perf_counter()
        parsed, error = parse_bounded(largest, "450100", "2023-01", data)
        out["largest_rows"] = parsed.rows
        out["largest_file_mb"] = round(len(data) / 1e6, 2)
        out["largest_parse_s"] = round(time.perf_counter() - started, 2)
        usage = bounded.last_usage
        out["largest_child_peak_rss_mib"] = round(usage.peak_rss_bytes / (1 << 20), 1) if usage else None
        out["largest_findings"] = sorted({f.rule_id for f in parsed.findings})

        million = raw_xlsx(Path(tmp) / "million.xlsx", {MONTHLY_SHEET: rows(1_000_000)},
                           {MONTHLY_SHEET: "A1:O1000001"})
        data = million.read_bytes()
        started = time.perf_counter()
        parsed, error = parse_bounded(million, "450100", "2023-01", data)
        out["million_file_mb"] = round(len(data) / 1e6, 2)
        out["million_refused_s"] = round(time.perf_counter() - started, 2)
        out["million_findings"] = [f.message_en for f in parsed.findings]
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
