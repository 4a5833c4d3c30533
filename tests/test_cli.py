"""The command line: incident verbs against a real database, and one-line errors with exit code 2."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from downradar.cli.main import app
from downradar.store.migrate import MIGRATIONS
from downradar.store.schema import audit_log, components, incidents

runner = CliRunner()


def cli(db_url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--db", db_url])
    return result.exit_code, result.output


def component_status(db_url: str, component_id: str) -> str:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        status = conn.scalar(select(components.c.status).where(components.c.id == component_id))
    engine.dispose()
    return status


def test_incident_lifecycle_from_the_command_line(db_url: str) -> None:
    code, output = cli(
        db_url, "incident", "open", "--service", "chatgpt", "--name", "Elevated errors",
        "--message", "We are investigating.", "--impact", "major", "-c", "login=major_outage",
    )  # fmt: skip
    assert code == 0, output
    incident_id = output.strip()
    assert component_status(db_url, "chatgpt.login") == "major_outage"

    code, output = cli(
        db_url, "incident", "update", incident_id, "--status", "identified", "--message", "Found."
    )
    assert code == 0, output
    code, output = cli(db_url, "incident", "list")
    assert code == 0 and incident_id in output and "identified" in output

    code, output = cli(db_url, "incident", "resolve", incident_id)
    assert code == 0, output
    assert component_status(db_url, "chatgpt.login") == "operational"
    code, output = cli(db_url, "incident", "list")
    assert incident_id not in output
    code, output = cli(db_url, "incident", "list", "--all")
    assert incident_id in output and "resolved" in output

    engine = create_engine(db_url)
    with engine.connect() as conn:
        actions = list(conn.scalars(select(audit_log.c.action).where(audit_log.c.entity_id == incident_id)))
        actors = set(conn.scalars(select(audit_log.c.actor)))
    engine.dispose()
    assert actions == ["incident.opened", "incident.updated", "incident.resolved"]
    assert actors == {"cli"}


OPEN = ["incident", "open", "--name", "x", "--message", "y"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([*OPEN, "--service", "nope"], "unknown service 'nope'"),
        ([*OPEN, "--service", "chatgpt", "--impact", "huge"], "not one of none|minor|major|critical"),
        ([*OPEN, "--service", "chatgpt", "-c", "login"], "expected SLUG=STATUS"),
        ([*OPEN, "--service", "chatgpt", "-c", "warp=major_outage"], "unknown component 'warp'"),
        (["incident", "update", "doesnotexist", "--status", "resolved"], "unknown incident 'doesnotexist'"),
        (["maintenance", "schedule", "--service", "github", "--name", "x", "--message", "y",
          "--start", "2026-12-01T02:00:00", "--end", "2026-12-01T03:00:00Z"], "give a UTC offset"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_code_2(db_url: str, args: list[str], message: str) -> None:
    assert cli(db_url, "db", "upgrade")[0] == 0
    code, output = cli(db_url, *args)
    assert code == 2
    assert message in " ".join(output.split())
    engine = create_engine(db_url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(incidents)) == 0
    engine.dispose()


def test_maintenance_schedule_and_list(db_url: str) -> None:
    code, output = cli(
        db_url, "maintenance", "schedule", "--service", "github", "--name", "Database upgrade",
        "--message", "Actions may queue.", "--start", "2030-01-01T02:00:00Z", "--end", "2030-01-01T03:00:00Z",
        "-c", "actions",
    )  # fmt: skip
    assert code == 0, output
    maintenance_id = output.strip()
    code, output = cli(db_url, "maintenance", "list")
    assert maintenance_id in output and "scheduled" in output


def test_db_upgrade_and_current(db_url: str) -> None:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    code, output = cli(db_url, "db", "upgrade")
    assert code == 0 and head in output
    code, output = cli(db_url, "db", "current")
    assert code == 0 and output.strip() == head


def test_every_verb_has_help() -> None:
    for verb in (["run"], ["demo"], ["db", "upgrade"], ["incident", "open"], ["incident", "list"],
                 ["maintenance", "schedule"], ["token"]):  # fmt: skip
        result = runner.invoke(app, [*verb, "--help"])
        assert result.exit_code == 0, verb
        assert "Usage" in result.output


def test_token_prints_the_stored_admin_token(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOWNRADAR_ADMIN_TOKEN", raising=False)
    first = cli(db_url, "token")
    second = cli(db_url, "token")
    assert first[0] == 0 and first == second and len(first[1].strip()) == 64
