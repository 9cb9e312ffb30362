"""Pin the environment into two locks: ``requirements.lock`` (what the pipeline needs to run: the
project's dependencies and theirs) and ``requirements-dev.lock`` (the test and lint tools on top).
The Airflow image installs the first only; ``make install`` both.

Run by ``make lock`` inside the project's virtualenv after changing ``pyproject.toml``.
"""

from __future__ import annotations

import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
HEADER = "# {what} pinned (Python 3.11), written by 'make lock' (tools/lock.py); installed by {by}.\n"


def _installed() -> dict[str, metadata.Distribution]:
    found = {}
    for dist in metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name not in ("pip", "smarketing"):
            found[name] = dist
    return found


def _closure(roots: list[str], installed: dict[str, metadata.Distribution]) -> set[str]:
    """Every installed distribution the requirement strings ``roots`` need, extras included."""
    seen: set[tuple[str, frozenset[str]]] = set()
    needed: set[str] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen or name not in installed:
            continue
        seen.add(key)
        needed.add(name)
        for line in installed[name].requires or []:
            dep = Requirement(line)
            if dep.marker is None:
                todo.append(dep)
                continue
            for extra in {"", *req.extras}:
                if dep.marker.evaluate({**default_environment(), "extra": extra}):
                    todo.append(dep)
                    break
    return needed


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = _installed()
    # setuptools and wheel build the project itself (pip install --no-build-isolation -e .)
    runtime = _closure([*project["dependencies"], "setuptools", "wheel"], installed)
    dev = _closure(project["optional-dependencies"]["dev"], installed) - runtime
    stray = set(installed) - runtime - dev
    if stray:
        print(f"installed but needed by neither the project nor its dev tools (left out): {sorted(stray)}",
              file=sys.stderr)

    def pins(names: set[str]) -> str:
        return "".join(f"{installed[n].metadata['Name']}=={installed[n].version}\n"
                       for n in sorted(names, key=str.lower))

    (ROOT / "requirements.lock").write_text(
        HEADER.format(what="What the pipeline needs to run", by="the Airflow image and 'make install'")
        + pins(runtime))
    (ROOT / "requirements-dev.lock").write_text(
        HEADER.format(what="The test and lint tools", by="'make install' (never the image)")
        + "-r requirements.lock\n" + pins(dev))
    print(f"requirements.lock: {len(runtime)} pins; requirements-dev.lock: {len(dev)} more")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
