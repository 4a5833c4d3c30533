"""Settings: DOWNRADAR_* environment variables, one Settings object passed everywhere."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_CATALOG = Path(__file__).parents[1] / "demo" / "catalog.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DOWNRADAR_", extra="ignore")

    db: str = Field(default="sqlite:///data/downradar.db", description="SQLAlchemy database URL")
    admin_token: str | None = Field(default=None, description="Bearer token for the admin API")
    ingest_token: str | None = Field(default=None, description="Bearer token allowed to use bulk intake")
    catalog: Path = Field(default=DEMO_CATALOG, description="Catalog TOML file")
    secret: str | None = Field(
        default=None,
        description="Salt for hashing client addresses; generated and stored in the database when unset",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    report_rate_limit: str = Field(
        default="20/minute", description="Per-address limit on single reports (limits notation)"
    )
    dedup_minutes: int = Field(default=15, description="Only a client's first report per service counts")
    max_batch: int = Field(default=5000, description="Largest group-commit transaction, in reports")
    log_format: str = Field(default="text", description="text or json")
    page_refresh_seconds: int | None = Field(
        default=None, description="Pages reload themselves this often (the demo sets it)"
    )
    detect: bool = Field(default=True, description="Run the detector every minute and open incidents")
    deliver: bool = Field(default=True, description="Run the webhook delivery worker inside the server")
    allow_targets: str = Field(
        default="",
        description="Comma-separated hosts or CIDRs webhooks may reach although not public addresses",
    )
    deliver_backoff_base_seconds: float = Field(default=5.0, gt=0, description="First retry delay bound")
    deliver_backoff_cap_seconds: float = Field(default=600.0, gt=0, description="Largest retry delay bound")
    deliver_max_age_seconds: float = Field(
        default=86_400.0, gt=0, description="A delivery not sent this long after its event expires"
    )
    deliver_timeout_seconds: float = Field(default=10.0, gt=0, description="How long one POST may take")
    deliver_poll_seconds: float = Field(default=1.0, gt=0, description="How often an idle worker looks")
    deliver_keep_days: float = Field(
        default=30.0, gt=0, description="Sent and expired messages are deleted after this many days"
    )
    deliver_concurrency: int = Field(default=64, ge=1, le=1000, description="Messages sent at once")
    group_wait_seconds: float = Field(
        default=10.0, ge=0, description="A recipient's first message waits this long to collect changes"
    )
    group_interval_seconds: float = Field(
        default=60.0, ge=0, description="Further messages to one recipient go out at most this often"
    )
    route_repeat_seconds: float = Field(
        default=0.0, ge=0, description="Remind alert routes of an open incident this often (0: never)"
    )
    subscriber_repeat_seconds: float = Field(
        default=0.0, ge=0, description="Remind subscribers of an open incident this often (0: never)"
    )
    storm_services: int = Field(
        default=5, ge=2, description="A message about this many services or more is a storm summary"
    )
    smtp_host: str = Field(default="", description="SMTP server for e-mail; empty turns e-mail off")
    smtp_port: int = Field(default=587, description="SMTP port")
    smtp_username: str = Field(default="", description="SMTP user name, if the server wants one")
    smtp_password: str = Field(default="", description="SMTP password")
    smtp_security: str = Field(
        default="starttls", pattern="^(starttls|tls|none)$", description="starttls, tls or none"
    )
    mail_from: str = Field(default="Downradar <status@localhost>", description="From: of e-mails")
    probes: bool = Field(default=True, description="Run the catalog's and the API's probes from this server")
    probe_location: str = Field(
        default="local", pattern=r"^[a-z0-9-]{1,64}$", description="Location name of the server's own probes"
    )
    probe_concurrency: int = Field(default=100, ge=1, le=5000, description="Probe checks running at once")
    probe_keep_days: float = Field(default=30.0, gt=0, description="Days probe results are kept")
    upstream: bool = Field(default=True, description="Poll the providers' status pages the catalog names")
    subscribe_rate_limit: str = Field(
        default="5/hour", description="Sign-ups per client address and per e-mail address"
    )


def database_url(raw: str) -> str:
    """Normalise a user-given URL: plain postgresql:// means psycopg 3, and SQLite paths get a folder."""
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if raw.startswith("sqlite:///") and not raw.startswith("sqlite:///:memory:"):
        path = Path(raw.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    return raw
