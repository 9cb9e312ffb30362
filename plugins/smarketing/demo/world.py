"""A seeded synthetic dataset shaped like HubSpot and Salesforce API payloads.

Two parts, both deterministic:

* a random population (``people`` persons, default 120) whose activity ends by
  ``POPULATION_END``: marketing contacts, email events, CRM leads that convert into contacts
  and opportunities, with the noise real systems have (email case and surrounding whitespace,
  people known to only one system, unsubscribes, bounces, spam reports, malformed emails);
* a hand-written ``STORY`` of ten people active in June 2026 (the demo's as-of month), small
  enough that its funnel and its nurture list can be worked out by hand; see
  ``tests/fixtures/demo_story.py``.

``DemoSource`` serves either system's records through the ``Source`` protocol.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from smarketing.sources.base import RawRecord

AS_OF = date(2026, 6, 30)
POPULATION_START = datetime(2025, 7, 1, tzinfo=UTC)
POPULATION_END = datetime(2026, 5, 15, tzinfo=UTC)
PAGE_SIZE = 200

ENTITIES = {
    "hubspot": ("contacts", "companies", "email_events", "subscription_statuses", "form_submissions", "campaigns",
                "deal_pipelines"),
    "salesforce": ("users", "campaigns", "accounts", "leads", "contacts", "opportunities", "opportunity_history",
                   "tasks", "events", "campaign_members"),
}

FIRST = ("Anna Ben Carla David Elena Felix Greta Hugo Ines Jonas Kira Lars Mila Nils Olga Paul Rosa Sven Tara Uwe "
         "Amir Bea Chen Dora Emil Fatma Gil Hana Ivo Jana Karim Lea Malte Nora Omar Pia Rafael Sara Timo Vera "
         "Aiko Bruno Cleo Dario Eva Finn Gaia Henrik Ilse Joel Katja Luca Maren Noah Oskar Petra Quinn Ronja Selin "
         "Theo").split()
LAST = ("Adler Berg Conti Dahl Ernst Fink Graf Hahn Iversen Jung Kraus Lund Moser Nagel Ott Pohl Roth Stein Vogel "
        "Wolf Albrecht Brandt Costa Dietrich Engel Fuchs Garcia Hofer Ilic Jansen Keller Lehmann Meier Novak Olsen "
        "Peters Quast Richter Schmid Thiel Urban Vidal Weber Yilmaz Zimmer Bauer Claes Dumont Eder Frei Gruber "
        "Huber Imhof Kovac Lorenz Marx Nowak Ortiz Pauli Reuter").split()
COMPANIES = [
    ("Acme Tools", "acme-tools.com"),
    ("Borealis Energy", "borealis.energy"),
    ("Cobalt Logistics", "cobalt-log.com"),
    ("Delta Foods", "deltafoods.eu"),
    ("Ember Analytics", "ember.ai"),
    ("Fjord Shipping", "fjordship.no"),
    ("Granite Bank", "granitebank.com"),
    ("Helix Pharma", "helixpharma.de"),
    ("Ion Mobility", "ionmobility.io"),
    ("Juniper Retail", "juniper-retail.com"),
]
PREFIXES = ["North", "Blue", "Silver", "Pioneer", "Summit", "Harbor", "Crest", "Vertex", "Maple", "Orbit", "Atlas",
            "Nimbus"]
SUFFIXES = ["Systems", "Labs", "Logistics", "Foods", "Energy", "Retail", "Health", "Capital", "Motors", "Media"]
CHANNELS = ["ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "DIRECT_TRAFFIC"]
LEAD_SOURCES = {"ORGANIC_SEARCH": "Web", "PAID_SEARCH": "Advertisement", "EMAIL_MARKETING": "Email",
                "SOCIAL_MEDIA": "Social", "REFERRALS": "Partner Referral", "DIRECT_TRAFFIC": "Web"}
PRODUCT_LINES = ["Analytics", "Automation"]  # Opportunity.Product_Line__c, a custom field
# Sales reps (Salesforce users): opportunities are owned by the first two in turn, activities logged by the third.
REPS = [("005000000000011", "Marta", "Schulze-Öztürk"), ("005000000000012", "Jonas", "Brandt"),
        ("005000000000001", "Sales", "Development")]
CAMPAIGNS = [9001, 9002, 9003, 9004, 9005, 9006]
CAMPAIGN_IDS = {c: f"701{c:015d}" for c in CAMPAIGNS}
FORMS = [{"id": "6b8c1a52-0000-4000-8000-000000000001", "name": "Contact us", "page": "/contact"},
         {"id": "6b8c1a52-0000-4000-8000-000000000002", "name": "Webinar registration", "page": "/webinars"}]
SUBSCRIPTIONS = [(101, "Marketing newsletter"), (102, "Customer updates")]
CAMPAIGN_NAMES = ["Webinar: pipeline hygiene", "Newsletter Q3", "Webinar: forecasting", "Newsletter Q4",
                  "Webinar: data quality", "Customer newsletter"]

# Every HubSpot portal has this deal pipeline (its stage ids are HubSpot's, the same in every portal).
def _stage(stage_id: str, label: str, order: int, probability: str, closed: bool) -> dict[str, Any]:
    return {"id": stage_id, "label": label, "displayOrder": order, "archived": False,
            "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
            "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z"}


DEFAULT_PIPELINE: dict[str, Any] = {
    "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
    "createdAt": "2020-01-01T00:00:00.000Z", "updatedAt": "2020-01-01T00:00:00.000Z",
    "stages": [_stage("appointmentscheduled", "Appointment Scheduled", 0, "0.2", False),
               _stage("qualifiedtobuy", "Qualified To Buy", 1, "0.4", False),
               _stage("presentationscheduled", "Presentation Scheduled", 2, "0.6", False),
               _stage("decisionmakerboughtin", "Decision Maker Bought-In", 3, "0.8", False),
               _stage("contractsent", "Contract Sent", 4, "0.9", False),
               _stage("closedwon", "Closed Won", 5, "1.0", True),
               _stage("closedlost", "Closed Lost", 6, "0.0", True)],
}


# The story: June 2026, worked out by hand in tests/fixtures/demo_story.py.
# Days are June 2026; None means "never"; amounts in EUR.
STORY: list[dict[str, Any]] = [
    {"first": "Ada", "last": "Lovelace", "hs_email": "ada@analytical.io", "sf_email": "ADA@Analytical.io ",
     "company": "Analytical Engines", "hs_created": 1, "mql": 3, "lead": 4, "converted": 8,
     "outcome": "won", "closed": 20, "amount": 12000},
    {"first": "Grace", "last": "Hopper", "hs_email": "grace@cobol.dev", "sf_email": "grace@cobol.dev",
     "company": "Cobol Systems", "hs_created": 2, "mql": 5, "lead": 6, "converted": 10,
     "outcome": "won", "closed": 25, "amount": 30000, "unsubscribed": 26},
    {"first": "Alan", "last": "Turing", "hs_email": " alan@enigma.co.uk", "sf_email": "alan@enigma.co.uk",
     "company": "Enigma Labs", "hs_created": 3, "mql": 7, "lead": 8, "converted": 12,
     "outcome": "won", "closed": 15, "amount": 8000, "hard_bounce": 16},
    {"first": "Katherine", "last": "Johnson", "hs_email": "katherine@orbit.space", "sf_email": "katherine@orbit.space",
     "company": "Orbit Space", "hs_created": 5, "mql": 9, "lead": 10, "converted": 18,
     "outcome": "open", "closed": None, "amount": 40000},
    {"first": "Edsger", "last": "Dijkstra", "hs_email": "edsger@paths.nl", "sf_email": "Edsger@Paths.nl",
     "company": "Shortest Paths", "hs_created": 10, "mql": 12, "lead": 15, "converted": None},
    {"first": "Barbara", "last": "Liskov", "hs_email": "barbara@subtype.org", "sf_email": None,
     "company": "Subtype", "hs_created": 12, "mql": None, "lead": None, "converted": None},
    {"first": "Linus", "last": "Torvalds", "hs_email": None, "sf_email": "linus@kernel.fi",
     "company": "Kernel Oy", "hs_created": None, "mql": None, "lead": 14, "converted": 16,
     "outcome": "won", "closed": 28, "amount": 5000, "sf_opted_out": True},
    {"first": "Margaret", "last": "Hamilton", "hs_email": "margaret@apollo.space", "sf_email": "margaret@apollo.space",
     "company": "Apollo Guidance", "hs_created": 15, "mql": 16, "lead": 17, "converted": 19,
     "outcome": "lost", "closed": 27, "amount": 15000},
    {"first": "Hedy", "last": "Lamarr", "hs_email": "Hedy@Spread.FM", "sf_email": "hedy@spread.fm",
     "company": "Spread Spectrum", "hs_created": 1, "mql": 2, "lead": 2, "converted": 5,
     "outcome": "won", "closed": 12, "amount": 9500},
    {"first": "Claude", "last": "Shannon", "hs_email": "claude@entropy.info", "sf_email": " claude@entropy.info ",
     "company": "Entropy Inc", "hs_created": 4, "mql": 6, "lead": 6, "converted": 9,
     "outcome": "won", "closed": 22, "amount": 20000, "opened": 23},
]


def _hs_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _sf_time(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _june(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 6, day, hour, tzinfo=UTC)


@dataclass
class Dataset:
    """Every record per (system, entity), plus the ground truth.

    ``person_of`` maps (system, entity, record id) to the true human behind it; ``suppression``
    maps a human to what should keep them off every list (unsubscribed, hard_bounce,
    spam_complaint, email_opt_out); ``malformed`` names records a suite must quarantine.
    """

    records: dict[tuple[str, str], list[RawRecord]] = field(default_factory=dict)
    person_of: dict[tuple[str, str, str], str] = field(default_factory=dict)
    malformed: set[tuple[str, str, str]] = field(default_factory=set)
    suppression: dict[str, set[str]] = field(default_factory=dict)
    # humans whose records nothing but name and company link, with a namesake colleague (demo/people.py)
    indistinguishable: set[str] = field(default_factory=set)
    latest: dict[tuple[str, str, str], RawRecord] = field(default_factory=dict, repr=False, compare=False)

    def add(self, system: str, entity: str, record_id: str, version_at: datetime, payload: dict[str, Any],
            person: str | None = None, is_deleted: bool = False) -> None:
        record = RawRecord(record_id, version_at, payload, is_deleted)
        self.records.setdefault((system, entity), []).append(record)
        self.latest[(system, entity, record_id)] = record
        if person is not None:
            self.person_of[(system, entity, record_id)] = person

    def suppress(self, person: str, reason: str) -> None:
        self.suppression.setdefault(person, set()).add(reason)

    def count(self, system: str, entity: str) -> int:
        """Records as an API serves them: one per id, its latest version."""
        return len({r.record_id for r in self.records.get((system, entity), [])})

    def write_ground_truth(self, path: Path) -> None:
        """The truth identity resolution and suppression are scored against, as JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        truth = {
            "records": sorted([*key, person] for key, person in self.person_of.items()),
            "malformed": sorted(list(key) for key in self.malformed),
            "suppression": {person: sorted(reasons) for person, reasons in sorted(self.suppression.items())},
        }
        path.write_text(json.dumps(truth))


