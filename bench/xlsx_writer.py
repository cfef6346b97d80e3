"""CPU seconds to write one monthly workbook of the 80,000 province (≈ 5,300 rows): xlsxwriter as the generator
used it before, against synth.xlsx (both zlib levels). CPU time, not wall time: the machine is shared.

    python -m bench.xlsx_writer [--rows 5300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from energystat.contract import forms
from energystat.synth import xlsx

CREATED = dt.datetime(2023, 5, 1)


def monthly_frame(rows: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {
        "统一社会信用代码": [f"12450000MB{i:07d}X" for i in range(rows)],
        "单位名称": [f"广西壮族自治区某某单位{i}" for i in range(rows)],
        "单位类型": ["中小学校"] * rows, "统计期": ["2023-05"] * rows,
        "用能人数(人)": rng.integers(1, 3000, rows),
    }
    for j, header in enumerate(forms.MONTHLY_HEADERS[5:]):
        data[header] = np.round(rng.random(rows) * 10 ** (j % 7), 1 if j == 0 else 2)
    return pd.DataFrame(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    frame = monthly_frame(args.rows)
    columns = [frame[c].to_numpy() for c in frame.columns]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            "xlsxwriter": lambda: xlsx.write_xlsx_reference(Path(tmp) / "a.xlsx", list(frame.columns), columns,
                                                            forms.MONTHLY_SHEET, CREATED),
            "synth.xlsx (zlib 1)": lambda: xlsx.write_xlsx(Path(tmp) / "b.xlsx", list(frame.columns), columns,
                                                           forms.MONTHLY_SHEET, CREATED),
            "synth.xlsx (zlib 6)": lambda: xlsx.write_xlsx(Path(tmp) / "c.xlsx", list(frame.columns), columns,
                                                           forms.MONTHLY_SHEET, CREATED, compresslevel=6),
        }
        best = {name: float("inf") for name in runs}
        for _ in range(args.repeat):  # interleaved: the same load for each
            for name, run in runs.items():
                started = time.process_time()
                run()
                best[name] = min(best[name], time.process_time() - started)
        sizes = {name: (Path(tmp) / f"{'abc'[i]}.xlsx").stat().st_size for i, name in enumerate(runs)}
    for name, seconds in best.items():
        print(f"{name:22s} {seconds:6.3f} CPU s per workbook ({args.rows} rows), {sizes[name]:,} bytes, "
              f"{best['xlsxwriter'] / seconds:4.1f}x")


if __name__ == "__main__":
    main()
