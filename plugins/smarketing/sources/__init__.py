"""Source systems. ``get_source`` builds the configured implementation for a system.

``config/sources.yaml`` names, per system, its kind: ``hubspot``, ``salesforce`` and ``mailchimp``
are the HTTP connectors (configured by an Airflow Connection, ``conn_id``); ``demo`` serves the seeded
dataset of ``smarketing.demo.world`` in-process without HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from smarketing.paths import ConfigError
from smarketing.sources.base import RawRecord, Source, SourceError

if TYPE_CHECKING:
    from smarketing.demo.world import Dataset

__all__ = ["RawRecord", "Source", "SourceError", "check_resync", "default_entities", "get_source", "resync_entities",
           "systems"]


def settings(path: Path | None = None) -> dict[str, Any]:
    """``config/sources.yaml``, validated (``smarketing.settings.SourcesSettings``)."""
    from smarketing import settings as config_files

    return config_files.load("sources", path=path)


def systems(path: Path | None = None) -> list[str]:
    return list(settings(path)["systems"])


def get_source(system: str, path: Path | None = None) -> Source:
    spec = settings(path)["systems"].get(system)
    if spec is None:
        raise SourceError(f"system {system!r} is not configured in config/sources.yaml (systems: {systems(path)})")
    kind = spec["kind"]
    entities = tuple(spec["entities"]) if spec["entities"] else None
    custom = {entity: list(fields) for entity, fields in spec["custom_fields"].items()}
    if kind == "hubspot":
        from smarketing.sources.hubspot import CONN_ID, HubSpotSource

        return HubSpotSource.from_connection(spec["conn_id"] or CONN_ID, entities=entities, extra_properties=custom)
    if kind == "salesforce":
        from smarketing.sources.salesforce import CONN_ID, SalesforceSource

        extra = {entity: [*spec["extra_fields"].get(entity, []), *custom.get(entity, [])]
                 for entity in {*spec["extra_fields"], *custom}}
        return SalesforceSource.from_connection(spec["conn_id"] or CONN_ID, entities=entities, extra_fields=extra)
    if kind == "mailchimp":
        from smarketing.sources.mailchimp import CONN_ID as MAILCHIMP
        from smarketing.sources.mailchimp import MailchimpSource

        return MailchimpSource.from_connection(spec["conn_id"] or MAILCHIMP, spec["audience_id"], entities=entities)
    if kind == "demo":
        from smarketing.demo.world import DemoSource

        return DemoSource(system, demo_dataset_of(path))
    raise SourceError(f"system {system!r} has unknown source kind {kind!r} in config/sources.yaml")


def demo_dataset_of(path: Path | None = None) -> Dataset:
    """The seeded demo dataset ``config/sources.yaml`` describes (section ``demo``)."""
    from smarketing.demo.world import demo_dataset

    demo = settings(path)["demo"]
    return demo_dataset(demo["seed"], demo["people"])


def check_resync(resync: list[str]) -> None:
    """Refuse, naming the allowed ones, a ``resync`` name that matches no configured system or
    entity (a typo must not resync nothing in silence): before any task lands anything."""
    configured = settings()["systems"]
    for name in resync:
        system, _, entity = name.partition(".")
        if system == "file":
            raise ConfigError(f"resync {name!r}: file drops are read again with `smarketing files reload`")
        if system not in configured:
            raise ConfigError(f"resync {name!r}: no system {system!r} in config/sources.yaml"
                                     f" ({', '.join(configured) or 'none configured'})")
        spec = configured[system]
        entities = tuple(spec["entities"] or default_entities(spec["kind"], system))
        if entity and entity not in entities:
            raise ConfigError(f"resync {name!r}: {system} has no entity {entity!r} ({', '.join(entities)})")


def resync_entities(system: str, entities: tuple[str, ...], resync: list[str]) -> set[str]:
    """The entities of ``system`` that ``resync`` names (``check_resync`` first)."""
    check_resync(resync)
    chosen: set[str] = set()
    for name in resync:
        wanted_system, _, entity = name.partition(".")
        if wanted_system == system:
            chosen |= {entity} if entity else set(entities)
    return chosen




def default_entities(kind: str, system: str) -> tuple[str, ...]:
    """The entities a system of ``kind`` extracts when config/sources.yaml lists none."""
    if kind == "hubspot":
        from smarketing.sources.hubspot import ENTITIES

        return ENTITIES
    if kind == "salesforce":
        from smarketing.sources.salesforce import OBJECTS

        return tuple(OBJECTS)
    if kind == "mailchimp":
        from smarketing.sources.mailchimp import ENTITIES as MAILCHIMP

        return MAILCHIMP
    from smarketing.demo.world import ENTITIES as DEMO

    return DEMO[system]
