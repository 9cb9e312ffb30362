"""Each place a list goes beyond the warehouse (a files folder, a Mailchimp tag, a Salesforce
campaign, next to the HubSpot list), tried from the outside: source records served over HTTP,
the whole pipeline run after run, and the platforms' fakes observed (tests/fixtures/runs.py).

Per destination: the first push, a second with one join and one leave (only those sent), a push
that fails midway and resumes without duplicates, a member unsubscribed or cleaned on the
platform (off every list at the next run, never subscribed again), a 429 storm, the dry run.
"""

from __future__ import annotations

import hashlib
import io
import json
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from smarketing import cli
from smarketing.demo.fakes import Fault
from smarketing.nurture import mailchimp, salesforce_campaign
from smarketing.report import summary
from tests.fixtures.runs import AUDIENCE, TAG, assert_never_reached
from tests.fixtures.world import AS_OF, NURTURE_YAML, World

EVERY_PLATFORM = "[csv, view, hubspot_list, files, mailchimp, salesforce_campaign]"


def customers(world: World, run: int = 1) -> dict[str, str]:
    """Ann (Salesforce and HubSpot), Bob (Salesforce) and Cem (a CRM export only): the Salesforce
    contact id of each who has one."""
    account = world.salesforce_account(run, "Lind AB")
    ids = {}
    for first, address in (("Ann", "ann@lind.example"), ("Bob", "bob@lind.example")):
        ids[first] = world.salesforce_contact(run, address, first, "Lind", account)
        world.salesforce_won_deal(run, ids[first], account, 400)
    world.hubspot_contact(run, "ann@lind.example", "Ann", "Lind")
    world.file_deal(run, world.file_lead(run, "cem@lind.example", "Cem", "Ösp"))
    ids["account"] = account
    return ids


def sent(fake, method: str, path: str) -> list:
    return [body for m, p, body in fake.writes_sent if m == method and p.startswith(path)]


def test_each_destination_gets_the_list_then_only_who_joined_and_who_left(run_world):
    world = World()
    ids = customers(world)
    dora = world.salesforce_contact(2, "dora@lind.example", "Dora", "Lind", ids["account"])
    world.salesforce_won_deal(2, dora, ids["account"], 900)
    world.salesforce_opt_out(2, ids["Bob"])
    seen: dict[str, object] = {}

    def between(run: int, folder: Path) -> None:
        if run == 2:  # what the platforms got in run 1, before run 2 sends anything
            seen["marker"] = json.loads((folder / "share" / f"customers_{AS_OF}.csv.done").read_text())
            seen["file"] = (folder / "share" / f"customers_{AS_OF}.csv").read_bytes()
            seen["share"] = folder / "share"
            seen["mailchimp_before"] = len(run_world.platforms.mailchimp.writes_sent)

    first, second = run_world(world, runs=2, before_run=between)
    assert first.files == first.mailchimp == first.csv == {"ann@lind.example", "bob@lind.example", "cem@lind.example"}
    assert first.campaign == {"ann@lind.example", "bob@lind.example"}  # Cem has no Salesforce record
    assert seen["marker"]["rows"] == 3
    assert seen["marker"]["sha256"] == hashlib.sha256(seen["file"]).hexdigest()
    assert not [p for p in seen["share"].iterdir() if p.name.startswith(".")]  # no temporary file left

    assert second.files == second.mailchimp == second.csv == {"ann@lind.example", "cem@lind.example",
                                                              "dora@lind.example"}
    assert second.campaign == {"ann@lind.example", "dora@lind.example"}
    assert_never_reached(second, {"bob@lind.example"})
    # run 2 sent only Dora's join and Bob's leave
    mailchimp_fake = run_world.platforms.mailchimp
    run2 = mailchimp_fake.writes_sent[seen["mailchimp_before"]:]
    subscribed = [m["email_address"] for _, p, body in run2 if p == f"/3.0/lists/{AUDIENCE}" for m in body["members"]]
    tagged = [a for _, p, body in run2 if "/segments/" in p for a in body["members_to_add"]]
    untagged = [a for _, p, body in run2 if "/segments/" in p for a in body["members_to_remove"]]
    assert (subscribed, tagged, untagged) == (["dora@lind.example"], ["dora@lind.example"], ["bob@lind.example"])
    org = run_world.platforms.fakes["salesforce"]
    added = [r["ContactId"] for body in sent(org, "POST", "/services/data/v62.0/composite/sobjects")
             for r in body["records"]]
    removed = [i for query in sent(org, "DELETE", "/services/data/v62.0/composite/sobjects")
               for i in query["ids"].split(",")]
    assert added == [dora] and len(removed) == 1
    # Bob left the tag, not the audience (his opt-out is Salesforce's; Mailchimp keeps its own status)
    assert mailchimp_fake.member(AUDIENCE, "bob@lind.example")["status"] == "subscribed"


