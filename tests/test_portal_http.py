"""The portal over HTTP (FastAPI's TestClient, the real app, a real warehouse, the portal's own database role):
authorization between reporters, login and lock-out, CSRF, hostile file names, limits, verdicts and headers."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from portal_world import HELD_PERIOD, PASSWORDS, World, portal_role_dsn, world_in_environment

from energystat import config
from energystat.config import PortalSettings
from energystat.portal import accounts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, module_warehouse_dsn: str) -> Iterator[World]:
    with world_in_environment(tmp_path_factory.mktemp("portal"), module_warehouse_dsn) as world:
        yield world


@pytest.fixture(scope="module")
def settings(world: World) -> PortalSettings:
    return dataclasses.replace(config.portal_settings(), dsn=portal_role_dsn(world.dsn), work_dir=world.work_dir)


@pytest.fixture(scope="module")
def app(settings: PortalSettings):  # noqa: ANN201
    from energystat.portal.app import create_app

    return create_app(settings, warm=False)


def _client(app) -> TestClient:  # noqa: ANN001
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def login(client: TestClient, username: str, password: str | None = None) -> TestClient:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)[1]
    response = client.post("/login", data={"username": username, "password": password or PASSWORDS[username],
                                           "csrf_token": token, "next": "/"})
    assert response.status_code == 303, response.text
    return client


def csrf_of(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)[1]


def upload(client: TestClient, reporter: str, period: str, path: Path, name: str | None = None,
           csrf: str | None = None) -> int:
    response = client.post(f"/r/{reporter}/upload", data={"period": period, "csrf_token": csrf or csrf_of(
        client, f"/r/{reporter}")}, files={"file": (name or path.name, path.read_bytes())})
    assert response.status_code == 303, response.text
    return int(response.headers["location"].rsplit("/", 1)[1])


@pytest.fixture(scope="module")
def liuzhou(app, world: World) -> dict[str, int]:  # noqa: ANN001
    """URL ids of 450200: a check of its own file, and its uploads in ops.upload_log."""
    with _client(app) as client:
        login(client, "450200")
        source = next((world.landing / "450200" / "2023-11").glob("*.xlsx"))
        check_id = upload(client, "450200", "2023-11", source)
    with psycopg.connect(world.dsn) as conn:
        upload_id = conn.execute("select min(upload_id) from ops.upload_log where reporter_code = '450200'"
                                 ).fetchone()[0]
    return {"check": check_id, "upload": upload_id}


def test_no_session_redirects_every_page_to_login(app) -> None:  # noqa: ANN001
    with _client(app) as client:
        for path in ("/", "/r/450100", "/r/450100/months/2023-05", "/r/450100/template/2023-05", "/governance",
                     "/governance.csv", "/password", "/r/450100/checks/1"):
            response = client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=/"), path
        assert client.post("/r/450100/upload", data={"period": "2023-12"}).status_code == 303


def test_city_user_gets_403_for_every_url_of_another_reporter(app, liuzhou: dict[str, int]) -> None:  # noqa: ANN001
    check, upload_id = liuzhou["check"], liuzhou["upload"]
    pages = ["/r/450200", "/r/450200?year=2023", "/r/450200/months/2023-11", "/r/450200/months/2023-Q4",
             "/r/450200/template/2023-11", "/r/450200/template/2023-Q4", f"/r/450200/checks/{check}",
             f"/r/450200/checks/{check}/marked.xlsx", f"/r/450200/checks/{check}/file",
             f"/r/450200/uploads/{upload_id}", f"/r/450200/uploads/{upload_id}/report.html",
             "/governance", "/governance.csv?year=2023"]
    with _client(app) as owner:  # the owner sees them (so a 403 below is authorization, not a broken page)
        login(owner, "450200")
        assert owner.get("/r/450200/months/2023-11").status_code == 200
        assert owner.get(f"/r/450200/checks/{check}").status_code == 200
        assert owner.get(f"/r/450200/checks/{check}/file").status_code == 200
        assert owner.get(f"/r/450200/uploads/{upload_id}").status_code == 200
        assert owner.get("/r/450200/template/2023-11").status_code == 200
    with _client(app) as client:
        login(client, "450100")
        csrf = csrf_of(client, "/r/450100")
        for path in pages:
            response = client.get(path)
            assert response.status_code == 403, path
            assert "柳州" not in response.text and "450200" not in response.text, path
        posts = [("/r/450200/upload", {"period": "2023-11", "csrf_token": csrf}, {"file": ("a.csv", b"x,y\n")}),
                 (f"/r/450200/checks/{check}/submit", {"csrf_token": csrf, "explanation": "x"}, None)]
        for path, data, files in posts:
            assert client.post(path, data=data, files=files).status_code == 403, path
        # another reporter's check under one's own reporter: not found, not shown
        assert client.get(f"/r/450100/checks/{check}").status_code == 404
        assert client.get(f"/r/450100/checks/{check}/file").status_code == 404
        assert client.get(f"/r/450100/uploads/{upload_id}").status_code == 404
        with psycopg.connect(os.environ["ENERGYSTAT_WAREHOUSE_DSN"]) as conn:
            submitted = conn.execute("select submitted_at from ops.portal_submissions where submission_id = %s",
                                     (check,)).fetchone()[0]
        assert submitted is None


def test_governance_sees_every_reporter(app, liuzhou: dict[str, int]) -> None:  # noqa: ANN001
    with _client(app) as client:
        login(client, "gov")
        assert client.get("/").headers["location"] == "/governance"
        matrix = client.get("/governance?year=2023")
        assert matrix.status_code == 200
        assert "柳州市" in matrix.text and "南宁市" in matrix.text and "百色市" in matrix.text
        assert client.get(f"/r/450200/checks/{liuzhou['check']}").status_code == 200
        assert client.get("/r/450100/months/2023-05").status_code == 200
        csv_text = client.get("/governance.csv?year=2023").content.decode("utf-8-sig")
        rows = [line.split(",") for line in csv_text.splitlines()[1:]]
        assert len(rows) == 15 * 16  # 15 reporters × (12 months + 4 quarters)
        nov = next(r for r in rows if r[0] == "450200" and r[3] == "2023-11")
        assert nov[5] == "accepted"
        dec = next(r for r in rows if r[0] == "450100" and r[3] == "2023-12")
        assert dec[5] == "late" and int(dec[7]) > 0  # held back: never arrived
        assert next(r for r in rows if r[0] == "451000" and r[3] == "2023-03")[5] == "late"


def test_form_without_its_csrf_token_is_refused(app, world: World) -> None:  # noqa: ANN001
    with _client(app) as client:
        login(client, "450100")
        files = {"file": ("x.xlsx", world.clean_file.read_bytes())}
        assert client.post("/r/450100/upload", data={"period": HELD_PERIOD}, files=files).status_code == 403
        assert client.post("/r/450100/upload", data={"period": HELD_PERIOD, "csrf_token": "forged"},
                           files=files).status_code == 403
        assert client.post("/logout", data={}).status_code == 403
        assert client.post("/password", data={"old_password": PASSWORDS["450100"], "new_password": "x" * 12,
                                              "new_password_again": "x" * 12}).status_code == 403
        assert client.get("/r/450100").status_code == 200  # still logged in, password unchanged
    with _client(app) as fresh:  # the login form's own token (double-submit cookie)
        response = fresh.post("/login", data={"username": "450100", "password": PASSWORDS["450100"]})
        assert response.status_code == 403
        assert "energystat_session" not in response.cookies


def test_sixth_wrong_password_in_a_row_is_refused_even_when_right(app, world: World) -> None:  # noqa: ANN001
    accounts.add_user(world.dsn, "locktest", "city", "450100", "locktest-right-1")
    with _client(app) as client:
        token = csrf_of(client, "/login")
        for attempt in range(5):
            response = client.post("/login", data={"username": "locktest", "password": f"wrong-{attempt}",
                                                   "csrf_token": token})
            assert response.status_code == 401, attempt
            assert "用户名或密码错误" in response.text
        response = client.post("/login", data={"username": "locktest", "password": "locktest-right-1",
                                               "csrf_token": token})
        assert response.status_code == 429
        assert "账户已锁定" in response.text
        assert "energystat_session" not in response.cookies
        assert client.get("/r/450100").status_code == 303
    with psycopg.connect(world.dsn) as conn:
        outcomes = [r[0] for r in conn.execute("select outcome from ops.portal_login_attempts where username ="
                                                " 'locktest' order by attempt_id")]
    assert outcomes == ["wrong_password"] * 5 + ["locked"]
    accounts.add_user(world.dsn, "locktest", "city", "450100", "locktest-reset-2")  # an administrator's reset
    with _client(app) as client:
        login(client, "locktest", "locktest-reset-2")


def test_five_failures_then_success_resets_the_count(app, world: World) -> None:  # noqa: ANN001
    accounts.add_user(world.dsn, "resettest", "city", "450100", "resettest-right")
    with _client(app) as client:
        token = csrf_of(client, "/login")
        for _ in range(4):
            client.post("/login", data={"username": "resettest", "password": "bad", "csrf_token": token})
        login(client, "resettest", "resettest-right")  # the 5th attempt, right: accepted
        assert client.get("/r/450100").status_code == 200


def test_session_cookie_is_httponly_and_samesite(app) -> None:  # noqa: ANN001
    with _client(app) as client:
        token = csrf_of(client, "/login")
        response = client.post("/login", data={"username": "450100", "password": PASSWORDS["450100"],
                                               "csrf_token": token, "next": "//evil.example/x"})
        cookie = response.headers["set-cookie"].lower()
        assert "energystat_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert response.headers["location"] == "/"  # never redirected off-site after login


def test_security_headers_on_pages_errors_and_files(app, world: World) -> None:  # noqa: ANN001
    with _client(app) as client:
        for response in (client.get("/login"), client.get("/nope"), client.get("/static/portal.css")):
            csp = response.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert response.headers["x-content-type-options"] == "nosniff"
        login(client, "450100")
        page = client.get("/r/450100?year=2023")
        assert "<script" not in page.text and " style=" not in page.text and " on" + "click" not in page.text
        assert page.headers["cache-control"] == "no-store"


def test_verdict_is_the_check_commands_verdict(app, world: World, tmp_path: Path) -> None:  # noqa: ANN001
    """Clean → accepted; faulty → rejected with the row, column, value and Chinese reason, the same findings as
    the ingestion's parse + rulebook (with history from the warehouse) give; nothing loaded."""
    from energystat.ingest.parse import parse_upload
    from energystat.ingest.validate import validate
    from energystat.ingest.validate.context import load_context

    with psycopg.connect(world.dsn) as conn:
        before = conn.execute("select count(*), (select count(*) from ops.upload_log) from raw.monthly_statistics"
                              ).fetchone()
    with _client(app) as client:
        login(client, "450100")
        clean = upload(client, "450100", HELD_PERIOD, world.clean_file)
        faulty = upload(client, "450100", HELD_PERIOD, world.faulty_file)
        clean_page = client.get(f"/r/450100/checks/{clean}").text
        faulty_page = client.get(f"/r/450100/checks/{faulty}").text
        assert "检查结论：<span class=\"verdict v-accepted\">通过</span>" in clean_page
        assert "未发现问题" in clean_page
        assert "<span class=\"verdict v-rejected\">不通过</span>" in faulty_page  # an ordinary error: rejected
        row = re.search(r'<tr class="sev-error"><td>3</td><td>电力\(千瓦时\)</td><td class="num">-1,200</td>'
                        r'<td class="num"></td><td>(M\d+)</td><td>错误</td><td>([^<]+)</td>', faulty_page)
        assert row, faulty_page[-3000:]
        marked = client.get(f"/r/450100/checks/{faulty}/marked.xlsx")
        assert marked.status_code == 200 and marked.content[:2] == b"PK"
    # the same parse + rules + warehouse context as ingestion, run directly on a copy in the landing layout
    copy = tmp_path / "450100" / HELD_PERIOD / "x.xlsx"
    copy.parent.mkdir(parents=True)
    copy.write_bytes(world.faulty_file.read_bytes())
    parsed = parse_upload(copy, reporter_code="450100", period=HELD_PERIOD)
    report = validate(parsed, load_context(world.dsn, "450100", HELD_PERIOD))
    expected = {(f.source_row, parsed.column_header(f.column_name) if f.column_name else "", f.rule_id, f.message_zh)
                for f in report.findings}
    shown = set(re.findall(r'<tr class="sev-\w+"><td>(\d+|整个文件)</td><td>([^<]*)</td><td class="num">[^<]*</td>'
                           r'<td class="num">[^<]*</td><td>(\w+)</td><td>[^<]*</td><td>([^<]+)</td>', faulty_page))
    assert {(str(r), c or "", rid, m) for r, c, rid, m in expected} == shown
    assert (row[1], row[2]) in {(f.rule_id, f.message_zh) for f in report.findings}
    with psycopg.connect(world.dsn) as conn:
        after = conn.execute("select count(*), (select count(*) from ops.upload_log) from raw.monthly_statistics"
                             ).fetchone()
    assert after == before  # a check loads nothing


