"""Configuration that cannot be wrong in silence: every file in config/ is validated when loaded,
and a mistake names the file, the key and what is allowed there."""

import shutil
import socket
from pathlib import Path

import pytest

from smarketing import cli, settings
from smarketing.config import PATHS, ConfigError

SHIPPED = PATHS.root / "config"


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A copy of the shipped config/ that a test edits; the pipeline reads it."""
    folder = tmp_path / "config"
    shutil.copytree(SHIPPED, folder)
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(folder))
    return folder


def edit(folder: Path, name: str, old: str, new: str) -> Path:
    path = folder / f"{name}.yaml"
    body = path.read_text()
    assert old in body, f"{old!r} is not in {name}.yaml"
    path.write_text(body.replace(old, new, 1))
    return path


def test_the_shipped_configuration_is_valid(config, capsys):
    assert settings.check_all() == {}
    assert cli.main(["config", "check"]) == 0
    out = capsys.readouterr().out
    for name in ("nurture", "kpis", "quality", "identity", "sources"):
        assert f"{name}.yaml: ok" in out


# (file, text replaced, replacement, what the error must say)
MISTAKES = [
    ("nurture", "\nsuppression:", "\nsupression:", "unknown key 'supression'; allowed here: destinations, programs,"
                                                    " suppression"),
    ("nurture", "    destinations: [csv, view, hubspot_list, mailchimp]", "    destination: [csv, view, hubspot_list]",
     "unknown key 'programs.onboarding.destination'; allowed here: description, destinations, eligibility"),
    ("nurture", "destinations: [csv, view, hubspot_list, mailchimp]", "destinations: [csv, hubspot]",
     "programs.onboarding.destinations.1: Input should be 'csv', 'view', 'files', 'hubspot_list', 'mailchimp' or"
     " 'salesforce_campaign'"),
    ("nurture", "    url: agency ", "    url: ../agency ", "destinations.files.url: must not climb out of its folder"),
    ("nurture", "    url: agency ", "    url: s3:/bucket ", "destinations.files.url: must be a folder URL"),
    ("nurture", "    url: agency ", "    url: file://agency ", "files.url: a file:// URL names an absolute"),
    ("nurture", "eligibility: nurture/programs/renewal.sql", "eligibility: ../config/kpis.yaml",
     "programs.renewal.eligibility: must be a .sql file under sql/"),
    ("nurture", "eligibility: nurture/programs/renewal.sql", "eligibility: nurture/programs/renewals.sql",
     "sql/nurture/programs/renewals.sql does not exist"),
    ("nurture", "require_legal_basis: true", "require_legal_basis: sometimes",
     "suppression.require_legal_basis: Input should be a valid boolean"),
    ("nurture", "example.invalid, mailinator.com]", "example.invalid, mailinator com]",
     "suppression.excluded_domains: 'mailinator com' is not a domain"),
    ("nurture", "list_name_prefix:", "list_prefix:", "unknown key 'destinations.hubspot_list.list_prefix'; allowed"
                                                     " here: conn_id, list_name_prefix"),
    ("nurture", "[UNKNOWN_USER,", "[UNKNOWN_USR,", "suppression.hard_bounce_categories.0: Input should be"),
    ("nurture", "  require_legal_basis: true", "  # require_legal_basis: true",
     "suppression.require_legal_basis: Field required"),
    ("nurture", "  onboarding:\n", "  a_program_name_far_longer_than_any_view_name_may_be:\n",
     "String should have at most 41 characters"),
    ("kpis", "fiscal_year_start_month: 1 ", "fiscal_year_start_month: '1' ",
     "fiscal_year_start_month: Input should be a valid integer"),
    ("kpis", "fiscal_year_start_month: 1 ", "fiscal_year_start_month: 2\nfiscal_year_start_month: 1 ",
     "key 'fiscal_year_start_month' appears twice"),
    ("identity", "  email: [hubspot.contacts,", "  email: [hubspot.contact,", "survivorship.email.0: Input should be"),
    ("kpis", "marketing_channels:", "marketing_channel:", "unknown key 'marketing_channel'"),
    ("kpis", "lead_response_sla_hours: 24 ", "lead_response_business_hours: {start: 9:00}\n"
                                            "lead_response_sla_hours: 24 ",
     "lead_response_business_hours.start: '9:00' is no time of day: write it as HH:MM"),
    ("kpis", "lead_response_sla_hours: 24 ", "lead_response_business_hours: {holidays: [2026-02-30]}\n"
                                            "lead_response_sla_hours: 24 ", "'2026-02-30' is no date"),
    ("kpis", "lead_response_sla_hours: 24 ", "lead_response_business_hours: {start: '17:00', end: '09:00'}\n"
                                            "lead_response_sla_hours: 24 ", "start 17:00 must come before end 09:00"),
    ("kpis", "fiscal_year_start_month: 1 ", "fiscal_year_start_month: 13 ",
     "fiscal_year_start_month: Input should be less than or equal to 12"),
    ("kpis", "abc_thresholds: [0.80, 0.95]", "abc_thresholds: [0.95, 0.80]", "abc_thresholds: needs 0 < A < B <= 1"),
    ("kpis", "  Prospecting: 10", "  Prospecting: '10%'", "stage_probabilities.Prospecting: Input should be a valid"
                                                          " number"),
    ("quality", "max_failure_share: 0.05", "max_failure_share: '100%'",
     "max_failure_share: Input should be a valid number, unable to parse string as a number (got '100%')"),
    ("quality", "suites: {}", "suites: {hubspot__contact: {max_failure_share: 0.01}}",
     "suites: no suite named ['hubspot__contact']"),
    ("quality", "suites: {}", "suites: {hubspot__contacts: {max_failure: 0.01}}",
     "unknown key 'suites.hubspot__contacts.max_failure'; allowed here: max_failure_share"),
    ("quality", "  currencies: [EUR, USD, GBP, CHF]", "  currencies: [EUR, usd]",
     "parameters.currencies.1: String should match pattern"),
    ("identity", "fuzzy:", "fuzy:", "unknown key 'fuzy'; allowed here: free_mail_domains, fuzzy, generic_mailboxes,"
                                   " survivorship"),
    ("identity", "min_name_similarity: 0.55", "min_name_similarity: 55", "fuzzy.min_name_similarity: Input should be"
                                                                        " less than or equal to 1"),
    ("identity", "  email: [hubspot.contacts,", "  e_mail: [hubspot.contacts,", "survivorship.e_mail.[key]"),
    ("identity", "\nfuzzy:", "\nnormalization: {gmail_dots: false}\nfuzzy:", "'normalization' was removed"),
    # a file without the shared mailboxes would compare info@ like a personal address
    ("identity", "generic_mailboxes:", "generic_mailboxe:", "generic_mailboxes: Field required"),
    ("identity", "min_score: 9", "min_score: true", "fuzzy.min_score: Input should be a valid integer"),
    ("identity", "[info, sales,", "[info@, sales,", "generic_mailboxes.0: String should match pattern"),
    ("identity", "[gmail.com,", "['@gmail.com',", "free_mail_domains.0: String should match pattern"),
    ("identity", "[gmail.com,", "[gmail.com, gmail.com,", "free_mail_domains: listed twice: gmail.com"),
    ("sources", "    lookback_minutes: 10\n", "    lookback_minute: 10\n",
     "unknown key 'systems.hubspot.lookback_minute'; allowed here: audience_id, conn_id, custom_fields, deal_stages,"
     " entities, extra_fields, kind, lookback_minutes"),
    ("sources", "    kind: hubspot\n", "    kind: hubspott\n",
     "systems.hubspot.kind: Input should be 'hubspot', 'salesforce', 'mailchimp' or 'demo'"),
    ("sources", "    audience_id: demo_audience\n", "", "systems.mailchimp: kind mailchimp needs audience_id"),
    ("sources", "  people: 120", "  people: many", "demo.people: Input should be a valid integer"),
    ("kpis", "exchange_rates: {}", "exchange_rates: {CHF: .inf}", "exchange_rates.CHF: Input should be a finite"),
    ("kpis", "exchange_rates: {}", "exchange_rates: {CHF: true}", "exchange_rates.CHF: Input should be a valid"),
    ("kpis", "exchange_rates: {}", "exchange_rates: {CHF: '1.05'}", "exchange_rates.CHF: Input should be a valid"),
    ("kpis", "exchange_rates: {}", "exchange_rates: {EUR: 2}", "exchange_rates.EUR: the reporting currency is worth"),
    ("kpis", "reporting_timezone: UTC", "reporting_timezone: Europe/Berln", "'Europe/Berln' is no IANA time zone"),
    ("kpis", "reporting_currency: EUR", "reporting_currency: eur", "reporting_currency: String should match"),
]


@pytest.mark.parametrize(("name", "old", "new", "message"), MISTAKES, ids=[f"{m[0]}:{m[2].strip()[:30]}"
                                                                           for m in MISTAKES])
def test_a_mistake_names_the_file_and_the_key(config, name, old, new, message):
    path = edit(config, name, old, new)
    with pytest.raises(ConfigError) as raised:
        settings.load(name)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("system: mailchimp ", "system: mailchimp_eu ", "destinations.mailchimp.system: 'mailchimp_eu' is not a system"
                                                    " of kind mailchimp in"),
    ("system: salesforce ", "system: hubspot ", "destinations.salesforce_campaign.system: 'hubspot' is not a system"
                                                " of kind salesforce in")])
def test_a_platform_a_list_goes_to_must_be_a_system_the_pipeline_extracts(config, old, new, message):
    path = edit(config, "nurture", old, new)
    (problem,) = settings.check_all()["nurture"]
    assert problem.startswith(f"{path}: ") and message in problem


@pytest.mark.parametrize(("system", "entities", "left_out"), [
    ("mailchimp", "[abuse_reports]", "members"), ("mailchimp", "[]", "abuse_reports, members"),
    ("salesforce", "[opportunities, accounts]", "contacts, leads")])
def test_a_platform_system_must_extract_where_its_unsubscribes_come_from(config, system, entities, left_out):
    """Found by a trial: config check accepted a Mailchimp system reading no members."""
    path = edit(config, "sources", f"    kind: {system}\n", f"    kind: {system}\n    entities: {entities}\n")
    (problem,) = settings.check_all()["sources"]
    assert problem.startswith(f"{path}: systems.{system}.entities: leaves out {left_out}")


def test_a_file_drop_mistake_names_the_file_and_the_key(config):
    drops = config / "file_drops.yaml"
    shutil.copy(PATHS.root / "examples" / "file_drops" / "file_drops.yaml", drops)
    assert settings.check_all() == {}
    for old, new, message in (
        ("    columns:\n      First contact", "    colums:\n      First contact",
         "unknown key 'drops.crm_leads.colums'"),
        ("entity: leads", "entity: prospects", "drops.crm_leads.entity: no file-drop entity 'prospects'; entities:"
                                               " leads, contacts, accounts, deals, deal_stages, activities"),
        ('delimiter: ";"', 'delimiter: ";;"', "drops.crm_leads.delimiter: String should have at most 1 character"),
        ("encoding: utf-8", "encoding: utf-9", "drops.crm_leads.encoding: unknown encoding 'utf-9'"),
        ("      E-mail: email", "      E-mail: email\n      Do not email: email_optout",
         "drops.crm_leads: columns map to ['email_optout'], which leads does not have; fields of leads: email,"),
        ("    constants: {currency: EUR}", "    constants: {currency: EUR, curency: USD}",
         "constants set ['curency'], which deals does not have"),
        ("      Segment: segment", "      Segment: segment\n      Revenue2: amount",
         "['amount'] would get values from two places"),
        ('    date_format: "%d/%m/%Y"\n    decimal', '    date_format: "%d/%m/%Y"\n    timezone: Europe/Berlinn\n'
         '    decimal', "unknown time zone 'Europe/Berlinn'"),
        ("    required: [first_contact_date]", "    required: [first_contact_date]\n    dates: [first_contact_date]",
         "dates are no longer set: the entity catalog types every field"),
        ("    required: [won_date]", "    required: [won_dat]", "required names ['won_dat']"),
        ('    date_format: "%d/%m/%Y"\n  crm_closed', '    date_format: "dd.mm.yyyy"\n  crm_closed',
         "date_format 'dd.mm.yyyy' is no strptime format that reads a date"),
        ('    date_format: "%d/%m/%Y"\n  crm_closed', '    date_format: "%d.%m.%Y %H:%Q"\n  crm_closed',
         "date_format '%d.%m.%Y %H:%Q' is no strptime format"),
        ('    date_format: "%d/%m/%Y"\n  crm_closed', '    date_format: "%H:%M"\n  crm_closed',
         "date_format '%H:%M' is no strptime format"),
        ('    decimal: ","', '    decimal: ";"', "decimal ';': numbers are written with '.' or ','"),
    ):
        body = drops.read_text()
        drops.write_text(body.replace(old, new, 1))
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
            settings.load("file_drops")
        drops.write_text(body)


def test_a_stage_probability_must_name_a_stage_of_the_pipeline(config):
    edit(config, "kpis", "  Negotiation/Review: 75", "  Negotiation/Reveiw: 75")
    problems = settings.check_all()
    assert list(problems) == ["kpis"]
    assert "stage_probabilities.Negotiation/Reveiw: not a stage of" in problems["kpis"][0]


def test_every_stage_of_the_pipeline_needs_a_probability(config):
    """Without one, a deal the CRM gives no probability weighed 0 in the forecast, in silence."""
    edit(config, "kpis", "  Id. Decision Makers: 40\n", "")
    problems = settings.check_all()
    assert list(problems) == ["kpis"]
    assert "stage_probabilities: no probability for Id. Decision Makers" in problems["kpis"][0]


def test_an_empty_or_unreadable_file_is_an_error_naming_it(config):
    (config / "nurture.yaml").write_text("# nothing yet\n")
    with pytest.raises(ConfigError, match="nurture.yaml is empty; delete it to use the shipped"):
        settings.load("nurture")
    (config / "kpis.yaml").write_bytes("lead_response_sla_hours: 4\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="kpis.yaml is not UTF-8"):
        settings.load("kpis")


def test_config_check_lists_every_problem_and_fails(config, capsys):
    edit(config, "nurture", "\nsuppression:", "\nsupression:")
    edit(config, "kpis", "fiscal_year_start_month: 1 ", "fiscal_year_start_month: 0 ")
    assert cli.main(["config", "check"]) == 1
    out = capsys.readouterr().out
    assert "nurture.yaml: invalid\n" in out and "  unknown key 'supression'" in out
    assert "  suppression: Field required" in out  # a missing suppression section is an error, not defaults
    assert "kpis.yaml: invalid\n  fiscal_year_start_month: Input should be greater than or equal to 1" in out
    assert "quality.yaml: ok" in out


def test_every_task_checks_the_configuration_before_it_touches_the_warehouse(config, monkeypatch):
    """The warehouse address is unreachable: a task that got past the check would fail on it instead."""
    from smarketing import tasks

    monkeypatch.setenv("AIRFLOW_CONN_SMARKETING_WAREHOUSE", "postgresql://nobody@127.0.0.1:9/none")
    edit(config, "nurture", "excluded_domains:", "excluded_domain:")
    for task, args in ((tasks.extract, ("hubspot", "r", None)), (tasks.load_file_drops, ("r", None)),
                       (tasks.validate, ("r", None)), (tasks.merge, ("r", None)), (tasks.refresh_kpis, ("r", None)),
                       (tasks.build_nurture_lists, ("r", None))):
        with pytest.raises(ConfigError, match="unknown key 'suppression.excluded_domain'"):
            task(*args)


def test_a_folder_of_overrides_falls_back_to_the_shipped_files(tmp_path, monkeypatch):
    (tmp_path / "kpis.yaml").write_text("lead_response_sla_hours: 4\n")
    monkeypatch.setenv("SMARKETING_CONFIG_DIR", str(tmp_path))
    assert settings.load("kpis")["lead_response_sla_hours"] == 4
    assert settings.load("kpis")["abc_thresholds"] == (0.8, 0.95)  # the default, the key being left out
    assert settings.path_of("quality") == SHIPPED / "quality.yaml"
    assert settings.load("file_drops") == {"drops": {}}


def test_a_stage_map_to_a_stage_the_pipeline_lacks_is_named(config):
    drops = config / "file_drops.yaml"
    body = (PATHS.root / "examples" / "file_drops" / "file_drops.yaml").read_text()
    drops.write_text(body.replace("    constants: {currency: EUR}", "    constants: {currency: EUR}\n"
                                  "    values: {stage: {Gewonnen: Closed Wonn}}"))
    (problem,) = settings.check_all()["file_drops"]
    assert "drops.crm_closed_deals.values.stage maps to 'Closed Wonn', not a stage of" in problem


def test_cross_file_settings_of_money_and_deals_are_checked(config):
    """A reporting currency validation does not know, a HubSpot stage mapped onto a stage the
    pipeline lacks, a system of record that is not configured."""
    edit(config, "kpis", "reporting_currency: EUR", "reporting_currency: XYZ")
    edit(config, "sources", "      contractsent: Negotiation/Review", "      contractsent: Negotiation")
    problems = settings.check_all()
    assert "reporting_currency: 'XYZ' is none of" in problems["kpis"][0]
    assert "systems.hubspot.deal_stages.contractsent maps to 'Negotiation', not a stage of" in problems["sources"][0]
    edit(config, "sources", "deals_system_of_record: salesforce", "deals_system_of_record: pipedrive")
    assert "deals_system_of_record: 'pipedrive' is not one of systems" in settings.check_all()["sources"][0]


def test_a_drops_location_is_read_as_a_file_url_and_a_folder_not_there_is_named(config, tmp_path, capsys):
    """Found by a README-only trial: `file://localhost/tmp/x` was read as the folder `localhost/tmp/x`
    under the project, and a mistyped location passed `config check` (the run said only "not read").
    A file URL of this machine is its path, of another host refused; config check names a local
    folder that does not exist."""
    from smarketing.file_drops import load_drops

    (tmp_path / "esp").mkdir()
    (config / "file_drops.yaml").write_text(
        f"drops:\n  esp: {{location: 'file://localhost{tmp_path}/esp', entity: email_events}}\n"
        f"  esp2: {{location: 'file://{tmp_path}/es%70', entity: email_events, constants: {{system: b}}}}\n"
        f"  typo: {{location: '{tmp_path}/epp', entity: email_events, constants: {{system: c}}}}\n"
        f"  upper: {{location: 'FILE://LOCALHOST{tmp_path}/esp', entity: email_events, constants: {{system: d}}}}\n"
        f"  short: {{location: 'file:{tmp_path}/esp', entity: email_events, constants: {{system: e}}}}\n"
        f"  named: {{location: 'file://{socket.gethostname()}{tmp_path}/esp', entity: email_events,"
        " constants: {system: f}}\n")
    assert [d.location for d in load_drops()] == [str(tmp_path / "esp"), str(tmp_path / "esp"), str(tmp_path / "epp"),
                                                  *[str(tmp_path / "esp")] * 3]
    assert cli.main(["config", "check"]) == 0
    assert (f"file_drops.yaml: ok\n  note: drops.typo.location: folder {tmp_path / 'epp'} does not exist: no file"
            " of it is read until it does") in capsys.readouterr().out
    (config / "file_drops.yaml").write_text(
        "drops:\n  esp: {location: 'file://files.example/exports', entity: leads}\n")
    with pytest.raises(ConfigError, match="drops.esp.location: .*file://files.example/exports names another"
                                          " host: mount its folder and name the path"):
        load_drops()


def test_a_key_yaml_reads_as_a_boolean_is_named_with_how_to_write_it(config):
    """Found by a README-only trial: `values: {status: {yes: unsubscribed, no: subscribed}}` was
    refused as `drops.t1.values.status.1.[key]: Input should be a valid string (got True)`."""
    from smarketing.file_drops import load_drops

    (config / "file_drops.yaml").write_text(
        "drops:\n  t1: {location: /tmp, entity: subscriptions,\n"
        "       values: {status: {yes: unsubscribed, no: subscribed}}}\n")
    with pytest.raises(ConfigError) as raised:
        load_drops()
    assert str(raised.value) == (
        f"{config / 'file_drops.yaml'}: drops.t1.values.status: a key YAML reads as true (yes, on or true written"
        f" unquoted): quote it as the file writes it ('yes'); {config / 'file_drops.yaml'}: drops.t1.values.status:"
        " a key YAML reads as false (no, off or false written unquoted): quote it as the file writes it ('no')")
    # a re-trial's: 550 and a date were refused as no string, ~ too, and a list key printed a traceback
    events = "drops:\n  t1: {location: /tmp, entity: email_events, values: {type: {%s}}}\n"
    (config / "file_drops.yaml").write_text(events % "550: hard_bounce, 2026-06-01: open")
    assert load_drops()[0].values == {"type": {"550": "hard_bounce", "2026-06-01": "open"}}
    (config / "file_drops.yaml").write_text(events % "~: open")
    with pytest.raises(ConfigError, match=r"values\.type: a key YAML reads as null \(~, null or nothing written"):
        load_drops()
    (config / "file_drops.yaml").write_text(events % "[a]: open")
    with pytest.raises(ConfigError, match="a key that is a list or mapping: quote it"):
        load_drops()
    assert cli.main(["config", "check"]) == 1