def test_a_push_that_fails_midway_resumes_without_duplicates(run_world, monkeypatch):
    """Run 2 (everyone joins then) fails after the first member of each platform was taken; run 3
    sends the rest, once."""
    monkeypatch.setattr(mailchimp, "BATCH", 1)
    monkeypatch.setattr(salesforce_campaign, "BATCH", 1)
    world = World()
    customers(world, run=2)
    def trouble(run: int, _folder: Path) -> None:
        platforms = run_world.platforms
        if run == 2:
            platforms.mailchimp.inject(Fault(status=400, times=1, after=1, path=f"/3.0/lists/{AUDIENCE}/segments/"))
            platforms.fakes["salesforce"].inject(Fault(status=400, times=1, after=1,
                                                       path="/services/data/v62.0/composite/sobjects"))

    _, second, third = run_world(world, runs=3, before_run=trouble, failing_runs=(2,))
    assert "mailchimp" in second.error and "salesforce_campaign" in second.error
    assert len(second.mailchimp) == 1 and len(second.campaign) == 1
    assert third.mailchimp == {"ann@lind.example", "bob@lind.example", "cem@lind.example"}
    assert third.campaign == {"ann@lind.example", "bob@lind.example"}
    org = run_world.platforms
    members = [m for m in org.salesforce_members.values() if not m.get("IsDeleted")]
    assert len(members) == len({(m["CampaignId"], m["ContactId"]) for m in members}) == 2


def test_a_crash_after_the_platform_took_the_call_adds_nobody_twice(run_world, engine):
    world = World()
    customers(world)

    def forget(run: int, _folder: Path) -> None:
        if run == 2:  # the pushes were taken, but the sync table never heard of it
            with engine.begin() as conn:
                conn.execute(text("delete from nurture.platform_sync"))

    first, second = run_world(world, runs=2, before_run=forget)
    assert second.mailchimp == first.mailchimp and second.campaign == first.campaign
    members = [m for m in run_world.platforms.salesforce_members.values() if not m.get("IsDeleted")]
    assert len(members) == 2  # DUPLICATE_VALUE was looked up, not added again
    with engine.connect() as conn:
        synced = conn.execute(text("select platform, count(*) filter (where in_list), count(member_id)"
                                   " from nurture.platform_sync group by platform order by platform")).all()
    assert synced == [("hubspot_list", 1, 0), ("mailchimp", 3, 3), ("salesforce_campaign", 2, 2)]


