"""Nurture programs as configured in ``config/nurture.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smarketing.config import PATHS, ConfigError
from smarketing.warehouse import IDENTIFIER

BASE_FIELDS = ("email", "first_name", "last_name")
DESTINATIONS = {"csv", "view", "hubspot_list"}


def nurture_settings(path: Path | None = None) -> dict[str, Any]:
    path = path or PATHS.config / "nurture.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


@dataclass(frozen=True)
class Program:
    name: str
    eligibility: str  # path under sql/
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    fields: tuple[str, ...] = BASE_FIELDS
    destinations: tuple[str, ...] = ("csv", "view")


def load_programs(path: Path | None = None) -> dict[str, Program]:
    path = path or PATHS.config / "nurture.yaml"
    raw = (yaml.safe_load(path.read_text()) or {}).get("programs") or {}
    programs = {}
    for name, spec in raw.items():
        if not isinstance(spec, dict) or not spec.get("eligibility"):
            raise ConfigError(f"{path}: program {name!r} needs an 'eligibility' SQL file")
        if not (PATHS.sql / spec["eligibility"]).is_file():
            raise ConfigError(f"{path}: program {name!r} eligibility file sql/{spec['eligibility']} does not exist")
        unknown = set(spec.get("destinations") or ()) - DESTINATIONS
        if unknown:
            raise ConfigError(f"{path}: program {name!r} has unknown destinations {sorted(unknown)}; "
                              f"choose from {sorted(DESTINATIONS)}")
        if not IDENTIFIER.match(name):
            raise ConfigError(f"{path}: program name {name!r} must be lowercase letters, digits and _")
        programs[name] = Program(
            name=name,
            eligibility=spec["eligibility"],
            description=spec.get("description", ""),
            params=dict(spec.get("params") or {}),
            fields=tuple(spec.get("fields") or BASE_FIELDS),
            destinations=tuple(spec.get("destinations") or ("csv", "view")),
        )
    return programs
