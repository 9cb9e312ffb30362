"""The ``files`` destination: each list as a CSV in a folder of any storage Airflow's
``ObjectStoragePath`` reaches: a local or mounted folder (a path, or ``file://``), an SFTP server
(``sftp://``, the SFTP provider is installed), S3, GCS, Azure Blob, or any scheme a provider
registers (config/nurture.yaml ``destinations.files.url``; the Airflow connection holding the
credentials goes before an ``@``: ``sftp://sftp_agency@/upload``; a path without a scheme is a
folder under the export folder when relative).

Readers never see a partial file: it is written under a temporary name beside its final one,
then renamed (an atomic POSIX rename over SFTP where the server has it; on an object store a
rename is a server-side copy, so the object appears whole); with ``marker``, ``<file>.done`` is
then written, holding the file's rows and SHA-256, and it is deleted before a file is replaced,
so a consumer that waits for the marker (an agency's job polling a bucket) reads only complete
files. Temporary files a killed writer left are removed first. Cells a spreadsheet would run as
formulas are neutralised, as in the local CSV.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from smarketing.config import PATHS, ConfigError
from smarketing.nurture.cells import spreadsheet_safe


def folder(conf: dict[str, Any]) -> Any:
    """The configured folder as an ``ObjectStoragePath``; ``ConfigError`` naming what to install
    when no filesystem is registered for its scheme."""
    from airflow.sdk import ObjectStoragePath

    url = conf["url"]
    if "://" not in url:  # a path: absolute, or a folder under the export folder
        url = "file://" + str(url if url.startswith("/") else PATHS.exports / url)
    try:
        path = ObjectStoragePath(url)
        path.fs  # noqa: B018 - resolves the scheme's filesystem now, not halfway through a write
    except ValueError as exc:
        raise ConfigError(f"config/nurture.yaml destinations.files.url: {exc} (install the Airflow provider of the"
                          " scheme: apache-airflow-providers-amazon for s3://, -google for gs://, -microsoft-azure"
                          " for abfs://)") from None
    return path


def is_list_file(name: str, program: str) -> bool:
    """Whether ``name`` is one of the program's list files: ``<program>_<date>.csv`` or its marker."""
    return re.fullmatch(rf"{re.escape(program)}_\d{{4}}-\d\d-\d\d\.csv(\.done)?", name) is not None


def csv_bytes(header: Iterable[str], rows: Iterable[Iterable[object]]) -> tuple[bytes, int]:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([spreadsheet_safe(value) for value in row])
        count += 1
    return buffer.getvalue().encode("utf-8"), count


def write(conf: dict[str, Any], program: str, as_of: date, header: Iterable[str],
          rows: Iterable[Iterable[object]]) -> str:
    """Write ``<program>_<as_of>.csv`` into the configured folder, then remove the program's older
    files there: the folder holds each program's current list only, since an older file may hold
    people suppressed since (a list of any date stays in the warehouse: ``lists pull --as-of``).
    Returns the file's URL."""
    data, count = csv_bytes(header, rows)
    base = folder(conf)
    base.mkdir(parents=True, exist_ok=True)
    name = f"{program}_{as_of.isoformat()}.csv"
    target, marker = base / name, base / f"{name}.done"
    for stale in base.iterdir():  # what a killed writer left
        if stale.name.startswith(f".{program}_"):
            stale.unlink(missing_ok=True)
    if marker.exists():
        marker.unlink()
    _put(base, name, data, conf)
    if conf["marker"]:
        _put(base, marker.name, json.dumps({
            "file": name, "rows": count, "sha256": hashlib.sha256(data).hexdigest(),
            "written_at": datetime.now(UTC).isoformat(timespec="seconds")}).encode(), conf)
    for old in base.iterdir():
        if is_list_file(old.name, program) and old.name not in (name, marker.name):
            old.unlink(missing_ok=True)
    return str(target)


def _put(base: Any, name: str, data: bytes, conf: dict[str, Any]) -> None:
    """``data`` as ``base/name``, written under a temporary name first, then renamed. In a local
    folder the temporary file is created readable by its owner only, then given ``file_mode``."""
    temporary, target = base / f".{name}.{uuid.uuid4().hex}", base / name
    try:
        if base.protocol in ("file", "local"):
            fd = os.open(temporary.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.chmod(temporary.path, int(conf["file_mode"], 8))
            os.replace(temporary.path, target.path)
        else:
            with temporary.open("wb") as handle:
                handle.write(data)
            temporary.rename(target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_program(conf: dict[str, Any], program: str) -> list[Any]:
    """Remove a program's files and markers from the folder (a program no longer configured)."""
    base = folder(conf)
    if not base.exists():
        return []
    gone = [path for path in base.iterdir() if is_list_file(path.name, program)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