def test_unsubscribed_cleaned_pending_or_complaining_on_mailchimp_is_off_every_list(run_world, engine):
    """Run 1 pushes Ann, Bob and Cem; before run 2 Ann unsubscribes in Mailchimp, Bob's address is
    cleaned; Dora, a customer from run 2, is pending there, Eve complained about a campaign. Run 2
    takes them off (or never puts them on) every list, the HubSpot list and the campaign included,
    and nobody is subscribed again in Mailchimp, not in run 3 either."""
    world = World()
    ids = customers(world)
    for first in ("Dora", "Eve"):
        contact = world.salesforce_contact(2, f"{first.lower()}@lind.example", first, "Lind", ids["account"])
        world.salesforce_won_deal(2, contact, ids["account"], 100)
    world.mailchimp_member(2, "Ann@Lind.example", "unsubscribed")
    world.mailchimp_member(2, "bob@lind.example", "cleaned")
    world.mailchimp_member(2, "dora+news@lind.example", "pending")
    world.mailchimp_abuse(2, "eve@lind.example")
    world.mailchimp_member(3, "ann@lind.example", "archived")  # archived after unsubscribing (trial): still off
    world.mailchimp_member(3, "bob@lind.example", "archived")
    first, second, third = run_world(world, runs=3)
    assert first.mailchimp == first.campaign | {"cem@lind.example"} == {"ann@lind.example", "bob@lind.example",
                                                                         "cem@lind.example"}
    gone = {"ann@lind.example", "bob@lind.example", "dora@lind.example", "eve@lind.example"}
    for reached in (second, third):
        assert_never_reached(reached, gone)
        assert reached.csv == reached.mailchimp == reached.files == {"cem@lind.example"}
    fake = run_world.platforms.mailchimp
    assert (fake.member(AUDIENCE, "ann@lind.example")["status"], fake.member(AUDIENCE, "bob@lind.example")["status"],
            fake.member(AUDIENCE, "dora+news@lind.example")["status"]) == ("archived", "archived", "pending")
    with engine.connect() as conn:
        reasons = dict(conn.execute(text(
            "select split_part(mailbox_key, '@', 1), string_agg(reason, ',' order by reason)"
            " from nurture.suppressed_mailbox where evidence like 'mailchimp:%' group by 1")).all())
    # a complaint also unsubscribes the member in Mailchimp
    assert reasons == {"ann": "unsubscribed", "bob": "hard_bounce", "dora": "no_consent",
                       "eve": "spam_complaint,unsubscribed"}


def test_a_429_storm_is_waited_out(run_world):
    world = World()
    customers(world)

    def storm(run: int, _folder: Path) -> None:
        platforms = run_world.platforms
        platforms.mailchimp.inject(Fault(status=429, times=3, path=f"/3.0/lists/{AUDIENCE}"))
        platforms.fakes["salesforce"].inject(Fault(status=429, times=3, headers={"Retry-After": "0"},
                                                   path="/services/data/v62.0/composite/sobjects"))

    (reached,) = run_world(world, before_run=storm)
    assert reached.mailchimp == {"ann@lind.example", "bob@lind.example", "cem@lind.example"}
    assert reached.campaign == {"ann@lind.example", "bob@lind.example"}


def changes(platforms) -> int:
    """The writes the platforms took (a Salesforce login is none)."""
    return sum(1 for fake in platforms.fakes.values() for _, path, _ in fake.writes_sent
               if path != "/services/oauth2/token")


def test_the_dry_run_says_what_a_push_would_do_and_sends_nothing(run_world):
    """Run 1 keeps the list to the warehouse; then every platform is named and the dry run counts
    per platform what run 2 then does; after run 3 drops Mailchimp, its tag is emptied."""
    world = World()
    customers(world)
    out: dict[int, str] = {}
    before: dict[int, int] = {}

    def reconfigure(run: int, folder: Path) -> None:
        nurture = folder / "config" / "nurture.yaml"
        if run == 2:
            nurture.write_text(nurture.read_text().replace("[csv, view]", EVERY_PLATFORM))
            platforms = run_world.platforms
            before[run] = changes(platforms)
            printed = io.StringIO()
            with redirect_stdout(printed):
                assert cli.main(["lists", "push", "customers", "--dry-run"]) == 0
            out[run] = printed.getvalue()
            assert changes(platforms) == before[run]  # nothing sent
            assert platforms.mailchimp.tagged(AUDIENCE, TAG) == set()
        if run == 3:
            nurture.write_text(nurture.read_text().replace(EVERY_PLATFORM, "[csv, view, salesforce_campaign]"))

    config = NURTURE_YAML.replace(EVERY_PLATFORM, "[csv, view]")
    first, second, third = run_world(world, runs=3, before_run=reconfigure, nurture_yaml=config)
    assert first.mailchimp == first.campaign == first.platform == set()
    lines = sorted(out[2].splitlines())
    assert len(lines) == 3, lines
    assert any(line.startswith("customers -> mailchimp") and line.endswith("would add 3, would remove 0")
               for line in lines), lines
    assert any(line.startswith("customers -> salesforce_campaign") and "would add 2, would remove 0" in line
               and "1 member has no record there" in line for line in lines), lines
    assert any(line.startswith("customers -> hubspot_list") and "would add 1, would remove 0" in line
               and "2 members have no record there" in line for line in lines), lines
    assert second.mailchimp == {"ann@lind.example", "bob@lind.example", "cem@lind.example"}
    assert len(second.campaign) == 2 and len(second.platform) == 1
    assert third.mailchimp == set() and third.platform == set()  # no longer named: emptied
    assert third.campaign == second.campaign


