"""A deal's close day from a file drop, found by a trial: a lost deal with a lost date and no stage
stopped the merge (its won flag was null), and a won moment's day was taken in the drop's time
zone while every other day followed config/kpis.yaml reporting_timezone.

The export (drop time zone UTC, business date 2026-07-31):
- D1 won 30.06.2026 22:30 (00:30 on 1 July in Berlin): closes 30 June in UTC, 1 July in Berlin.
- D2 won 15.06.2026 (a day alone): closes 15 June whatever the reporting time zone.
- D3 lost 20.06.2026 14:00, no stage: closed, not won, on 20 June.
"""

from datetime import date

import pytest
from sqlalchemy import text

from smarketing import tasks
from smarketing.config import PATHS

DEALS = ("Auftrag;Gewonnen;Verloren;Betrag\nD1;30.06.2026 22:30;;700,00\nD2;15.06.2026;;500,00\n"
         "D3;;20.06.2026 14:00;900,00\n")
DROPS = """drops:
  deals:
    entity: deals
    location: {folder}
    delimiter: ";"
    id_column: Auftrag
    columns: {{Gewonnen: won_date, Verloren: lost_date, Betrag: amount}}
    constants: {{currency: EUR}}
    date_format: ["%d.%m.%Y %H:%M", "%d.%m.%Y"]
    decimal: ","
"""


@pytest.mark.parametrize(("zone", "d1_closes"), [("UTC", date(2026, 6, 30)), ("Europe/Berlin", date(2026, 7, 1))])
def test_a_won_moment_closes_on_its_day_in_the_reporting_time_zone(empty_warehouse, tmp_path, monkeypatch, zone,
                                                                   d1_closes):
    (tmp_path / "deals").mkdir()
    (tmp_path / "deals" / "deals.csv").write_text(DEALS, encoding="utf-8")
    (tmp_path / "file_drops.yaml").write_text(DROPS.format(folder=tmp_path / "deals"))
    (tmp_path / "sources.yaml").write_text("systems: {}\n")
    (tmp_path / "nurture.yaml").write_text((PATHS.root / "examples" / "file_drops" / "nurture.yaml").read_text())
    (tmp_path / "kpis.yaml").write_text((PATHS.root / "config" / "kpis.yaml").read_text()
                                        .replace("reporting_timezone: UTC", f"reporting_timezone: {zone}"))
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("SMARKETING_EXPORT_DIR", str(tmp_path / "exports"))
    tasks.run_pipeline(f"days-{zone}", date(2026, 7, 31))
    with empty_warehouse.connect() as conn:
        deals = conn.execute(text("select source_record_id, close_date, is_closed, is_won from core.opportunity"
                                  " order by 1")).all()
    assert [tuple(r) for r in deals] == [("D1", d1_closes, True, True), ("D2", date(2026, 6, 15), True, True),
                                         ("D3", date(2026, 6, 20), True, False)]
