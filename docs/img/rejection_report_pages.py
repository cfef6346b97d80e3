"""The page images of a rejection report (docs/img/rejection_report_page1.png, …page2.png), printed by Chromium.

    .venv/bin/python docs/img/rejection_report_pages.py docs/img

Needs Debian's chromium, poppler-utils (pdftoppm) and a CJK font (`apt-get install -y chromium poppler-utils
fonts-noto-cjk`). The upload is made up here: a 电力 ten times last year's, a 用能人数 changed by a third, a negative
电力, an implausible 用能人数 and a negative 水 (last year's rows are given to the validation directly, so no
warehouse is needed); the report is the one `energystat ingest` writes.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from energystat.contract.forms import CONSUMPTION_COLUMNS, MONTHLY_HEADERS, SIZE_COLUMNS
from energystat.creditcode import check_character
from energystat.ingest.parse import parse_upload
from energystat.ingest.report import report_paths, write_report
from energystat.ingest.validate import validate
from energystat.ingest.validate.context import ValidationContext

INSTITUTIONS = ["南宁市第一中学", "江南区疾病预防控制中心", "西乡塘区机关事务服务中心", "南宁市图书馆", "青秀区人民政府办公室",
                "兴宁区卫生健康局"]


def _code(n: int) -> str:
    first17 = f"12450100{n:09d}"
    return first17 + check_character(first17)


def _row(n: int, **changes: float) -> list:
    values = {"统一社会信用代码": _code(n), "单位名称": INSTITUTIONS[n], "单位类型": "机关", "统计期": "2024-03",
              "用能人数(人)": 100, "建筑面积(平方米)": 5000, "电力(千瓦时)": 30000, "水(吨)": 300, "天然气(立方米)": 100,
              "液化石油气(千克)": 0, "煤炭(千克)": 0, "汽油(升)": 200, "柴油(升)": 0, "热力(百万千焦)": 0,
              "光伏发电量(千瓦时)": 0, **changes}
    return [values[h] for h in MONTHLY_HEADERS]


def main(out_dir: str) -> None:
    from openpyxl import Workbook

    work = Path(tempfile.mkdtemp(prefix="rejection_report_"))
    rows = [_row(0), _row(5, **{"电力(千瓦时)": 31234.5678901}), _row(4, **{"用能人数(人)": 134}),
            _row(1, **{"电力(千瓦时)": -1200}), _row(2, **{"用能人数(人)": 9}), _row(3, **{"水(吨)": -5})]
    path = work / "450100" / "2024-03" / "450100_2024-03_能源资源消费月报.xlsx"
    path.parent.mkdir(parents=True)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "能源资源消费月报"
    sheet.append(MONTHLY_HEADERS)
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    last_year = pd.DataFrame([{"reporter_code": "450100", "period_month": "2023-03-01", "credit_code": _code(n),
                               **dict.fromkeys(SIZE_COLUMNS, 0.0), **dict.fromkeys(CONSUMPTION_COLUMNS, 0.0),
                               "headcount": 100.0, "floor_area_m2": 5000.0, "electricity_kwh": 3000.0 if n == 5
                               else 30000.0, "water_t": 300.0, "natural_gas_m3": 100.0, "gasoline_l": 200.0}
                              for n in (0, 4, 5)])
    parsed = parse_upload(path, "450100", "2024-03")
    report = validate(parsed, ValidationContext("450100", "2024-03", last_year=last_year))
    write_report(parsed, report, work / "report")
    html = report_paths(parsed, work / "report")["html"]
    pdf = work / "report.pdf"
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", html.as_uri()], check=True, capture_output=True)
    prefix = Path(out_dir) / "rejection_report_page"
    subprocess.run(["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "2", str(pdf), str(prefix)], check=True)
    for n in (1, 2):  # pdftoppm numbers pages -1, -2 (or -01 … for longer documents)
        for made in Path(out_dir).glob(f"rejection_report_page-*{n}.png"):
            made.rename(f"{prefix}{n}.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/img")
