"""The summary a person reads after a run: rows per table, headline KPIs, nurture lists."""

from __future__ import annotations

import os
from datetime import date

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from smarketing.paths import PATHS
from smarketing.warehouse import table_counts

SHOWN_SCHEMAS = ("raw", "quarantine", "core", "marts", "nurture")


def safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    return make_url(url).render_as_string(hide_password=True).replace("postgresql+psycopg://", "postgresql://")


def _shown_path(path: str) -> str:
    """Relative to the working folder when the file is inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def summary(eng: Engine, url: str, as_of: date) -> str:
    from smarketing.kpis import kpi_settings

    money = kpi_settings()["reporting_currency"]
    with eng.connect() as conn:
        counts = table_counts(conn, SHOWN_SCHEMAS)
        month = conn.execute(
            text("select * from marts.funnel where channel = 'all'"
                 " and month = date_trunc('month', cast(:as_of as date))::date"), {"as_of": as_of}
        ).mappings().first()
        summary_row = conn.execute(
            text("select * from marts.kpi_summary where month = date_trunc('month', cast(:as_of as date))::date"),
            {"as_of": as_of},
        ).mappings().first()
        totals = conn.execute(
            text(
                "select sum(leads) as leads, sum(mqls) as mqls, sum(won) as won, sum(won_amount) as won_amount,"
                " (select count(*) filter (where is_won)::numeric / nullif(count(*) filter (where is_closed), 0)"
                "  from core.opportunity) as win_rate from marts.funnel where channel = 'all'"
            )
        ).mappings().one()
        lists = conn.execute(
            text("select program, members, eligible, suppressed, export_path, suppressed_reasons,"
                 " (select max(r.as_of) from nurture.list_runs as r where r.program = l.program) as latest"
                 " from nurture.list_runs as l where as_of = :as_of order by program"),
            {"as_of": as_of},
        ).mappings().all()
        quality = conn.execute(
            text("select count(distinct suite) as suites, count(*) as checks,"
                 " count(*) filter (where not success and severity = 'critical') as critical,"
                 " count(*) filter (where not success and severity <> 'critical') as warnings"
                 " from meta.dq_results where suite <> 'core' and run_id = (select run_id from meta.dq_results"
                 " where suite <> 'core' order by evaluated_at desc limit 1)")
        ).mappings().one()
        waiting = conn.execute(text(  # batches that reached no table of core (held back, or not validated
            # yet), but those a file's new content superseded
            "select source || '__' || entity, count(*) filter (where held_at is not null),"
            " count(*) filter (where held_at is null) from meta.batches"
            " where validated_at is null and superseded_at is null group by 1 order by 1")).all()
        core_checks = conn.execute(text(  # the cross-entity checks of the latest merge
            "select check_name, unexpected_count, element_count from meta.dq_results where suite = 'core'"
            " and run_id = (select run_id from meta.dq_results where suite = 'core' order by evaluated_at desc"
            " limit 1) order by check_name")).all()
        pushed = conn.execute(text(
            "select platform, program, count(*) filter (where in_list) as n from nurture.platform_sync"
            " group by platform, program order by platform, program")).all()
        reasons = conn.execute(
            text("select reason, count(*) as n from nurture.suppressed group by reason order by reason")
        ).all()
        loaded: dict[str, int] = dict(conn.execute(text(  # files whose latest attempt loaded them
            "select drop_name, count(*) filter (where status = 'loaded') from (select distinct on (drop_name,"
            " file_name) * from meta.file_loads order by drop_name, file_name, loaded_at desc) as latest"
            " group by drop_name")).all())
        last_load = conn.execute(text(  # what the latest load found: rejected files still there, unread drops
            "select stats from meta.runs where stage = 'file_drops' order by finished_at desc limit 1")).scalar()

    lines = [f"Smarketing pipeline: results as of {as_of.isoformat()}", f"Warehouse: {safe_url(url)}", "",
             "Rows per table"]
    width = max((len(name) for name in counts), default=10)
    in_flow_order = sorted(counts, key=lambda name: (SHOWN_SCHEMAS.index(name.split(".")[0]), name))
    lines += [f"  {name:<{width}}  {counts[name]:>8,}" for name in in_flow_order]
    lines += ["", f"Headline KPIs for {as_of:%B %Y} (marts.funnel, marts.kpi_summary)"]
    if month:
        lines.append(
            f"  leads {month['leads']} · MQLs {month['mqls']} · SQLs {month['sqls']} · "
            f"opportunities {month['opportunities']} · won {month['won']} ({month['won_amount']:,.2f} {money})"
        )
    if summary_row:
        def pct(value: object) -> str:
            return f"{value:.0%}" if value is not None else "n/a"

        median = summary_row["median_response_hours"]
        lines.append(
            f"  win rate {pct(summary_row['win_rate'])} · lead response median "
            f"{f'{median:.1f} h' if median is not None else 'n/a'}, within SLA {pct(summary_row['share_within_sla'])}"
            f" · marketing-sourced pipeline {summary_row['marketing_sourced_pipeline']:,.2f} {money}"
        )
    win_rate = f"{totals['win_rate']:.1%}" if totals["win_rate"] is not None else "n/a"
    lines.append(
        f"  all months: leads {totals['leads'] or 0} · MQLs {totals['mqls'] or 0} · won {totals['won'] or 0} "
        f"({(totals['won_amount'] or 0):,.2f} {money}) · win rate of closed deals {win_rate}"
    )
    if loaded or last_load:
        lines += ["", "File drops (meta.file_loads; `smarketing files status` says why each file is skipped)"]
        for drop in sorted(set(loaded) | set(last_load or {})):
            found = (last_load or {}).get(drop, {})
            if "error" in found:
                lines.append(f"  {drop}: not read: {found['error'].removeprefix(f'drop {drop}: ')}")
                continue
            rejected = found.get("files_rejected") or {}
            lines.append(f"  {drop}: {loaded.get(drop, 0)} file(s) loaded"
                         + (f", {len(rejected)} rejected:" if rejected else ""))
            lines += [f"    {reason.removeprefix(f'drop {drop}: ')}" for reason in rejected.values()]
            lines += [f"    {file}: {sum(values.values())} row(s) held off every list for a type or status no word"
                      " names (" + ", ".join(f"{v!r} {n}" if v else f"none {n}" for v, n in values.items())
                      + "): map it with the drop's `values`"
                      for file, values in (found.get("values_held") or {}).items()]
            left = list(found.get("files_unmatched") or {})
            if left:
                lines.append(f"    {len(left)} entries of its folder match no drop's pattern, not read: "
                             + ", ".join(left[:10]) + (", ..." if len(left) > 10 else ""))
    lines += ["", "Data quality (latest validation that checked new rows)"]
    lines.append(
        f"  {quality['suites']} suites, {quality['checks']} checks: {quality['critical']} critical failing,"
        f" {quality['warnings']} warnings (quarantine.records holds {counts.get('quarantine.records', 0)} rows"
        " of all runs)"
    )
    if waiting:
        parts = []
        for suite, held, pending in waiting:
            said = ([f"{held} held back (over its failure share)"] if held else []) + (
                [f"{pending} not validated (its suite could not run, or the run stopped before)"] if pending else [])
            parts.append(f"{suite} {' and '.join(said)}")
        lines.append(f"  batches not merged: {'; '.join(parts)}; the next run checks them again")
    if core_checks:
        failing = [f"{name} {n} of {of}" for name, n, of in core_checks if n]
        lines.append(f"  {len(core_checks)} cross-entity checks on core (sql/quality/core): "
                     + (f"warnings: {', '.join(failing)}" if failing else "no warnings"))
    from smarketing.quality import data_docs_dir

    lines.append(f"  Data Docs: {_shown_path(str(data_docs_dir() / 'index.html'))}")

    lines += ["", "Nurture lists"]
    for item in lists:
        why = item["suppressed_reasons"] or {}
        kept_off = f": {', '.join(f'{r} {n}' for r, n in sorted(why.items()))}" if why else ""
        lines.append(
            f"  {item['program']}: {item['members']} members "
            f"({item['eligible']} eligible, {item['suppressed']} kept off{kept_off})"
            + (f" -> {_shown_path(item['export_path'])}" if item["export_path"]
               else f", no file: a later list ({item['latest']}) has it" if item["latest"] > as_of else "")
        )
        if item["members"] == 0 and item["eligible"] and why.get("no_email") == item["eligible"]:
            lines.append("    empty because no eligible person has an email address (map one in the leads or"
                         " contacts export)")
    names = {"hubspot_list": "the HubSpot lists", "mailchimp": "the Mailchimp tags",
             "salesforce_campaign": "the Salesforce campaigns"}
    for platform in dict.fromkeys(p for p, _, _ in pushed):
        lines.append(f"  on {names.get(platform, platform)}: "
                     + ", ".join(f"{program} {n}" for p, program, n in pushed if p == platform))
    if reasons:
        lines.append("  suppressed people by reason: " + ", ".join(f"{r} {n}" for r, n in reasons))
    page = PATHS.reports / f"kpis_{as_of.isoformat()}.html"
    if page.exists():  # written by the KPI and nurture DAGs
        lines += ["", f"KPI report (open it in a browser): {_shown_path(str(page))}"]
    return "\n".join(lines)