def test_a_files_folder_no_installed_provider_serves_stops_the_run_before_anything(run_world):
    """Found by a trial: config check accepted it, and the nurture run failed (and was retried)
    only after every other delivery."""
    world = World()
    customers(world)
    config = NURTURE_YAML.replace('url: "{share}"', 'url: "s3://aws_default@agency-bucket/nurture"')
    (reached,) = run_world(world, nurture_yaml=config, failing_runs=(1,))
    assert "destinations.files.url: no filesystem for s3://" in reached.error
    assert "apache-airflow-providers-amazon" in reached.error
    assert all(addresses == set() for addresses in reached.everywhere().values())


def test_a_platform_that_lost_its_list_gets_everyone_again_and_the_dry_run_says_so(run_world):
    """Found by a trial: the list, tag or campaign deleted on the platform (made anew, perhaps under
    the old id), the dry run said "would add 3" and the push added nobody."""
    world = World()
    customers(world)
    printed = io.StringIO()

    def lose(run: int, folder: Path) -> None:
        if run == 2:
            platforms = run_world.platforms
            platforms.mailchimp.clear()
            platforms.hubspot_lists.clear()
            for campaign in platforms.salesforce_campaigns.values():
                campaign["IsDeleted"] = True
            with redirect_stdout(printed):
                assert cli.main(["lists", "push", "customers", "--dry-run"]) == 0

    first, second = run_world(world, runs=2, before_run=lose)
    lines = printed.getvalue().splitlines()
    # (and would take them off the old tag and campaign, which may be gone: nothing to do then)
    assert any("mailchimp" in line and "would add 3," in line for line in lines), lines
    assert any("salesforce_campaign" in line and "would add 2," in line for line in lines), lines
    assert second.mailchimp == first.mailchimp and second.campaign == first.campaign
    assert second.platform == first.platform == {"ann@lind.example"}


def test_the_files_folder_and_the_csv_folder_hold_each_programs_current_list_only(run_world):
    """Found by trials: yesterday's file kept someone who opted out today, marker and all; in the
    CSV folder too, and a rerun of an earlier date wrote that date's file back."""
    world = World()
    ids = customers(world)
    world.salesforce_opt_out(2, ids["Bob"])
    root: dict[str, Path] = {}

    def remember(run: int, folder: Path) -> None:
        root["folder"] = folder

    yesterday = AS_OF - timedelta(days=1)
    run_world(world, runs=3, before_run=remember, dates=(yesterday, AS_OF, yesterday))
    share, exports = root["folder"] / "share", root["folder"] / "exports" / "nurture"
    names = sorted(p.name for p in share.iterdir())
    assert names == [f"customers_{AS_OF}.csv", f"customers_{AS_OF}.csv.done"]
    assert sorted(p.name for p in exports.iterdir()) == [f"customers_{AS_OF}.csv"]
    for written in (share / names[0], exports / names[0]):
        assert "ann@lind.example" in written.read_text()
        assert "bob@lind.example" not in written.read_text()
    assert {oct(p.stat().st_mode & 0o777) for p in [*share.iterdir(), *exports.iterdir()]} == {"0o640"}
    # the rerun's summary names no file for its date (a trial: it crashed on the missing path)
    shown = [line for line in summary(run_world.engine, "postgresql://x@y/z", yesterday).splitlines()
             if line.startswith("  customers: ")]
    assert shown == ["  customers: 2 members (3 eligible, 1 kept off: email_opt_out 1), no file: a later list"
                     f" ({AS_OF}) has it"]


