"""Parse and validate throughput at 80,000 rows: one xlsx, one GBK CSV, 20 files of 4,000 rows in one GX run,
and 12 × 80,000 = 960,000 rows in one GX run. Run: `python bench/bench_parse_validate.py`."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures_uploads import monthly_row, write_csv  # noqa: E402

from energystat.contract.forms import MONTHLY_HEADERS, MONTHLY_SHEET  # noqa: E402

ROWS = 80_000
PERIOD = ("450100", "2024-03")


def write_xlsx_fast(path: Path, rows: list) -> Path:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = workbook.add_worksheet(MONTHLY_SHEET)
    sheet.write_row(0, 0, MONTHLY_HEADERS)
    for number, row in enumerate(rows, 1):
        sheet.write_row(number, 0, row)
    workbook.close()
    return path


def timed(label: str, rows: int, work):
    started = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - started
    print(f"{label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s")
    return result


def main() -> None:
    from energystat.ingest import validate as rules
    from energystat.ingest.parse import parse_upload
    from energystat.ingest.validate import gx
    from energystat.ingest.validate.context import context_without_warehouse

    tmp = Path(tempfile.mkdtemp())
    rows = [monthly_row(n) for n in range(1, ROWS + 1)]
    big_xlsx = write_xlsx_fast(tmp / "big.xlsx", rows)
    big_csv = write_csv(tmp / "big.csv", rows, encoding="gbk")
    parts = [write_xlsx_fast(tmp / f"part{i}.xlsx", rows[i * 4000:(i + 1) * 4000]) for i in range(20)]

    started = time.perf_counter()
    gx._gx()
    print(f"GX import + ephemeral context: {time.perf_counter() - started:.1f} s (once per process)")
    parsed = timed("parse one xlsx", ROWS, lambda: parse_upload(big_xlsx, *PERIOD))
    timed("parse one GBK csv", ROWS, lambda: parse_upload(big_csv, *PERIOD))
    context = context_without_warehouse(*PERIOD, "benchmark")
    rules.validate(parse_upload(parts[0], *PERIOD), context)  # warm GX's caches
    report = timed("validate one file", ROWS, lambda: rules.validate(parsed, context))
    assert report.status == "accepted"
    pieces = timed("parse 20 xlsx of 4,000 rows", ROWS, lambda: [parse_upload(p, *PERIOD) for p in parts])
    timed("validate_many 20 files in one GX run", ROWS, lambda: rules.validate_many([(p, context) for p in pieces]))
    timed("validate 20 files one by one", ROWS, lambda: [rules.validate(p, context) for p in pieces])
    timed("validate_many 12 × 80,000 rows in one GX run", 12 * ROWS,
          lambda: rules.validate_many([(parsed, context)] * 12))


if __name__ == "__main__":
    main()
