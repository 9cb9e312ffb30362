"""The user-editable files in ``config/``, validated when loaded.

Each file has a model here: unknown keys, wrong types and impossible values are a ``ConfigError``
naming the file, the key path and the keys allowed there, before any data changes. A key left
out takes the default shown in the model. ``load(name)`` returns the file as a plain dict with
every default filled in. A folder set with ``SMARKETING_CONFIG_DIR`` overrides the shipped
files one by one. ``check_all()`` (``smarketing config check``, and the first thing every
DAG task does) validates every file.
"""

from __future__ import annotations

import re
import socket
import urllib.parse
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from smarketing.config import PATHS, ConfigError

NAME = r"^[a-z][a-z0-9_]{0,40}$"
# Where a program's list can go (config/nurture.yaml destinations); smarketing.nurture.destinations
# delivers each.
DESTINATIONS = ("csv", "view", "files", "hubspot_list", "mailchimp", "salesforce_campaign")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{2,63}$")
Share = Annotated[float, Field(ge=0, le=1)]
# HubSpot's bounce categories (email events API). A category outside this list is a typo that would
# silently stop suppressing hard bounces; if HubSpot adds one, add it here.
KNOWN_BOUNCE_CATEGORIES = (
    "UNKNOWN_USER", "MAILBOX_FULL", "CONTENT", "SPAM", "POLICY", "GREYLISTING", "MAILBOX_MISCONFIGURATION",
    "ISP_MISCONFIGURATION", "DOMAIN_REPUTATION", "DMARC", "SENDING_DOMAIN_MISCONFIGURATION", "TIMEOUT", "THROTTLED",
    "UNCATEGORIZED", "IP_REPUTATION", "DNS_FAILURE", "TEMPORARY_PROBLEM", "DOMAIN_MISCONFIGURATION", "REJECTED",
)


