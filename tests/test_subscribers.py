"""Public subscribers end to end: a real server, a real SMTP server (aiosmtpd) on 127.0.0.1, real mail.

Double opt-in by the HTML form and by the JSON API; notification mails with one-click unsubscribe
(RFC 8058); per-component subscriptions; resolves reach whoever heard of the opening; sign-up throttling;
webhook subscribers get signed POSTs; tokens and secrets never come back from the admin API or the logs.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select
from typer.testing import CliRunner

from downradar.cli.main import app as cli_app
from downradar.core.catalog import load_catalog
from downradar.core.config import DEMO_CATALOG
from downradar.notify import subscribers
from downradar.notify.channels import Failed
from downradar.notify.channels.email import EmailChannel, NotConfiguredChannel
from downradar.notify.recipients import Recipient
from downradar.notify.render import Item, Notification
from downradar.notify.routes import RouteError
from downradar.store import make_engine, upgrade
from downradar.store.catalog_sync import sync_catalog
from downradar.store.schema import messages
from downradar.store.schema import subscribers as subscribers_table
from downradar.web.pages.signup_limits import SignupLimits, Throttled
from support.inprocess import start_in_process
from support.servers import ADMIN_TOKEN, FAST_DELIVERY, LiveServer, free_port, make_settings
from support.webhook_receiver import Receiver, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FAST = {
    **FAST_DELIVERY,
    "smtp_security": "none",
    "mail_from": "Status <status@status.test>",
}
HTML = {"Accept": "text/html"}


class Mailbox:
    """aiosmtpd handler: every mail it accepts, parsed, with its envelope recipients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.mails.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str, *, confirmations: bool | None = None) -> list[EmailMessage]:
        with self.lock:
            found = [mail for rcpt, mail in self.mails if address in rcpt]
        if confirmations is None:
            return found
        return [mail for mail in found if ("Confirm your" in str(mail["Subject"])) == confirmations]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def live(db_url: str, mailbox: tuple[Mailbox, int]) -> Iterator[LiveServer]:
    server = start_in_process(
        make_settings(
            db_url, smtp_host="127.0.0.1", smtp_port=mailbox[1], subscribe_rate_limit="1000/hour", **FAST
        )
    )
    try:
        yield server
    finally:
        server.stop()


