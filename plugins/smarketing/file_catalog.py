"""The file-drop entity catalog: every entity a drop can feed and every field it reads, in one place.

``config/file_drops.yaml`` maps a file's columns onto these fields (settings.py checks the names),
the loader types each value by its field's kind (file_drops.py), the staging view of each entity
is made from it (``staging_sql``), and ``docs/file_drops.md`` is written from it (a test keeps the
page equal to ``markdown()``).

Field kinds, as the loader stores them in the payload:

- ``text``: trimmed; ``email``: trimmed (staging lower-cases it); ``domain``: as written (staging
  keeps the host of a site, lower-cased);
- ``id``: the id of a record of another entity of the same system (``ref``), namespaced like the
  record's own id when the drop sets ``system``;
- ``date``: an ISO date (the drop's ``date_format``; a value with a time of day gives the date in
  the drop's ``timezone``); ``timestamp``: ISO 8601 with its UTC offset (a value without one is in
  the drop's ``timezone``; a date alone is its midnight);
- ``number``: a decimal (the drop's ``decimal``); ``flag``: as written, read by staging
  (``core.is_opt_out_value`` for opt-outs, ``meta.try_boolean`` otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("text", "email", "domain", "id", "date", "timestamp", "number", "flag", "opt_out")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    doc: str
    ref: str = ""  # kind id: the entity it names
    required: bool = False  # a row without it is quarantined


@dataclass(frozen=True)
class Entity:
    name: str
    doc: str  # what one row is
    feeds: str  # what it becomes in the warehouse
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


def _person(*extra: Field) -> tuple[Field, ...]:
    """The fields of a record that describes a person (a lead or a contact)."""
    return (
        Field("email", "email", "the person's email address; identity resolution matches on it"),
        Field("first_name", "text", "first name"),
        Field("last_name", "text", "last name"),
        Field("company", "text", "company name, as written"),
        Field("account_id", "id", "the person's company, an id of the accounts drop", ref="accounts"),
        Field("origin_channel", "text", "the channel the person came through (paid search, referral, ...)"),
        Field("landing_page", "text", "the first page visited"),
        Field("first_contact_date", "timestamp", "the lead date: when the person first got in touch"),
        Field("mql_date", "timestamp", "when marketing qualified the person (MQL)"),
        Field("sql_date", "timestamp", "when sales accepted the person (SQL)"),
        Field("email_opt_out", "opt_out", "set when the person must get no marketing email (any value but empty,"
                                          " false, no, n, 0, f, nein opts out)"),
        Field("owner_id", "text", "the sales rep owning the person"),
        Field("owner_name", "text", "that sales rep's name"),
        Field("phone", "text", "a phone number, in any format (identity compares its last eight digits)"),
        Field("job_title", "text", "job title"),
        Field("city", "text", "city"),
        Field("linkedin_url", "text", "LinkedIn profile URL (linkedin.com/in/...)"),
        *extra,
    )


ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("leads", "one lead (a person not yet a customer contact)",
           "core.person through identity resolution; funnel dates; email opt-outs into suppression",
           _person(Field("contact_id", "id", "the contact this lead became, an id of the contacts drop",
                         ref="contacts"))),
    Entity("contacts", "one contact (a person at a company, often a customer)",
           "core.person through identity resolution, like leads; email opt-outs into suppression",
           _person(Field("lead_id", "id", "the lead this contact came from, an id of the leads drop",
                         ref="leads"))),
    Entity("accounts", "one company",
           "core.account (matched by domain, else normalised name); the account of persons and deals", (
               Field("name", "text", "company name", required=True),
               Field("domain", "domain", "web domain or site (example.com, https://www.example.com/)"),
               Field("industry", "text", "industry"),
               Field("created_date", "timestamp", "when the company was created in the source"),
           )),
    Entity("deals", "one deal (opportunity), open or closed",
           "core.opportunity, its stage history and daily snapshots; funnel, pipeline, forecast, win rate,"
           " customers and after-sales lists", (
               Field("lead_id", "id", "the deal's person, an id of the leads drop", ref="leads"),
               Field("contact_id", "id", "the deal's person, an id of the contacts drop (wins over lead_id)",
                     ref="contacts"),
               Field("account_id", "id", "the deal's company, an id of the accounts drop", ref="accounts"),
               Field("name", "text", "deal name"),
               Field("stage", "text", "current stage in the shared taxonomy (config/quality.yaml"
                                      " pipeline_stages; map other names with `values`)"),
               Field("amount", "number", "deal value"),
               Field("declared_amount", "number", "value the customer declared, used when amount is empty"),
               Field("currency", "text", "ISO 4217 code of the amounts (config/quality.yaml currencies)"),
               Field("probability", "number", "win probability in percent (0 to 100)"),
               Field("created_date", "timestamp", "when the deal was opened"),
               Field("close_date", "date", "expected or actual close date (default: the won or lost date; for"
                                           " one with a time of day, its day in config/kpis.yaml"
                                           " reporting_timezone)"),
               Field("won_date", "timestamp", "when the deal was won (sets it won and closed)"),
               Field("lost_date", "timestamp", "when the deal was lost (sets it lost and closed)"),
               Field("owner_id", "text", "the sales rep owning the deal"),
               Field("owner_name", "text", "that sales rep's name"),
               Field("origin_channel", "text", "the deal's lead source"),
               Field("segment", "text", "customer segment (SMB, Enterprise, ...)"),
               Field("product_line", "text", "product line sold"),
           )),
    Entity("deal_stages", "one stage change of a deal (stage history)",
           "core.opportunity_stage_history (stage visits in business time), pipeline snapshots", (
               Field("deal_id", "id", "the deal, an id of the deals drop", ref="deals", required=True),
               Field("stage", "text", "the stage entered", required=True),
               Field("changed_at", "timestamp", "when it was entered", required=True),
               Field("amount", "number", "the deal's amount from then on"),
               Field("probability", "number", "win probability in percent from then on"),
               Field("close_date", "date", "the close date expected from then on"),
           )),
    Entity("activities", "one sales activity (call, meeting, email, task)",
           "core.activity; lead response time", (
               Field("type", "text", "call, meeting, email, task, ..."),
               Field("subject", "text", "subject line"),
               Field("occurred_at", "timestamp", "when it happened", required=True),
               Field("lead_id", "id", "the person, an id of the leads drop", ref="leads"),
               Field("contact_id", "id", "the person, an id of the contacts drop", ref="contacts"),
               Field("deal_id", "id", "the deal it was about, an id of the deals drop", ref="deals"),
               Field("owner_id", "text", "the sales rep"),
               Field("owner_name", "text", "that sales rep's name"),
           )),
    Entity("campaigns", "one marketing campaign",
           "core.campaign; attribution and email performance", (
               Field("name", "text", "campaign name", required=True),
               Field("type", "text", "campaign type (Email, Webinar, Trade show, ...)"),
               Field("channel", "text", "marketing channel (default: the type, lower-cased)"),
               Field("start_date", "timestamp", "when it started"),
           )),
    Entity("campaign_members", "one person's membership of a campaign",
           "core.touchpoint (campaign responses); attribution and sourced or influenced pipeline", (
               Field("campaign_id", "id", "the campaign, an id of the campaigns drop", ref="campaigns",
                     required=True),
               Field("lead_id", "id", "the person, an id of the leads drop", ref="leads"),
               Field("contact_id", "id", "the person, an id of the contacts drop (wins over lead_id)",
                     ref="contacts"),
               Field("status", "text", "membership status (Sent, Responded, ...)"),
               Field("responded", "flag", "set when the person responded (true, yes, 1)"),
               Field("responded_at", "timestamp", "when the person first responded"),
           )),
    Entity("email_events", "one email event: a send, delivery, open, click, bounce, complaint or"
                           " subscription change",
           "core.email_event; email performance, touchpoints; bounces, complaints and unsubscribes into"
           " suppression", (
               Field("email", "email", "the recipient's address", required=True),
               Field("type", "text", "send, delivered, open, click, hard_bounce (a bounce not said to be soft:"
                                     " `bounce` and `bounced` too), soft_bounce, complaint, unsubscribe or resubscribe"
                                     " (map other names with `values`; a row with another holds its address off"
                                     " every list until it is mapped, except `deferred`, `delayed`, `queued`)",
                     required=True),
               Field("occurred_at", "timestamp", "when it happened", required=True),
               Field("campaign_id", "id", "the campaign, an id of the campaigns drop", ref="campaigns"),
               Field("url", "text", "the link clicked"),
           )),
    Entity("subscriptions", "one address's subscription status (consent) for one subscription type",
           "core.mailbox_consent; suppression (unsubscribed, opted out, no consent without legal basis)", (
               Field("email", "email", "the address", required=True),
               Field("subscription", "text", "subscription type (newsletter, product news, ...; default all)"),
               Field("status", "text", "subscribed, unsubscribed or opted_out (map other names with `values`; a"
                                       " row with another holds its address off every list until it is mapped)",
                     required=True),
               Field("legal_basis", "text", "legal basis of a subscription (consent, legitimate interest, ...);"
                     " none, no, n/a, unknown, not given, tbd, keine and the like, or punctuation alone, are none"),
               Field("changed_at", "timestamp", "when the status was set: a record's status is its latest by this"
                                                " date of every row loaded (an older row sent again changes nothing);"
                                                " without it an unsubscribe counts from when it landed and a"
                                                " subscribe lifts nothing"),
           )),
    Entity("exchange_rates", "one exchange rate from a day on (until the currency's next rate); each row needs"
           " an id of its own, e.g. currency and day",
           "core.exchange_rate: every amount in the reporting currency (config/kpis.yaml)", (
               Field("currency", "text", "ISO 4217 code of the currency quoted (USD)", required=True),
               Field("rate", "number", "units of the base currency one unit of the currency is worth",
                     required=True),
               Field("base_currency", "text", "ISO code the rate is in (default: the reporting currency)"),
               Field("valid_from", "date", "the first day the rate applies (default: always)"),
           )),
)}
# Values the loader accepts for the fields with a fixed vocabulary (after `values` maps a drop's own).
VOCABULARY = {
    ("email_events", "type"): ("send", "delivered", "open", "click", "hard_bounce", "soft_bounce", "complaint",
                               "unsubscribe", "resubscribe"),
    ("subscriptions", "status"): ("subscribed", "unsubscribed", "opted_out"),
}
# Other ways exports write those values (compared without case, spaces, hyphens and underscores).
VARIANTS = {
    "send": ("sent", "processed"), "delivered": ("delivery",), "open": ("opened", "opens"),
    "click": ("clicked", "clicks"),
    "hard_bounce": ("hardbounced", "bounced(hard)", "bounce", "bounced", "bounces"),  # a bounce not said soft
    "soft_bounce": ("softbounced", "bounced(soft)"),
    "complaint": ("spam", "spamreport", "spamcomplaint", "complained", "complaints", "abuse"),
    "unsubscribe": ("unsubscribed", "unsub", "unsubs", "optout", "optedout"),
    "resubscribe": ("resubscribed",),
    "subscribed": ("subscribe", "optin", "optedin"), "unsubscribed": ("unsubscribe", "notsubscribed"),
    "opted_out": ("optout", "optedout"),
}
# Values outside the vocabulary that say nothing of whether a mailbox may be mailed: their rows are
# quarantined, their addresses not held (any other value holds them: file_drops._unknown_word).
SILENT = {
    ("email_events", "type"): ("deferred", "delayed", "queued", "scheduled", "forward", "forwarded", "print",
                               "printed"),
}
COMMON = (Field("system", "text", "the system the export comes from (set it as a constant): ids of drops with"
                                  " different systems never collide"),)


def entity(name: str) -> Entity:
    if name not in ENTITIES:
        raise KeyError(f"no file-drop entity {name!r}; entities: {', '.join(ENTITIES)}")
    return ENTITIES[name]


def fields_of(name: str) -> dict[str, Field]:
    """Every field a drop of entity ``name`` may fill: the entity's own and the common ones."""
    return {f.name: f for f in (*entity(name).fields, *COMMON)}


