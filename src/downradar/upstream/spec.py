"""Which provider status page a service watches, as the catalog (`[services.upstream]`) defines it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

UpstreamKind = Literal["auto", "statuspage", "feed"]


class UpstreamSpec(BaseModel):
    """The provider's own status page.

    `url` is the page (auto: `<url>/api/v2/summary.json` is tried first, then the URL itself as an Atom
    or RSS feed), or the summary.json or feed URL itself. `components` maps the provider's component
    names (as the page spells them) onto our component slugs; a provider's incident or page status that
    names no mapped component counts for the whole service.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    kind: UpstreamKind = "auto"
    interval_seconds: float = Field(default=60.0, ge=5, le=86_400)
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    components: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return value
