"""Probe agents against a real server: two locations (one agent in a thread, one through the command line in
a subprocess) probing a real target, each result stored under its own location; a server that goes away
and comes back loses none of an agent's results; the location commands; wrong tokens and locations."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from downradar.cli.probes import register
from downradar.core.config import Settings
from downradar.probes import registry
from downradar.probes.agent import Agent, AgentError
from downradar.store import make_engine
from downradar.store.schema import probe_results
from support.probe_agents import AgentThread
from support.servers import ADMIN_TOKEN, LiveServer, free_port, make_settings, start_server

CATALOG = """
[[services]]
id = "acme"
name = "Acme"

  [[services.components]]
  id = "api"
  name = "API"

  [[services.probes]]
  id = "home"
  url = "http://127.0.0.1:9/"
"""
FAST_AGENT: dict[str, Any] = {
    "refresh_seconds": 0.3,
    "flush_seconds": 0.1,
    "backoff_base_seconds": 0.1,
    "backoff_cap_seconds": 0.3,
}


class Target:
    """The site the probes check: 200 on /ok, 503 on /down."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = 200 if self.path == "/ok" else 503
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"hi")

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    site = Target()
    try:
        yield site
    finally:
        site.close()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG, encoding="utf-8")
    return make_settings(db_url, catalog=catalog, probes=False, upstream=False, detect=False, deliver=False)


def admin(live: LiveServer) -> httpx.Client:
    return live.client(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})


def add_probe(live: LiveServer, slug: str, url: str, locations: list[str] | None = None) -> None:
    body = {"service": "acme", "id": slug, "url": url, "interval_seconds": 1, "timeout_seconds": 1}
    with admin(live) as http:
        response = http.post("/api/v1/probes", json={**body, "locations": locations or []})
    assert response.status_code == 201, response.text


def quiet_catalog_probe(live: LiveServer) -> None:
    """The catalog's probe runs on its own minute grid: off, so that only the test's probes report."""
    with admin(live) as http:
        assert http.patch("/api/v1/probes/acme.home", json={"enabled": False}).status_code == 200


def add_location(live: LiveServer, name: str) -> str:
    with admin(live) as http:
        response = http.post("/api/v1/probe-locations", json={"name": name})
    assert response.status_code == 201, response.text
    return response.json()["token"]


