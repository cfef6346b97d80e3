"""The two upload forms column by column: header, accepted aliases and units, raw column, whether it is energy.

A header, an alias or a unit is written here once; the parser, the template writer, the generator, the COPY
column lists and the rules read it from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MONTHLY_SHEET = "能源资源消费月报"
TASK_SHEET = "重点任务进展"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a form: raw name, template header, accepted header names and units.

    `units` maps a unit as written in a header to the factor converting it to the template unit (`unit`);
    the string "density" marks a mass unit of a liquid fuel converted to litres with the fuel's density.
    `energy`: the column carries energy (converted to standard coal and CO₂); `consumption`: a quantity used in
    the month (compared with last year), as opposed to the institution's size or the PV it generated.
    """

    raw: str
    header: str
    names: tuple[str, ...]
    unit: str | None = None
    units: dict[str, float | str] = field(default_factory=dict)
    numeric: bool = False
    energy: bool = False
    consumption: bool = False


_KWH = {"千瓦时": 1, "kwh": 1, "度": 1, "万千瓦时": 1e4, "万度": 1e4, "兆瓦时": 1e3, "mwh": 1e3}
_M3 = {"立方米": 1, "m3": 1, "m³": 1, "方": 1, "万立方米": 1e4, "万m3": 1e4, "万m³": 1e4, "万方": 1e4}
_KG = {"千克": 1, "kg": 1, "公斤": 1, "吨": 1e3, "t": 1e3}
_LITRE = {"升": 1, "l": 1, "千升": 1e3, "立方米": 1e3, "千克": "density", "kg": "density", "公斤": "density",
          "吨": "density", "t": "density"}


def _energy(raw: str, header: str, names: tuple[str, ...], unit: str, units: dict[str, float | str]) -> ColumnSpec:
    return ColumnSpec(raw, header, names, unit, units, numeric=True, energy=True, consumption=True)


#: The monthly form (能源资源消费月报), in the form's order.
MONTHLY_FORM: tuple[ColumnSpec, ...] = (
    ColumnSpec("credit_code", "统一社会信用代码", ("统一社会信用代码", "社会信用代码", "信用代码", "统一代码", "credit_code")),
    ColumnSpec("institution_name", "单位名称", ("单位名称", "机构名称", "名称", "institution_name")),
    ColumnSpec("institution_kind", "单位类型", ("单位类型", "机构类型", "单位类别", "institution_kind")),
    ColumnSpec("period_month", "统计期", ("统计期", "统计月份", "统计期间", "月份", "period_month", "period")),
    ColumnSpec("headcount", "用能人数(人)", ("用能人数", "人数", "headcount"), "人", {"人": 1}, True),
    ColumnSpec("floor_area_m2", "建筑面积(平方米)", ("建筑面积", "面积", "floor_area_m2"), "平方米",
               {"平方米": 1, "m2": 1, "m²": 1, "㎡": 1, "万平方米": 1e4}, True),
    _energy("electricity_kwh", "电力(千瓦时)", ("电力", "用电量", "电", "electricity_kwh"), "千瓦时", _KWH),
    ColumnSpec("water_t", "水(吨)", ("水", "用水量", "水量", "water_t"), "吨",
               {"吨": 1, "t": 1, "立方米": 1, "m3": 1, "m³": 1, "万吨": 1e4, "万立方米": 1e4}, True,
               consumption=True),
    _energy("natural_gas_m3", "天然气(立方米)", ("天然气", "natural_gas_m3"), "立方米", _M3),
    _energy("lpg_kg", "液化石油气(千克)", ("液化石油气", "液化气", "lpg", "lpg_kg"), "千克", _KG),
    _energy("coal_kg", "煤炭(千克)", ("煤炭", "原煤", "煤", "coal_kg"), "千克", _KG),
    _energy("gasoline_l", "汽油(升)", ("汽油", "gasoline_l"), "升", _LITRE),
    _energy("diesel_l", "柴油(升)", ("柴油", "diesel_l"), "升", _LITRE),
    _energy("heat_gj", "热力(百万千焦)", ("热力", "热", "heat_gj"), "百万千焦",
            {"百万千焦": 1, "gj": 1, "吉焦": 1, "mj": 1e-3, "兆焦": 1e-3, "千焦": 1e-6, "kj": 1e-6}),
    ColumnSpec("pv_kwh", "光伏发电量(千瓦时)", ("光伏发电量", "光伏发电", "太阳能光电系统发电量", "pv_kwh"), "千瓦时",
               _KWH, True),
)

#: The quarterly task-progress form (重点任务进展), in the form's order. `task_category` is the Chinese category;
#: the parser adds `task_code` from the seed ref_task_kinds.
TASK_FORM: tuple[ColumnSpec, ...] = (
    ColumnSpec("period_quarter", "统计期", ("统计期", "统计季度", "季度", "period_quarter", "period")),
    ColumnSpec("task_category", "任务类别", ("任务类别", "任务类型", "类别", "task_category")),
    ColumnSpec("project_name", "项目名称", ("项目名称", "项目", "project_name")),
    ColumnSpec("credit_code", "实施单位统一社会信用代码",
               ("实施单位统一社会信用代码", "统一社会信用代码", "信用代码", "credit_code")),
    ColumnSpec("admin_level", "单位级别", ("单位级别", "级别", "admin_level")),
    ColumnSpec("institution_kind", "单位类型", ("单位类型", "institution_kind")),
    ColumnSpec("quantity", "数量", ("数量", "quantity"), None, {}, True),
    ColumnSpec("unit", "计量单位", ("计量单位", "单位", "unit")),
    ColumnSpec("note", "备注", ("备注", "说明", "note")),
)

#: Task-form columns a file may leave out (every other column of both forms is required: M001 / T001).
TASK_OPTIONAL_COLUMNS = frozenset({"project_name", "credit_code", "admin_level", "institution_kind", "note"})

MONTHLY_HEADERS: list[str] = [c.header for c in MONTHLY_FORM]
TASK_HEADERS: list[str] = [c.header for c in TASK_FORM]
#: Monthly header → raw column, in the form's order.
MONTHLY_COLUMNS: dict[str, str] = {c.header: c.raw for c in MONTHLY_FORM}
#: Raw columns of the monthly form holding quantities (headcount, area, consumption, PV).
MONTHLY_NUMERIC_COLUMNS: list[str] = [c.raw for c in MONTHLY_FORM if c.numeric]
#: The institution's size: the denominators of the intensities.
SIZE_COLUMNS: tuple[str, ...] = ("headcount", "floor_area_m2")
#: Quantities used in the month (energy and water; compared with the same month last year, rule M012).
CONSUMPTION_COLUMNS: tuple[str, ...] = tuple(c.raw for c in MONTHLY_FORM if c.consumption)
#: Columns that carry energy (converted to standard coal and CO₂).
ENERGY_COLUMNS: tuple[str, ...] = tuple(c.raw for c in MONTHLY_FORM if c.energy)

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
