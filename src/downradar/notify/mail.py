"""What an e-mail says: a notification or a confirmation as a multipart text + HTML message.

The templates (notify/templates/email/) are Jinja2 with autoescaping for the HTML part: incident names and
update texts are typed by people. Headers are built here, not in templates, so no text can add a header.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Any

import jinja2

from downradar.core.model import status_label
from downradar.notify.render import Notification

TEMPLATES = Path(__file__).with_name("templates") / "email"
DELIVERY_HEADER = "X-Downradar-Delivery"
ONE_CLICK = "List-Unsubscribe=One-Click"


def _environment(html: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=html,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


_TEXT = _environment(html=False)
_HTML = _environment(html=True)


def one_line(text: str) -> str:
    """A header value: line breaks in a title would otherwise be refused (or worse, start a header)."""
    return " ".join(text.split())


def mail_domain(mail_from: str) -> str:
    address = parseaddr(mail_from)[1]
    return address.rpartition("@")[2] or "downradar.invalid"


def unsubscribe_url(page_url: str, token: str) -> str:
    return f"{page_url.rstrip('/')}/unsubscribe/{token}"


def confirm_url(page_url: str, token: str) -> str:
    return f"{page_url.rstrip('/')}/subscribe/confirm/{token}"


def _message(
    *, mail_from: str, to: str, subject: str, template: str, context: dict[str, Any]
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = to
    message["Subject"] = one_line(subject)
    message["Date"] = formatdate(usegmt=True)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    message.set_content(_TEXT.get_template(f"{template}.txt").render(context))
    message.add_alternative(_HTML.get_template(f"{template}.html").render(context), subtype="html")
    return message


def notification_mail(
    notification: Notification,
    *,
    to: str,
    mail_from: str,
    page_name: str,
    page_url: str,
    unsubscribe_token: str | None,
) -> EmailMessage:
    """One message per notification; its Message-ID is the delivery id, so a retry is the same mail."""
    link = unsubscribe_url(page_url, unsubscribe_token) if unsubscribe_token else page_url
    items = [
        {
            "prefix": "Still open — " if item.kind == "reminder" else "",
            "service_name": item.service_name,
            "incident_name": item.incident_name,
            "status": status_label(str(item.record["status"])),
            "update_body": item.update_body,
            "incident_url": item.incident_url,
        }
        for item in notification.items
    ]
    message = _message(
        mail_from=mail_from,
        to=to,
        subject=notification.title,
        template="notification",
        context={
            "title": notification.title,
            "items": items,
            "storm": notification.is_storm,
            "services": notification.services,
            "page_name": page_name,
            "page_url": page_url,
            "unsubscribe_url": link,
        },
    )
    message["Message-ID"] = f"<{notification.id}@{mail_domain(mail_from)}>"
    message[DELIVERY_HEADER] = notification.id
    if unsubscribe_token:
        # RFC 8058: mail clients show an unsubscribe button that POSTs ONE_CLICK to this URL.
        message["List-Unsubscribe"] = f"<{link}>"
        message["List-Unsubscribe-Post"] = ONE_CLICK
    return message


def confirmation_mail(
    *,
    to: str,
    mail_from: str,
    page_name: str,
    page_url: str,
    token: str,
    chosen: list[str],
    changing: bool,
) -> EmailMessage:
    subject = f"Confirm your {page_name} subscription"
    return _message(
        mail_from=mail_from,
        to=to,
        subject=subject,
        template="confirm",
        context={
            "title": subject,
            "address": to,
            "page_name": page_name,
            "chosen": chosen,
            "changing": changing,
            "confirm_url": confirm_url(page_url, token),
        },
    )
