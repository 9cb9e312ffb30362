"""Where things live, and the error every bad setting raises: the bottom layer, importing nothing
of the project (config, warehouse and the embedded server all build on it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Paths:
    root: Path = PROJECT_ROOT

    @property
    def sql(self) -> Path:
        return self.root / "sql"

    @property
    def expectations(self) -> Path:
        return self.root / "expectations"

    @property
    def config(self) -> Path:
        return Path(os.environ.get("SMARKETING_CONFIG_DIR", self.root / "config"))

    @property
    def exports(self) -> Path:
        return Path(os.environ.get("SMARKETING_EXPORT_DIR", self.root / "exports"))

    @property
    def reports(self) -> Path:
        """The KPI reports, ``kpis_<as_of>.html``."""
        return Path(os.environ.get("SMARKETING_REPORT_DIR", self.root / "reports"))

    @property
    def data_docs(self) -> Path:
        """Great Expectations' Data Docs site."""
        return Path(os.environ.get("SMARKETING_DATA_DOCS_DIR",
                                   self.expectations / "gx" / "uncommitted" / "data_docs" / "local_site"))

    @property
    def warehouse_data(self) -> Path:
        return Path(os.environ.get("SMARKETING_WAREHOUSE_DIR", self.root / ".warehouse"))


PATHS = Paths()