def test_unreadable_upload_gets_the_P001_verdict_of_check(app, world: World, tmp_path: Path) -> None:  # noqa: ANN001
    from energystat.ingest.parse import parse_upload

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    with _client(app) as client:
        login(client, "450100")
        response = client.post("/r/450100/upload", data={"period": HELD_PERIOD,
                                                         "csrf_token": csrf_of(client, "/r/450100")},
                               files={"file": ("月报.xlsx", png)})
        check = int(response.headers["location"].rsplit("/", 1)[1])
        page = client.get(f"/r/450100/checks/{check}").text
        assert "无法读取" in page and "P001" in page
        assert "识别为 unknown" in page  # the name said .xlsx; the bytes said otherwise
    saved = tmp_path / "upload.bin"
    saved.write_bytes(png)
    message = parse_upload(saved).findings[0].message_zh
    assert message in page


def test_hostile_file_name_never_leaves_its_folder(app, world: World) -> None:  # noqa: ANN001
    hostile = '../../../../tmp/evil"; rm -rf ~ `id` $(touch pwned)|<b>x</b>.xlsx'
    with _client(app) as client:
        login(client, "450100")
        check = upload(client, "450100", HELD_PERIOD, world.faulty_file, name=hostile)
        page = client.get(f"/r/450100/checks/{check}").text
        assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # shown, escaped, as metadata
        response = client.post(f"/r/450100/checks/{check}/submit",
                               data={"csrf_token": csrf_of(client, f"/r/450100/checks/{check}"), "explanation": ""})
        assert response.status_code == 400  # a rejected verdict needs its 说明
        response = client.post(f"/r/450100/checks/{check}/submit",
                               data={"csrf_token": csrf_of(client, f"/r/450100/checks/{check}"),
                                     "explanation": "负数为冲红更正，已与供电局核对"})
        assert response.status_code == 303
    with psycopg.connect(world.dsn) as conn:
        landing_path, original = conn.execute(
            "select landing_path, original_name from ops.portal_submissions where submission_id = %s", (check,)
        ).fetchone()
    assert original == hostile  # metadata only, as the user named it
    assert re.fullmatch(rf"450100/{HELD_PERIOD}/450100_{HELD_PERIOD}_能源资源消费月报_门户{check}\.xlsx", landing_path)
    landed = world.landing / landing_path
    assert landed.is_file() and landed.resolve().parent == (world.landing / "450100" / HELD_PERIOD).resolve()
    everything = [p for p in world.root.rglob("*")] + [p for p in Path("/tmp").glob("evil*")]
    assert not [p for p in everything if "evil" in p.name or "pwned" in p.name]
    assert not Path("pwned").exists()
    landed.unlink()  # keep the month for the other tests