_CAST = {
    "text": "nullif(btrim(payload ->> '{0}'), '')",
    "id": "nullif(btrim(payload ->> '{0}'), '')",
    "email": "lower(nullif(btrim(payload ->> '{0}'), ''))",
    "domain": r"lower(nullif(regexp_replace(btrim(coalesce(payload ->> '{0}', '')),"
              r" '^(https?://)?(www\.)?([^/]*).*$', '\3'), ''))",
    "date": "meta.try_date(payload ->> '{0}')",
    "timestamp": "meta.try_timestamptz(payload ->> '{0}')",
    "number": "meta.try_numeric(payload ->> '{0}')",
    "flag": "core.is_opt_out_value(payload ->> '{0}')",  # set for any value but empty, false, no, 0, ...
    # a flag set on any landed version of the record, or on a row of it quarantined: a file cannot
    # tell a change from an older row sent again in a later export (its version is the time it
    # landed), so no later row lifts it
    "opt_out": "(core.is_opt_out_value(payload ->> '{0}') or exists (select from raw.file__{entity} as version"
               " where version.record_id = latest.record_id and core.is_opt_out_value(version.payload ->> '{0}'))"
               " or exists (select from quarantine.records as q where q.source = 'file' and q.entity = '{entity}'"
               " and q.payload ->> 'record_id' = latest.record_id"
               " and core.is_opt_out_value(q.payload -> 'mapped' ->> '{0}')))",
}