def test_a_rerun_of_an_earlier_date_takes_who_was_suppressed_since_off_the_latest_list_too(run_world):
    """Found by a trial: after an earlier date was run again, the latest date's nurture.list_runs
    and nurture.list_membership still counted someone suppressed since (its files, view and pulls
    did not hold them), and the rebuilt date's changes read 0/0/0."""
    world = World()
    ids = customers(world)
    dan = world.salesforce_contact(2, "dan@lind.example", "Dan", "Lind", ids["account"])  # joins on the latest
    world.salesforce_won_deal(2, dan, ids["account"], 400)
    world.salesforce_opt_out(3, ids["Bob"])
    world.salesforce_opt_out(3, dan)
    yesterday = AS_OF - timedelta(days=1)
    reached = run_world(world, runs=3, dates=(yesterday, AS_OF, yesterday))
    assert "bob@lind.example" in reached[1].csv and "bob@lind.example" not in reached[2].csv
    with run_world.engine.connect() as conn:
        runs = {as_of: tuple(rest) for as_of, *rest in conn.execute(text(
            "select as_of, members, eligible, suppressed, added, removed, unchanged, suppressed_reasons"
            " from nurture.list_runs where program = 'customers'"))}
        membership = conn.execute(text(
            "select email, added_on, removed_on from nurture.list_membership where program = 'customers'"
            " order by email")).all()
    # the latest date as its file has it: Bob and Dan off, since the run that suppressed them
    assert runs[AS_OF] == (2, 4, 2, 0, 1, 2, {"email_opt_out": 2})
    # the rebuilt date against the date before it (none: everyone on it was added)
    assert runs[yesterday] == (2, 4, 2, 2, 0, 0, {"email_opt_out": 2})
    # Dan joined on the latest date, whose file may have gone out with him: kept, removed that day
    assert membership == [("ann@lind.example", yesterday, None), ("bob@lind.example", yesterday, AS_OF),
                          ("cem@lind.example", yesterday, None), ("dan@lind.example", AS_OF, AS_OF)]


def test_a_destination_dropped_from_a_program_takes_its_files_along(run_world):
    """Found by a trial: a program no longer written to csv or files kept its last files, with
    whoever was suppressed after them."""
    world = World()
    ids = customers(world)
    world.salesforce_opt_out(2, ids["Bob"])
    root: dict[str, Path] = {}

    def drop(run: int, folder: Path) -> None:
        root["folder"] = folder
        if run == 2:
            nurture = folder / "config" / "nurture.yaml"
            nurture.write_text(nurture.read_text().replace(EVERY_PLATFORM, "[view, hubspot_list]"))

    first, second = run_world(world, runs=2, before_run=drop)
    assert "bob@lind.example" in first.csv
    assert sorted(p.name for p in (root["folder"] / "exports" / "nurture").iterdir()) == []
    assert sorted(p.name for p in (root["folder"] / "share").iterdir()) == []
    assert second.view == {"ann@lind.example", "cem@lind.example"}
    shown = summary(run_world.engine, "postgresql://x@y/z", AS_OF).splitlines()  # crashed without a file
    assert "  customers: 2 members (3 eligible, 1 kept off: email_opt_out 1)" in shown


def test_a_moved_files_folder_takes_the_lists_left_in_the_old_one_along(run_world):
    """The files folder moved (destinations.files.url changed): the old folder kept the last lists,
    with whoever was suppressed after them."""
    world = World()
    customers(world)
    root: dict[str, Path] = {}

    def move(run: int, folder: Path) -> None:
        root["folder"] = folder
        nurture = folder / "config" / "nurture.yaml"
        if run == 2:
            (folder / "share" / "notes.csv").write_text("not a list\n")
            nurture.write_text(nurture.read_text().replace(str(folder / "share"), str(folder / "moved")))
        if run == 3:  # the same folder under another name: nothing was left behind (a trial's)
            (folder / "alias").symlink_to(folder / "moved")
            nurture.write_text(nurture.read_text().replace(str(folder / "moved"), str(folder / "alias")))

    run_world(world, runs=3, before_run=move)
    old, moved = root["folder"] / "share", root["folder"] / "moved"
    assert sorted(p.name for p in old.iterdir()) == ["notes.csv"]  # only list files are ever removed
    assert sorted(p.name for p in moved.iterdir()) == [f"customers_{AS_OF}.csv", f"customers_{AS_OF}.csv.done"]