def results(db_url: str) -> list[tuple[str, str, datetime, bool, int | None]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            columns = (probe_results.c.probe_id, probe_results.c.location, probe_results.c.ts)
            query = select(*columns, probe_results.c.ok, probe_results.c.status_code).order_by(
                probe_results.c.ts
            )
            return [(p, loc, ts, bool(ok), code) for p, loc, ts, ok, code in conn.execute(query)]
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], bool], seconds: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_two_locations_each_store_their_own_view(settings: Settings, target: Target) -> None:
    live = start_server(settings)
    try:
        quiet_catalog_probe(live)
        add_probe(live, "both", f"{target.url}/ok")
        add_probe(live, "eu-view", f"{target.url}/ok", ["eu"])
        add_probe(live, "us-view", f"{target.url}/down", ["us"])
        eu_token, us_token = add_location(live, "eu"), add_location(live, "us")
        command = "import typer; from downradar.cli.probes import agent; typer.run(agent)"
        us_agent = subprocess.Popen(
            [
                sys.executable,
                "-c",
                command,
                "--location",
                "us",
                "--server",
                live.base_url,
                "--refresh-seconds",
                "0.3",
            ],
            env={**os.environ, "DOWNRADAR_AGENT_TOKEN": us_token},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            with AgentThread(Agent(live.base_url, eu_token, "eu", **FAST_AGENT)) as eu_agent:
                wanted = {
                    ("acme.both", "eu"),
                    ("acme.eu-view", "eu"),
                    ("acme.both", "us"),
                    ("acme.us-view", "us"),
                }
                wait_for(
                    lambda: {(p, loc) for p, loc, *_ in results(settings.db)} >= wanted, what="both locations"
                )
                add_probe(live, "late", f"{target.url}/ok")  # picked up at the agents' next refresh
                wait_for(
                    lambda: {loc for p, loc, *_ in results(settings.db) if p == "acme.late"} == {"eu", "us"},
                    what="the new probe from both locations",
                )
                assert eu_agent.error is None
        finally:
            us_agent.send_signal(signal.SIGTERM)
            _, stderr = us_agent.communicate(timeout=15)
        assert us_agent.returncode == 0, stderr.decode()

        rows = results(settings.db)
        assert {(p, loc) for p, loc, *_ in rows} == wanted | {("acme.late", "eu"), ("acme.late", "us")}
        assert all(ok and code == 200 for p, _, _, ok, code in rows if p != "acme.us-view")
        assert all(not ok and code == 503 for p, _, _, ok, code in rows if p == "acme.us-view")
        with live.client() as public:
            series = public.get("/api/v1/probes/acme.us-view/series", params={"minutes": 2, "location": "us"})
            points = series.json()["series"]
            assert sum(p["failures"] for p in points) == sum(p["checks"] for p in points) > 0
            assert series.json()["latest"]["us"]["status_code"] == 503
        with admin(live) as http:
            seen = {
                x["name"]: x["last_seen_at"] for x in http.get("/api/v1/probe-locations").json()["locations"]
            }
        assert seen["eu"] and seen["us"]
    finally:
        live.stop()


def test_results_wait_while_the_server_is_away(settings: Settings, target: Target) -> None:
    """Nothing is lost across a restart; results of a probe deleted meanwhile are refused one by one and
    dropped, without holding back the others."""
    port = free_port()
    live = start_server(settings, port=port)
    quiet_catalog_probe(live)
    add_probe(live, "both", f"{target.url}/ok")
    add_probe(live, "gone", f"{target.url}/ok")
    token = add_location(live, "eu")
    agent = Agent(live.base_url, token, "eu", **FAST_AGENT)
    with AgentThread(agent) as running:
        try:
            wait_for(lambda: len(results(settings.db)) >= 2, what="first results")
            away = datetime.now(UTC)
            live.stop()
            wait_for(lambda: agent.pending >= 6, what="results queued while the server is away")
            engine = make_engine(settings.db)
            with engine.begin() as conn:
                registry.delete_probe(conn, "acme.gone", datetime.now(UTC))
            engine.dispose()
            back = datetime.now(UTC)
            live = start_server(settings, port=port)
            wait_for(
                lambda: agent.pending == 0 and agent.dropped > 0 and len(results(settings.db)) >= 5,
                what="the backlog",
            )
        finally:
            live.stop()
        assert running.error is None
    rows = results(settings.db)
    assert {p for p, *_ in rows} == {"acme.both"}
    stamps = [ts for p, loc, ts, *_ in rows if (p, loc) == ("acme.both", "eu")]
    made_while_away = [ts for ts in stamps if away <= ts < back]
    # The checks made while the server was down were kept and arrived once it was back, each stored once.
    assert len(stamps) >= 5 and len(made_while_away) >= 2, (away, back, stamps)
    assert stamps == sorted(set(stamps))


def test_a_token_for_another_location_is_a_clear_error(settings: Settings) -> None:
    live = start_server(settings)
    try:
        token = add_location(live, "eu")
        with pytest.raises(AgentError, match="belongs to location 'eu', not 'us'"):
            asyncio.run(asyncio.wait_for(Agent(live.base_url, token, "us", **FAST_AGENT).run(), 10))
        with pytest.raises(AgentError, match="does not accept"):
            asyncio.run(asyncio.wait_for(Agent(live.base_url, "drl_nope", "eu", **FAST_AGENT).run(), 10))
    finally:
        live.stop()


runner = CliRunner()


def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    app = typer.Typer()
    register(app)
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_location_and_probe_commands(settings: Settings) -> None:
    db = ["--db", settings.db, "--catalog", str(settings.catalog)]
    code, output = cli("location", "add", "eu", *db)
    assert code == 0, output
    token = output.strip().splitlines()[-1]
    assert token.startswith("drl_")
    code, output = cli("location", "list", *db)
    assert code == 0 and "eu" in output and token not in output
    code, output = cli("location", "add", "eu", *db)
    assert code == 2 and "already exists" in output
    code, output = cli("location", "add", "local", *db)
    assert code == 2 and "server's own location" in output
    code, output = cli("location", "remove", "eu", *db)
    assert code == 0, output
    assert cli("location", "remove", "eu", *db)[0] == 2

    code, output = cli("probe", "list", *db)
    assert code == 0 and "acme.home" in output and "catalog" in output
    assert cli("probe", "disable", "acme.home", *db) == (0, "acme.home disabled\n")
    assert "no" in cli("probe", "list", *db)[1]
    assert cli("probe", "enable", "acme.home", *db) == (0, "acme.home enabled\n")
    code, output = cli("probe", "disable", "acme.nope", *db)
    assert code == 2 and "unknown probe" in output


def test_agent_command_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOWNRADAR_AGENT_TOKEN", raising=False)
    for args, message in [
        (["--server", "http://127.0.0.1:9", "--token", "t"], "--location NAME is required"),
        (
            ["--location", "EU", "--server", "http://127.0.0.1:9", "--token", "t"],
            "--location NAME is required",
        ),
        (["--location", "eu", "--token", "t"], "--server URL is required"),
        (["--location", "eu", "--server", "127.0.0.1:9", "--token", "t"], "--server URL is required"),
        (["--location", "eu", "--server", "http://127.0.0.1:9"], "token is required"),
        (["--location", "eu", "--server", "http://x", "--token", "t", "--concurrency", "0"], "--concurrency"),
    ]:
        code, output = cli("agent", *args)
        assert code == 2 and message in output, (args, output)
        assert len(output.strip().splitlines()) == 1, output
