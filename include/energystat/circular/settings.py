"""Settings of the annual circular: issuing body, date, document number, wording file.

Precedence: environment variable > settings file > default. The settings file is YAML
(`config/circular.yaml` in the repository, or the file named by ENERGYSTAT_CIRCULAR_SETTINGS), e.g.::

    issuer: 广西壮族自治区机关事务管理局
    addressee: 各设区市机关事务管理局，区直各部门、各单位：
    issue_date: 2024-02-05          # empty = the day the circular is generated
    doc_number: 桂机管发〔2024〕3号   # empty = no document number line
    wording_file: include/energystat/circular/templates/wording.zh.yaml
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

from energystat import config

log = logging.getLogger(__name__)

SETTINGS_FILE_ENV = "ENERGYSTAT_CIRCULAR_SETTINGS"
DEFAULT_SETTINGS_FILE = config.PROJECT_ROOT / "config" / "circular.yaml"
DEFAULT_WORDING_FILE = Path(__file__).parent / "templates" / "wording.zh.yaml"

#: setting name -> environment variable overriding it
ENV_VARS = {
    "issuer": "ENERGYSTAT_CIRCULAR_ISSUER",
    "addressee": "ENERGYSTAT_CIRCULAR_ADDRESSEE",
    "issue_date": "ENERGYSTAT_CIRCULAR_DATE",
    "doc_number": "ENERGYSTAT_CIRCULAR_DOC_NUMBER",
    "wording_file": "ENERGYSTAT_CIRCULAR_WORDING",
}


@dataclass(frozen=True)
class CircularSettings:
    issuer: str = "广西壮族自治区机关事务管理局"
    addressee: str = "各设区市机关事务管理局，区直各部门、各单位："
    issue_date: date | None = None  # None: today
    doc_number: str = ""
    wording_file: Path = DEFAULT_WORDING_FILE

    @property
    def effective_date(self) -> date:
        return self.issue_date or date.today()


def _parse_date(value: Any, where: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValueError(f"{where}: issue_date must be YYYY-MM-DD, got {value!r}") from exc


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
        unknown = set(loaded) - set(ENV_VARS)
        if unknown:
            raise ValueError(f"{path}: unknown circular settings {sorted(unknown)}; known: {sorted(ENV_VARS)}")
        values.update({k: v for k, v in loaded.items() if v is not None})
    elif settings_file is not None or os.environ.get(SETTINGS_FILE_ENV):
        raise FileNotFoundError(f"circular settings file not found: {path}")
    for name, env in ENV_VARS.items():
        if os.environ.get(env) is not None:
            values[name] = os.environ[env]
    values.update({k: v for k, v in overrides.items() if v is not None})

    settings = CircularSettings()
    if "issuer" in values:
        settings = replace(settings, issuer=str(values["issuer"]).strip())
    if "addressee" in values:
        settings = replace(settings, addressee=str(values["addressee"]).strip())
    if "doc_number" in values:
        settings = replace(settings, doc_number=str(values["doc_number"] or "").strip())
    if "issue_date" in values:
        settings = replace(settings, issue_date=_parse_date(values["issue_date"], str(path)))
    if values.get("wording_file"):
        settings = replace(settings, wording_file=_resolve_path(values["wording_file"]))
    return settings
