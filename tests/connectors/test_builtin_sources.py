"""Every built-in source as the agent builds it: found through its entry point and
constructed with ``Source(config, advanced_rules=...)``, derived state read from the
config on first use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from ferry.connectors import Source, filesystem, generator, http, load_registry
from ferry.connectors.filesystem import FilesystemSource
from ferry.connectors.generator import GeneratorSource
from ferry.connectors.http import HttpSource

MINIMAL_CONFIGS: dict[str, dict[str, Any]] = {
    "filesystem": {"path": "/srv/docs"},
    "generator": {"docs": 3},
    "http": {"url": "https://api.example/items", "id_field": "id"},
    "postgresql": {"dsn": "postgresql://reader@db/app", "tables": ["items"]},
    "sqlite": {"path": "/srv/app.db", "tables": ["items"]},
}


def built(name: str, advanced: dict[str, Any] | None = None) -> Source:
    cls = load_registry().get(name)
    assert cls is not None, f"{name} is not registered: run make install"
    normalised, problems = cls.schema.validate(MINIMAL_CONFIGS[name])
    assert problems == []
    assert cls.validate(normalised) == []
    return cls(normalised, advanced_rules=advanced)


@pytest.mark.parametrize("name", sorted(MINIMAL_CONFIGS))
def test_built_as_the_agent_builds_it(name: str) -> None:
    advanced = {"where": "id > 0"}
    source = built(name, advanced)
    assert source.config.items() >= MINIMAL_CONFIGS[name].items()
    assert source.advanced == advanced


def test_derived_state_reads_the_config() -> None:
    files, api, generator = built("filesystem"), built("http"), built("generator")
    assert isinstance(files, FilesystemSource) and files.settings.root == Path("/srv/docs")
    assert isinstance(api, HttpSource) and api.settings.url == URL("https://api.example/items")
    assert isinstance(generator, GeneratorSource) and generator.dataset.docs == 3


def test_derived_state_fills_in_the_schema_defaults() -> None:
    def normalised(name: str) -> dict[str, Any]:
        config, problems = load_registry().types[name].schema.validate(MINIMAL_CONFIGS[name])
        assert problems == [] and config != MINIMAL_CONFIGS[name]
        return config

    files, api = MINIMAL_CONFIGS["filesystem"], MINIMAL_CONFIGS["http"]
    assert filesystem.Settings.from_config(files) == filesystem.Settings.from_config(
        normalised("filesystem")
    )
    assert http.Settings.from_config(api) == http.Settings.from_config(normalised("http"))
    assert generator.Dataset.from_config(MINIMAL_CONFIGS["generator"]) == (
        generator.Dataset.from_config(normalised("generator"))
    )
