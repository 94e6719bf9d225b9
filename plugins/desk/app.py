"""The desk's FastAPI app: server-side Jinja2 pages in Chinese, authenticated downloads, staff actions.

Every route depends on Airflow's own ``get_user`` (the UI's JWT cookie or a bearer token from the auth manager):
plugin apps are not protected by Airflow by themselves. An anonymous page request is redirected to the auth
manager's login page; anything else anonymous gets 401. Staff actions are POSTs carrying a CSRF token bound to
the user (HMAC with the api-server's secret key), audited under the user's name, and call the same domain
functions as the ``award`` command.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode, urlsplit

from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
from airflow.api_fastapi.core_api.security import get_user
from fastapi import Depends, FastAPI, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from award.clock import TZ
from award.desk import (
    ApplicationFilter,
    ApplicationNotFound,
    application_view,
    documents,
    list_applications,
    overview,
)
from award.desk.documents import blob_for_download, report_key
from award.desk.queries import filter_choices
from award.storage.blobs import BlobNotFound, iter_chunks
from award.store import session_scope
from desk.airflow_side import AirflowSide, MetadataDb

log = logging.getLogger(__name__)
TEMPLATES = Path(__file__).resolve().parent / "templates"
User = Annotated[BaseUser, Depends(get_user)]
PREFIX = "/desk"  # where desk_plugin.py mounts the app


def default_runtime() -> Any:
    """The domain runtime as the DAGs build it (S3 through the ``award_s3`` connection when storage is on S3)."""
    from award.config import cached_season
    from award.connections import S3_CONN_ID
    from award.runtime import Runtime, storage_uses_s3

    client = None
    if storage_uses_s3():
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        client = S3Hook(aws_conn_id=S3_CONN_ID).get_conn()
    return Runtime.from_env(season=cached_season(os.environ.get("AWARD_SEASON_FILE")), client=client)


def _secret() -> bytes:
    from airflow.configuration import conf

    key = conf.get("api", "secret_key", fallback="") or conf.get("api_auth", "jwt_secret", fallback="")
    if not key:
        raise RuntimeError("[api] secret_key is not set: the desk cannot sign its forms")
    return key.encode()


def csrf_token(user: BaseUser) -> str:
    """The form token of ``user``: HMAC-SHA256 of their id and name with the api-server's secret key."""
    return hmac.new(_secret(), f"desk-csrf:{user.get_id()}:{user.get_name()}".encode(), hashlib.sha256).hexdigest()


def _check_csrf(request: Request, user: BaseUser, token: str) -> None:
    if not hmac.compare_digest(token or "", csrf_token(user)):
        raise HTTPException(403, "CSRF token missing or wrong")
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise HTTPException(403, "cross-origin form post refused")