# Probabilities of the noise real systems show between HubSpot and Salesforce for one person.
NOISE = {
    "email_case": 0.15,        # ANNA.BERG@... in one system
    "email_whitespace": 0.10,  # " Anna.berg@... "
    "plus_address": 0.04,      # anna.berg+webinar@... in HubSpot
    "personal_email": 0.04,    # a gmail address in HubSpot, the work address in Salesforce
    "name_typo": 0.05,         # "Jonsa" for "Jonas" in Salesforce
    "company_renamed": 0.03,   # "Acme Tools GmbH" in Salesforce
}


class _Builder:
    def __init__(self, seed: int, noise: dict[str, float]) -> None:
        self.rng = random.Random(seed)
        self.noise = noise
        self.data = Dataset()
        self.ids = {"hs": 100000, "company": 500000, "sf": 0, "event": 0}
        self.accounts: dict[str, str] = {}
        self.companies: dict[str, str] = {}

    def _sf_id(self, prefix: str) -> str:
        self.ids["sf"] += 1
        return f"{prefix}{self.ids['sf']:015d}"[:18]

    def _hs_id(self) -> str:
        self.ids["hs"] += 1
        return str(self.ids["hs"])

    def account(self, name: str, domain: str, created: datetime) -> str:
        if name not in self.accounts:
            account_id = self._sf_id("001")
            self.accounts[name] = account_id
            self.data.add("salesforce", "accounts", account_id, created, {
                "attributes": {"type": "Account"}, "Id": account_id, "Name": name, "Website": f"https://{domain}",
                "CreatedDate": _sf_time(created), "SystemModstamp": _sf_time(created), "IsDeleted": False,
            })
        return self.accounts[name]

    def companies_for(self, people: int) -> list[tuple[str, str]]:
        """The ten named companies, plus one more per dozen people beyond the demo's 120."""
        extra = max(0, people - 120) // 12
        return COMPANIES + [(f"{PREFIXES[n % len(PREFIXES)]} {SUFFIXES[n // len(PREFIXES) % len(SUFFIXES)]} {n}",
                             f"{PREFIXES[n % len(PREFIXES)].lower()}{n}.example") for n in range(extra)]

    def hubspot_company(self, name: str, domain: str, created: datetime) -> None:
        if domain in self.companies:
            return
        self.ids["company"] += 1
        company_id = str(self.ids["company"])
        self.companies[domain] = company_id
        self.data.add("hubspot", "companies", company_id, created, {
            "id": company_id,
            "properties": {"name": name, "domain": domain, "createdate": _hs_time(created),
                           "hs_lastmodifieddate": _hs_time(created)},
            "createdAt": _hs_time(created), "updatedAt": _hs_time(created), "archived": False,
        })

    def hubspot_contact(self, person: str, email: str | None, first: str, last: str, company: str,
                        created: datetime, mql: datetime | None, channel: str, optout: bool = False) -> str:
        contact_id = self._hs_id()
        modified = max(t for t in (created, mql) if t is not None)
        stage = "marketingqualifiedlead" if mql else "lead"
        self.data.add("hubspot", "contacts", contact_id, modified, {
            "id": contact_id,
            "properties": {
                "email": email, "firstname": first, "lastname": last, "company": company,
                "createdate": _hs_time(created), "lastmodifieddate": _hs_time(modified),
                "lifecyclestage": stage,
                "hs_lifecyclestage_marketingqualifiedlead_date": _hs_time(mql) if mql else None,
                "hs_analytics_source": channel, "hs_email_optout": "true" if optout else "false",
            },
            "createdAt": _hs_time(created), "updatedAt": _hs_time(modified), "archived": False,
        }, person)
        return contact_id

    def _latest_contact(self, contact_id: str) -> RawRecord:
        return self.data.latest[("hubspot", "contacts", contact_id)]

    def opt_out_hubspot_contact(self, contact_id: str, at: datetime) -> None:
        """Unsubscribing from all email sets hs_email_optout and moves lastmodifieddate."""
        latest = self._latest_contact(contact_id)
        props = {**latest.payload["properties"], "hs_email_optout": "true", "lastmodifieddate": _hs_time(at)}
        self.data.add("hubspot", "contacts", contact_id, at, {**latest.payload, "properties": props,
                                                              "updatedAt": _hs_time(at)},
                      self.data.person_of.get(("hubspot", "contacts", contact_id)))

    def archive_hubspot_contact(self, contact_id: str, at: datetime) -> None:
        """HubSpot serves a deleted contact from the archived list, with archivedAt."""
        original = self._latest_contact(contact_id)
        payload = {**original.payload, "archived": True, "archivedAt": _hs_time(at), "updatedAt": _hs_time(at)}
        self.data.add("hubspot", "contacts", contact_id, at, payload, is_deleted=True)

    def email_event(self, recipient: str, kind: str, at: datetime, campaign: int, **extra: Any) -> None:
        self.ids["event"] += 1
        event_id = f"evt-{self.ids['event']:08d}"
        self.data.add("hubspot", "email_events", event_id, at, {
            "id": event_id, "type": kind, "recipient": recipient.strip().lower(),
            "created": int(at.timestamp() * 1000), "emailCampaignId": campaign, "portalId": 4242, **extra,
        })

    def _sf(self, entity: str, record_id: str, at: datetime, payload: dict[str, Any], person: str | None = None,
            created: datetime | None = None) -> None:
        sobject = {"opportunity_history": "OpportunityHistory", "tasks": "Task", "events": "Event",
                   "campaign_members": "CampaignMember"}[entity]
        payload = {"attributes": {"type": sobject}, "Id": record_id, **payload,
                   "CreatedDate": _sf_time(created or at), "SystemModstamp": _sf_time(at), "IsDeleted": False}
        self.data.add("salesforce", entity, record_id, at, payload, person)

    def salesforce_funnel(self, person: str, email: str | None, first: str, last: str, company: str,
                          domain: str, lead_at: datetime, channel: str, converted_at: datetime | None,
                          outcome: str | None, closed_at: datetime | None, amount: float | None,
                          opted_out: bool = False, campaign: int | None = None) -> str:
        lead_id = self._sf_id("00Q")
        contact_id = opp_id = account_id = None
        if converted_at is not None:
            account_id = self.account(company, domain, lead_at)
            contact_id, opp_id = self._sf_id("003"), self._sf_id("006")
            self.data.add("salesforce", "contacts", contact_id, converted_at, {
                "attributes": {"type": "Contact"}, "Id": contact_id, "AccountId": account_id, "Email": email,
                "FirstName": first, "LastName": last, "HasOptedOutOfEmail": opted_out, "LeadSource": LEAD_SOURCES[channel],
                "CreatedDate": _sf_time(converted_at), "SystemModstamp": _sf_time(converted_at), "IsDeleted": False,
            }, person)
            is_closed = outcome in ("won", "lost")
            close_date = (closed_at or converted_at + timedelta(days=45)).date()
            modified = closed_at if is_closed and closed_at else converted_at
            stage = {"won": "Closed Won", "lost": "Closed Lost"}.get(outcome or "", "Negotiation/Review")
            probability = {"Closed Won": 100, "Closed Lost": 0}.get(stage, 75)
            self.data.add("salesforce", "opportunities", opp_id, modified, {
                "attributes": {"type": "Opportunity"}, "Id": opp_id, "AccountId": account_id,
                "ContactId": contact_id, "Name": f"{company} - {first} {last}", "StageName": stage,
                "Amount": amount, "CurrencyIsoCode": "EUR", "Probability": probability,
                "CloseDate": close_date.isoformat(), "IsClosed": is_closed, "IsWon": outcome == "won",
                "LeadSource": LEAD_SOURCES[channel], "CampaignId": None,
                "Product_Line__c": PRODUCT_LINES[int(opp_id[-3:]) % len(PRODUCT_LINES)],
                "OwnerId": REPS[int(opp_id[-3:]) // 2 % 2][0],
                "CreatedDate": _sf_time(converted_at), "SystemModstamp": _sf_time(modified), "IsDeleted": False,
            })
            history = [("Qualification", converted_at, 20)]
            if outcome in ("won", "open") or (outcome == "lost" and self.rng.random() < 0.5):
                history.append(("Negotiation/Review", converted_at + (modified - converted_at) / 2, 75))
            if is_closed:
                history.append((stage, modified, probability))
            for stage_name, at, prob in history:
                self._sf("opportunity_history", self._sf_id("008"), at, {
                    "OpportunityId": opp_id, "StageName": stage_name, "Amount": amount, "Probability": prob,
                    "CloseDate": close_date.isoformat()})
        modified = converted_at or lead_at
        self.data.add("salesforce", "leads", lead_id, modified, {
            "attributes": {"type": "Lead"}, "Id": lead_id, "Email": email, "FirstName": first, "LastName": last,
            "Company": company, "LeadSource": LEAD_SOURCES[channel],
            "Status": "Closed - Converted" if converted_at else "Working - Contacted",
            "IsConverted": converted_at is not None, "ConvertedDate": converted_at.date().isoformat() if converted_at else None,
            "ConvertedContactId": contact_id, "ConvertedAccountId": account_id, "ConvertedOpportunityId": opp_id,
            "HasOptedOutOfEmail": opted_out,
            "CreatedDate": _sf_time(lead_at), "SystemModstamp": _sf_time(modified), "IsDeleted": False,
        }, person)
        first_touch = lead_at + timedelta(hours=self.rng.choice([1, 2, 4, 8, 26, 50]))
        self._sf("tasks", self._sf_id("00T"), first_touch, {
            "WhoId": lead_id, "WhatId": None, "OwnerId": "005000000000001", "Subject": "Call", "Type": "Call",
            "TaskSubtype": "Call", "Status": "Completed", "ActivityDate": first_touch.date().isoformat()})
        if converted_at is not None:
            self._sf("events", self._sf_id("00U"), converted_at, {
                "WhoId": contact_id, "WhatId": opp_id, "OwnerId": "005000000000001", "Subject": "Discovery meeting",
                "Type": "Meeting", "StartDateTime": _sf_time(converted_at),
                "EndDateTime": _sf_time(converted_at + timedelta(hours=1))})
        if campaign is not None:
            self._sf("campaign_members", self._sf_id("00v"), lead_at, {
                "CampaignId": CAMPAIGN_IDS[campaign], "LeadId": lead_id, "ContactId": contact_id,
                "Status": "Responded", "HasResponded": True, "FirstRespondedDate": lead_at.date().isoformat()})
        return lead_id

    def form_submission(self, contact_id: str, email: str, first: str, last: str, at: datetime,
                        rng: random.Random) -> None:
        if rng.random() >= 0.4:
            return
        form = FORMS[rng.randrange(len(FORMS))]
        conversion = f"conv-{contact_id}"
        self.data.add("hubspot", "form_submissions", conversion, at, {
            "conversionId": conversion, "formId": form["id"], "submittedAt": int(at.timestamp() * 1000),
            "pageUrl": f"https://www.example.com{form['page']}",
            "values": [{"name": "email", "value": email, "objectTypeId": "0-1"},
                       {"name": "firstname", "value": first, "objectTypeId": "0-1"},
                       {"name": "lastname", "value": last, "objectTypeId": "0-1"}],
        })

    def subscription_statuses(self) -> None:
        """One status document per HubSpot contact (its latest state), as the preferences API answers."""
        latest: dict[str, RawRecord] = {}
        for record in self.data.records.get(("hubspot", "contacts"), []):
            latest[record.record_id] = record
        for contact_id, record in sorted(latest.items()):
            props = record.payload["properties"]
            email = (props.get("email") or "").strip().lower()
            if not email or record.is_deleted:
                continue
            roll = self.rng.random()
            basis = None if roll < 0.04 else ("CONSENT_WITH_NOTICE" if roll < 0.2 else "LEGITIMATE_INTEREST_CLIENT")
            person = self.data.person_of.get(("hubspot", "contacts", contact_id), "")
            if person.startswith("story"):
                basis = "LEGITIMATE_INTEREST_CLIENT"
            if basis is None and person:
                self.data.suppress(person, "no_consent")
            if ("hubspot", "contacts", contact_id) in self.data.malformed:
                self.data.malformed.add(("hubspot", "subscription_statuses", contact_id))  # its address is bad too
            status = "NOT_SUBSCRIBED" if props.get("hs_email_optout") == "true" else "SUBSCRIBED"
            self.data.add("hubspot", "subscription_statuses", contact_id, record.version_at, {
                "contactId": contact_id, "recipient": email,
                "subscriptionStatuses": [
                    {"id": str(sub_id), "name": name, "description": name, "status": status,
                     "sourceOfStatus": "SUBSCRIPTION_STATUS", "brandId": None, "preferenceGroupName": None,
                     "legalBasis": basis, "legalBasisExplanation": "Customer relationship" if basis else None}
                    for sub_id, name in SUBSCRIPTIONS
                ],
            })

    def hubspot_campaigns(self) -> None:
        for n, campaign in enumerate(CAMPAIGNS):
            sent = POPULATION_START + timedelta(days=40 * n)
            self.data.add("hubspot", "campaigns", str(campaign), sent, {
                "id": campaign, "appId": 113, "appName": "Batch", "name": CAMPAIGN_NAMES[n],
                "subject": CAMPAIGN_NAMES[n], "type": "BATCH_EMAIL", "contentId": 700000 + campaign,
                "lastUpdatedTime": int(sent.timestamp() * 1000), "processingState": "DONE",
            })

    def users(self) -> None:
        for user_id, first, last in REPS:
            self.data.add("salesforce", "users", user_id, POPULATION_START, {
                "attributes": {"type": "User"}, "Id": user_id, "Name": f"{first} {last}", "FirstName": first,
                "LastName": last, "Email": f"{first}.{last[:6]}@vendor.example".lower(), "Title": "Account Executive",
                "IsActive": True, "CreatedDate": _sf_time(POPULATION_START), "SystemModstamp": _sf_time(POPULATION_START),
            })

    def campaigns(self) -> None:
        for n, campaign in enumerate(CAMPAIGNS):
            start = POPULATION_START + timedelta(days=40 * n)
            self.data.add("salesforce", "campaigns", CAMPAIGN_IDS[campaign], start, {
                "attributes": {"type": "Campaign"}, "Id": CAMPAIGN_IDS[campaign], "Name": CAMPAIGN_NAMES[n],
                "Type": "Email" if n % 2 else "Webinar", "Status": "Completed", "StartDate": start.date().isoformat(),
                "EndDate": (start + timedelta(days=30)).date().isoformat(), "IsActive": False, "ParentId": None,
                "CreatedDate": _sf_time(start), "SystemModstamp": _sf_time(start), "IsDeleted": False,
            })

    def noisy(self, email: str) -> str:
        roll = self.rng.random()
        if roll < self.noise["email_case"]:
            return email.upper()
        if roll < self.noise["email_case"] + self.noise["email_whitespace"]:
            return f" {email.capitalize()} "
        return email

    def typo(self, name: str) -> str:
        if len(name) < 4 or self.rng.random() >= self.noise["name_typo"]:
            return name
        i = self.rng.randrange(1, len(name) - 2)
        return name[:i] + name[i + 1] + name[i] + name[i + 2:]

    def population(self, companies: list[tuple[str, str]], start: int, stop: int) -> None:
        """People number ``start`` to ``stop - 1`` of the population."""
        rng = self.rng
        span = (POPULATION_END - POPULATION_START).total_seconds()
        for n in range(start, stop):
            person = f"p{n:05d}"
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company, domain = rng.choice(companies)
            email = f"{first}.{last}.{n}@{domain}".lower()
            hs_email = email
            roll = rng.random()
            if roll < self.noise["plus_address"]:
                hs_email = email.replace("@", "+news@")
            elif roll < self.noise["plus_address"] + self.noise["personal_email"]:
                hs_email = f"{first}{last}{n}@gmail.com".lower()
            sf_company = f"{company} GmbH" if rng.random() < self.noise["company_renamed"] else company
            channel = rng.choice(CHANNELS)
            created = POPULATION_START + timedelta(seconds=int(rng.random() * span * 0.8))
            in_hubspot = rng.random() < 0.85
            mql = created + timedelta(days=rng.randint(1, 20), hours=rng.randint(0, 8)) if in_hubspot and rng.random() < 0.6 else None
            if in_hubspot:
                self.hubspot_company(company, domain, created)
                contact_id = self.hubspot_contact(person, self.noisy(hs_email), first, last, company, created, mql, channel)
                self.email_history(person, contact_id, hs_email, created, rng)
                self.form_submission(contact_id, hs_email, first, last, created, rng)
                if rng.random() < 0.01:
                    self.archive_hubspot_contact(contact_id, created + timedelta(days=30))
            if mql is not None or (not in_hubspot) or rng.random() < 0.15:
                lead_at = (mql or created) + timedelta(days=rng.randint(0, 3), hours=rng.randint(1, 6))
                converted = lead_at + timedelta(days=rng.randint(2, 20)) if rng.random() < 0.5 else None
                outcome, closed, amount = None, None, None
                if converted is not None:
                    amount = float(rng.choice([2500, 5000, 7500, 12000, 18000, 25000, 40000]))
                    closed = converted + timedelta(days=rng.randint(10, 60))
                    roll = rng.random()
                    outcome = "won" if roll < 0.45 else ("lost" if roll < 0.75 else "open")
                    if closed > POPULATION_END:
                        outcome, closed = "open", None
                    if outcome == "open":
                        closed = None
                opted_out = rng.random() < 0.03
                if lead_at <= POPULATION_END and (converted is None or converted <= POPULATION_END):
                    self.salesforce_funnel(person, self.noisy(email), self.typo(first), self.typo(last), sf_company,
                                           domain, lead_at, channel, converted, outcome, closed, amount,
                                           opted_out=opted_out, campaign=rng.choice(CAMPAIGNS))
                    if opted_out:
                        self.data.suppress(person, "email_opt_out")

    def malformed_contacts(self) -> None:
        for n, bad in enumerate(["not-an-email", "broken@@example"]):
            contact_id = self.ids["hs"] + 1
            self.hubspot_contact(f"bad{n}", bad, "Bad", "Record", "Unknown", POPULATION_START, None, "DIRECT_TRAFFIC")
            self.data.malformed.add(("hubspot", "contacts", str(contact_id)))

    def email_history(self, person: str, contact_id: str, email: str, created: datetime,
                      rng: random.Random) -> None:
        for campaign in CAMPAIGNS:
            if rng.random() < 0.5:
                continue
            sent = created + timedelta(days=rng.randint(1, 90), hours=rng.randint(0, 12))
            if sent > POPULATION_END:
                continue
            self.email_event(email, "SENT", sent, campaign)
            roll = rng.random()
            if roll < 0.03:
                self.email_event(email, "BOUNCE", sent + timedelta(minutes=1), campaign, category="UNKNOWN_USER")
                self.data.suppress(person, "hard_bounce")
                return
            self.email_event(email, "DELIVERED", sent + timedelta(minutes=1), campaign)
            if rng.random() < 0.5:
                self.email_event(email, "OPEN", sent + timedelta(hours=2), campaign)
                if rng.random() < 0.4:
                    self.email_event(email, "CLICK", sent + timedelta(hours=2, minutes=1), campaign)
            if roll > 0.95:
                self.email_event(email, "STATUSCHANGE", sent + timedelta(hours=3), campaign,
                                 portalSubscriptionStatus="UNSUBSCRIBED", changeType="PORTAL_STATUS")
                self.opt_out_hubspot_contact(contact_id, sent + timedelta(hours=3))
                self.data.suppress(person, "unsubscribed")
                return
            if 0.94 < roll <= 0.95:
                self.email_event(email, "SPAMREPORT", sent + timedelta(hours=3), campaign)
                self.data.suppress(person, "spam_complaint")
                return

    def story(self) -> None:
        population_rng, self.rng = self.rng, random.Random(2026)  # the story never depends on the population
        try:
            self._story()
        finally:
            self.rng = population_rng

    def _story(self) -> None:
        for n, s in enumerate(STORY):
            person = f"story{n:02d}"
            domain = (s["hs_email"] or s["sf_email"]).strip().split("@")[1].lower()
            channel = CHANNELS[n % len(CHANNELS)]
            mql = _june(s["mql"]) if s.get("mql") else None
            contact_id = None
            if s["hs_email"]:
                self.hubspot_company(s["company"], domain, _june(s["hs_created"], 8))
                contact_id = self.hubspot_contact(person, s["hs_email"], s["first"], s["last"], s["company"],
                                                  _june(s["hs_created"], 9), mql, channel)
            if s.get("lead"):
                self.salesforce_funnel(
                    person, s["sf_email"], s["first"], s["last"], s["company"], domain, _june(s["lead"], 11), channel,
                    _june(s["converted"], 12) if s.get("converted") else None, s.get("outcome"),
                    _june(s["closed"], 15) if s.get("closed") else None, s.get("amount"), s.get("sf_opted_out", False),
                )
            email = (s["hs_email"] or s["sf_email"]).strip().lower()
            if s.get("opened"):
                self.email_event(email, "OPEN", _june(s["opened"]), 9006)
            if s.get("unsubscribed"):
                self.email_event(email, "STATUSCHANGE", _june(s["unsubscribed"]), 9006,
                                 portalSubscriptionStatus="UNSUBSCRIBED", changeType="PORTAL_STATUS")
                if contact_id:
                    self.opt_out_hubspot_contact(contact_id, _june(s["unsubscribed"]))
                self.data.suppress(person, "unsubscribed")
            if s.get("hard_bounce"):
                self.email_event(email, "BOUNCE", _june(s["hard_bounce"]), 9006, category="UNKNOWN_USER")
                self.data.suppress(person, "hard_bounce")
            if s.get("sf_opted_out"):
                self.data.suppress(person, "email_opt_out")


def generate(seed: int = 7, people: int = 120, noise: dict[str, float] | None = None) -> Dataset:
    """The demo dataset; the same ``seed``, ``people`` and ``noise`` always give the same records."""
    return next(generate_chunks(seed, people, noise))


def generate_chunks(seed: int = 7, people: int = 120, noise: dict[str, float] | None = None,
                    chunk_people: int | None = None) -> Iterator[Dataset]:
    """The dataset in parts of ``chunk_people`` persons each (all in one part by default), so a
    large population never has to be held in memory at once. Each person's records, and the
    ground truth about them, are in one part; campaigns come with the first, the story with the last."""
    builder = _Builder(seed, {**NOISE, **(noise or {})})
    builder.users()
    builder.data.add("hubspot", "deal_pipelines", "default", datetime(2020, 1, 1, tzinfo=UTC), DEFAULT_PIPELINE)
    builder.campaigns()
    builder.hubspot_campaigns()
    companies = builder.companies_for(people)
    size = max(1, chunk_people or people)
    starts = list(range(0, people, size)) or [0]
    for n, start in enumerate(starts):
        builder.population(companies, start, min(start + size, people))
        if n == len(starts) - 1:
            if people:
                builder.malformed_contacts()
            builder.story()
        builder.subscription_statuses()
        for records in builder.data.records.values():
            records.sort(key=lambda r: (r.version_at, r.record_id))
        yield builder.data
        builder.data = Dataset()


class DemoSource:
    """Serves one system's share of a generated ``Dataset`` through the ``Source`` protocol."""

    def __init__(self, system: str, dataset: Dataset, page_size: int = PAGE_SIZE) -> None:
        if system not in ENTITIES:
            raise ValueError(f"demo source has no system {system!r}; choose one of {sorted(ENTITIES)}")
        self.name = system
        self.entities = ENTITIES[system]
        self.dataset = dataset
        self.page_size = page_size

    def extract(self, entity: str, since: datetime | None) -> Iterator[list[RawRecord]]:
        if entity not in self.entities:
            raise ValueError(f"{self.name} has no entity {entity!r}; choose one of {self.entities}")
        records = [r for r in self.dataset.records.get((self.name, entity), []) if since is None or r.version_at >= since]
        for start in range(0, len(records), self.page_size):
            yield records[start : start + self.page_size]


@lru_cache(maxsize=2)
def demo_dataset(seed: int, people: int) -> Dataset:
    """The seeded dataset (``config/sources.yaml``, section ``demo``: the source registry reads it),
    built once per process."""
    return generate(seed=seed, people=people)
