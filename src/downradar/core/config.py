"""Settings: the flat DOWNRADAR_* environment variables (a documented contract), and the typed settings of
each area built from them in one place, `Settings.areas()`, which also refuses what the server cannot run
with (ConfigError names the variable). Each area is handed only its own part: the intake its
IntakeSettings, detection its DetectionSettings (the detector's tuning and the automatic-incident policy,
optionally from the TOML file DOWNRADAR_DETECTION_TUNING names), notify/ its NotifySettings, and so on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import Field, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from downradar.detect.config import DetectorConfig
    from downradar.incidents.automatic import AutomaticPolicy

T = TypeVar("T")
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
    detection_tuning: Path | None = Field(
        default=None,
        description="TOML file with [detector] and [automatic] tables overriding the detection defaults",
    )

    @field_validator("detection_tuning", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: object) -> object:
        return None if value == "" else value  # DOWNRADAR_DETECTION_TUNING= means no file, not "."

    def areas(self) -> Areas:
        """Every area's settings, checked together; raises ConfigError naming the variable at fault."""
        return build_areas(self)


def database_url(raw: str) -> str:
    """Normalise a user-given URL: plain postgresql:// means psycopg 3, and SQLite paths get a folder."""
    if raw.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + raw.split("://", 1)[1]
    if raw.startswith("sqlite:///") and not raw.startswith("sqlite:///:memory:"):
        path = Path(raw.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
    return raw


# -- the areas ---------------------------------------------------------------------------------------------

COUNTING_WINDOW_MINUTES = 15  # the detector's longest window and replay's dedup window (intake/counting.py)


class ConfigError(ValueError):
    """A setting the server cannot run with. The message starts with the DOWNRADAR_* variable's name."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


def variable_name(field: str) -> str:
    return f"DOWNRADAR_{field.upper()}"


@dataclass(frozen=True)
class IntakeSettings:
    dedup_window: timedelta
    max_batch: int
    report_rate_limit: str
    ingest_token: str | None


@dataclass(frozen=True)
class DetectionSettings:
    enabled: bool
    detector: DetectorConfig
    policy: AutomaticPolicy


@dataclass(frozen=True)
class NotifySettings:
    """What notify/ needs: delivery, grouping, reminders and e-mail (the DOWNRADAR_* names, less prefix)."""

    deliver: bool
    allow_targets: str
    deliver_backoff_base_seconds: float
    deliver_backoff_cap_seconds: float
    deliver_max_age_seconds: float
    deliver_timeout_seconds: float
    deliver_poll_seconds: float
    deliver_keep_days: float
    deliver_concurrency: int
    group_wait_seconds: float
    group_interval_seconds: float
    route_repeat_seconds: float
    subscriber_repeat_seconds: float
    storm_services: int
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_password: str
    smtp_security: str
    mail_from: str


@dataclass(frozen=True)
class ProbeSettings:
    enabled: bool
    location: str
    concurrency: int
    keep_days: float


@dataclass(frozen=True)
class UpstreamSettings:
    enabled: bool


@dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    log_format: str
    page_refresh_seconds: int | None
    subscribe_rate_limit: str


@dataclass(frozen=True)
class Areas:
    intake: IntakeSettings
    detection: DetectionSettings
    notify: NotifySettings
    probes: ProbeSettings
    upstream: UpstreamSettings
    web: WebSettings


def build_areas(settings: Settings) -> Areas:
    _check(settings)
    notify_fields = {f.name for f in fields(NotifySettings)}
    return Areas(
        intake=IntakeSettings(
            dedup_window=timedelta(minutes=settings.dedup_minutes),
            max_batch=settings.max_batch,
            report_rate_limit=settings.report_rate_limit,
            ingest_token=settings.ingest_token,
        ),
        detection=_detection(settings),
        notify=NotifySettings(**{name: getattr(settings, name) for name in notify_fields}),
        probes=ProbeSettings(
            enabled=settings.probes,
            location=settings.probe_location,
            concurrency=settings.probe_concurrency,
            keep_days=settings.probe_keep_days,
        ),
        upstream=UpstreamSettings(enabled=settings.upstream),
        web=WebSettings(
            host=settings.host,
            port=settings.port,
            log_format=settings.log_format,
            page_refresh_seconds=settings.page_refresh_seconds,
            subscribe_rate_limit=settings.subscribe_rate_limit,
        ),
    )


def _check(settings: Settings) -> None:
    from limits import parse  # the rule syntax the rate limiters use

    if settings.dedup_minutes != COUNTING_WINDOW_MINUTES:
        # Refused rather than honoured: the detector's windows, its flood guard and replay all count
        # distinct clients over 15 minutes, so another window would make live and replay disagree.
        raise ConfigError(
            variable_name("dedup_minutes"),
            f"{settings.dedup_minutes} is not supported: the detector and replay count each client once "
            f"per {COUNTING_WINDOW_MINUTES} minutes, so only {COUNTING_WINDOW_MINUTES} is accepted",
        )
    if settings.max_batch < 1:
        raise ConfigError(variable_name("max_batch"), "must be at least 1")
    for field in ("report_rate_limit", "subscribe_rate_limit"):
        rule = getattr(settings, field)
        try:
            parse(rule)
        except ValueError:
            raise ConfigError(variable_name(field), f"{rule!r} is not a rate such as 20/minute") from None
    if settings.log_format not in ("text", "json"):
        raise ConfigError(variable_name("log_format"), f"{settings.log_format!r}: choose text or json")
    if not 0 < settings.port < 65536:
        raise ConfigError(variable_name("port"), f"{settings.port} is not a TCP port")
    if settings.deliver_backoff_cap_seconds < settings.deliver_backoff_base_seconds:
        raise ConfigError(
            variable_name("deliver_backoff_cap_seconds"),
            f"{settings.deliver_backoff_cap_seconds:g} is below DOWNRADAR_DELIVER_BACKOFF_BASE_SECONDS "
            f"({settings.deliver_backoff_base_seconds:g})",
        )
    if settings.page_refresh_seconds is not None and settings.page_refresh_seconds < 1:
        raise ConfigError(variable_name("page_refresh_seconds"), "must be at least 1 second")


def _detection(settings: Settings) -> DetectionSettings:
    # Imported here, not at the top: core/ sits below detect/ and incidents/, and only this builder
    # needs their types.
    from downradar.detect.config import DetectorConfig
    from downradar.incidents.automatic import AutomaticPolicy

    variable = variable_name("detection_tuning")
    tables: dict[str, Any] = {}
    path = settings.detection_tuning
    if path is not None:
        try:
            tables = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(variable, f"cannot read {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(variable, f"{path} is not valid TOML: {exc}") from None
        unknown = set(tables) - {"detector", "automatic"}
        if unknown:
            raise ConfigError(variable, f"{path}: unknown table [{sorted(unknown)[0]}] (detector, automatic)")
    detector = _tuned(DetectorConfig, tables.get("detector", {}), variable, path, "detector")
    policy = _tuned(AutomaticPolicy, tables.get("automatic", {}), variable, path, "automatic")
    return DetectionSettings(enabled=settings.detect, detector=detector, policy=policy)


def _tuned(kind: type[T], values: Any, variable: str, path: Path | None, table: str) -> T:
    """`kind` (a dataclass of defaults) with the table's values, each checked against its field's type."""
    if not isinstance(values, dict):
        raise ConfigError(variable, f"{path}: [{table}] must be a table")
    known = {f.name for f in fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(variable, f"{path}: [{table}] has no setting {unknown[0]!r}")
    try:
        return TypeAdapter(kind).validate_python(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(variable, f"{path}: [{table}] {where}: {error['msg']}") from None
