"""The portal's web application: routes, authorization, CSRF, security headers and error pages."""

import datetime as dt
import logging
import re
import secrets
import shutil
import tempfile
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import psycopg
from fastapi import Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg.rows import dict_row
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from energystat import config, reference, roles, warehouse
from energystat import templates as form_templates
from energystat.config import PortalSettings
from energystat.contract import forms
from energystat.portal import accounts, airflow_trigger, status, uploads

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "energystat_session"
LOGIN_CSRF_COOKIE = "energystat_login_csrf"
_REPORTER = re.compile(r"^\d{6}$")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2]|Q[1-4])$")
MAX_FINDINGS_SHOWN = 500
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: The stored validation reports style themselves inline and run no script.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; frame-ancestors 'none'"


class NeedLogin(Exception):
    """No valid session: the user is sent to the login page."""


class LimitBodySize:
    """ASGI middleware: refuse a request body larger than `limit` bytes (413), however it is sent."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared and declared.isdigit() and int(declared) > self.limit:
            return await _too_large(send, self.limit)
        received = 0

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, _too_large_text(self.limit))
            return message

        return await self.app(scope, limited_receive, send)


def _too_large_text(limit: int) -> str:
    return f"文件过大：上传大小上限为 {limit // (1024 * 1024)} MB。"


async def _too_large(send: Any, limit: int) -> None:
    body = f"<!doctype html><meta charset=utf-8><title>413</title><p>{_too_large_text(limit)}</p>".encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/html; charset=utf-8"), *_security_headers(CSP),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _security_headers(csp: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-security-policy", csp.encode()), (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
            (b"cross-origin-opener-policy", b"same-origin")]


class SecurityHeaders:
    """ASGI middleware: CSP without inline script, nosniff, no framing, no caching of pages."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in (
                    b"content-security-policy", b"x-content-type-options", b"x-frame-options")]
                own_csp = dict(message.get("headers", [])).get(b"x-energystat-csp")
                headers = [(k, v) for k, v in headers if k != b"x-energystat-csp"]
                headers += _security_headers(REPORT_CSP if own_csp == b"report" else CSP)
                if not scope["path"].startswith("/static/"):
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)


