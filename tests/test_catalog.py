"""The catalog file: the bundled demo loads, and a bad file is refused with a message naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from downradar.core.catalog import CatalogError, load_catalog
from downradar.core.config import DEMO_CATALOG, Settings, database_url

CHATGPT_COMPONENTS = ["conversations", "login", "search", "image-generation", "file-uploads", "chat-history",
                      "projects", "custom-gpts", "codex", "atlas", "api", "fine-tuning"]  # fmt: skip


def test_demo_catalog_has_chatgpt_with_the_scenario_components_and_three_more_services() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    chatgpt = catalog.service("chatgpt")
    assert chatgpt is not None
    assert sorted(c.id for c in chatgpt.components) == sorted(CHATGPT_COMPONENTS)
    assert len(catalog.services) == 4
    assert catalog.page.time_zone == "America/Los_Angeles"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[services]]\nid = "Bad Slug"\nname = "x"\n', "services.0.id"),
        ('[page]\ntime_zone = "Mars/Olympus"\n[[services]]\nid = "a"\nname = "A"\n', "unknown time zone"),
        ('regions = ["XX"]\n[[services]]\nid = "a"\nname = "A"\n', "region 'XX'"),
        ('[[services]]\nid = "a"\nname = "A"\n[[services]]\nid = "a"\nname = "B"\n', "appear twice"),
        (
            '[[services]]\nid = "a"\nname = "A"\n[[services.components]]\nid = "other"\nname = "O"\n',
            "reserved",
        ),
        ("[[services]\n", "not valid TOML"),
        ('[[services]]\nid = "a"\nname = "A"\ncolour = "red"\n', "services.0.colour"),
    ],
)
def test_bad_catalog_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(CatalogError, match=message) as caught:
        load_catalog(path)
    assert str(path) in str(caught.value)


def test_missing_catalog_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no such catalog file"):
        load_catalog(tmp_path / "absent.toml")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOWNRADAR_DB", "postgresql://postgres@127.0.0.1/test")
    monkeypatch.setenv("DOWNRADAR_ADMIN_TOKEN", "t0ken")
    settings = Settings()
    assert settings.admin_token == "t0ken"
    assert database_url(settings.db) == "postgresql+psycopg://postgres@127.0.0.1/test"
