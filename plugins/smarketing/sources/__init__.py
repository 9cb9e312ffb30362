"""Source systems. ``get_source`` picks the configured implementation for a system."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from smarketing.config import PATHS
from smarketing.sources.base import RawRecord, Source, SourceError

__all__ = ["RawRecord", "Source", "SourceError", "get_source", "systems"]


@lru_cache(maxsize=4)
def _settings(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def systems(path: Path | None = None) -> list[str]:
    return list(_settings(path or PATHS.config / "sources.yaml").get("systems", {}))


def get_source(system: str, path: Path | None = None) -> Source:
    settings = _settings(path or PATHS.config / "sources.yaml")
    kind = settings.get("systems", {}).get(system)
    if kind is None:
        raise SourceError(f"system {system!r} is not configured in config/sources.yaml (systems: {systems(path)})")
    if kind == "demo":
        from smarketing.sources import demo

        demo_settings = settings.get("demo", {})
        dataset = _demo_dataset(int(demo_settings.get("seed", 7)), int(demo_settings.get("people", 120)))
        return demo.DemoSource(system, dataset)
    raise SourceError(f"system {system!r} has unknown source kind {kind!r} in config/sources.yaml")


@lru_cache(maxsize=2)
def _demo_dataset(seed: int, people: int):  # noqa: ANN202 - cached generator output
    from smarketing.sources import demo

    return demo.generate(seed=seed, people=people)