def staging_sql(name: str) -> str:
    """``staging.stg_file__<name>``: each record's latest version of every drop of the entity, one
    column per field, typed (the only place a file-drop payload is cast); an entity naming a lead
    and a contact also gets the person record it belongs to (``person_entity``, ``person_record_id``:
    the contact when named, else the lead)."""
    spec = entity(name)
    columns = [f"    {_CAST[f.kind].format(f.name, entity=name)} as {f.name}," for f in (*spec.fields, *COMMON)]
    if {"lead_id", "contact_id"} <= set(spec.names):  # the person a record names: its contact, else its lead
        columns += ["    case when nullif(btrim(payload ->> 'contact_id'), '') is null then 'leads'"
                    " else 'contacts' end as person_entity,",
                    "    coalesce(nullif(btrim(payload ->> 'contact_id'), ''), nullif(btrim(payload ->> 'lead_id'),"
                    " '')) as person_record_id,"]
    return "\n".join([  # a flat select, as every per-record staging view (docs/performance.md)
        f"-- Grain: one row per file-drop record of entity {name} ({spec.doc}), its latest version;",
        "-- deleted: missing from the newest file of a snapshot drop. Made from smarketing.file_catalog.",
        f"create or replace view staging.stg_file__{name} as",
        "select",
        *columns,
        "    payload ->> '_drop' as drop_name,",
        "    version_at,",
        "    record_id,",
        "    batch_id,",
        "    is_deleted",
        f"from staging.latest_file__{name} as latest",
    ])