def test_a_push_right_after_a_manual_suppression_takes_the_address_off_every_platform(run_world):
    """Found by a trial: `lists suppress` then `lists push` left the address on the platforms until
    the next nurture run."""
    world = World()
    customers(world)
    seen = {}

    def suppress_and_push(run: int, _folder: Path) -> None:
        if run == 2:
            assert cli.main(["lists", "suppress", "Ann@lind.example", "--reason", "asked by phone"]) == 0
            assert cli.main(["lists", "push", "customers"]) == 0
            platforms = run_world.platforms
            seen["mailchimp"] = platforms.mailchimp.tagged(AUDIENCE, TAG)
            seen["campaign"] = {world.salesforce_emails[r] for r in platforms.fakes["salesforce"].campaign_members(
                "Smarketing · customers")}
            seen["hubspot"] = {world.contact_emails[m] for listed in platforms.hubspot_lists.values()
                               for m in listed["members"]}

    run_world(world, runs=2, before_run=suppress_and_push)
    assert seen == {"mailchimp": {"bob@lind.example", "cem@lind.example"}, "campaign": {"bob@lind.example"},
                    "hubspot": set()}


def test_a_renamed_list_takes_everyone_along_and_leaves_the_old_one_empty(run_world):
    """New prefixes between two runs: the lists, tag and campaign of the old names are emptied (no
    push looks after them any more), the new ones hold the program's members."""
    world = World()
    customers(world)

    def rename(run: int, folder: Path) -> None:
        if run == 2:
            nurture = folder / "config" / "nurture.yaml"
            nurture.write_text(nurture.read_text() + "  mailchimp: {tag_prefix: 'Nurture · '}\n"
                               "  salesforce_campaign: {campaign_name_prefix: 'Nurture · '}\n"
                               "  hubspot_list: {list_name_prefix: 'Nurture · '}\n")

    first, _ = run_world(world, runs=2, before_run=rename)
    platforms = run_world.platforms
    assert platforms.mailchimp.tags(AUDIENCE) == {TAG: set(), "Nurture · customers": first.mailchimp}
    org = platforms.fakes["salesforce"]
    assert org.campaign_members("Smarketing · customers") == set()
    assert {world.salesforce_emails[r] for r in org.campaign_members("Nurture · customers")} == first.campaign
    lists = {listed["name"]: {world.contact_emails[m] for m in listed["members"]}
             for listed in platforms.hubspot_lists.values()}
    assert lists == {"Smarketing · customers": set(), "Nurture · customers": {"ann@lind.example"}}


def test_a_renamed_program_leaves_no_file_view_or_platform_list_behind(run_world, engine):
    """Found by a trial: renaming a program left its CSV, its view and its platform lists with
    people suppressed afterwards, and no run looked after them again."""
    world = World()
    customers(world)
    folders: dict[str, Path] = {}

    def rename(run: int, folder: Path) -> None:
        folders["root"] = folder
        if run == 2:
            nurture = folder / "config" / "nurture.yaml"
            nurture.write_text(nurture.read_text().replace("  customers:\n", "  buyers:\n"))

    first, second = run_world(world, runs=2, before_run=rename)
    root = folders["root"]
    assert sorted(p.name for p in (root / "exports" / "nurture").iterdir()) == [f"buyers_{AS_OF}.csv"]
    assert sorted(p.name for p in (root / "share").iterdir()) == [f"buyers_{AS_OF}.csv", f"buyers_{AS_OF}.csv.done"]
    with engine.connect() as conn:
        views = conn.execute(text("select viewname from pg_views where schemaname = 'nurture'"
                                  " and viewname like 'list_%'")).scalars().all()
    assert views == ["list_buyers"]
    assert second.mailchimp == second.campaign == set()  # the customers tag and campaign, emptied
    platforms = run_world.platforms
    lists = {listed["name"]: {world.contact_emails[m] for m in listed["members"]}
             for listed in platforms.hubspot_lists.values()}
    assert lists == {"Smarketing · customers": set(), "Smarketing · buyers": {"ann@lind.example"}}
    assert platforms.mailchimp.tagged(AUDIENCE, "Smarketing · buyers") == first.mailchimp
    assert {world.salesforce_emails[r] for r in platforms.fakes["salesforce"].campaign_members(
        "Smarketing · buyers")} == first.campaign