class SettingsError(ConfigError):
    """One config file is invalid; ``problems`` has one line per key at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


# -- nurture.yaml ----------------------------------------------------------------------------------

class ProgramSettings(Strict):
    description: str = ""
    eligibility: str
    params: dict[str, str | int | float | bool | date | list[str | int | float]] = {}
    fields: Annotated[list[Annotated[str, Field(pattern=NAME)]], Field(min_length=1)] = [
        "email", "first_name", "last_name"]
    destinations: list[Literal[DESTINATIONS]] = ["csv", "view"]  # type: ignore[valid-type]

    @field_validator("eligibility")
    @classmethod
    def _under_sql(cls, value: str) -> str:
        root = PATHS.sql.resolve()
        path = (root / value).resolve()
        if not value.endswith(".sql") or not path.is_relative_to(root):
            raise ValueError(f"must be a .sql file under sql/, not {value!r}")
        if not path.is_file():
            raise ValueError(f"sql/{value} does not exist")
        return value

    @field_validator("fields", "destinations")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"lists an entry twice: {value}")
        return value


class SuppressionSettings(Strict):
    """Every key must be written out: a missing one must not quietly weaken suppression."""

    require_legal_basis: StrictBool
    hard_bounce_categories: Annotated[list[Literal[KNOWN_BOUNCE_CATEGORIES]], Field(min_length=1)]  # type: ignore[valid-type]
    excluded_domains: list[str]

    @field_validator("excluded_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        from smarketing.mailbox import mailbox_key

        out = []
        for domain in value:  # as the mailbox key holds it: müller.de, xn--mller-kva.de read müller.de
            cleaned = (mailbox_key("x@" + domain.strip().lstrip("@").lstrip(".")) or "@").split("@", 1)[1]
            written = ".".join(label if label.isascii() else "xn--" + label.encode("punycode").decode()
                               for label in cleaned.split("."))
            if not DOMAIN.match(written):
                raise ValueError(f"{domain!r} is not a domain (e.g. test.example; its subdomains count too)")
            out.append(cleaned)
        return out


class CsvSettings(Strict):
    file_mode: Annotated[str, Field(pattern=r"^0?[0-7]{3}$")] = "0640"
    group: str = ""

    @field_validator("group")
    @classmethod
    def _group_exists(cls, value: str) -> str:
        if value:
            import grp

            try:
                grp.getgrnam(value)
            except KeyError:
                raise ValueError(f"no group {value!r} on this machine") from None
        return value


class HubSpotListSettings(Strict):
    conn_id: Annotated[str, Field(pattern=NAME)] = "hubspot_default"
    list_name_prefix: str = "Smarketing · "


class MailchimpSettings(Strict):
    """A program's list is a tag in the audience of a Mailchimp system of config/sources.yaml, so
    the audience pushed to is the one whose unsubscribes, cleaned addresses and abuse reports are
    extracted."""

    system: Annotated[str, Field(pattern=NAME)] = "mailchimp"
    tag_prefix: Annotated[str, Field(max_length=60)] = "Smarketing · "


class SalesforceCampaignSettings(Strict):
    """A program's list is a Salesforce campaign of the Salesforce system of config/sources.yaml
    whose leads and contacts are extracted (their opt-out flags flow back through that extract)."""

    system: Annotated[str, Field(pattern=NAME)] = "salesforce"
    campaign_name_prefix: Annotated[str, Field(max_length=40)] = "Smarketing · "
    member_status: Annotated[str, Field(min_length=1, max_length=40)] = "Sent"


class FilesSettings(Strict):
    """Where the ``files`` destination writes each list, through Airflow's ObjectStoragePath: a
    folder URL (s3://aws_default@bucket/nurture: the Airflow connection with the credentials before
    the @; gs://, abfs://, file:///srv/share), an absolute path, or a folder under the export
    folder (SMARKETING_EXPORT_DIR); a scheme needs its Airflow provider installed."""

    url: str = ""
    marker: StrictBool = True  # <file>.done beside each file once it is complete (rows, sha256)
    file_mode: Annotated[str, Field(pattern=r"^0?[0-7]{3}$")] = "0640"  # a local folder's files' permissions

    @field_validator("url")
    @classmethod
    def _folder_url(cls, value: str) -> str:
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value) and not re.match(r"^[a-z][a-z0-9+.-]*://.", value):
            raise ValueError(f"must be a folder URL (s3://bucket/prefix, file:///srv/share) or path, not {value!r}")
        if value.startswith("file://") and not value.startswith("file:///"):
            raise ValueError(f"a file:// URL names an absolute folder (file:///srv/share), not {value!r}")
        if ".." in value.split("/"):
            raise ValueError(f"must not climb out of its folder with '..': {value!r}")
        return value.rstrip("/") if value.rstrip("/") else value


class DestinationSettings(Strict):
    csv: CsvSettings = CsvSettings()
    hubspot_list: HubSpotListSettings = HubSpotListSettings()
    mailchimp: MailchimpSettings = MailchimpSettings()
    salesforce_campaign: SalesforceCampaignSettings = SalesforceCampaignSettings()
    files: FilesSettings = FilesSettings()


class NurtureSettings(Strict):
    programs: dict[Annotated[str, Field(pattern=NAME, max_length=41)], ProgramSettings] = {}
    suppression: SuppressionSettings
    destinations: DestinationSettings = DestinationSettings()

    @model_validator(mode="after")
    def _files_have_a_place(self) -> NurtureSettings:
        users = [name for name, program in self.programs.items() if "files" in program.destinations]
        if users and not self.destinations.files.url:
            raise ValueError(f"programs {', '.join(users)} have the files destination: set destinations.files.url")
        return self


# -- kpis.yaml -------------------------------------------------------------------------------------

def _clock_time(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d|24:00", value):
        raise ValueError(f"{value!r} is no time of day: write it as HH:MM, 00:00 to 24:00 (09:00, not 9 or 9:00)")
    return value


ClockTime = Annotated[str, BeforeValidator(_clock_time)]
Weekday = Literal["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class BusinessHours(Strict):
    """The sales team's calendar: lead response counts only the hours inside it."""

    days: Annotated[list[Weekday], Field(min_length=1)] = ["Mon", "Tue", "Wed", "Thu", "Fri"]
    start: ClockTime = "09:00"
    end: ClockTime = "17:00"
    timezone: str | None = None  # the team's; reporting_timezone when left out
    holidays: list[date] = []

    @model_validator(mode="after")
    def _a_working_day(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError(f"start {self.start} must come before end {self.end}")
        if len(set(self.days)) != len(self.days):
            raise ValueError(f"days {self.days} names a day twice")
        return self

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return None if value is None else _iana_zone(value)


def _iana_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is no IANA time zone (for example Europe/Berlin, America/New_York, UTC)")\
            from None
    return value


class KpiSettings(Strict):
    fiscal_year_start_month: Annotated[StrictInt, Field(ge=1, le=12)] = 1
    lead_response_sla_hours: Annotated[StrictInt, Field(gt=0, le=24 * 365)] = 24
    # None: calendar hours (nights and weekends count); a calendar: only its hours count
    lead_response_business_hours: BusinessHours | None = None
    attribution_lookback_days: Annotated[StrictInt, Field(gt=0, le=3650)] = 365
    marketing_channels: list[str] = []
    stage_probabilities: dict[str, Annotated[float, Field(ge=0, le=100)]] = {}
    abc_thresholds: tuple[Share, Share] = (0.8, 0.95)
    reporting_timezone: str = "UTC"
    reporting_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    # units of the reporting currency one unit of a currency is worth, when no source gives a rate
    exchange_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")],
                         Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]] = {}

    @model_validator(mode="after")
    def _no_rate_for_itself(self) -> KpiSettings:
        if self.reporting_currency in self.exchange_rates:
            raise ValueError(f"exchange_rates.{self.reporting_currency}: the reporting currency is worth 1 of itself;"
                             " list the other currencies")
        return self

    @field_validator("reporting_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return _iana_zone(value)

    @field_validator("abc_thresholds")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 < value[0] < value[1] <= 1:
            raise ValueError(f"needs 0 < A < B <= 1 (cumulative revenue shares), not {list(value)}")
        return value


# -- quality.yaml ----------------------------------------------------------------------------------

class SuiteSettings(Strict):
    max_failure_share: Share


class QualityParameters(Strict):
    pipeline_stages: Annotated[list[str], Field(min_length=1)]
    currencies: Annotated[list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]], Field(min_length=1)]
    lifecycle_stages: Annotated[list[str], Field(min_length=1)]
    email_event_types: Annotated[list[str], Field(min_length=1)]
    subscription_statuses: Annotated[list[str], Field(min_length=1)]
    legal_bases: Annotated[list[str], Field(min_length=1)]
    mailchimp_member_statuses: Annotated[list[str], Field(min_length=1)] = [
        "subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"]
    earliest_close_date: date = date(2000, 1, 1)
    close_date_years_ahead: Annotated[StrictInt, Field(ge=0, le=100)] = 5
    clock_skew_minutes: Annotated[StrictInt, Field(ge=0, le=24 * 60)] = 60