SETTINGS = (  # the keys of a drop in config/file_drops.yaml, for docs/file_drops.md
    ("`entity`", "one of the entities below"),
    ("`location`, `pattern`", "the folder (or an `s3://`-style URL; a relative path is taken from the project"
                              " folder) and the file names in it (`*.csv`); nothing outside the folder is read"),
    ("`format`, `delimiter`, `encoding`", "`csv` (with its delimiter) or `jsonl`; the text encoding"),
    ("`mode`", "`append`: every file adds records; `snapshot`: the newest file (last by name) is the whole current"
               " state, and records missing from it are deleted"),
    ("`id_column`", "the column holding the record's id (default `id`)"),
    ("`columns`", "file column: field, or file column: [field, field] to fill several fields from one column (an"
                  " MQL export's date is the lead date and the MQL date); without `columns`, columns named like"
                  " fields are read as them"),
    ("`constants`", "field: value for every row (a currency, a channel, a `system`)"),
    ("`values`", "field: {file value: value}, to map a file's own names to the shared ones (stages, channels, event"
                 " types); matched as written, else ignoring case"),
    ("`required`", "fields a row must have besides the entity's required ones (else it is quarantined)"),
    ("`date_format`", "a format or a list tried in order (`%d.%m.%Y %H:%M`, `%d/%m/%Y`; `iso` for ISO 8601, the"
                      " default) for every date and timestamp field"),
    ("`timezone`", "the IANA time zone of values without a UTC offset (default UTC)"),
    ("`decimal`", "the decimal separator of numbers (`,` makes `.` a thousands separator)"),
)
GUIDE = """\
# File drops: entities and fields

Written from `plugins/smarketing/file_catalog.py` (`.venv/bin/python -m smarketing.file_catalog >
docs/file_drops.md`); a test keeps the two equal.

A drop in `config/file_drops.yaml` reads the files of one folder as records of one entity below.
Its settings:

{settings}

Every setting names fields of its entity only: another name is a configuration error naming the
allowed ones. Columns mapped to no field are kept with the record (and named in the load's log)
but feed nothing. The ids a record names (`lead_id`, `account_id`, ...) are ids of the same
system's drops: set `system` (a constant) on each drop of a system, and its ids never collide
with another system's.

Kinds: `text`; `email` (an address, compared in lower case); `domain` (a web domain; of a site
URL its host); `id` (a record of another entity); `date` (a calendar date; a value with a time of
day gives its date in the drop's time zone); `timestamp` (an instant; a date alone is midnight in
the drop's time zone); `number`; `flag` (set by any value but an empty one or `false`, `no`, `n`,
`0`, `f`, `nein`); `opt_out` (a flag that, once set on any row of the record that landed, holds, a
row quarantined for another defect included: a file cannot tell a change from an older row sent
again in a later export, so a later row without it lifts nothing). A value that does not parse as
its kind quarantines the row with its file, line and reason.
"""


def markdown() -> str:
    """``docs/file_drops.md``: the drop settings and every entity with its fields."""
    table = "\n".join(["| key | meaning |", "|---|---|", *(f"| {k} | {v} |" for k, v in SETTINGS)])
    out = [GUIDE.replace("{settings}", table)]
    for spec in ENTITIES.values():
        out += [f"## {spec.name}", "", f"One row is {spec.doc}. Feeds {spec.feeds}.", "",
                "| field | kind | meaning |", "|---|---|---|"]
        for f in (*spec.fields, *COMMON):
            words = VOCABULARY.get((spec.name, f.name))
            meaning = f.doc + (" **Required.**" if f.required else "") + (
                f" One of: {', '.join(f'`{w}`' for w in words)}." if words and "(map" not in f.doc else "")
            out.append(f"| `{f.name}` | {f.kind} | {meaning} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown(), end="")