def test_a_correction_removing_many_institutions_is_held_and_submitted_only_with_its_explanation(
        app, world: World, tmp_path: Path) -> None:  # noqa: ANN001
    """A new version of a live month that drops half its institutions fails only the correction guard (M017,
    reviewable): the verdict is what ingestion will log — held, 待审核, not 不通过 — and it is submitted only with
    a 说明 for the reviewer; then it lands like any other file."""
    import openpyxl

    from energystat.contract import forms
    from energystat.ingest.parse import parse_upload
    from energystat.ingest.validate import validate
    from energystat.ingest.validate.context import load_context

    live = next((world.landing / "450100" / "2023-11").glob("*能源资源消费月报*.xlsx"))
    book = openpyxl.load_workbook(live)
    sheet = book[forms.MONTHLY_SHEET]
    rows = sheet.max_row - 1
    assert rows >= 4
    sheet.delete_rows(2 + rows // 2, rows - rows // 2)  # keep the first half of the institutions
    correction = tmp_path / "450100" / "2023-11" / "南宁市11月更正.xlsx"
    correction.parent.mkdir(parents=True)
    book.save(correction)
    # what ingestion will log for it: the same parse, rules and live batch
    report = validate(parse_upload(correction, reporter_code="450100", period="2023-11"),
                      load_context(world.dsn, "450100", "2023-11"))
    assert report.logged_status == "held" and {f.rule_id for f in report.findings if f.severity == "error"} == {
        "M017"}

    explanation = "部分单位已于2023年10月撤并入市机关事务管理局，名单已核实，删除属实。"
    with _client(app) as client:
        login(client, "450100")
        check = upload(client, "450100", "2023-11", correction)
        page = client.get(f"/r/450100/checks/{check}").text
        assert ("检查结论：<span class=\"verdict v-held\">待审核：须填写说明，提交后由数据治理人员审核</span>"
                in page)
        assert "不通过" not in page and "暂不入库" in page and "附说明提交审核" in page and "M017" in page
        response = client.post(f"/r/450100/checks/{check}/submit",
                               data={"csrf_token": csrf_of(client, f"/r/450100/checks/{check}"), "explanation": " "})
        assert response.status_code == 400 and "须填写说明" in response.text  # the reviewer needs the 说明
        with psycopg.connect(world.dsn) as conn:
            assert conn.execute("select verdict, submitted_at from ops.portal_submissions where submission_id = %s",
                                (check,)).fetchone() == ("held", None)
        response = client.post(f"/r/450100/checks/{check}/submit",
                               data={"csrf_token": csrf_of(client, f"/r/450100/checks/{check}"),
                                     "explanation": explanation})
        assert response.status_code == 303
        page = client.get(f"/r/450100/checks/{check}").text
        assert f"说明：{explanation}" in page
    with psycopg.connect(world.dsn) as conn:
        landing_path, given = conn.execute(
            "select landing_path, explanation from ops.portal_submissions where submission_id = %s", (check,)
        ).fetchone()
    assert given == explanation  # where the review loop reads it (review.pending_reviews)
    landed = world.landing / landing_path
    assert landing_path.startswith("450100/2023-11/") and landed.read_bytes() == correction.read_bytes()
    landed.unlink()  # keep the month for the other tests


def test_upload_larger_than_the_limit_is_refused(settings: PortalSettings, world: World) -> None:
    from energystat.portal.app import create_app

    small = create_app(dataclasses.replace(settings, max_upload_bytes=64 * 1024), warm=False)
    with _client(small) as client:
        login(client, "450100")
        response = client.post("/r/450100/upload", data={"period": HELD_PERIOD,
                                                         "csrf_token": csrf_of(client, "/r/450100")},
                               files={"file": ("big.csv", b"a,b\n" * 40_000)})
        assert response.status_code == 413
        assert "上传大小上限" in response.text
        assert "Traceback" not in response.text


def test_too_many_rows_is_refused_with_a_reason(settings: PortalSettings, world: World) -> None:
    from energystat.portal.app import create_app

    strict = create_app(dataclasses.replace(settings, max_rows=10), warm=False)
    with _client(strict) as client:
        login(client, "450100")
        response = client.post("/r/450100/upload", data={"period": HELD_PERIOD,
                                                         "csrf_token": csrf_of(client, "/r/450100")},
                               files={"file": ("m.xlsx", world.clean_file.read_bytes())})
        assert response.status_code == 400
        assert "超过上限 10 行" in response.text


def test_password_change_ends_sessions_and_takes_the_new_password(app, world: World) -> None:  # noqa: ANN001
    accounts.add_user(world.dsn, "pwtest", "city", "450100", "pwtest-old-pass")
    with _client(app) as client, _client(app) as other:
        login(client, "pwtest", "pwtest-old-pass")
        login(other, "pwtest", "pwtest-old-pass")
        response = client.post("/password", data={"csrf_token": csrf_of(client, "/password"),
                                                  "old_password": "pwtest-old-pass", "new_password": "pwtest-new-pass",
                                                  "new_password_again": "pwtest-new-pass"})
        assert response.status_code == 200 and "密码已修改" in response.text
        assert other.get("/r/450100").status_code == 303  # the other session ended too
    with _client(app) as client:
        login(client, "pwtest", "pwtest-new-pass")
        assert client.get("/r/450100").status_code == 200
    with psycopg.connect(world.dsn) as conn:
        stored = conn.execute("select password_hash from ops.portal_users where username = 'pwtest'").fetchone()[0]
    assert stored.startswith("$argon2id$")


def test_logout_ends_the_session(app) -> None:  # noqa: ANN001
    with _client(app) as client:
        login(client, "450100")
        assert client.post("/logout", data={"csrf_token": csrf_of(client, "/r/450100")}).status_code == 303
        assert client.get("/r/450100").status_code == 303