def create_app(runtime_factory: Callable[[], Any] = default_runtime,
               airflow_side: AirflowSide | None = None) -> FastAPI:
    """The desk app; tests pass their own runtime and Airflow side."""
    app = FastAPI(title="申报工作台", dependencies=[Depends(get_user)], docs_url=None, redoc_url=None,
                  openapi_url=None)
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["dt"] = lambda v: (v or "")[:16].replace("T", " ") if isinstance(v, str) else (v or "")
    env.filters["q"] = lambda v: quote(str(v), safe="")
    env.filters["ldt"] = lambda v: v.astimezone(TZ).strftime("%Y-%m-%d %H:%M") if v else ""
    side = airflow_side or MetadataDb()
    state: dict[str, Any] = {}

    def rt() -> Any:
        if "rt" not in state:
            state["rt"] = runtime_factory()
        return state["rt"]

    @contextmanager
    def session() -> Iterator[Session]:
        with session_scope(rt().db_url) as s:
            yield s

    def page(request: Request, user: BaseUser, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        ui = root[: -len(PREFIX)] if root.endswith(PREFIX) else ""
        html = env.get_template(name).render(
            base=root, ui=ui.rstrip("/") + "/", user=user.get_name(), csrf=csrf_token(user), season=rt().season,
            notice=request.query_params.get("done", ""), error=request.query_params.get("error", ""), **context)
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    @app.exception_handler(StarletteHTTPException)
    async def _unauthenticated(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (401, 403) and request.method == "GET" and "text/html" in request.headers.get(
                "accept", ""):
            login = _login_url(str(request.url))
            if login:
                return RedirectResponse(login, status_code=303)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.get("/", response_class=HTMLResponse, name="overview")
    def overview_page(request: Request, user: User) -> HTMLResponse:
        with session() as s:
            view = overview(s, rt().season)
        try:
            decisions, failed, airflow_error = side.pending_decisions(), side.failed_tasks(), ""
        except Exception as exc:  # noqa: BLE001 - the desk still shows the domain side
            log.warning("desk: cannot read Airflow's task instances: %s", exc)
            decisions, failed, airflow_error = [], [], str(exc)
        return page(request, user, "overview.html", v=view, decisions=decisions, failed=failed,
                    airflow_error=airflow_error)

    @app.get("/applications", response_class=HTMLResponse, name="applications")
    def applications_page(request: Request, user: User, state: str = "", category: str = "", unit: str = "",
                          channel: str = "", waiting: bool = False, q: str = "", page_no: int = 1) -> HTMLResponse:
        flt = ApplicationFilter(state=state, category=category, unit=unit, channel=channel, waiting=waiting, q=q,
                                page=page_no)
        with session() as s:
            result = list_applications(s, rt().season, flt)
            choices = filter_choices(s, rt().season)
        query = {k: v for k, v in dict(state=state, category=category, unit=unit, channel=channel,
                                       waiting="true" if waiting else "", q=q).items() if v}
        return page(request, user, "applications.html", r=result, f=flt, choices=choices,
                    query=urlencode(query))

    @app.get("/applications/{submission_no}", response_class=HTMLResponse, name="application")
    def application_page(request: Request, user: User, submission_no: str) -> HTMLResponse:
        with session() as s:
            try:
                view = application_view(s, rt().season, submission_no)
            except ApplicationNotFound:
                return page(request, user, "not_found.html", status=404, what=submission_no)
        return page(request, user, "application.html", v=view)

    @app.get("/documents", response_class=HTMLResponse, name="documents")
    def documents_page(request: Request, user: User) -> HTMLResponse:
        with session() as s:
            docs = documents(s, rt().season, rt().shared)
        return page(request, user, "documents.html", d=docs)

    @app.get("/files/{kind}/{ident}", name="download")
    def download(kind: str, ident: int, user: User) -> StreamingResponse:
        with session() as s:
            found = blob_for_download(s, rt().season, kind, ident)
        if found is None:
            raise HTTPException(404, "no such file")
        try:
            stream = rt().blobs.open(found.sha256)
        except BlobNotFound:
            raise HTTPException(404, "the file is missing from the blob store") from None
        log.info("desk: %s downloads %s/%s", user.get_name(), kind, ident)
        return StreamingResponse(_chunks(stream), media_type=found.content_type,
                                 headers=_attachment(found.filename, found.sha256))

    @app.get("/reports/{name}", name="report")
    def report(name: str, user: User) -> Response:
        key = report_key(rt().season, rt().shared, name)
        if key is None:
            raise HTTPException(404, "no such report")
        data = rt().shared.read(key)
        import mimetypes

        return Response(data, media_type=mimetypes.guess_type(name)[0] or "application/octet-stream",
                        headers=_attachment(name, hashlib.sha256(data).hexdigest()))

    # ------------------------------------------------------------------ staff actions (POST + CSRF + audit)

    def done(request: Request, path: str, **params: str) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}{path}?{urlencode(params)}", status_code=303)

    @app.post("/applications/{submission_no}/withdraw", name="withdraw")
    async def withdraw_action(request: Request, user: User, submission_no: str, csrf_token: Annotated[str, Form()],
                              reference: Annotated[str, Form()] = "",
                              request_file: UploadFile | None = None) -> RedirectResponse:
        from award.withdrawal import WithdrawalError, withdraw

        _check_csrf(request, user, csrf_token)
        upload = None
        if request_file is not None and request_file.filename:
            upload = (request_file.filename, await request_file.read())
        path = f"/applications/{quote(submission_no, safe='')}"
        try:
            with session() as s:
                withdraw(s, rt(), submission_no, actor=user.get_name(), reference=reference, request_file=upload)
        except WithdrawalError as exc:
            return done(request, path, error=str(exc))
        return done(request, path, done="withdrawn")

    @app.post("/applications/{submission_no}/receipt", name="receipt")
    def receipt_action(request: Request, user: User, submission_no: str, csrf_token: Annotated[str, Form()],
                       copies: Annotated[str, Form()] = "", usb: Annotated[str, Form()] = "",
                       received_at: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "") -> RedirectResponse:
        from datetime import datetime

        _check_csrf(request, user, csrf_token)
        path = f"/applications/{quote(submission_no, safe='')}"
        from award.paper import PaperError, record_receipt

        try:
            count = int(copies) if copies.strip() else None
            at = datetime.fromisoformat(received_at).replace(tzinfo=TZ) if received_at.strip() else None
        except ValueError:
            return done(request, path, error=f"copies/received_at: {copies!r} {received_at!r}")
        try:
            with session() as s:
                record_receipt(s, rt().season, submission_no, actor=user.get_name(), copies=count, usb=bool(usb),
                               received_at=at, note=note.strip() or None)
        except PaperError as exc:
            return done(request, path, error=str(exc))
        return done(request, path, done="receipt")

    @app.post("/objections/{objection_id}/assign", name="assign")
    def assign_action(request: Request, user: User, objection_id: int, csrf_token: Annotated[str, Form()],
                      submission_no: Annotated[str, Form()] = "") -> RedirectResponse:
        from award.publicity import PublicityError, assign_objection

        _check_csrf(request, user, csrf_token)
        try:
            with session() as s:
                assign_objection(s, rt(), objection_id, submission_no.strip(), actor=user.get_name())
        except (PublicityError, ValueError) as exc:
            return done(request, "/", error=str(exc))
        return done(request, f"/applications/{quote(submission_no.strip(), safe='')}", done="assigned")

    @app.post("/mails/{mail_id}/retry", name="retry")
    def retry_action(request: Request, user: User, mail_id: int, csrf_token: Annotated[str, Form()],
                     back: Annotated[str, Form()] = "") -> RedirectResponse:
        from award.enums import OutboxStatus
        from award.mail.outbox import retry
        from award.store.models import OutboxEmail

        _check_csrf(request, user, csrf_token)
        path = back if back.startswith("/applications/") else "/"
        with session() as s:
            row = s.get(OutboxEmail, mail_id)
            if row is None:
                raise HTTPException(404, "no such e-mail")
            status = row.status
            done_ids = retry(s, failed=status == OutboxStatus.FAILED, unknown=status == OutboxStatus.UNKNOWN,
                             ids=[mail_id], actor=user.get_name())
        if not done_ids:
            return done(request, path, error=f"mail {mail_id}: {status}, nothing to requeue")
        return done(request, path, done="requeued")

    return app


def _chunks(stream: Any) -> Iterator[bytes]:
    try:
        yield from iter_chunks(stream)
    finally:
        stream.close()


def _attachment(filename: str, sha256: str) -> dict[str, str]:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
            "X-Content-SHA256": sha256, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _login_url(next_url: str) -> str | None:
    try:
        from airflow.api_fastapi.app import get_auth_manager

        return get_auth_manager().get_url_login(next_url=next_url)
    except Exception:  # noqa: BLE001 - no auth manager (e.g. outside the api-server): plain 401
        return None
