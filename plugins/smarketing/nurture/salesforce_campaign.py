"""Push a program's list to a Salesforce campaign, sending only the difference.

The campaign ``<campaign_name_prefix><program>`` (found by name, or created active, type Email)
belongs to the org a ``salesforce`` system of config/sources.yaml extracts, so the opt-out flags
(``HasOptedOutOfEmail``) of its leads and contacts come back through that extract and suppress.
A person joins as a ``CampaignMember`` by their Salesforce contact (a contact before a lead; a
converted lead cannot join), with the configured member status; an Account Engagement or
Marketing Cloud journey that starts from the campaign's members takes it from there.

Members are added with the sObject Collections API (``POST /composite/sobjects``, 200 a call,
``allOrNone: false``) and removed by their CampaignMember id (``DELETE /composite/sobjects?ids=``).
``nurture.platform_sync`` is updated after each accepted call. A person Salesforce already has
in the campaign (``DUPLICATE_VALUE``: a push that crashed after Salesforce took it) is looked up
and recorded, never added twice; a member already deleted counts as removed. Any other refusal
is counted in ``refused`` and logged with Salesforce's status code, without the record.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from sqlalchemy import Engine, text

from smarketing.nurture.destinations import (
    PushResult,
    chunks,
    forget,
    guard_records,
    member_count,
    record,
    stale,
    synced,
)
from smarketing.sources.base import SourceError

log = logging.getLogger(__name__)
PLATFORM = "salesforce_campaign"
BATCH = 200  # records per sObject Collections call
GONE = ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY")


def deliver(eng: Engine, conf: dict[str, Any], program: str, retire: bool = False, dry_run: bool = False) -> PushResult:
    """``push`` to the org of config/sources.yaml's system ``conf['system']``."""
    from smarketing.sources import settings
    from smarketing.sources.salesforce import CONN_ID, SalesforceSource

    spec = settings()["systems"].get(conf["system"])
    if spec is None or spec["kind"] != "salesforce":
        raise SourceError(f"destinations.salesforce_campaign.system {conf['system']!r} is not a system of kind"
                          " salesforce in config/sources.yaml")
    org = SalesforceSource.from_connection(spec["conn_id"] or CONN_ID)
    return push(eng, org, program, f"{conf['campaign_name_prefix']}{program}", conf["member_status"], retire,
                dry_run)


