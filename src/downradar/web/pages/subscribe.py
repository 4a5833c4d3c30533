"""Subscriptions on the web: the public sign-up page and API, confirmation and unsubscribe links, and the
admin API for subscribers.

Confirmation mails are sent in the sign-up request itself (aiosmtplib, a short timeout), after the
sign-up is committed. If SMTP is down the request answers 503 and the subscriber is simply left `pending`
with a token nobody received: pending subscribers get nothing, and signing up again issues a new token, so
that state is the same as "never confirmed" and needs no cleanup. Queueing confirmations durably would
need a second kind of outbox (the outbox is built around incident events) for no gain the user can see:
someone who just pressed "Subscribe" is there to retry, and is better told at once that it did not work.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from downradar.incidents import NotFound
from downradar.notify import subscribers
from downradar.notify.channels import Failed
from downradar.notify.channels.email import NOT_CONFIGURED, send_once
from downradar.notify.mail import confirmation_mail
from downradar.notify.targets import AllowList
from downradar.web.api.auth import require_admin
from downradar.web.api.reports import client_address
from downradar.web.pages.signup_limits import Throttled
from downradar.web.pages.templating import FORM_TYPES, render
from downradar.web.responses import JSON
from downradar.web.runtime import Runtime, runtime
from downradar.web.serving import redact

log = logging.getLogger("downradar.web.subscribe")
router = APIRouter()
redact.install()
CONFIRM_SEND_TIMEOUT = 10.0  # seconds the sign-up request may wait for the SMTP server
FORM_LABELS = {"email": "E-mail address", "webhook": "Webhook URL", "components": "Services", "body": "Form"}


# -- the sign-up, shared by the form and the API ----------------------------------------------------------


def component_labels(rt: Runtime) -> dict[str, str]:
    """What a reader calls each choice: "ChatGPT" for a service, "ChatGPT — Login" for a component."""
    labels: dict[str, str] = {}
    for service in rt.catalog.services:
        labels[service.id] = service.name
        for component in service.components:
            labels[f"{service.id}.{component.id}"] = f"{service.name} — {component.name}"
    return labels


async def sign_up(
    request: Request, *, email: str | None, webhook: str | None, components: list[str]
) -> dict[str, Any]:
    """Validate, throttle, store and (for e-mail) mail the confirmation; what the API answers.

    Raises SubscriberError (422), Throttled (429) or HTTPException 503 when mail cannot go out.
    """
    rt = runtime(request)
    email, webhook = (email or "").strip(), (webhook or "").strip()
    if email and webhook:
        raise subscribers.SubscriberError("webhook", "give an e-mail address or a webhook URL, not both")
    if not email and not webhook:
        raise subscribers.SubscriberError("email", "give an e-mail address (or a webhook URL)")
    limits = rt.signup_limits
    limits.check_client(client_address(request))
    now = rt.clock.now()
    if webhook:

        def add_webhook() -> subscribers.WebhookSignup:
            with rt.engine.begin() as conn:
                return subscribers.subscribe_webhook(
                    conn,
                    url=webhook,
                    components=components,
                    allow=AllowList.parse(rt.areas.notify.allow_targets),
                    now=now,
                )

        made = await run_in_threadpool(add_webhook)
        return {**made.subscriber, "secret": made.secret, "unsubscribe_token": made.unsubscribe_token}
    address = subscribers.normalise_email(email)
    if not rt.areas.notify.smtp_host:
        raise HTTPException(503, NOT_CONFIGURED)
    limits.check_address(address)

    def add_email() -> subscribers.EmailSignup:
        with rt.engine.begin() as conn:
            return subscribers.subscribe_email(conn, address=address, components=components, now=now)

    signup = await run_in_threadpool(add_email)
    labels = component_labels(rt)
    message = confirmation_mail(
        to=signup.address,
        mail_from=rt.areas.notify.mail_from,
        page_name=rt.catalog.page.name,
        page_url=rt.catalog.page.url,
        token=signup.confirm_token,
        chosen=[labels.get(item, item) for item in signup.components],
        changing=signup.changing,
    )
    try:
        notify = rt.areas.notify
        await send_once(notify, message, timeout=min(CONFIRM_SEND_TIMEOUT, notify.deliver_timeout_seconds))
    except Failed as exc:
        # The subscriber's id, never the address or the token.
        log.warning("confirmation mail for subscriber %s not sent: %s", signup.subscriber_id, exc)
        raise HTTPException(
            503, "the confirmation mail could not be sent right now; please try again in a few minutes"
        ) from None
    return {"status": "confirmation_sent", "email": signup.address, "components": signup.components}


def _throttled(exc: Throttled) -> HTTPException:
    return HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)})


# -- JSON API ---------------------------------------------------------------------------------------------


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(default=None, description="an e-mail address: a confirmation mail is sent")
    webhook: str | None = Field(
        default=None, description="or an http(s) URL reaching a public address: signed POSTs, active at once"
    )
    components: list[str] = Field(
        default_factory=list, description='service ids or "service.component" ids; empty for everything'
    )


@router.post("/api/v1/subscriptions", tags=["subscriptions"], summary="Subscribe (public)")
async def create_subscription(request: Request, body: SubscriptionCreate) -> JSON:
    """202 for e-mail (confirm by the mailed link); 201 for a webhook, with its secret and unsubscribe
    token, shown only in this answer."""
    try:
        made = await sign_up(request, email=body.email, webhook=body.webhook, components=body.components)
    except Throttled as exc:
        raise _throttled(exc) from None
    return JSON(made, status_code=201 if body.webhook else 202)


@router.get(
    "/api/v1/subscribers",
    tags=["subscriptions"],
    summary="Subscribers, oldest first (never their tokens or secrets)",
    dependencies=[Depends(require_admin)],
)
def list_subscribers(request: Request, state: str | None = None) -> JSON:
    with runtime(request).engine.connect() as conn:
        return JSON({"subscribers": subscribers.list_subscribers(conn, state=state)})


@router.delete(
    "/api/v1/subscribers/{subscriber_id}",
    status_code=204,
    tags=["subscriptions"],
    summary="Remove a subscriber and its messages",
    dependencies=[Depends(require_admin)],
)
def delete_subscriber(request: Request, subscriber_id: str) -> Response:
    rt = runtime(request)
    with rt.engine.begin() as conn:
        subscribers.remove_subscriber(conn, subscriber_id, actor="admin", now=rt.clock.now())
    return Response(status_code=204)


# -- pages ------------------------------------------------------------------------------------------------


def _form_page(
    request: Request,
    *,
    values: dict[str, Any] | None = None,
    errors: list[dict[str, str]] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    rt = runtime(request)
    values = values or {"email": "", "webhook": "", "components": []}
    context = {
        "services": rt.catalog.services,
        "form": values,
        "chosen": set(values["components"]),
        "form_errors": [{**e, "label": FORM_LABELS.get(e["field"], e["field"])} for e in errors or []],
        "field_errors": {e["field"]: e["message"] for e in errors or []},
    }
    return render(request, "subscribe.html", context, status_code=status_code)


def _status_page(request: Request, view: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return render(request, "subscription.html", {"view": view, **context}, status_code=status_code)


@router.get("/subscribe", response_class=HTMLResponse, include_in_schema=False)
def subscribe_page(request: Request) -> HTMLResponse:
    return _form_page(request)


async def _read_form(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in FORM_TYPES:
        raise HTTPException(415, "send the sign-up as a web form (application/x-www-form-urlencoded)")
    form = await request.form(max_files=0, max_fields=subscribers.MAX_COMPONENTS + 10, max_part_size=16_384)
    values: dict[str, Any] = {"email": "", "webhook": "", "components": []}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            raise HTTPException(400, f"{key}: must be text, not a file")
        if key == "components":
            values["components"].append(value.strip())
        elif key in ("email", "webhook"):
            values[key] = value.strip()
    return values


@router.post("/subscribe", response_class=HTMLResponse, include_in_schema=False)
async def subscribe_form(request: Request) -> HTMLResponse:
    values = await _read_form(request)
    try:
        made = await sign_up(
            request, email=values["email"], webhook=values["webhook"], components=values["components"]
        )
    except subscribers.SubscriberError as exc:
        errors = [{"field": exc.field, "message": exc.message}]
        return _form_page(request, values=values, errors=errors, status_code=422)
    except Throttled as exc:
        raise _throttled(exc) from None
    if values["webhook"]:
        return _status_page(request, "webhook", status_code=201, made=made)
    return _status_page(request, "check_inbox", address=made["email"])


@router.get("/subscribe/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
def confirm_page(request: Request, token: str) -> HTMLResponse:
    rt = runtime(request)
    try:
        with rt.engine.begin() as conn:
            confirmed = subscribers.confirm(conn, token, now=rt.clock.now())
    except subscribers.ConfirmError as exc:
        return _status_page(request, "bad_link", status_code=410 if exc.expired else 404, message=str(exc))
    labels = component_labels(rt)
    chosen = [labels.get(item, item) for item in confirmed["components"]]
    return _status_page(request, "confirmed", address=confirmed["address"], chosen=chosen)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse, include_in_schema=False)
def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    with runtime(request).engine.connect() as conn:
        try:
            found = subscribers.find_by_unsubscribe_token(conn, token)
        except NotFound:
            raise StarletteHTTPException(404, "This unsubscribe link is not valid.") from None
    return _status_page(request, "unsubscribe", found=found, token=token)


@router.post("/unsubscribe/{token}", include_in_schema=False)
def unsubscribe(request: Request, token: str) -> Response:
    """RFC 8058 one-click: a mail client POSTs "List-Unsubscribe=One-Click" with no cookies and no CSRF
    token; the token in the address is the proof. The body is not needed, so it is not read."""
    rt = runtime(request)
    try:
        with rt.engine.begin() as conn:
            done = subscribers.unsubscribe(conn, token, now=rt.clock.now())
    except NotFound:
        raise StarletteHTTPException(404, "This unsubscribe link is not valid.") from None
    if "text/html" not in request.headers.get("accept", ""):
        return JSON({"id": done["id"], "state": done["state"]})
    return _status_page(request, "unsubscribed", found=done)
