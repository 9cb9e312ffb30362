"""The Mailchimp fake over real HTTP: auth, errors, member paging and filters, the batch endpoints,
tags as static segments, abuse reports, the connection limit and injected 429s."""

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from smarketing.demo.fakes import FakeMailchimp, Fault

KEY = "0123456789abcdef-us21"
LIST = "demo_audience"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def session() -> requests.Session:
    s = requests.Session()
    s.auth = ("anystring", KEY)
    return s


def md5(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def api(clock):
    with FakeMailchimp(api_key=KEY, now=clock) as fake:
        yield fake


def test_wrong_or_missing_key_is_a_401_problem_document(api):
    missing = requests.get(f"{api.url}/3.0/ping", timeout=5)
    assert missing.status_code == 401
    assert missing.headers["Content-Type"].startswith("application/problem+json")
    assert missing.json()["title"] == "API Key Missing"
    for auth in (("anystring", "wrong-us21"), None):
        headers = {"Authorization": f"Bearer {KEY}"} if auth is None else {}  # API keys go in Basic auth
        wrong = requests.get(f"{api.url}/3.0/lists/{LIST}", auth=auth, headers=headers, timeout=5)
        assert wrong.status_code == 401
        body = wrong.json()
        assert set(body) == {"type", "title", "status", "detail", "instance"}
        assert (body["title"], body["status"]) == ("API Key Invalid", 401)
    ok = session().get(f"{api.url}/3.0/ping", timeout=5)
    assert ok.json() == {"health_status": "Everything's Chimpy!"}


def test_unknown_resources_and_methods(api):
    s = session()
    assert s.get(f"{api.url}/3.0/lists/nope/members", timeout=5).json()["title"] == "Resource Not Found"
    assert s.get(f"{api.url}/3.0/lists/{LIST}/members/{md5('x@example.com')}", timeout=5).status_code == 404
    assert s.post(f"{api.url}/3.0/batches", json={}, timeout=5).status_code == 404  # not implemented
    wrong = s.delete(f"{api.url}/3.0/lists/{LIST}/abuse-reports", timeout=5)
    assert (wrong.status_code, wrong.headers["Allow"]) == (405, "GET")
    garbled = s.post(f"{api.url}/3.0/lists/{LIST}", data="{not json", headers={"Content-Type": "application/json"},
                     timeout=5)
    assert (garbled.status_code, garbled.json()["title"]) == (400, "JSON Parse Error")


def test_members_page_by_since_last_changed_sorted(api, clock):
    for n in range(5):  # changed at T0, T0+1h, ... T0+4h
        api.add_member(LIST, f"P{n}@Example.com", first_name=f"F{n}", at=T0 + timedelta(hours=n))
    clock.moment = T0 + timedelta(hours=9)
    api.set_status(LIST, "p1@example.com", "unsubscribed")  # P1 changes last
    s = session()
    since = (T0 + timedelta(minutes=30)).isoformat()
    seen, offset = [], 0
    while True:
        page = s.get(f"{api.url}/3.0/lists/{LIST}/members", timeout=5, params={
            "since_last_changed": since, "sort_field": "last_changed", "sort_dir": "ASC", "count": 2,
            "offset": offset}).json()
        assert page["total_items"] == 4 and page["list_id"] == LIST
        seen += [(m["email_address"], m["last_changed"]) for m in page["members"]]
        offset += 2
        if offset >= page["total_items"]:
            break
    assert seen == [("P2@Example.com", "2026-01-01T14:00:00+00:00"), ("P3@Example.com", "2026-01-01T15:00:00+00:00"),
                    ("P4@Example.com", "2026-01-01T16:00:00+00:00"), ("P1@Example.com", "2026-01-01T21:00:00+00:00")]
    newest = s.get(f"{api.url}/3.0/lists/{LIST}/members", timeout=5, params={
        "sort_field": "timestamp_signup", "sort_dir": "DESC", "count": 1, "status": "subscribed",
        "before_last_changed": (T0 + timedelta(hours=4)).isoformat(),
        "fields": "members.email_address,members.id,total_items"}).json()
    assert newest == {"members": [{"id": md5("p3@example.com"), "email_address": "P3@Example.com"}], "total_items": 3}
    member = s.get(f"{api.url}/3.0/lists/{LIST}/members/{md5('p1@example.com')}", timeout=5,
                   params={"exclude_fields": "_links,location,stats"}).json()
    assert member["status"] == "unsubscribed" and member["merge_fields"] == {"FNAME": "F1", "LNAME": ""}
    assert "location" not in member and member["unique_email_id"] and member["unsubscribe_reason"]
    bad = s.get(f"{api.url}/3.0/lists/{LIST}/members", params={"since_last_changed": "2026-01-01T00:00:00 00:00"},
                timeout=5)  # an unescaped '+' arrives as a space
    assert bad.status_code == 400


def test_put_adds_updates_and_refuses_the_compliance_states(api, clock):
    s = session()
    url = f"{api.url}/3.0/lists/{LIST}/members"
    added = s.put(f"{url}/{md5('new@example.com')}", json={"email_address": "new@example.com",
                                                            "status_if_new": "subscribed",
                                                            "merge_fields": {"FNAME": "Ann"}}, timeout=5).json()
    assert (added["status"], added["last_changed"], added["timestamp_opt"]) == (
        "subscribed", "2026-01-01T12:00:00+00:00", "2026-01-01T12:00:00+00:00")
    clock.moment = T0 + timedelta(minutes=5, microseconds=250)
    same = s.put(f"{url}/{md5('new@example.com')}", json={"status_if_new": "subscribed"}, timeout=5).json()
    assert same["last_changed"] == "2026-01-01T12:00:00+00:00"  # nothing changed
    renamed = s.put(f"{url}/new@example.com", json={"merge_fields": {"LNAME": "Lee"}}, timeout=5).json()
    assert renamed["last_changed"] == "2026-01-01T12:05:00+00:00" and renamed["full_name"] == "Ann Lee"
    # unsubscribed through the API by the admin: Mailchimp lets it be resubscribed
    assert s.put(f"{url}/new@example.com", json={"status": "unsubscribed"}, timeout=5).json()["unsubscribe_reason"] \
        == "N/A (Unsubscribed by admin)"
    assert s.put(f"{url}/new@example.com", json={"status": "subscribed"}, timeout=5).json()["status"] == "subscribed"
    api.add_member(LIST, "gone@example.com")
    api.set_status(LIST, "gone@example.com", "unsubscribed", reason="Too many emails")
    api.add_member(LIST, "bounced@example.com", status="cleaned")
    for email in ("gone@example.com", "bounced@example.com"):
        before = api.member(LIST, email)
        refused = s.put(f"{url}/{md5(email)}", json={"email_address": email, "status": "subscribed",
                                                     "status_if_new": "subscribed"}, timeout=5)
        assert refused.status_code == 400
        assert refused.json()["title"] == "Member In Compliance State"
        assert refused.json()["detail"] == (f"{email} is in a compliance state due to unsubscribe, bounce, or "
                                            "compliance review and cannot be subscribed.")
        assert api.member(LIST, email) == before
    pending = s.put(f"{url}/{md5('gone@example.com')}", json={"status": "pending"}, timeout=5).json()
    assert pending["status"] == "pending"  # the documented way back: a confirmation email
    invalid = s.put(f"{url}/{md5('bad')}", json={"email_address": "bad", "status_if_new": "subscribed"}, timeout=5)
    assert (invalid.status_code, invalid.json()["detail"]) == (400, "Please provide a valid email address.")


def test_strict_compliance_refuses_every_unsubscribed_member(clock):
    with FakeMailchimp(api_key=KEY, now=clock, strict_compliance=True) as api:
        s = session()
        url = f"{api.url}/3.0/lists/{LIST}/members/{md5('a@example.com')}"
        s.put(url, json={"email_address": "a@example.com", "status_if_new": "unsubscribed"}, timeout=5)
        assert s.put(url, json={"status": "subscribed"}, timeout=5).status_code == 400


def test_batch_subscribe_new_existing_invalid_and_compliance(api, clock):
    api.add_member(LIST, "kept@example.com", first_name="Kept")
    api.add_member(LIST, "gone@example.com")
    api.set_status(LIST, "gone@example.com", "unsubscribed")
    api.add_member(LIST, "bounced@example.com", status="cleaned")
    clock.moment = T0 + timedelta(days=1)
    s = session()
    members = [{"email_address": "fresh@example.com", "status": "subscribed", "merge_fields": {"FNAME": "Fay"}},
               {"email_address": "kept@example.com", "status": "unsubscribed", "merge_fields": {"FNAME": "X"}},
               {"email_address": "not-an-address", "status": "subscribed"}]
    first = s.post(f"{api.url}/3.0/lists/{LIST}", json={"members": members, "update_existing": False},
                   timeout=5).json()
    assert (first["total_created"], first["total_updated"], first["error_count"]) == (1, 0, 2)
    assert [m["email_address"] for m in first["new_members"]] == ["fresh@example.com"]
    assert first["new_members"][0]["last_changed"] == "2026-01-02T12:00:00+00:00"
    exists, invalid = first["errors"]
    assert exists == {"email_address": "kept@example.com", "error_code": "ERROR_CONTACT_EXISTS", "field": "",
                      "field_message": "", "error": "kept@example.com is already a list member, do you want to "
                      "update? please provide update_existing:true in the request body"}
    assert invalid["error_code"] == "ERROR_GENERIC" and invalid["error"] == "Please provide a valid email address."
    assert api.member(LIST, "kept@example.com")["status"] == "subscribed"  # left unchanged
    assert api.member(LIST, "kept@example.com")["merge_fields"]["FNAME"] == "Kept"
    before = {e: api.member(LIST, e) for e in ("gone@example.com", "bounced@example.com")}
    second = s.post(f"{api.url}/3.0/lists/{LIST}", timeout=5, json={"update_existing": True, "members": [
        {"email_address": "gone@example.com", "status": "subscribed"},
        {"email_address": "bounced@example.com", "status": "subscribed"},
        {"email_address": "kept@example.com", "status": "unsubscribed"}]}).json()
    assert (second["total_created"], second["total_updated"], second["error_count"]) == (0, 1, 2)
    assert [e["email_address"] for e in second["errors"]] == ["gone@example.com", "bounced@example.com"]
    assert all("compliance state" in e["error"] for e in second["errors"])
    assert {e: api.member(LIST, e) for e in before} == before  # never subscribed, not even touched
    assert second["updated_members"][0]["status"] == "unsubscribed"
    too_many = s.post(f"{api.url}/3.0/lists/{LIST}", timeout=5, json={"members": [
        {"email_address": f"p{n}@example.com", "status": "subscribed"} for n in range(501)]})
    assert (too_many.status_code, too_many.json()["title"]) == (400, "Invalid Resource")
    assert api.member(LIST, "p0@example.com") is None
    assert api.writes("/3.0/lists") == 3


def test_tags_are_static_segments(api, clock):
    for email in ("a@example.com", "b@example.com", "c@example.com"):
        api.add_member(LIST, email)
    api.set_status(LIST, "c@example.com", "unsubscribed")
    s = session()
    base = f"{api.url}/3.0/lists/{LIST}/segments"
    clock.moment = T0 + timedelta(hours=1)
    tag = s.post(base, json={"name": "Customers", "static_segment": ["a@example.com", "stranger@example.com"]},
                 timeout=5).json()
    assert (tag["type"], tag["member_count"]) == ("static", 1)  # the stranger is ignored, as documented
    duplicate = s.post(base, json={"name": "customers", "static_segment": []}, timeout=5)
    assert duplicate.status_code == 400
    assert s.post(base, json={"name": "No members"}, timeout=5).json()["detail"] == (
        'Must provide either an "options" field or a "static_segment" field')
    clock.moment = T0 + timedelta(hours=2)
    batch = s.post(f"{base}/{tag['id']}", timeout=5, json={
        "members_to_add": ["a@example.com", "B@example.com", "c@example.com", "nobody@example.com"],
        "members_to_remove": ["ghost@example.com"]}).json()
    assert [m["email_address"] for m in batch["members_added"]] == ["b@example.com", "c@example.com"]  # a: already
    assert (batch["total_added"], batch["total_removed"], batch["error_count"]) == (2, 0, 2)
    assert [e["email_addresses"] for e in batch["errors"]] == [["nobody@example.com"], ["ghost@example.com"]]
    assert api.member(LIST, "nobody@example.com") is None
    assert api.tagged(LIST, "Customers") == {"a@example.com", "b@example.com", "c@example.com"}
    b = api.member(LIST, "b@example.com")
    assert b["tags"] == [{"id": tag["id"], "name": "Customers"}] and b["tags_count"] == 1
    assert b["last_changed"] == "2026-01-01T14:00:00+00:00"
    assert api.member(LIST, "a@example.com")["last_changed"] == "2026-01-01T13:00:00+00:00"
    listed = s.get(f"{base}/{tag['id']}/members", params={"count": 1, "offset": 1}, timeout=5).json()
    assert listed["total_items"] == 2 and [m["email_address"] for m in listed["members"]] == ["b@example.com"]
    with_unsubscribed = s.get(f"{base}/{tag['id']}/members", params={"include_unsubscribed": "true"}, timeout=5)
    assert with_unsubscribed.json()["total_items"] == 3
    removed = s.post(f"{base}/{tag['id']}", json={"members_to_remove": ["a@example.com"]}, timeout=5).json()
    assert (removed["total_removed"], removed["error_count"]) == (1, 0)
    assert api.member(LIST, "a@example.com")["tags"] == []
    assert s.get(f"{base}/{tag['id']}", timeout=5).json()["member_count"] == 1
    segments = s.get(base, params={"type": "static", "count": 10}, timeout=5).json()
    assert [x["name"] for x in segments["segments"]] == ["Customers"] and segments["total_items"] == 1
    assert s.get(base, params={"type": "saved"}, timeout=5).json()["total_items"] == 0
    too_many = s.post(f"{base}/{tag['id']}", json={"members_to_add": ["a@example.com"] * 501}, timeout=5)
    assert too_many.status_code == 400
    assert s.get(f"{base}/999", timeout=5).status_code == 404


def test_abuse_reports_page_and_unsubscribe(api):
    for n in range(3):
        api.add_member(LIST, f"p{n}@example.com")
        api.report_abuse(LIST, f"p{n}@example.com", campaign_id=f"c{n}", at=T0 + timedelta(days=n))
    s = session()
    page = s.get(f"{api.url}/3.0/lists/{LIST}/abuse-reports", params={"count": 2, "offset": 2}, timeout=5).json()
    assert page["total_items"] == 3 and page["list_id"] == LIST
    [report] = page["abuse_reports"]
    assert {k: report[k] for k in ("campaign_id", "list_id", "email_id", "email_address", "date")} == {
        "campaign_id": "c2", "list_id": LIST, "email_id": md5("p2@example.com"), "email_address": "p2@example.com",
        "date": "2026-01-03T12:00:00+00:00"}
    assert isinstance(report["id"], int)
    assert api.member(LIST, "p2@example.com")["status"] == "unsubscribed"


def test_more_than_ten_simultaneous_connections_get_a_429(api):
    api.latency = 0.5
    start = threading.Barrier(11)
    statuses, bodies = [], []

    def call() -> None:
        start.wait()
        answer = session().get(f"{api.url}/3.0/ping", timeout=10)
        statuses.append(answer.status_code)
        bodies.append(answer.json())

    threads = [threading.Thread(target=call) for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 10 + [429]
    [limited] = [b for b in bodies if b.get("status") == 429]
    assert limited["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert api.peak_connections == 11
    api.latency = 0
    assert session().get(f"{api.url}/3.0/ping", timeout=5).status_code == 200


def test_injected_429_storm_and_rate_limit(clock):
    with FakeMailchimp(api_key=KEY, now=clock, rate_limit=(2, 60.0)) as api:
        api.inject(Fault(status=429, times=2, path=f"/3.0/lists/{LIST}/members"))
        s = session()
        storm = [s.get(f"{api.url}/3.0/lists/{LIST}/members", timeout=5) for _ in range(2)]
        assert [r.status_code for r in storm] == [429, 429]
        assert storm[0].json()["title"] == "Too Many Requests"
        assert storm[0].headers["Content-Type"].startswith("application/problem+json")
        assert s.get(f"{api.url}/3.0/lists/{LIST}/members", timeout=5).status_code == 200
        assert s.get(f"{api.url}/3.0/lists/{LIST}", timeout=5).status_code == 200
        limited = s.get(f"{api.url}/3.0/lists/{LIST}", timeout=5)  # third call inside the window
        assert limited.status_code == 429 and limited.json()["status"] == 429


def test_constructor_members_and_list_stats(clock):
    members = [(LIST, "a@example.com", "subscribed", "Ann", "Lee", T0), (LIST, "b@example.com", "cleaned", None, None,
                                                                         "2025-12-01T00:00:00+00:00")]
    with FakeMailchimp(api_key=KEY, audiences={LIST: "Demo"}, members=members, now=clock) as api:
        audience = session().get(f"{api.url}/3.0/lists/{LIST}", params={"include_total_contacts": "true"},
                                 timeout=5).json()
        assert (audience["id"], audience["name"]) == (LIST, "Demo")
        assert (audience["stats"]["member_count"], audience["stats"]["cleaned_count"],
                audience["stats"]["total_contacts"]) == (1, 1, 2)
        assert api.member(LIST, "B@EXAMPLE.COM")["last_changed"] == "2025-12-01T00:00:00+00:00"