def create_app(settings: PortalSettings | None = None, *, warm: bool = True) -> FastAPI:
    """The portal application. `warm` imports and runs the checker once in a background thread at start-up
    (GX's import alone takes seconds; the first city to upload should not wait for it)."""
    settings = settings or config.portal_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # noqa: ANN202
        app.state.dsn = portal_dsn(settings)
        settings.work_dir.mkdir(parents=True, exist_ok=True)
        if warm:
            def _warm() -> None:
                try:
                    log.info("checker warm in %.1f s", uploads.warm_up())
                except Exception:  # a failed warm-up only costs the first upload its speed
                    log.exception("checker warm-up failed")
            app.state.warm_thread = threading.Thread(target=_warm, name="portal-warm-up", daemon=True)
            app.state.warm_thread.start()
        yield

    app = FastAPI(title="energystat 报送门户", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.settings = settings
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["local"] = lambda moment, fmt="%Y-%m-%d %H:%M": (
        moment.astimezone(status.LOCAL_TZ).strftime(fmt) if moment else "")
    templates.env.globals.update(status_zh=status.STATUS_ZH, verdict_zh=uploads.VERDICT_ZH,
                                 reporter_name=reference.reporter_name, column_zh=column_zh)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    def dsn() -> str:
        return app.state.dsn

    def page(request: Request, name: str, context: dict[str, Any], code: int = 200) -> HTMLResponse:
        return templates.TemplateResponse(request, name, {"session": getattr(request.state, "session", None),
                                                          **context}, status_code=code)

    # ------------------------------------------------------------------------------------------ errors

    @app.exception_handler(NeedLogin)
    async def _need_login(request: Request, exc: NeedLogin) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        messages = {403: "无权访问：该页面属于其他报送单位。", 404: "页面不存在。", 405: "不支持的请求方式。",
                    413: _too_large_text(settings.max_upload_bytes)}
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code in (400, 403, 413) and \
            not exc.detail.isascii() else messages.get(exc.status_code, "请求无法处理。")
        return page(request, "error.html", {"code": exc.status_code, "message": detail}, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(request: Request, exc: RequestValidationError) -> Response:
        return page(request, "error.html", {"code": 400, "message": "请求不完整：请从页面上的表单提交。"}, 400)

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> Response:
        incident = secrets.token_hex(4)
        log.exception("portal error %s on %s %s", incident, request.method, request.url.path)
        response = page(request, "error.html", {"code": 500, "message": f"服务器内部错误，请稍后再试；如仍出现请把编号 "
                                                                       f"{incident} 告知管理员。"}, 500)
        # this handler runs outside the other middlewares: give the page its headers here
        response.headers.update({k.decode(): v.decode() for k, v in _security_headers(CSP)})
        return response

    # ------------------------------------------------------------------------------------------ guards

    def current_session(request: Request) -> accounts.Session:
        found = accounts.session_of(dsn(), request.cookies.get(SESSION_COOKIE))
        if found is None:
            raise NeedLogin()
        request.state.session = found
        return found

    SignedIn = Annotated[accounts.Session, Depends(current_session)]

    def reporter_access(reporter: str, session: SignedIn) -> accounts.Session:
        if not _REPORTER.match(reporter) or reporter not in reference.reporter_codes():
            raise HTTPException(404)
        if not session.user.may_see(reporter):
            raise HTTPException(403)
        return session

    ReporterAccess = Annotated[accounts.Session, Depends(reporter_access)]

    def require_csrf(session: accounts.Session, token: str) -> None:
        if not accounts.tokens_match(session.csrf_token, token):
            raise HTTPException(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")

    def governance_only(session: SignedIn) -> accounts.Session:
        if not session.user.is_governance:
            raise HTTPException(403)
        return session

    Governance = Annotated[accounts.Session, Depends(governance_only)]

    def submission_row(reporter: str, submission_id: int) -> dict[str, Any]:
        with psycopg.connect(dsn(), row_factory=dict_row) as conn:
            row = conn.execute("select * from ops.portal_submissions where submission_id = %s and reporter_code = %s",
                               (submission_id, reporter)).fetchone()
        if row is None:
            raise HTTPException(404)
        return row

    def upload_row(reporter: str, upload_id: int) -> dict[str, Any]:
        with psycopg.connect(dsn(), row_factory=dict_row) as conn:
            row = conn.execute("select * from ops.upload_log where upload_id = %s and reporter_code = %s",
                               (upload_id, reporter)).fetchone()
        if row is None:
            raise HTTPException(404)
        return row

    def check_period(period: str) -> str:
        if not _PERIOD.match(period):
            raise HTTPException(404)
        return period

    # ------------------------------------------------------------------------------------------ login

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        token = secrets.token_urlsafe(32)
        response = page(request, "login.html", {"csrf_token": token, "next": _safe_next(next)})
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=settings.secure_cookies, max_age=3600)
        return response

    @app.post("/login")
    def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "", csrf_token: Annotated[str, Form()] = "",
              next: Annotated[str, Form()] = "/") -> Response:
        if not accounts.tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token):
            raise HTTPException(403, "表单已过期或来源不明（CSRF 校验失败），请刷新页面后重试。")
        try:
            token, _session = accounts.login(
                dsn(), username.strip()[:64], password[:1024], max_failed=settings.max_failed_logins,
                lockout_minutes=settings.lockout_minutes, session_hours=settings.session_hours,
                remote_addr=request.client.host if request.client else None)
        except accounts.LoginRefused as refused:
            response = page(request, "login.html", {"csrf_token": csrf_token, "next": _safe_next(next),
                                                    "error": refused.message_zh, "username": username[:64]},
                            429 if refused.locked else 401)
            return response
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=settings.secure_cookies,
                            max_age=settings.session_hours * 3600, path="/")
        response.delete_cookie(LOGIN_CSRF_COOKIE)
        return response

    @app.post("/logout")
    def logout(session: SignedIn, request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
        require_csrf(session, csrf_token)
        accounts.logout(dsn(), request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/password", response_class=HTMLResponse)
    def password_form(request: Request, session: SignedIn) -> Response:
        return page(request, "password.html", {})

    @app.post("/password")
    def password_change(session: SignedIn, request: Request, old_password: Annotated[str, Form()] = "",
                        new_password: Annotated[str, Form()] = "", new_password_again: Annotated[str, Form()] = "",
                        csrf_token: Annotated[str, Form()] = "") -> Response:
        require_csrf(session, csrf_token)
        try:
            if new_password != new_password_again:
                raise ValueError("两次输入的新密码不一致")
            accounts.change_password(dsn(), session.user.username, old_password, new_password)
        except ValueError as exc:
            return page(request, "password.html", {"error": str(exc)}, 400)
        response = page(request, "login.html", {"csrf_token": "", "next": "/", "notice": "密码已修改，请用新密码重新登录。",
                                                "relogin": True})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    # ------------------------------------------------------------------------------------------ city pages

    @app.get("/")
    def home(session: SignedIn) -> Response:
        if session.user.is_governance:
            return RedirectResponse("/governance", status_code=303)
        return RedirectResponse(f"/r/{session.user.reporter_code}", status_code=303)

    @app.get("/r/{reporter}", response_class=HTMLResponse)
    def reporter_home(session: ReporterAccess, request: Request, reporter: str,
                      year: int | None = None) -> Response:
        today = status.local_today()
        year = year if year and 2000 <= year <= 2100 else _latest_year(dsn(), reporter, today)
        grid = status.cells(dsn(), [reporter], year, today)
        months = [grid[(reporter, p)] for kind, p, _ in status.periods(year) if kind == "monthly"]
        quarters = [grid[(reporter, p)] for kind, p, _ in status.periods(year) if kind == "task_progress"]
        choices = [c.period for c in months + quarters]
        default = next((c.period for c in reversed(months) if c.status in ("due", "late", "rejected", "held")), months[0].period)
        return page(request, "home.html", {
            "reporter": reporter, "year": year, "months": months, "quarters": quarters, "choices": choices,
            "default_period": default, "today": today, "deadline_rule": reference.deadline_rule_zh(months[0].period),
            "max_mb": settings.max_upload_bytes // (1024 * 1024)})

    @app.get("/r/{reporter}/template/{period}")
    def template_download(reporter: str, period: str,
                          session: ReporterAccess) -> Response:
        check_period(period)
        out = Path(tempfile.mkdtemp(prefix="energystat-template-", dir=settings.work_dir))
        try:
            if "-Q" in period:
                path = form_templates.task_template(reporter, period, out)
            else:
                path = form_templates.monthly_template(reporter, period, out)
        except FileNotFoundError as exc:
            raise HTTPException(404) from exc
        return FileResponse(path, filename=path.name, media_type=_XLSX,
                            background=BackgroundTask(shutil.rmtree, out, ignore_errors=True))

    @app.post("/r/{reporter}/upload")
    def upload(session: ReporterAccess, reporter: str, period: Annotated[str, Form()] = "",
               csrf_token: Annotated[str, Form()] = "", file: Annotated[UploadFile | None, File()] = None) -> Response:
        require_csrf(session, csrf_token)
        if file is None or not file.filename:
            raise HTTPException(400, "请选择要上传的文件（.xlsx 或 .csv）。")
        data = file.file.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise HTTPException(413, _too_large_text(settings.max_upload_bytes))
        if not data:
            raise HTTPException(400, "上传的文件是空的。")
        try:
            verdict = uploads.create_check(dsn(), settings.work_dir, user=session.user.username, reporter=reporter,
                                           period=period.strip(), original_name=_client_name(file.filename), data=data,
                                           max_rows=settings.max_rows)
        except uploads.UploadProblem as problem:
            raise HTTPException(400, str(problem)) from problem
        return RedirectResponse(f"/r/{reporter}/checks/{verdict.submission_id}", status_code=303)

    @app.get("/r/{reporter}/checks/{submission_id}", response_class=HTMLResponse)
    def check_page(request: Request, reporter: str, submission_id: int,
                   session: ReporterAccess) -> Response:
        row = submission_row(reporter, submission_id)
        document = uploads.verdict_document(settings.work_dir, submission_id) or {"findings": [], "rules": []}
        ingested = None
        if row["landing_path"]:
            with psycopg.connect(dsn(), row_factory=dict_row) as conn:
                ingested = conn.execute("select * from ops.upload_log where path = %s order by upload_id desc"
                                        " limit 1", (row["landing_path"],)).fetchone()
        final = ingested is not None and ingested["status"] not in ("processing",)
        marked = bool(document.get("markable"))
        return page(request, "check.html", {
            "reporter": reporter, "row": row, "doc": document, "ingested": ingested, "final": final,
            "findings": document["findings"][:MAX_FINDINGS_SHOWN], "findings_total": len(document["findings"]),
            "marked": marked, "form_period": uploads.form_period(row["period"], row["kind"]),
            "refresh": bool(row["submitted_at"]) and not final})

    @app.get("/r/{reporter}/checks/{submission_id}/marked.xlsx")
    def marked_download(reporter: str, submission_id: int,
                        session: ReporterAccess) -> Response:
        row = submission_row(reporter, submission_id)
        return _download(row, uploads.marked_workbook(settings.work_dir, row), "问题标注", _XLSX)

    @app.get("/r/{reporter}/checks/{submission_id}/file")
    def original_download(reporter: str, submission_id: int,
                          session: ReporterAccess) -> Response:
        row = submission_row(reporter, submission_id)
        return _download(row, uploads.checked_file(settings.work_dir, row), "上传文件", "application/octet-stream")

    @app.post("/r/{reporter}/checks/{submission_id}/submit")
    def submit(session: ReporterAccess, reporter: str, submission_id: int, csrf_token: Annotated[str, Form()] = "",
               explanation: Annotated[str, Form()] = "") -> Response:
        require_csrf(session, csrf_token)
        if session.user.is_governance:
            raise HTTPException(403, "治理人员账户只能查看，不能代为提交。")
        row = submission_row(reporter, submission_id)
        try:
            rel_path = uploads.submit(dsn(), settings.work_dir, config.landing_dir(), row,
                                      user=session.user.username, explanation=explanation[:4000])
        except uploads.UploadProblem as problem:
            raise HTTPException(400, str(problem)) from problem
        log.info("submission %s landed as %s", submission_id, rel_path)
        if settings.airflow_url:
            run_id, note = airflow_trigger.trigger_ingest(settings.airflow_url, settings.airflow_user,
                                                          settings.airflow_password, reporter, row["period"])
        else:
            run_id, note = None, "未配置 Airflow：文件将由夜间例行入库处理"
        uploads.record_trigger(dsn(), submission_id, run_id, note)
        return RedirectResponse(f"/r/{reporter}/checks/{submission_id}", status_code=303)

    @app.get("/r/{reporter}/months/{period}", response_class=HTMLResponse)
    def month_page(request: Request, reporter: str, period: str,
                   session: ReporterAccess) -> Response:
        check_period(period)
        grid = status.cells(dsn(), [reporter], int(period[:4]))
        cell = grid.get((reporter, period))
        if cell is None:
            raise HTTPException(404)
        with psycopg.connect(dsn(), row_factory=dict_row) as conn:
            checks = conn.execute(
                "select * from ops.portal_submissions where reporter_code = %s and period = %s and kind = %s"
                " order by submission_id desc", (reporter, cell.folder_period, cell.kind)).fetchall()
        return page(request, "month.html", {"reporter": reporter, "cell": cell, "checks": checks})

    @app.get("/r/{reporter}/uploads/{upload_id}", response_class=HTMLResponse)
    def upload_report(request: Request, reporter: str, upload_id: int,
                      session: ReporterAccess) -> Response:
        row = upload_row(reporter, upload_id)
        with psycopg.connect(dsn(), row_factory=dict_row) as conn:
            findings = conn.execute("select * from ops.dq_findings where upload_id = %s order by"
                                    " source_row nulls first, rule_id limit %s", (upload_id, MAX_FINDINGS_SHOWN)
                                    ).fetchall()
            total = conn.execute("select count(*) as n from ops.dq_findings where upload_id = %s",
                                 (upload_id,)).fetchone()["n"]
        return page(request, "upload_report.html", {
            "reporter": reporter, "u": row, "findings": findings, "findings_total": total,
            "has_report": _stored_report(row) is not None,
            "form_period": uploads.form_period(row["period"], row["kind"])})

    @app.get("/r/{reporter}/uploads/{upload_id}/report.html")
    def upload_report_file(reporter: str, upload_id: int,
                           session: ReporterAccess) -> Response:
        path = _stored_report(upload_row(reporter, upload_id))
        if path is None:
            raise HTTPException(404)
        return HTMLResponse(path.read_text(encoding="utf-8"), headers={"x-energystat-csp": "report"})

    # ------------------------------------------------------------------------------------------ governance

    @app.get("/governance", response_class=HTMLResponse)
    def governance(session: Governance, request: Request, year: int | None = None,
                   status_filter: str = "") -> Response:
        today = status.local_today()
        year = year if year and 2000 <= year <= 2100 else _latest_year(dsn(), None, today)
        chosen = status_filter if status_filter in status.STATUSES else ""
        reporters = reference.reporter_codes()
        grid = status.cells(dsn(), reporters, year, today)
        counts: dict[str, int] = {}
        for cell in grid.values():
            if cell.kind == "monthly":
                counts[cell.status] = counts.get(cell.status, 0) + 1
        with psycopg.connect(dsn(), row_factory=dict_row) as conn:
            explained = conn.execute(
                "select * from ops.portal_submissions where explanation is not null and period like %s"
                " order by submitted_at desc", (f"{year}-%",)).fetchall()
        return page(request, "governance.html", {
            "year": year, "reporters": reporters, "grid": grid, "chosen": chosen, "statuses": status.STATUSES,
            "months": [p for k, p, _ in status.periods(year) if k == "monthly"],
            "quarters": [p for k, p, _ in status.periods(year) if k == "task_progress"],
            "counts": counts, "explained": explained, "today": today,
            "form_period": uploads.form_period})

    @app.get("/governance.csv")
    def governance_csv(session: Governance, year: int | None = None, status_filter: str = "") -> Response:
        today = status.local_today()
        year = year if year and 2000 <= year <= 2100 else _latest_year(dsn(), None, today)
        reporters = reference.reporter_codes()
        grid = status.cells(dsn(), reporters, year, today)
        text = status.matrix_csv(grid, reporters, year, status_filter if status_filter in status.STATUSES else None)
        name = quote(f"报送状态_{year}.csv")
        return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f"attachment; filename*=UTF-8''{name}"})

    # the middlewares wrap everything, error pages and 413s included (added last = outermost)
    app.add_middleware(LimitBodySize, limit=settings.max_upload_bytes + 64 * 1024)
    app.add_middleware(SecurityHeaders)
    return app


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _download(row: dict[str, Any], path: Path | None, label: str, media_type: str) -> FileResponse:
    """A file of a check, named for the clerk: <reporter>_<form period>_<label>_<submission><suffix>."""
    if path is None:
        raise HTTPException(404)
    period = uploads.form_period(row["period"], row["kind"])
    name = f"{row['reporter_code']}_{period}_{label}_{row['submission_id']}{path.suffix}"
    return FileResponse(path, filename=name, media_type=media_type)


def _client_name(name: str) -> str:
    """The client's file name as the user saw it (browsers send a quote as %22 in multipart headers)."""
    return name.replace("%22", '"')[:255]


def column_zh(raw: str | None) -> str:
    """The form header of a raw column (`electricity_kwh` → `电力(千瓦时)`), for findings read from the database."""
    headers = {spec.raw: spec.header for spec in (*forms.TASK_FORM, *forms.MONTHLY_FORM)}
    return headers.get(raw or "", raw or "")


def portal_dsn(settings: PortalSettings) -> str:
    """The DSN the portal connects with: `settings.dsn` (ENERGYSTAT_PORTAL_DSN) when given, else the least-privilege
    `energystat_portal` role's (energystat.roles: its password from ENERGYSTAT_PORTAL_PASSWORD or the state
    folder's pgpass) on the warehouse. Only where that role does not exist (a warehouse not migrated by this
    version) does it fall back to the warehouse's own DSN, and it says so. Whether it exists is asked with the
    warehouse's DSN; a portal given no owner's credentials (docker compose's) cannot ask, and uses the role."""
    if settings.dsn:
        return settings.dsn
    base = warehouse.warehouse_dsn()
    try:
        with psycopg.connect(base, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (roles.PORTAL,)).fetchone() is not None
    except psycopg.OperationalError:
        exists = True  # the warehouse's DSN holds no credentials here: only the role's password was given
    if exists:
        dsn = roles.role_dsn(roles.PORTAL, base)
        log.info("portal connects as the %s role: %s", roles.PORTAL, roles.masked(dsn))
        return dsn
    log.warning("role %s does not exist on the warehouse (run `energystat warehouse migrate`): the portal connects"
                " with the warehouse DSN %s, which has more privileges than it needs", roles.PORTAL, roles.masked(base))
    return base


def _safe_next(target: str) -> str:
    """Only a local path is a place to return to after login (never `//host` or `https://…`)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


def _latest_year(dsn: str, reporter: str | None, today: dt.date) -> int:
    """The year to show first: the latest with uploads (of the reporter), else this year."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("select max(left(period, 4)) from ops.upload_log where period is not null"
                           " and (%s::text is null or reporter_code = %s)", (reporter, reporter)).fetchone()
    return int(row[0]) if row and row[0] else today.year


def _stored_report(row: dict[str, Any]) -> Path | None:
    """The HTML report of a rejected upload, only if it lies inside the quarantine folder."""
    if not row.get("report_path"):
        return None
    path = Path(row["report_path"]).resolve()
    root = config.quarantine_dir().resolve()
    return path if path.is_relative_to(root) and path.is_file() else None
