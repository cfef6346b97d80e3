"""Settings of the annual circular: who issues it, to whom, its number, its dates and its wording file.

Precedence: environment variable > settings file > default. The settings file is YAML
(`config/circular.yaml` in the repository, or the file named by ENERGYSTAT_CIRCULAR_SETTINGS); its comments
name every setting. Dates default to the reporting cycle, never to the day the file happens to be generated:
the 成文日期 is `publication_day` (MM-DD) of the year after the report year unless `issue_date` is set.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from energystat import config

log = logging.getLogger(__name__)

SETTINGS_FILE_ENV = "ENERGYSTAT_CIRCULAR_SETTINGS"
DEFAULT_SETTINGS_FILE = config.PROJECT_ROOT / "config" / "circular.yaml"
DEFAULT_WORDING_FILE = Path(__file__).parent / "templates" / "wording.zh.yaml"

#: setting name -> environment variable overriding it (the others are set in the file only)
ENV_VARS = {
    "issuer": "ENERGYSTAT_CIRCULAR_ISSUER",
    "issuer_mark": "ENERGYSTAT_CIRCULAR_ISSUER_MARK",
    "addressee": "ENERGYSTAT_CIRCULAR_ADDRESSEE",
    "issue_date": "ENERGYSTAT_CIRCULAR_DATE",
    "doc_number": "ENERGYSTAT_CIRCULAR_DOC_NUMBER",
    "wording_file": "ENERGYSTAT_CIRCULAR_WORDING",
}
FILE_ONLY = ("publication_day", "rectification_due", "remark", "cc", "printer", "print_date")
KNOWN = (*ENV_VARS, *FILE_ONLY)

# 发文字号: 机关代字 + 〔年份〕 + 顺序号 + 号 (GB/T 9704-2012 7.2.4: 六角括号, 年份标全称, 顺序号不编虚位).
_DOC_NUMBER = re.compile(r"^(?P<code>\S+?)\s*[〔\[［(（【]\s*(?P<year>\d{4})\s*[〕\]］)）】]\s*第?0*(?P<seq>[1-9]\d*)\s*号$")
_MONTH_DAY = re.compile(r"^(\d{1,2})-(\d{1,2})$")


@dataclass(frozen=True)
class CircularSettings:
    issuer: str = "广西壮族自治区机关事务管理局"  # 发文机关署名
    issuer_mark: str = ""  # 发文机关标志; empty = issuer + "文件"
    addressee: str = "各设区市机关事务管理局，区直各部门、各单位："  # 主送机关
    doc_number: str = ""  # 发文字号 (may contain {issue_year}); empty = none (a draft)
    issue_date: date | None = None  # 成文日期; None = publication_day of the year after the report year
    publication_day: tuple[int, int] = (2, 5)  # (month, day), the annual_circular DAG's schedule
    rectification_due: tuple[int, int] = (3, 31)  # 整改措施报送期限 in the year after the report year
    remark: str = ""  # 附注, e.g. 此件公开发布 (printed in round brackets)
    cc: tuple[str, ...] = ()  # 抄送机关
    printer: str = ""  # 印发机关; empty = the issuer's 办公室
    print_date: date | None = None  # 印发日期; None = the 成文日期
    wording_file: Path = DEFAULT_WORDING_FILE
    source: str = field(default="defaults", compare=False)

    def dated(self, report_year: int) -> date:
        """The 成文日期 of the circular on `report_year`."""
        if self.issue_date is not None:
            return self.issue_date
        month, day = self.publication_day
        return date(report_year + 1, month, day)

    def printed(self, report_year: int) -> date:
        """The 印发日期 (the 成文日期 unless set)."""
        return self.print_date or self.dated(report_year)

    def rectification_date(self, report_year: int) -> date:
        month, day = self.rectification_due
        return date(report_year + 1, month, day)

    def mark(self) -> str:
        return self.issuer_mark or f"{self.issuer}文件"

    def printing_office(self) -> str:
        return self.printer or f"{self.issuer}办公室"

    def number(self, report_year: int) -> str:
        """The 发文字号 with {issue_year} filled in, in the standard's form (〔2024〕3号), or ""."""
        if not self.doc_number:
            return ""
        return normalise_doc_number(self.doc_number.replace("{issue_year}", str(self.dated(report_year).year)),
                                    self.source)


