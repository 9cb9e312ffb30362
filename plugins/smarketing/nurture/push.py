"""Push every program to the platforms config/nurture.yaml names for it (``smarketing.nurture.destinations``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text

from smarketing.nurture.destinations import PLATFORMS, PushResult, UnsafePush

log = logging.getLogger(__name__)


def _deliverer(platform: str) -> Callable[..., PushResult]:
    if platform == "hubspot_list":
        from smarketing.nurture import hubspot_list

        return hubspot_list.deliver
    if platform == "mailchimp":
        from smarketing.nurture import mailchimp

        return mailchimp.deliver
    from smarketing.nurture import salesforce_campaign

    return salesforce_campaign.deliver


def push_all(eng: Engine, settings: dict[str, Any], errors: list[str] | None = None, only: str | None = None,
             dry_run: bool = False) -> dict[str, dict[str, Any]]:
    """Push every program to each platform it names, and empty the platform lists of programs that
    no longer name them; ``only`` limits this to one program. Returns the results per
    ``program.platform``. A failure is appended to ``errors`` (raised at once when None), and the
    other pushes still go."""
    from smarketing.config import ConfigError
    from smarketing.sources.base import SourceError

    targets = {(name, platform) for name, program in settings["programs"].items()
               for platform in program["destinations"] if platform in PLATFORMS}
    with eng.connect() as conn:
        retired = {(program, platform) for program, platform in conn.execute(text(
            "select distinct program, platform from nurture.platform_sync where in_list")).all()} - targets
    results: dict[str, dict[str, Any]] = {}
    for name, platform in sorted(targets | retired):
        if only is not None and name != only:
            continue
        conf = settings["destinations"][platform]
        try:
            result = _deliverer(platform)(eng, conf, name, retire=(name, platform) in retired, dry_run=dry_run)
        except (SourceError, UnsafePush, ConfigError) as exc:  # a missing connection too: the others still go
            if errors is None:
                raise
            errors.append(f"program {name}: push to {platform} failed: {exc}")
            continue
        results[f"{name}.{platform}"] = result.stats()
        log.info("program %s -> %s %s: %s %d, %s %d%s", name, platform, result.target,
                 "would add" if dry_run else "added", result.added, "would remove" if dry_run else "removed",
                 result.removed, f", {result.refused} refused" if result.refused else "")
    return results
