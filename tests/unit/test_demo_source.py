import pytest

from smarketing.demo.world import ENTITIES, POPULATION_END, STORY, DemoSource, generate


def test_same_seed_gives_the_same_records():
    first, second = generate(seed=3, people=30), generate(seed=3, people=30)
    assert first.records == second.records
    assert generate(seed=4, people=30).records != first.records


def test_pages_are_ordered_by_version_and_respect_since():
    data = generate(seed=3, people=60)
    source = DemoSource("hubspot", data, page_size=25)
    pages = list(source.extract("email_events", None))
    versions = [r.version_at for page in pages for r in page]
    assert versions == sorted(versions)
    assert all(len(page) == 25 for page in pages[:-1])
    assert len(versions) == data.count("hubspot", "email_events")

    since = versions[len(versions) // 2]
    later = [r for page in source.extract("email_events", since) for r in page]
    assert later and all(r.version_at >= since for r in later)
    assert len(later) == sum(1 for v in versions if v >= since)


def test_the_same_people_appear_in_both_systems_with_noisy_emails():
    data = generate(seed=7, people=120)
    hubspot = {p for (system, _, _), p in data.person_of.items() if system == "hubspot"}
    salesforce = {p for (system, _, _), p in data.person_of.items() if system == "salesforce"}
    assert len(hubspot & salesforce) > 30
    emails = [r.payload["properties"]["email"] for r in data.records[("hubspot", "contacts")]]
    assert any(e and e != e.strip() for e in emails), "some addresses carry surrounding whitespace"
    assert any(e and e.strip() != e.strip().lower() for e in emails), "some addresses differ in case"


def test_only_the_story_happens_after_the_population_ends():
    story_only = generate(seed=7, people=0)
    full = generate(seed=7, people=120)
    for key, records in full.records.items():
        late = [r for r in records if r.version_at > POPULATION_END]
        story_late = [r for r in story_only.records.get(key, []) if r.version_at > POPULATION_END]
        assert len(late) == len(story_late), key
        assert all(r.version_at.year == 2026 and r.version_at.month == 6 for r in late)
    assert len({p for p in story_only.person_of.values()}) == len(STORY)


def test_unknown_system_or_entity_is_refused():
    with pytest.raises(ValueError, match="no system"):
        DemoSource("marketo", generate(seed=1, people=5))
    source = DemoSource("salesforce", generate(seed=1, people=5))
    with pytest.raises(ValueError, match="no entity 'deals'"):
        next(source.extract("deals", None))
    assert source.entities == ENTITIES["salesforce"]
