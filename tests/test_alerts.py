"""Alerts arrive for real — an email on a local SMTP server, a POST on a local HTTP server — in Chinese, with
the reporter, period, rule counts and the report's location; a channel that is down never raises."""

from __future__ import annotations

import logging

import pytest
from alert_servers import mail_url, smtp_server, webhook_server, webhook_url

from energystat.ingest import alert as alerts
from energystat.ingest.load import Outcome


def _rejected() -> Outcome:
    return Outcome(
        rel_path="450100/2023-05/450100_2023-05_能源资源消费月报.xlsx", reporter_code="450100", period="2023-05",
        kind="monthly", status="rejected", upload_id=7, rows_in_file=40, error_count=3, warning_count=1,
        rule_summary={"M003": {"severity": "error", "failed": 2, "description_zh": "统一社会信用代码校验位正确"},
                      "M006": {"severity": "error", "failed": 1},
                      "M013": {"severity": "warning", "failed": 1}},
        reason="failed rules: M003, M006", report_path="/srv/quarantine/450100/2023-05/report",
    )


def test_rejection_reaches_email_and_webhook_in_chinese() -> None:
    with smtp_server() as (smtp_port, box), webhook_server() as (http_port, posts):
        sent = alerts.alert_on_outcomes([_rejected()], [mail_url(smtp_port), webhook_url(http_port)])
    assert sent == 1
    assert len(box.messages) == 1 and len(posts) == 1
    mail = box.texts()[0]
    hook = posts[0]["json"]
    for text in (mail, hook["title"] + "\n" + hook["message"]):
        assert "南宁市" in text and "450100" in text and "2023-05" in text
        assert "退回" in text and "M003" in text and "2 处" in text and "M006" in text
        assert "/srv/quarantine/450100/2023-05/report" in text
        assert "M013" not in text.split("未通过的规则")[1].split("校验报告")[0]  # warnings are not errors


def test_warnings_alert_only_above_threshold() -> None:
    outcome = Outcome(rel_path="x.xlsx", reporter_code="450200", period="2023-06", kind="monthly",
                      status="accepted_with_warnings", upload_id=9, warning_count=5,
                      rule_summary={"M011": {"severity": "warning", "failed": 5}})
    with webhook_server() as (port, posts):
        assert alerts.alert_on_outcomes([outcome], [webhook_url(port)], threshold=6) == 0
        assert alerts.alert_on_outcomes([outcome], [webhook_url(port)], threshold=5) == 1
    assert len(posts) == 1
    assert "柳州市" in posts[0]["json"]["title"] and "5 处警告" in posts[0]["json"]["title"]
    assert "upload_id = 9" in posts[0]["json"]["message"]


def test_channel_down_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    from alert_servers import free_port

    dead = webhook_url(free_port())  # nothing listens there
    with caplog.at_level(logging.ERROR):
        assert alerts.send("标题", "正文", [dead]) is False
    assert "not delivered" in caplog.text


def test_server_error_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    with webhook_server(status=500) as (port, posts), caplog.at_level(logging.ERROR):
        assert alerts.send("标题", "正文", [webhook_url(port)]) is False
    assert posts  # it was tried
    assert "not delivered" in caplog.text


def test_urls_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENERGYSTAT_ALERT_URLS", "json://a.example/x, mailto://b.example  json://c.example")
    assert alerts.configured_urls() == ["json://a.example/x", "mailto://b.example", "json://c.example"]
