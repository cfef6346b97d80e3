"""The upload forms as the contract of docs/architecture.md: sheet names, exact headers, raw column names, file names.

The template writer, the synthetic generator and the parser share these so a header is spelled in one place.
"""

from __future__ import annotations

MONTHLY_SHEET = "能源资源消费月报"
TASK_SHEET = "重点任务进展"

#: Monthly form header → raw.monthly_statistics column, in the form's order.
MONTHLY_COLUMNS: dict[str, str] = {
    "统一社会信用代码": "credit_code",
    "单位名称": "institution_name",
    "单位类型": "institution_kind",
    "统计期": "period_month",
    "用能人数(人)": "headcount",
    "建筑面积(平方米)": "floor_area_m2",
    "电力(千瓦时)": "electricity_kwh",
    "水(吨)": "water_t",
    "天然气(立方米)": "natural_gas_m3",
    "液化石油气(千克)": "lpg_kg",
    "煤炭(千克)": "coal_kg",
    "汽油(升)": "gasoline_l",
    "柴油(升)": "diesel_l",
    "热力(百万千焦)": "heat_gj",
    "光伏发电量(千瓦时)": "pv_kwh",
}
MONTHLY_HEADERS: list[str] = list(MONTHLY_COLUMNS)
#: Raw columns of the monthly form holding quantities (headcount, area, consumption).
MONTHLY_NUMERIC_COLUMNS: list[str] = list(MONTHLY_COLUMNS.values())[4:]
#: Raw columns of consumption (everything but headcount and area).
CONSUMPTION_COLUMNS: list[str] = MONTHLY_NUMERIC_COLUMNS[2:]

#: Task-progress form header → raw.task_progress column, in the form's order.
TASK_COLUMNS: dict[str, str] = {
    "统计期": "period_quarter",
    "任务类别": "task_code",  # the Chinese category; the parser maps it to task_code via ref_task_kinds
    "项目名称": "project_name",
    "实施单位统一社会信用代码": "credit_code",
    "单位级别": "admin_level",
    "单位类型": "institution_kind",
    "数量": "quantity",
    "计量单位": "unit",
    "备注": "note",
}
TASK_HEADERS: list[str] = list(TASK_COLUMNS)

#: Registry export at the landing root: columns of raw.institution_registry minus upload_id.
REGISTRY_FILE = "institutions.csv"
REGISTRY_COLUMNS: list[str] = [
    "credit_code", "institution_name", "reporter_code", "institution_kind", "institution_subkind",
    "admin_level", "headcount", "floor_area_m2", "active_from", "active_to",
]


def monthly_file_name(reporter: str, period: str, suffix: str = ".xlsx") -> str:
    """`450100_2023-05_能源资源消费月报.xlsx`."""
    return f"{reporter}_{period}_{MONTHLY_SHEET}{suffix}"


def task_file_name(reporter: str, year: int, quarter: int, suffix: str = ".xlsx") -> str:
    """`450100_2023Q2_重点任务进展.xlsx` (lives in the folder of the quarter's last month)."""
    return f"{reporter}_{year}Q{quarter}_{TASK_SHEET}{suffix}"


def quarter_folder_period(year: int, quarter: int) -> str:
    """The landing folder period of a quarter: its last month, e.g. 2023-06 for 2023 Q2."""
    return f"{year}-{3 * quarter:02d}"