def text_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def html_of(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


def path_of(url: str) -> str:
    """Links point at the catalog's page URL; the test server listens elsewhere."""
    return urlsplit(url).path


def confirm_link(mail: EmailMessage) -> str:
    found = re.search(r"https?://\S+/subscribe/confirm/\S+", text_of(mail))
    assert found, text_of(mail)
    return path_of(found.group(0))


def sign_up_json(http: httpx.Client, address: str, components: list[str] | None = None) -> None:
    response = http.post("/api/v1/subscriptions", json={"email": address, "components": components or []})
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "confirmation_sent"


def confirm(http: httpx.Client, box: Mailbox, address: str) -> None:
    wait_for(lambda: box.to(address, confirmations=True), what=f"confirmation mail to {address}")
    page = http.get(confirm_link(box.to(address, confirmations=True)[-1]), headers=HTML)
    assert page.status_code == 200, page.text
    assert "Subscription confirmed" in page.text


def open_incident(http: httpx.Client, service: str, components: dict[str, str] | None = None) -> str:
    body = {"service": service, "name": "Errors <b>now</b>", "message": "Looking.", "impact": "major"}
    opened = http.post("/api/v1/incidents", headers=AUTH, json={**body, "components": components or {}})
    assert opened.status_code == 201, opened.text
    return opened.json()["id"]


def all_sent(server: LiveServer) -> bool:
    with server.runtime.engine.connect() as conn:
        return all(row.status == "sent" for row in conn.execute(select(messages.c.status)))


def test_email_double_opt_in_notify_and_one_click_unsubscribe(
    live: LiveServer, mailbox: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    box = mailbox[0]
    with live.client() as http:
        page = http.get("/subscribe", headers=HTML)
        assert page.status_code == 200 and 'value="chatgpt.login"' in page.text
        assert 'href="/subscribe"' in http.get("/", headers=HTML).text
        form = http.post("/subscribe", data={"email": "alice@example.com"}, headers=HTML)
        assert form.status_code == 200 and "Check your inbox" in form.text
        sign_up_json(http, "bob@example.com")
        sign_up_json(http, "carol@example.com")  # never confirms
        confirm(http, box, "alice@example.com")
        confirm(http, box, "bob@example.com")
        again = http.get(confirm_link(box.to("alice@example.com")[0]), headers=HTML)
        assert again.status_code == 200  # following the link twice is fine
        assert http.get("/subscribe/confirm/not-a-token", headers=HTML).status_code == 404

        incident_id = open_incident(http, "chatgpt")
        wait_for(lambda: box.to("alice@example.com", confirmations=False), what="alice's notification")
        wait_for(lambda: box.to("bob@example.com", confirmations=False), what="bob's notification")
        mail = box.to("alice@example.com", confirmations=False)[0]
        assert "ChatGPT" in str(mail["Subject"])
        body = text_of(mail)
        assert f"/incidents/{incident_id}" in body
        assert "Errors <b>now</b>" in body and "Errors &lt;b&gt;now&lt;/b&gt;" in html_of(mail)
        unsubscribe_url = re.search(r"https?://\S+/unsubscribe/\S+", body).group(0)  # type: ignore[union-attr]
        assert mail["List-Unsubscribe"].strip() == f"<{unsubscribe_url}>"  # may be folded
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        delivery = mail["X-Downradar-Delivery"]
        assert delivery.startswith("dlv_") and mail["Message-ID"] == f"<{delivery}@status.test>"
        unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]

        # Tokens and secrets never come back from the admin API.
        listed = http.get("/api/v1/subscribers", headers=AUTH)
        assert listed.status_code == 200
        states = {row["address"]: row["state"] for row in listed.json()["subscribers"]}
        assert states == {
            "alice@example.com": "active",
            "bob@example.com": "active",
            "carol@example.com": "pending",
        }
        confirm_tokens = [confirm_link(m).rsplit("/", 1)[1] for m in box.to("carol@example.com")]
        for secret in [unsubscribe_token, *confirm_tokens]:
            assert secret not in listed.text
            assert secret not in http.get("/api/v1/audit", headers=AUTH).text

        # One-click: a bare POST with the RFC 8058 body, no cookies, no CSRF token.
        with live.client() as bare:
            shown = bare.get(path_of(unsubscribe_url), headers=HTML)
            assert shown.status_code == 200 and "<button" in shown.text
            one_click = bare.post(
                path_of(unsubscribe_url),
                content=b"List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
        assert one_click.status_code == 200, one_click.text
        assert one_click.json()["state"] == "unsubscribed"

        posted = http.post(
            f"/api/v1/incidents/{incident_id}/updates", headers=AUTH, json={"message": "Fixing."}
        )
        assert posted.status_code == 200
        wait_for(lambda: len(box.to("bob@example.com", confirmations=False)) >= 2, what="bob's update")
        wait_for(lambda: all_sent(live), what="every message sent")
    assert len(box.to("alice@example.com", confirmations=False)) == 1
    assert box.to("carol@example.com", confirmations=False) == []  # unconfirmed: nothing
    # Our logs (not the test SMTP server's, which prints whole mails, nor the test client's URLs).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("downradar", "uvicorn")))
    assert "subscriber." in ours  # the audit lines are there, without secrets
    for secret in [unsubscribe_token, *confirm_tokens]:
        assert secret not in ours


def test_component_subscription_and_resolve(live: LiveServer, mailbox: tuple[Mailbox, int]) -> None:
    box = mailbox[0]
    with live.client() as http:
        sign_up_json(http, "dana@example.com", ["chatgpt.login"])
        sign_up_json(http, "erin@example.com")  # everything: the control that mail went out
        confirm(http, box, "dana@example.com")
        confirm(http, box, "erin@example.com")
        other = open_incident(http, "github")
        elsewhere = open_incident(http, "chatgpt", {"conversations": "major_outage"})
        login = open_incident(http, "chatgpt", {"login": "major_outage"})
        # The incident moves off login; its resolve must still reach who heard of it.
        changed = http.patch(
            f"/api/v1/incidents/{login}",
            headers=AUTH,
            json={"components": {"login": "operational", "search": "partial_outage"}},
        )
        assert changed.status_code == 200, changed.text
        assert http.post(f"/api/v1/incidents/{login}/resolve", headers=AUTH).status_code == 200
        wait_for(
            lambda: any("[Resolved]" in text_of(m) for m in box.to("dana@example.com")),
            what="dana hears the resolve",
        )
        wait_for(lambda: len(box.to("erin@example.com", confirmations=False)) >= 1, what="erin's mail")
        wait_for(lambda: all_sent(live), what="every message sent")
    got = box.to("dana@example.com", confirmations=False)
    bodies = "\n".join(text_of(mail) for mail in got)
    assert f"/incidents/{login}" in bodies
    assert f"/incidents/{other}" not in bodies and f"/incidents/{elsewhere}" not in bodies
    erin = "\n".join(text_of(mail) for mail in box.to("erin@example.com", confirmations=False))
    assert f"/incidents/{other}" in erin  # the control: the other incidents did go out


def test_webhook_subscriber_bad_input_and_cli(live: LiveServer, db_url: str) -> None:
    with Receiver() as receiver, live.client() as http:
        made = http.post("/api/v1/subscriptions", json={"webhook": receiver.url, "components": ["github"]})
        assert made.status_code == 201, made.text
        secret, token = made.json()["secret"], made.json()["unsubscribe_token"]
        assert made.json()["state"] == "active"
        again = http.post("/api/v1/subscriptions", json={"webhook": receiver.url})
        assert again.status_code == 422 and again.json()["errors"][0]["field"] == "webhook"
        open_incident(http, "chatgpt")
        github = open_incident(http, "github")
        wait_for(lambda: receiver.accepted(), what="the webhook POST")
        wait_for(lambda: all_sent(live), what="every message sent")
        listed = http.get("/api/v1/subscribers", headers=AUTH).text
        assert secret not in listed and token not in listed

        for body, field in [
            ({"email": "not an address"}, "email"),
            ({"email": "x@example.com", "components": ["nope"]}, "components"),
            ({"email": "x@example.com", "components": ["chatgpt.nope"]}, "components"),
            ({}, "email"),
            ({"webhook": "http://10.1.2.3/hook"}, "webhook"),
            ({"email": "x@example.com", "colour": "red"}, "colour"),
        ]:
            bad = http.post("/api/v1/subscriptions", json=body)
            assert bad.status_code == 422, (body, bad.text)
            assert bad.json()["errors"][0]["field"] == field, bad.text
        form = http.post("/subscribe", data={"email": "nobody@@"}, headers=HTML)
        assert form.status_code == 422 and 'id="err-email"' in form.text and 'value="nobody@@"' in form.text
        assert http.get("/api/v1/subscribers").status_code == 401

        subscriber_id = made.json()["id"]
        runner = CliRunner()
        shown = runner.invoke(cli_app, ["subscriber", "list", "--db", db_url])
        assert shown.exit_code == 0 and subscriber_id in shown.output and secret not in shown.output
        assert runner.invoke(cli_app, ["subscriber", "remove", "nope", "--db", db_url]).exit_code == 2
        removed = runner.invoke(cli_app, ["subscriber", "remove", subscriber_id, "--db", db_url])
        assert removed.exit_code == 0, removed.output
        assert http.get("/api/v1/subscribers", headers=AUTH).json()["subscribers"] == []

    got = receiver.accepted()
    assert len(got) == 1 and got[0].signed_with(secret)
    assert [event["incident_id"] for event in got[0].json["events"]] == [github]


def test_the_sixth_sign_up_in_an_hour_is_throttled(db_url: str, mailbox: tuple[Mailbox, int]) -> None:
    server = start_in_process(make_settings(db_url, smtp_host="127.0.0.1", smtp_port=mailbox[1], **FAST))
    try:
        with server.client() as http:
            for n in range(5):
                sign_up_json(http, f"user{n}@example.com")
            refused = http.post("/api/v1/subscriptions", json={"email": "user5@example.com"})
            page = http.post("/subscribe", data={"email": "user6@example.com"}, headers=HTML)
    finally:
        server.stop()
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    assert "too many sign-ups" in refused.json()["error"]
    assert page.status_code == 429 and "too many sign-ups" in page.text
    assert len(mailbox[0].mails) == 5


def test_smtp_down_is_a_clear_503(db_url: str) -> None:
    server = start_in_process(make_settings(db_url, smtp_host="127.0.0.1", smtp_port=free_port(), **FAST))
    try:
        with server.client() as http:
            down = http.post("/api/v1/subscriptions", json={"email": "x@example.com"})
            listed = http.get("/api/v1/subscribers", headers=AUTH).json()["subscribers"]
    finally:
        server.stop()
    assert down.status_code == 503 and "could not be sent" in down.json()["error"]
    assert [row["state"] for row in listed] == ["pending"]  # receives nothing; signing up again is fine


def test_limits_per_address_as_well_as_per_client() -> None:
    now = [0.0]
    limits = SignupLimits("2/hour", clock=lambda: now[0])
    for client in ("a", "b"):
        limits.check_client(client)
        limits.check_address("Same@Example.com")
    with pytest.raises(Throttled):
        limits.check_address("same@example.com")  # a third client, the same inbox
    now[0] += 1800
    limits.check_address("same@example.com")
    assert issubclass(
        __import__("downradar.notify.subscribers").notify.subscribers.SubscriberError, RouteError
    )


def test_resubscribe_confirm_and_expiry_rules(tmp_path: Any) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'subs.db'}")
    upgrade(engine)
    start = datetime(2026, 2, 4, 12, 0, tzinfo=UTC)
    with engine.begin() as conn:
        sync_catalog(conn, load_catalog(DEMO_CATALOG), start)
        first = subscribers.subscribe_email(conn, address="Pat@Example.COM", components=[], now=start)
        second = subscribers.subscribe_email(conn, address="pat@example.com", components=[], now=start)
        assert first.subscriber_id == second.subscriber_id and second.address == "pat@example.com"
        with pytest.raises(subscribers.ConfirmError):
            subscribers.confirm(conn, first.confirm_token, now=start)  # replaced by the newer link
        assert subscribers.confirm(conn, second.confirm_token, now=start)["state"] == "active"
        assert subscribers.confirm(conn, second.confirm_token, now=start)["state"] == "active"  # twice: fine
        # An active subscriber's new choice waits for the new link; meanwhile the old one applies.
        change = subscribers.subscribe_email(
            conn, address="pat@example.com", components=["chatgpt.login"], now=start + timedelta(hours=1)
        )
        row = subscribers.get_subscriber(conn, change.subscriber_id)
        assert row["state"] == "active" and row["components"] == []
        assert row["pending_components"] == ["chatgpt.login"]
        with pytest.raises(subscribers.ConfirmError) as expired:
            subscribers.confirm(conn, change.confirm_token, now=start + timedelta(hours=50))
        assert expired.value.expired
        done = subscribers.confirm(conn, change.confirm_token, now=start + timedelta(hours=2))
        assert done["components"] == ["chatgpt.login"] and done["pending_components"] is None
        token = conn.scalar(select(subscribers_table.c.unsubscribe_token))
        assert subscribers.unsubscribe(conn, token, now=start)["state"] == "unsubscribed"
        with pytest.raises(subscribers.ConfirmError):
            subscribers.confirm(conn, change.confirm_token, now=start + timedelta(hours=2))
        back = subscribers.subscribe_email(conn, address="pat@example.com", components=[], now=start)
        assert subscribers.get_subscriber(conn, back.subscriber_id)["state"] == "pending"
    engine.dispose()


def test_email_without_smtp_host_fails_saying_why() -> None:
    with pytest.raises(Failed, match="DOWNRADAR_SMTP_HOST"):
        asyncio.run(NotConfiguredChannel().send(None, None))  # type: ignore[arg-type]


def test_email_channel_reuses_its_connection_and_reconnects_after_a_drop() -> None:
    box, port = Mailbox(), free_port()
    settings = make_settings("sqlite://", smtp_host="127.0.0.1", smtp_port=port, **FAST)
    item = Item(
        kind="event",
        event_id=1,
        record={
            "type": "incident.opened",
            "service": "chatgpt",
            "incident_id": "abc",
            "status": "identified",
        },
        service_name="ChatGPT",
        incident_name="Login errors",
        update_body="We found it.\nFixing.",
        incident_url="http://127.0.0.1:8000/incidents/abc",
    )
    recipient = Recipient(
        key="subscriber:x", channel="email", address="ann@example.com", secret=None,
        unsubscribe_token="tok", grouping=None, last_notified_at=None, enabled=True,  # type: ignore[arg-type]
    )  # fmt: skip

    async def scenario() -> None:
        channel = EmailChannel(settings.areas().notify, page_url="http://127.0.0.1:8000")
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        await channel.send(recipient, Notification("dlv_1", (item,), storm_services=5))
        await channel.send(recipient, Notification("dlv_2", (item,), storm_services=5))
        assert len(channel._idle) == 1  # one connection for both
        controller.stop()  # the server goes away, dropping the idle connection
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            await channel.send(recipient, Notification("dlv_3", (item,), storm_services=5))
        finally:
            await channel.aclose()
            controller.stop()
        with pytest.raises(Failed):  # nobody listening: a Failed, not a crash
            await channel.send(recipient, Notification("dlv_4", (item,), storm_services=5))

    asyncio.run(scenario())
    assert [mail["X-Downradar-Delivery"] for _, mail in box.mails] == ["dlv_1", "dlv_2", "dlv_3"]
    mail = box.mails[0][1]
    assert mail["Subject"] == "ChatGPT: Login errors — Identified"
    assert "We found it." in text_of(mail) and "/unsubscribe/tok" in html_of(mail)
