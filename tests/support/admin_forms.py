"""The admin's HTML forms as a browser would use them: sign in, read the CSRF token a form carries."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from support.servers import ADMIN_TOKEN, LiveServer

HTML = {"Accept": "text/html"}
# A server for the admin pages: nothing in the background, webhooks allowed to 127.0.0.1.
QUIET_ADMIN = {
    "detect": False,
    "deliver": False,
    "probes": False,
    "upstream": False,
    "allow_targets": "127.0.0.1",
}


def hidden(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} in the page"
    return found.group(1)


@contextmanager
def signing_in(server: LiveServer, token: str = ADMIN_TOKEN) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A client of its own (its own cookies) that has sent the sign-in form; and the answer."""
    with server.client(headers=HTML, follow_redirects=True) as http:
        form = http.get("/admin/login")
        response = http.post(
            "/admin/login", data={"csrf_token": hidden(form.text), "token": token, "next": "/admin"}
        )
        yield http, response
