"""Alert stage: tell data-governance staff, through Apprise, about rejected or held files and files with many warnings.

Messages are in Chinese, for the people who act on them. Alert URLs come from the setting ENERGYSTAT_ALERT_URLS
(whitespace- or comma-separated Apprise URLs, e.g. email, WeCom/DingTalk/Feishu bots, webhooks); the Airflow DAGs
also read the Airflow Variable `energystat_alert_urls`. A channel that is down never fails a load: the failure is
logged and reported.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from energystat import config, reference
from energystat.config import parse_urls
from energystat.contract.findings import ERROR, WARNING
from energystat.contract.uploads import ACCEPTED_WITH_WARNINGS, HELD, REJECTED

if TYPE_CHECKING:  # the Airflow failure notifier sends through this module: keep it free of pandas and psycopg
    from energystat.ingest.load import Outcome

log = logging.getLogger(__name__)

__all__ = ["alert_engineers", "alert_on_outcomes", "configured_urls", "parse_urls", "send"]


def configured_urls() -> list[str]:
    return list(config.settings().alert_urls)


def warning_threshold() -> int:
    return config.settings().warning_alert_threshold


def send(title: str, body: str, urls: Sequence[str]) -> bool:
    """Send one notification to every URL; True when all were delivered. Never raises."""
    if not urls:
        log.info("no alert URLs configured; alert not sent: %s", title)
        return False
    try:
        import apprise

        notifier = apprise.Apprise()
        for url in urls:
            if not notifier.add(url):
                log.error("alert URL not understood by Apprise: %s", _redact(url))
        delivered = bool(len(notifier)) and notifier.notify(title=title, body=body)
    except Exception:  # an alert channel must never break the load it reports on
        log.exception("alert delivery failed: %s", title)
        return False
    if not delivered:
        log.error("alert not delivered to every channel: %s", title)
    return bool(delivered)


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def _reporter_label(code: str | None) -> str:
    if not code:
        return "（未知报送单位）"
    try:
        return f"{reference.reporter_name(code)}（{code}）"
    except Exception:  # the alert must go out even if reference data cannot be read
        return code


def _rule_lines(rule_summary: dict[str, dict[str, Any]], severity: str) -> list[str]:
    lines = []
    for rule_id, item in sorted(rule_summary.items()):
        if item.get("severity") == severity and item.get("failed"):
            label = item.get("description_zh") or ""
            lines.append(f"  - {rule_id} {label}：{item['failed']} 处")
    return lines


def _file_lines(outcome: Outcome, who: str) -> list[str]:
    """The lines naming the reporter, period and file, first in every message about one upload."""
    return [f"报送单位：{who}", f"统计期：{outcome.period or '—'}", f"文件：{outcome.rel_path}"]


def rejection_message(outcome: Outcome) -> tuple[str, str]:
    """(title, body) telling governance staff a file was rejected or held for review, where its report is, which
    rules failed."""
    who = _reporter_label(outcome.reporter_code)
    held = outcome.status == HELD
    title = (f"【待审核】{who} {outcome.period or ''} 报送文件暂缓入库，待审核" if held
             else f"【数据退回】{who} {outcome.period or ''} 报送文件未通过校验")
    result = "暂缓入库，待审核（问题均可经审核豁免）" if held else "退回"
    body = "\n".join([
        *_file_lines(outcome, who),
        f"结果：{result}（错误 {outcome.error_count} 处，警告 {outcome.warning_count} 处），数据未入库。",
        "未通过的规则：",
        *(_rule_lines(outcome.rule_summary, ERROR) or [f"  - {outcome.reason or '文件无法读取'}"]),
        f"校验报告：{outcome.report_path or '—'}",
        ("报送单位附说明后，由审核人在 review_exceptions 中决定是否入库；或按报告修改后重新上传。" if held
         else "请通知报送单位按报告修改后重新上传。"),
    ])
    return title, body


def warnings_message(outcome: Outcome) -> tuple[str, str]:
    who = _reporter_label(outcome.reporter_code)
    title = f"【数据预警】{who} {outcome.period or ''} 报送数据有 {outcome.warning_count} 处警告"
    body = "\n".join([
        *_file_lines(outcome, who),
        f"结果：已入库，但有 {outcome.warning_count} 处警告，请核实：",
        *_rule_lines(outcome.rule_summary, WARNING),
        f"明细见数据库表 ops.dq_findings（upload_id = {outcome.upload_id}）。",
    ])
    return title, body


def alert_on_outcomes(outcomes: Iterable[Outcome], urls: Sequence[str], threshold: int | None = None) -> int:
    """Alert on every rejection and on files whose warnings reach the threshold; returns alerts sent."""
    limit = warning_threshold() if threshold is None else threshold
    sent = 0
    for outcome in outcomes:
        if outcome.status in (REJECTED, HELD):
            sent += send(*rejection_message(outcome), urls)
        elif outcome.status == ACCEPTED_WITH_WARNINGS and outcome.warning_count >= limit:
            sent += send(*warnings_message(outcome), urls)
    return sent


def alert_engineers(outcomes: Iterable[Outcome], urls: Sequence[str]) -> int:
    """One message to engineers listing the files that met an unexpected error (a bug, a reader crash, an
    unwritable quarantine): not the clerks' mistakes, which `alert_on_outcomes` reports. Returns messages sent."""
    errors = [o for o in outcomes if o.engineer_error]
    if not errors:
        return 0
    title = f"【入库异常】{len(errors)} 个文件遇到平台内部错误 / {len(errors)} files met unexpected errors"
    body = "\n".join([
        "以下文件已按退回处理，其余文件照常入库；请技术人员排查。 The files below were rejected, the others loaded:",
        *(f"- {o.rel_path} (upload_id {o.upload_id}): {o.engineer_error}" for o in errors[:50]),
    ])
    log.error("%s\n%s", title, body)
    return int(send(title, body, urls))