class QualitySettings(Strict):
    max_failure_share: Share = 0.05
    data_docs_runs_kept: Annotated[StrictInt, Field(ge=1)] = 30
    processes: Annotated[StrictInt, Field(ge=1, le=16)] = 2
    suites: dict[str, SuiteSettings] = {}
    parameters: QualityParameters

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, value: dict[str, SuiteSettings]) -> dict[str, SuiteSettings]:
        known = sorted(p.stem for p in (PATHS.expectations / "gx" / "expectations").glob("*.json"))
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"no suite named {unknown}; suites: {known}")
        return value


# -- identity.yaml ---------------------------------------------------------------------------------

SURVIVING = Literal["first_name", "last_name", "company_name", "owner_id", "email", "source_channel"]


class FuzzySettings(Strict):
    enabled: StrictBool = True
    min_name_similarity: Annotated[float, Field(gt=0, le=1)] = 0.55
    min_score: Annotated[StrictInt, Field(ge=1, le=40)] = 9


# The local part of a shared mailbox as the mailbox key writes it (info, no-reply), and a domain
SHARED_LOCAL_PART = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$")]
FREE_MAIL_DOMAIN = Annotated[str, Field(pattern=r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$")]


class IdentitySettings(Strict):
    # required: a file without them would compare shared and free-mail addresses like any other
    generic_mailboxes: list[SHARED_LOCAL_PART]
    free_mail_domains: list[FREE_MAIL_DOMAIN]
    fuzzy: FuzzySettings = FuzzySettings()
    survivorship: dict[SURVIVING, list[Literal["hubspot.contacts", "salesforce.leads", "salesforce.contacts",
                                               "file.contacts", "file.leads"]]]

    @field_validator("generic_mailboxes", "free_mail_domains")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        repeated = sorted({v for v in value if value.count(v) > 1})
        if repeated:
            raise ValueError(f"listed twice: {', '.join(repeated)}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, dict) and "normalization" in data:
            raise ValueError("'normalization' was removed: every address is compared by its mailbox key (case, "
                             "whitespace, +tags and Gmail dots always folded, see smarketing/mailbox.py); "
                             "delete the section")
        return data

    @field_validator("generic_mailboxes", "free_mail_domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value]


# -- sources.yaml ----------------------------------------------------------------------------------

class CustomField(Strict):
    """A custom field of a source's deals, typed into ``core.opportunity.custom``."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]  # its key there
    type: Literal["text", "number", "date", "timestamp", "flag"] = "text"


# The entities whose custom fields reach core, per kind of system.
CUSTOM_FIELD_ENTITIES = {"salesforce": ("opportunities",), "hubspot": ("deals",), "demo": ("opportunities", "deals"),
                         "mailchimp": ()}


class SystemSettings(Strict):
    kind: Literal["hubspot", "salesforce", "mailchimp", "demo"]
    conn_id: Annotated[str, Field(pattern=NAME)] | None = None
    # kind mailchimp: the audience (list) id its members and abuse reports are read from
    audience_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,40}$")] | None = None
    lookback_minutes: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 60)] = 0
    entities: list[Annotated[str, Field(pattern=NAME)]] | None = None
    extra_fields: dict[str, list[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")]]] = {}
    # HubSpot deal stage (its id, or its label) -> a stage of config/quality.yaml pipeline_stages
    deal_stages: dict[str, str] = {}
    # entity -> the source's field (Salesforce API name, HubSpot property) -> its name and type in core
    custom_fields: dict[str, dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")], CustomField]] = {}

    @model_validator(mode="after")
    def _kind_specific(self) -> SystemSettings:
        if (self.kind == "mailchimp") != (self.audience_id is not None):
            raise ValueError("audience_id names the audience of kind mailchimp (Audience settings > Audience ID),"
                             " and is read for no other kind" if self.kind != "mailchimp"
                             else "kind mailchimp needs audience_id (Audience settings > Audience ID)")
        if self.extra_fields and self.kind != "salesforce":
            raise ValueError(f"extra_fields is read only for kind salesforce, not {self.kind}")
        if self.deal_stages and self.kind == "salesforce":
            raise ValueError("deal_stages is read for HubSpot deals (kind hubspot, or demo), not kind salesforce")
        allowed = CUSTOM_FIELD_ENTITIES[self.kind]
        for entity, fields in self.custom_fields.items():
            if entity not in allowed:
                raise ValueError(f"custom_fields.{entity}: custom fields reach core from {', '.join(allowed)} of"
                                 f" kind {self.kind} (extra_fields lands other Salesforce fields in raw)")
            names = [f.name for f in fields.values()]
            if len(set(names)) != len(names):
                raise ValueError(f"custom_fields.{entity}: two fields have one name in core ({', '.join(names)})")
        return self


class DemoSettings(Strict):
    seed: StrictInt = 7
    people: Annotated[StrictInt, Field(gt=0)] = 120


class SourcesSettings(Strict):
    systems: dict[Annotated[str, Field(pattern=NAME)], SystemSettings] = {}
    # The system whose deals count when more than one CRM holds them (file drops always count).
    deals_system_of_record: Annotated[str, Field(pattern=NAME)] | None = None
    demo: DemoSettings = DemoSettings()

    @model_validator(mode="after")
    def _system_of_record_configured(self) -> SourcesSettings:
        if self.deals_system_of_record and self.deals_system_of_record not in self.systems:
            raise ValueError(f"deals_system_of_record: {self.deals_system_of_record!r} is not one of systems"
                             f" ({', '.join(self.systems) or 'none configured'})")
        return self

    @field_validator("systems", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:  # `hubspot: demo` is `hubspot: {kind: demo}`
        if isinstance(value, dict):
            return {k: {"kind": v} if isinstance(v, str) else v for k, v in value.items()}
        return value


# -- file_drops.yaml -------------------------------------------------------------------------------

class DropSettings(Strict):
    entity: str
    location: str
    pattern: str = "*.csv"
    format: Literal["csv", "jsonl"] = "csv"
    mode: Literal["append", "snapshot"] = "append"
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    encoding: str = "utf-8"
    id_column: str = "id"
    columns: dict[str, list[str]] = {}
    constants: dict[str, str] = {}
    values: dict[str, dict[str, str]] = {}
    required: list[str] = []
    date_format: list[str] = ["iso"]
    timezone: str = "UTC"
    decimal: Annotated[str, Field(min_length=1, max_length=1)] = "."

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, value: Any) -> Any:
        if isinstance(value, dict):
            retired = sorted(k for k in ("dates", "numbers") if k in value)
            if retired:
                raise ValueError(f"{' and '.join(retired)} are no longer set: the entity catalog types every field"
                                 " (docs/file_drops.md); delete them")
        return value

    @field_validator("columns", mode="before")
    @classmethod
    def _one_or_several(cls, value: Any) -> Any:  # `Created: first_contact_date` or `Created: [a, b]`
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("date_format", mode="before")
    @classmethod
    def _formats(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("values", mode="before")
    @classmethod
    def _keys_as_written(cls, value: Any) -> Any:
        """A file's value YAML reads as a number or a date (`550:`, `2026-06-01:`) is the text it
        is; a boolean or null key (`yes:`, `~:`) is named by _message with how to quote it."""
        if not isinstance(value, dict):
            return value
        return {field: {str(k) if isinstance(k, int | float | date) and not isinstance(k, bool) else k: v
                        for k, v in mapping.items()} if isinstance(mapping, dict) else mapping
                for field, mapping in value.items()}

    @field_validator("location")
    @classmethod
    def _local_path(cls, value: str) -> str:
        """A file URL of this machine (``file:///x``, ``file://localhost/x``) is its path; of another
        host, refused: nothing here would read it."""
        url = urllib.parse.urlsplit(value)
        if url.scheme != "file":  # urlsplit lower-cases the scheme: FILE:///x too
            return value
        if url.netloc.casefold() not in ("", "localhost", socket.gethostname().casefold()):
            raise ValueError(f"{value} names another host: mount its folder and name the path")
        return urllib.parse.unquote(url.path)

    @field_validator("pattern")
    @classmethod
    def _inside(cls, value: str) -> str:
        if not value.strip():
            raise ValueError(f"pattern {value!r} is empty: name the drop's files ('*.csv', 'leads_*.csv')")
        if value.strip().rstrip("/") in (".", "./", ""):
            raise ValueError(f"pattern {value!r} names the folder itself, not its files ('*.csv', 'leads_*.csv')")
        if value.strip().rstrip("/").rsplit("/", 1)[-1] == "**":  # a glob's ** matches folders alone
            raise ValueError(f"pattern {value!r} names folders, not files: end it with a file's name ('**/*.csv')")
        if value.startswith("/") or ".." in re.split(r"[/\\]", value):
            raise ValueError(f"pattern {value!r} reaches outside the drop's folder (an absolute path or '..')")
        return value

    @field_validator("entity")
    @classmethod
    def _modelled(cls, value: str) -> str:
        from smarketing.file_catalog import ENTITIES

        if value not in ENTITIES:
            raise ValueError(f"no file-drop entity {value!r}; entities: {', '.join(ENTITIES)} (docs/file_drops.md)")
        return value

    @field_validator("encoding")
    @classmethod
    def _codec(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Berlin)") from None
        return value

    @model_validator(mode="after")
    def _known_fields(self) -> DropSettings:
        """Every name a drop uses must be a field of its entity (a typo such as ``email_optout``
        would drop an opt-out in silence), and each field gets its value from one place."""
        from smarketing.file_catalog import VOCABULARY, fields_of

        if not self.date_format:
            raise ValueError("date_format lists no format")
        for fmt in self.date_format:
            if fmt != "iso" and not _a_date_format(fmt):
                raise ValueError(f"date_format {fmt!r} is no strptime format that reads a date (for example"
                                 " '%d.%m.%Y %H:%M'), nor 'iso'")
        if self.decimal not in (".", ",") or self.decimal == self.delimiter:
            raise ValueError(f"decimal {self.decimal!r}: numbers are written with '.' or ',', and not with the"
                             " delimiter")
        known = set(fields_of(self.entity))
        allowed = f"fields of {self.entity}: {', '.join(fields_of(self.entity))} (docs/file_drops.md)"
        targets = [t for ts in self.columns.values() for t in ts]
        for what, names in (("columns map to", targets), ("constants set", list(self.constants)),
                            ("values map", list(self.values)), ("required names", self.required)):
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"{what} {unknown}, which {self.entity} does not have; {allowed}")
        clash = sorted({t for t in targets if targets.count(t) > 1} | (set(targets) & set(self.constants)))
        if clash:
            raise ValueError(f"{clash} would get values from two places (two columns, or a column and a constant)")
        for name, mapping in self.values.items():  # matched ignoring case and surrounding spaces, as values are
            seen: dict[str, str] = {}
            for key, target in mapping.items():
                if seen.setdefault(key.strip().casefold(), target) != target:
                    raise ValueError(f"values.{name} maps {key!r} twice, to {seen[key.strip().casefold()]!r} and"
                                     f" {target!r} (keys are matched ignoring case and surrounding spaces)")
        for name, words in ((n, w) for (e, n), w in VOCABULARY.items() if e == self.entity):
            stray = sorted({v for v in self.values.get(name, {}).values() if v.lower() not in words})
            if stray:
                raise ValueError(f"values.{name} maps to {stray}; {name} is one of {', '.join(words)}")
        return self


def _a_date_format(fmt: str) -> bool:
    """Whether ``fmt`` is a strptime format naming a day, month and year that reads back what it writes."""
    from datetime import datetime

    if not all(d in fmt for d in ("%d", "%m")) and "%b" not in fmt and "%B" not in fmt and "%j" not in fmt:
        return False
    if "%Y" not in fmt and "%y" not in fmt:
        return False
    sample = datetime(2026, 11, 29, 21, 45, 7)
    try:
        return datetime.strptime(sample.strftime(fmt), fmt).date() == sample.date()
    except ValueError:
        return False


class FileDropSettings(Strict):
    drops: dict[Annotated[str, Field(pattern=NAME)], DropSettings] = {}

    @model_validator(mode="after")
    def _ids_apart(self) -> FileDropSettings:
        """Two drops of one entity reading one folder with one `system` (or none) would land a file
        both match twice under the same ids, each with its own mapping, the last load deciding what
        a record says (a hard bounce read as an open): refused."""
        seen: dict[tuple[str, str, str], str] = {}
        for name, drop in self.drops.items():
            key = (drop.entity, _folder(drop.location), str(drop.constants.get("system", "")))
            if key in seen:
                raise ValueError(f"drops {seen[key]} and {name} both read {drop.entity} from {drop.location} with the"
                                 " same ids: give each its own `constants: {system: ...}` (a file both match would"
                                 " otherwise be landed twice, the last load deciding what its records say)")
            seen[key] = name
        return self


def _folder(location: str) -> str:
    """The folder a drop's location names, however written: a local one (relative to the project,
    as `file_drops.load_drops` reads it; a file URL is its path already) absolute with `..` and
    symbolic links resolved."""
    if "://" in location:
        return location.rstrip("/")
    return str((PATHS.root / location).resolve())


MODELS: dict[str, type[Strict]] = {
    "nurture": NurtureSettings, "kpis": KpiSettings, "quality": QualitySettings, "identity": IdentitySettings,
    "sources": SourcesSettings, "file_drops": FileDropSettings,
}
OPTIONAL = {"file_drops"}  # may be absent: no file drops


SHIPPED = PATHS.root / "config"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping (the later would win), and
    reading a clock time (17:00) as the text it is, not YAML 1.1's base-60 number 1020."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, list | dict):
                raise yaml.constructor.ConstructorError(None, None, "a key that is a list or mapping: quote it",
                                                        key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice",
                                                        key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        """A date that does not exist (2026-02-30) is an error at its line, not a traceback."""
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is no date ({exc})",
                                                    node.start_mark) from None


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp)
_UniqueKeyLoader.yaml_implicit_resolvers = {
    first: [("tag:yaml.org,2002:str", re.compile(r"^\d{1,2}:[0-5]\d$")), *resolvers] if first.isdigit()
    else list(resolvers)
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def path_of(name: str, folder: Path | None = None) -> Path:
    """The file in use: ``<config folder>/<name>.yaml``, else the shipped one in ``config/`` (a
    folder set with ``SMARKETING_CONFIG_DIR`` needs only the files it changes)."""
    own = (folder or PATHS.config) / f"{name}.yaml"
    return own if own.exists() or not (SHIPPED / f"{name}.yaml").exists() else SHIPPED / f"{name}.yaml"


def _message(path: Path, model: type[Strict], error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"] if not str(part).startswith("function-"))
    if error["type"] == "extra_forbidden":
        parent: Any = model
        for part in error["loc"][:-1]:
            fields = getattr(parent, "model_fields", {})
            if part in fields:
                annotation = fields[part].annotation
                parent = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
                if parent is None:
                    args = getattr(fields[part].annotation, "__args__", ())
                    parent = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), None)
            if parent is None:
                break
        allowed = sorted(parent.model_fields) if parent is not None else []
        return f"{path}: unknown key '{loc}'" + (f"; allowed here: {', '.join(allowed)}" if allowed else "")
    if error["loc"][-1:] == ("[key]",) and (isinstance(error["input"], bool) or error["input"] is None):
        loc = ".".join(str(part) for part in error["loc"][:-2])
        written = {True: "yes, on or true", False: "no, off or false", None: "~, null or nothing"}[error["input"]]
        return (f"{path}: {loc}: a key YAML reads as {str(error['input']).lower().replace('none', 'null')}"
                f" ({written} written unquoted): quote it as the file writes it ('{written.split(',')[0]}')")
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NAME:
        message = "must be lowercase letters, digits and _, starting with a letter"
    return f"{path}: {loc or '(top level)'}: {message}" + (
        f" (got {error['input']!r})" if error["type"] != "missing" and not isinstance(error["input"], dict) else "")


def load(name: str, folder: Path | None = None, path: Path | None = None) -> dict[str, Any]:
    """``config/<name>.yaml`` (or ``path``, a file of that kind) validated, with defaults filled in;
    raises ``ConfigError``."""
    model = MODELS[name]
    path = path or path_of(name, folder)
    if not path.exists():
        if name in OPTIONAL:
            return model().model_dump(mode="python")
        raise SettingsError([f"{path} does not exist"])
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader
    except UnicodeDecodeError as exc:
        raise SettingsError([f"{path} is not UTF-8 ({exc.reason} at byte {exc.start}); save it as UTF-8"]) from None
    except yaml.YAMLError as exc:
        raise SettingsError([f"{path} is not valid YAML: {exc}"]) from exc
    if raw is None:
        raise SettingsError([f"{path} is empty; delete it to use the shipped {SHIPPED / path.name}"])
    if not isinstance(raw, dict):
        raise SettingsError([f"{path}: the top level must be a mapping of keys, not a {type(raw).__name__}"])
    try:
        return model.model_validate(raw).model_dump(mode="python")
    except ValidationError as exc:
        raise SettingsError([_message(path, model, dict(e)) for e in exc.errors()]) from None


def check_all(folder: Path | None = None) -> dict[str, list[str]]:
    """Validate every file; return the problems per file name (none when all are valid)."""
    problems: dict[str, list[str]] = {}
    loaded = {}
    for name in MODELS:
        try:
            loaded[name] = load(name, folder)
        except SettingsError as exc:
            problems[name] = exc.problems
    if "kpis" in loaded and "quality" in loaded:  # one pipeline, named alike in both files
        stages = set(loaded["quality"]["parameters"]["pipeline_stages"])
        for stage in loaded["kpis"]["stage_probabilities"]:
            if stage not in stages:
                problems.setdefault("kpis", []).append(
                    f"{path_of('kpis', folder)}: stage_probabilities.{stage}: not a stage of "
                    f"{path_of('quality', folder)} parameters.pipeline_stages ({', '.join(sorted(stages))})")
        # a deal the CRM gives no probability would weigh 0 in the forecast, in silence
        unweighted = [s for s in loaded["quality"]["parameters"]["pipeline_stages"]
                      if s not in loaded["kpis"]["stage_probabilities"]]
        if unweighted:
            problems.setdefault("kpis", []).append(
                f"{path_of('kpis', folder)}: stage_probabilities: no probability for {', '.join(unweighted)} (stages"
                f" of {path_of('quality', folder)} parameters.pipeline_stages); give each stage one, 0 included")
    if "kpis" in loaded and "quality" in loaded:  # amounts are reported in a currency validation knows
        currencies = loaded["quality"]["parameters"]["currencies"]
        if loaded["kpis"]["reporting_currency"] not in currencies:
            problems.setdefault("kpis", []).append(
                f"{path_of('kpis', folder)}: reporting_currency: {loaded['kpis']['reporting_currency']!r} is none of"
                f" {path_of('quality', folder)} parameters.currencies ({', '.join(currencies)})")
    if "sources" in loaded and "quality" in loaded:  # so do a HubSpot portal's deal stages
        stages = set(loaded["quality"]["parameters"]["pipeline_stages"])
        for system, spec in loaded["sources"]["systems"].items():
            for key, stage in spec["deal_stages"].items():
                if stage not in stages:
                    problems.setdefault("sources", []).append(
                        f"{path_of('sources', folder)}: systems.{system}.deal_stages.{key} maps to {stage!r}, not a"
                        f" stage of {path_of('quality', folder)} parameters.pipeline_stages"
                        f" ({', '.join(sorted(stages))})")
    if "nurture" in loaded and "sources" in loaded:  # a platform a list goes to is extracted: its opt-outs flow back
        systems = loaded["sources"]["systems"]
        for destination, kind, opt_outs in (("mailchimp", "mailchimp", ("members", "abuse_reports")),
                                            ("salesforce_campaign", "salesforce", ("leads", "contacts"))):
            users = [name for name, program in loaded["nurture"]["programs"].items()
                     if destination in program["destinations"]]
            system = loaded["nurture"]["destinations"][destination]["system"]
            spec = systems.get(system, {})
            if users and spec.get("kind") != kind:
                problems.setdefault("nurture", []).append(
                    f"{path_of('nurture', folder)}: destinations.{destination}.system: {system!r} is not a system of"
                    f" kind {kind} in {path_of('sources', folder)} ({', '.join(systems) or 'none configured'}); the"
                    " platform a list goes to must be extracted, so its unsubscribes suppress (programs with the"
                    f" {destination} destination: {', '.join(users)})")
            elif users and spec.get("entities") is not None and set(opt_outs) - set(spec["entities"]):
                problems.setdefault("sources", []).append(
                    f"{path_of('sources', folder)}: systems.{system}.entities: leaves out"
                    f" {', '.join(sorted(set(opt_outs) - set(spec['entities'])))}, where the unsubscribes of a"
                    f" platform lists go to come from ({path_of('nurture', folder)}: programs {', '.join(users)})")
    if "nurture" in loaded and any("files" in p["destinations"] for p in loaded["nurture"]["programs"].values()):
        problem = _files_scheme_problem(loaded["nurture"]["destinations"]["files"]["url"])
        if problem:
            problems.setdefault("nurture", []).append(
                f"{path_of('nurture', folder)}: destinations.files.url: {problem}")
    if "file_drops" in loaded and "quality" in loaded:  # a drop's stage names map onto that pipeline too
        stages = set(loaded["quality"]["parameters"]["pipeline_stages"])
        for drop, spec in loaded["file_drops"]["drops"].items():
            for stage in sorted(set(spec["values"].get("stage", {}).values()) - stages):
                problems.setdefault("file_drops", []).append(
                    f"{path_of('file_drops', folder)}: drops.{drop}.values.stage maps to {stage!r}, not a stage of"
                    f" {path_of('quality', folder)} parameters.pipeline_stages ({', '.join(sorted(stages))})")
    return problems


def _files_scheme_problem(url: str) -> str | None:
    """Why no filesystem can write to ``url`` (its scheme has no Airflow provider installed), or None."""
    scheme = url.split("://", 1)[0] if "://" in url else "file"
    try:
        from airflow.sdk.io.fs import _register_filesystems  # the schemes the installed providers register
    except ImportError:
        return None
    known = set(_register_filesystems())
    if scheme in known:
        return None
    return (f"no filesystem for {scheme}:// is installed ({', '.join(sorted(known))} are); install its Airflow"
            " provider: apache-airflow-providers-amazon for s3://, -google for gs://, -microsoft-azure for abfs://")


def require_valid(folder: Path | None = None) -> None:
    """Raise ``ConfigError`` with every problem of every file (each DAG task calls this first)."""
    problems = check_all(folder)
    if problems:
        raise ConfigError("configuration is invalid, nothing was changed: "
                          + "; ".join(p for file_problems in problems.values() for p in file_problems))
