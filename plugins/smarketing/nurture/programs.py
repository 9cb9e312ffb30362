"""Nurture programs as configured in ``config/nurture.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smarketing import settings

BASE_FIELDS = ("email", "first_name", "last_name")


def nurture_settings(path: Path | None = None) -> dict[str, Any]:
    """``config/nurture.yaml``, validated (``smarketing.settings.NurtureSettings``)."""
    return settings.load("nurture", path=path)


@dataclass(frozen=True)
class Program:
    name: str
    eligibility: str  # path under sql/
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = BASE_FIELDS
    destinations: tuple[str, ...] = ("csv", "view")


def load_programs(path: Path | None = None) -> dict[str, Program]:
    return {name: Program(name=name, eligibility=spec["eligibility"], description=spec["description"],
                          params=dict(spec["params"]), fields=tuple(spec["fields"]),
                          destinations=tuple(spec["destinations"]))
            for name, spec in nurture_settings(path)["programs"].items()}
