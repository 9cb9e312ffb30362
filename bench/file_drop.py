"""The file-drop stage of the benchmark: one large CSV export loaded in a process of its own, so its
peak RSS is the loader's alone (the target: a 200 MB file in at most 300 MB).

    python -m bench.file_drop --mb 200     # writes the file, loads it in a child, prints the JSON
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HEADER = "Lead ID;E-Mail;Vorname;Nachname;Firma;Kanal;Erstkontakt;Betreuer\n"


def write_export(path: Path, megabytes: float, seed: int = 7) -> int:
    """A semicolon CSV of leads of about ``megabytes`` MB, written as it is made; returns its rows."""
    rng = random.Random(seed)
    channels = ["Paid search", "Organic search", "Referral", "Webinar", "Messe"]
    target, rows = megabytes * 2**20, 0
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        written = len(HEADER)
        while written < target:
            n = rows + 1
            line = (f"L-{n:09d};person{n}@firma{n % 5000}.example;Vorname{rng.randrange(1000)};"
                    f"Nachname{rng.randrange(100000)};Firma {n % 5000} GmbH;{rng.choice(channels)};"
                    f"{rng.randrange(1, 28):02d}.{rng.randrange(1, 13):02d}.2026 {rng.randrange(24):02d}:"
                    f"{rng.randrange(60):02d};U-{rng.randrange(40)}\n")
            out.write(line)
            written += len(line.encode())
            rows += 1
    return rows


def load(url: str, folder: str) -> dict:
    """Load ``folder``'s export as a leads drop into the warehouse at ``url``, in this process."""
    from smarketing import warehouse
    from smarketing.file_drops import Drop, load_drop

    drop = Drop(name="bench_leads", entity="leads", location=folder, delimiter=";", id_column="Lead ID",
                columns={"E-Mail": ("email",), "Vorname": ("first_name",), "Nachname": ("last_name",),
                         "Firma": ("company",), "Kanal": ("origin_channel",), "Erstkontakt": ("first_contact_date",),
                         "Betreuer": ("owner_id",)},
                date_format=("%d.%m.%Y %H:%M",), timezone="Europe/Berlin")
    from bench.run import Measure, measured

    eng = warehouse.engine(url)
    result = Measure()
    with measured(result):  # RSS sampled: ru_maxrss would count the parent's pages of the fork
        stats = load_drop(eng, drop, "bench-file-drop")
    rows = stats.rows_loaded + stats.rows_quarantined
    return {"rows": rows, "seconds": round(result.seconds, 3), "rows_per_s": round(rows / result.seconds),
            "peak_rss_mb": round(result.peak_rss_mb, 1), "rejected": stats.rejected}


def measure(url: str, megabytes: float) -> dict:
    """Write the export, then load it in a child process; the child's peak RSS is the loader's."""
    with tempfile.TemporaryDirectory(prefix="smarketing-bench-drop-") as folder:
        path = Path(folder) / "leads.csv"
        rows = write_export(path, megabytes)
        size_mb = path.stat().st_size / 2**20
        child = subprocess.run([sys.executable, "-m", "bench.file_drop", "--load", url, folder], check=True,
                               capture_output=True, text=True, env={**os.environ})
        result = json.loads(child.stdout.strip().splitlines()[-1])
    return {**result, "file_mb": round(size_mb, 1), "file_rows": rows}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        print(json.dumps(load(sys.argv[2], sys.argv[3])))
    else:
        raise SystemExit("run through bench.run (make bench), which passes the warehouse")