def _quoted(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _query(org: Any, soql: str) -> list[dict[str, Any]]:
    body = org.client.request("GET", org.api_url("/query"), params={"q": soql})
    rows = list(body.get("records") or [])
    while not body.get("done", True) and body.get("nextRecordsUrl"):
        body = org.client.request("GET", org.instance_url() + body["nextRecordsUrl"])
        rows += body.get("records") or []
    return rows


def find_campaign(org: Any, name: str, create: bool = True) -> str | None:
    found = _query(org, f"SELECT Id FROM Campaign WHERE Name = {_quoted(name)} AND IsDeleted = false"  # noqa: S608
                   " ORDER BY CreatedDate ASC LIMIT 1")
    if found:
        return str(found[0]["Id"])
    if not create:
        return None
    created = org.client.request("POST", org.api_url("/sobjects/Campaign"), json={
        "Name": name, "IsActive": True, "Type": "Email", "Status": "In Progress"})
    return str(created["id"])


def _desired(eng: Engine, program: str) -> dict[int, tuple[str, str]]:
    """Per current member nobody suppresses: (record id, ContactId or LeadId) of their Salesforce
    contact, else their unconverted lead, whose own address nobody suppresses either (Salesforce
    mails the record's address)."""
    with eng.connect() as conn:
        return {person: (record_id, field) for person, record_id, field in conn.execute(text(
            "select distinct on (m.person_id) m.person_id, i.source_record_id,"
            " case i.entity when 'contacts' then 'ContactId' else 'LeadId' end from nurture.list_membership m"
            " join core.person_identity i on i.person_id = m.person_id and i.source = 'salesforce'"
            "  and i.entity in ('contacts', 'leads') and i.is_active"
            " join core.identity_record r on r.source = i.source and r.entity = i.entity"
            "  and r.record_id = i.source_record_id"
            " left join staging.stg_salesforce__leads l on i.entity = 'leads' and l.lead_id = i.source_record_id"
            " where m.program = :program and m.removed_on is null"
            "  and not nurture.is_suppressed(m.person_id, core.mailbox_key(m.email))"
            "  and not coalesce(l.is_converted, false)"
            "  and (r.email_key is null or r.email_key not in (select mailbox_key from nurture.suppressed_mailbox))"
            " order by m.person_id, i.entity = 'contacts' desc, i.source_record_id"),
            {"program": program}).all()}


def push(eng: Engine, org: Any, program: str, campaign_name: str, member_status: str = "Sent", retire: bool = False,
         dry_run: bool = False) -> PushResult:
    """Bring the campaign's members up to the program's current members; ``retire`` removes
    everyone (the program no longer names the campaign); ``dry_run`` only counts."""
    desired = {} if retire else _desired(eng, program)
    with eng.connect() as conn:
        guard_records(conn, program, "salesforce", {p: r for p, (r, _) in desired.items()})
        total = 0 if retire else member_count(conn, program)
    campaign = find_campaign(org, campaign_name, create=False)
    made = campaign is None
    if made and not dry_run and not retire:  # (a retired program's list is not made again)
        campaign = find_campaign(org, campaign_name)
        forget(eng, program, PLATFORM, str(campaign))
    with eng.connect() as conn:
        done = {} if made else synced(conn, program, PLATFORM, campaign or "(new)")
    earlier = stale(eng, program, PLATFORM, campaign or "(new)")
    # the members of an earlier name's campaign are deleted first, as every leaver is
    old_members = [(p, r, m, old) for old, rows in earlier.items() for p, r, m in rows if m]
    to_add = sorted((p, r, field) for p, (r, field) in desired.items() if p not in done or done[p].record_id != r)
    to_remove = sorted((p, s.record_id, s.member_id, campaign or "") for p, s in done.items()
                       if desired.get(p, ("", ""))[0] != s.record_id and s.member_id) + old_members
    target = f"campaign {campaign_name!r}" + (f" ({campaign})" if campaign else "")
    if dry_run:
        return PushResult(program, PLATFORM, target, len(to_add), len(to_remove), total - len(desired),
                          dry_run=True, retired=retire)
    codes_seen: Counter[str] = Counter()  # Salesforce's status codes of what it refused
    kept = refused = 0  # members it would not delete, people it would not add
    for chunk in chunks(to_remove, BATCH):
        answer = org.client.request("DELETE", org.api_url("/composite/sobjects"), params={
            "ids": ",".join(member for _, _, member, _ in chunk), "allOrNone": "false"})
        gone: dict[str, list[tuple[int, str, str | None, bool]]] = {}
        for (person, record_id, member, listed), result in zip(chunk, answer, strict=True):
            codes = [e.get("statusCode") for e in result.get("errors") or []]
            if result.get("success") or any(code in GONE for code in codes):
                gone.setdefault(listed, []).append((person, record_id, member, False))
            else:
                kept += 1
                codes_seen.update(str(c) for c in codes)
        for listed, rows in gone.items():
            record(eng, program, PLATFORM, listed, rows)
    for chunk in chunks(to_add, BATCH):
        assert campaign is not None  # only a retired program, which adds nobody, has none
        answer = org.client.request("POST", org.api_url("/composite/sobjects"), json={"allOrNone": False, "records": [
            {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign,
             field: record_id, "Status": member_status} for _, record_id, field in chunk]})
        taken, duplicates = [], []
        for (person, record_id, field), result in zip(chunk, answer, strict=True):
            codes = [e.get("statusCode") for e in result.get("errors") or []]
            if result.get("success"):
                taken.append((person, record_id, str(result["id"]), True))
            elif "DUPLICATE_VALUE" in codes:
                duplicates.append((person, record_id, field))
            else:
                refused += 1
                codes_seen.update(str(c) for c in codes)
        found: dict[str, str] = {}
        for field in {f for _, _, f in duplicates}:  # on the campaign already (a push that crashed after
            ids = ", ".join(_quoted(r) for _, r, f in duplicates if f == field)  # Salesforce took it)
            found |= {row[field]: row["Id"] for row in _query(
                org, f"SELECT Id, {field} FROM CampaignMember WHERE CampaignId = {_quoted(campaign)}"  # noqa: S608
                f" AND {field} IN ({ids})")}
        taken += [(p, r, str(found[r]), True) for p, r, _ in duplicates if r in found]
        refused += sum(1 for _, r, _ in duplicates if r not in found)
        record(eng, program, PLATFORM, campaign, taken)
    if refused or kept:
        log.warning("program %s: Salesforce refused to add %d and to remove %d campaign members (%s)", program,
                    refused, kept, ", ".join(f"{code} {n}" for code, n in sorted(codes_seen.items())))
    return PushResult(program, PLATFORM, target, len(to_add) - refused, len(to_remove) - kept,
                      total - len(desired), refused=refused + kept, retired=retire)