def normalise_doc_number(text: str, where: str = "settings") -> str:
    """桂机管发[2024]03号 -> 桂机管发〔2024〕3号; ValueError when there is no bracketed four-digit year."""
    match = _DOC_NUMBER.match(text.strip())
    if match is None:
        raise ValueError(
            f"{where}: doc_number {text!r} is not a 发文字号 like 桂机管发〔2024〕3号 "
            "(机关代字, the year in 〔〕, the number, 号)"
        )
    return f"{match['code']}〔{match['year']}〕{match['seq']}号"


def _parse_date(value: Any, name: str, where: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{where}: {name} must be YYYY-MM-DD, got {value!r}") from exc


def _parse_month_day(value: Any, name: str, where: str) -> tuple[int, int]:
    match = _MONTH_DAY.match(str(value).strip())
    if match is None:
        raise ValueError(f"{where}: {name} must be MM-DD (in the year after the report year), got {value!r}")
    month, day = int(match[1]), int(match[2])
    date(2024, month, day)  # a real day (2024: leap year, so 02-29 passes)
    return month, day


def _parse_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = re.split(r"[，,、；;\n]", value)
    return tuple(str(v).strip() for v in value or () if str(v).strip())


def _resolve_path(value: Any) -> Path:
    path = Path(str(value))
    return path if path.is_absolute() else config.PROJECT_ROOT / path


def load_settings(settings_file: Path | None = None, **overrides: Any) -> CircularSettings:
    """Settings from the file and environment; keyword overrides (e.g. from the CLI) win over both."""
    import yaml  # lazily: only the circular needs it

    path = settings_file or Path(os.environ.get(SETTINGS_FILE_ENV) or DEFAULT_SETTINGS_FILE)
    values: dict[str, Any] = {}
    if path.exists():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: expected a mapping of settings, got {type(loaded).__name__}")
        unknown = set(loaded) - set(KNOWN)
        if unknown:
            raise ValueError(f"{path}: unknown circular settings {sorted(unknown)}; known: {sorted(KNOWN)}")
        values.update({k: v for k, v in loaded.items() if v is not None})
    elif settings_file is not None or os.environ.get(SETTINGS_FILE_ENV):
        raise FileNotFoundError(f"circular settings file not found: {path}")
    for name, env in ENV_VARS.items():
        if os.environ.get(env) is not None:
            values[name] = os.environ[env]
    values.update({k: v for k, v in overrides.items() if v is not None})

    where = str(path)
    settings = CircularSettings(source=where)
    text_settings = ("issuer", "issuer_mark", "addressee", "doc_number", "remark", "printer")
    settings = replace(settings, **{k: str(values[k] or "").strip() for k in text_settings if k in values})
    if "issue_date" in values:
        settings = replace(settings, issue_date=_parse_date(values["issue_date"], "issue_date", where))
    if "print_date" in values:
        settings = replace(settings, print_date=_parse_date(values["print_date"], "print_date", where))
    for name in ("publication_day", "rectification_due"):
        if values.get(name):
            settings = replace(settings, **{name: _parse_month_day(values[name], name, where)})
    if "cc" in values:
        settings = replace(settings, cc=_parse_list(values["cc"]))
    if values.get("wording_file"):
        settings = replace(settings, wording_file=_resolve_path(values["wording_file"]))
    if settings.doc_number:
        settings.number(2000)  # fail now, naming the file, rather than half-way through writing
    return settings
