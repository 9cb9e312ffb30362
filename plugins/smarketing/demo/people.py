"""The hard identity profile: contact exports of one population from HubSpot and Salesforce, made
to be hard to resolve (``make identity-score PROFILE=hard``).

Unlike the demo world (``world.py``), which models a whole funnel with mild noise, this profile
holds only person records, and the noise real B2B data has when a few large customers dominate:

* few companies with many people (sizes fall off like Zipf's law), so namesakes at one company
  are common; namesakes get numbered work mailboxes (``anna.berg2@``);
* names of German, Turkish, Polish, Scandinavian, Spanish, French and English speakers, written
  with their letters on one side and transliterated (ü as ue or u) on the other; nicknames
  (Bob for Robert, Sepp for Josef); first and last names swapped; typos; names in capitals;
* personal addresses (gmail, web.de) on one side and the work address on the other, with or
  without the company; upper-case addresses; shared mailboxes (info@) used by several people;
* people in one system only; leads converted into contacts;
* the evidence a real export has, where it has it: phone numbers written differently, job
  title, city, LinkedIn URL (HubSpot) and the Salesforce ids the HubSpot–Salesforce sync writes
  on a HubSpot contact.

``Dataset.person_of`` is the truth; ``Dataset.indistinguishable`` names the humans whose records
in the two systems share nothing a resolver could tell apart from a namesake colleague's.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from smarketing.demo.world import Dataset

START = datetime(2025, 1, 6, 9, tzinfo=UTC)
PEOPLE_AT_SCALE_1 = 1000

# (formal first name, nicknames one system may use instead); drawn with Zipf weights, like last names
FIRST_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Thomas", ("Tom",)), ("Michael", ("Mike", "Micha")), ("Andreas", ("Andi",)), ("Stefanie", ("Steffi",)),
    ("Katharina", ("Kathi", "Katja")), ("Johannes", ("Hans",)), ("Alexander", ("Alex",)), ("Anna", ()),
    ("Jürgen", ()), ("Christian", ("Chris",)), ("Sebastian", ("Basti",)), ("Elisabeth", ("Lisa", "Sissi")),
    ("Josef", ("Sepp",)), ("Robert", ("Bob",)), ("Wolfgang", ("Wolfi",)), ("Gabriele", ("Gabi",)), ("Jörg", ()),
    ("Friedrich", ("Fritz",)), ("Ulrich", ("Uli",)), ("Theresa", ("Resi",)), ("Margarete", ("Grete",)),
    ("Günther", ("Günni",)), ("Matthias", ("Matze",)), ("Maximilian", ("Max",)), ("Florian", ("Flo",)),
    ("Franziska", ("Franzi",)), ("Heinrich", ("Heinz",)), ("Wilhelm", ("Willi",)), ("Susanne", ("Susi",)),
    ("Cornelia", ("Conny",)), ("Manuel", ("Manu",)), ("Barbara", ("Babsi",)), ("Bernhard", ("Bernd",)),
    ("Rudolf", ("Rudi",)), ("Dietrich", ("Dieter",)), ("Björn", ()), ("Elizabeth", ("Liz",)),
    ("William", ("Bill",)), ("Christopher", ("Chris",)), ("Jennifer", ("Jenny",)), ("Katherine", ("Kate",)),
    ("Zoë", ()), ("Çağla", ()), ("Şükrü", ()), ("Özlem", ()), ("Emre", ()), ("Małgorzata", ("Gosia",)),
    ("Łukasz", ()), ("Agnieszka", ()), ("Søren", ()), ("Åsa", ()), ("Ingrid", ()), ("Sigrún", ()),
    ("José", ("Pepe",)), ("María", ()), ("Begoña", ()), ("François", ()), ("Hélène", ()), ("Anaïs", ()),
    ("Jonas", ()), ("Lena", ()), ("Paul", ()), ("Sophie", ()), ("Daniel", ("Dan",)), ("Lukas", ()), ("Laura", ()),
    ("Felix", ()), ("Julia", ()), ("Tobias", ()), ("Sarah", ()), ("Niklas", ()), ("Miriam", ()), ("Dominik", ()),
    ("Verena", ()), ("Kerstin", ()), ("Sabine", ()), ("Markus", ()), ("Petra", ()), ("Dirk", ()), ("Ute", ()),
)
LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
    "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann",
    "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Schmitz", "Krause", "Meier",
    "Lehmann", "Schmid", "Schulze", "Maier", "Köhler", "Herrmann", "König", "Walter", "Mayer", "Huber",
    "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert", "Vogel",
    "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz", "Baumann",
    "Franke", "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus", "Martin", "Schumacher",
    "Krämer", "Vogt", "Stein", "Jäger", "Otto", "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas",
    "Schreiber", "Graf", "Schulte", "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch",
    "Bergmann", "Thomas", "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer", "Bäcker", "Öztürk", "Yılmaz",
    "Çelik", "Kaya", "Şahin", "Nowak", "Wójcik", "Kowalczyk", "Łukasiewicz", "Jørgensen", "Åberg",
    "Lindqvist", "Núñez", "García", "Lefèvre", "Gonçalves", "Smith", "Brown", "O'Neill", "Dubois",
) + tuple(f"{stem}{ending}" for stem in ("Hoch", "Berg", "Wald", "Linden", "Rosen", "Eichen", "Sonnen", "Feld", "Bach",
                                         "Kirch", "Mühl", "Grün", "Lieb", "Hart", "Neu", "Alt", "Schön", "Brück",
                                         "Öhl", "Lang")
          for ending in ("mann", "er", "hofer", "berger", "meier", "huber", "bauer", "ner", "inger", "ert"))
TITLES = ("Head of Marketing", "CFO", "Procurement Manager", "IT Director", "Sales Operations", "CEO",
          "Controller", "Data Engineer", "Office Manager", "Product Owner", "Buyer", "Team Lead")
CITIES = ("München", "Zürich", "Wien", "Köln", "Düsseldorf", "Hamburg", "Berlin", "Graz", "Basel", "Frankfurt am Main")
FREE_MAIL = ("gmail.com", "web.de", "gmx.de", "outlook.com", "yahoo.com")
COMPANY_WORDS = ("Allianz", "Bau", "Logistik", "Versicherung", "Energie", "Handel", "Chemie", "Technik", "Bank",
                 "Pharma", "Maschinen", "Medien", "Stahl", "Textil", "Software", "Reisen")
LEGAL_FORMS = ("GmbH", "AG", "SE", "GmbH & Co. KG")
TRANSLITERATION = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
                                 "é": "e", "è": "e", "ë": "e", "ç": "c", "Ç": "C", "ğ": "g", "ş": "s", "Ş": "S",
                                 "ı": "i", "ł": "l", "Ł": "L", "ó": "o", "ø": "o", "å": "a", "Å": "A", "ñ": "n",
                                 "í": "i", "á": "a", "ú": "u"})
STRIPPED = str.maketrans({"ä": "a", "ö": "o", "ü": "u", "Ä": "A", "Ö": "O", "Ü": "U"})

# Probabilities, per human.
HARD_NOISE = {
    "both": 0.55, "hubspot_only": 0.25,  # the rest: Salesforce only
    "converted": 0.4,                    # a Salesforce lead converted into a contact
    "personal_email": 0.25,              # HubSpot holds a personal address
    "personal_without_company": 0.3,     # ... and then no company
    "shared_mailbox": 0.02,              # info@ of the company, in Salesforce
    "nickname": 0.2, "transliterated": 0.4, "stripped": 0.1, "swapped": 0.03, "typo": 0.05,
    "upper_email": 0.15, "upper_name": 0.05, "company_variant": 0.3,
    "phone": 0.6, "title": 0.6, "city": 0.5, "linkedin": 0.3, "sync_id": 0.3,
}


@dataclass
class _Human:
    key: str
    first: str
    nicknames: tuple[str, ...]
    last: str
    company: str
    domain: str
    mailbox: str
    phone: str
    title: str
    city: str
    linkedin: str


def _ascii(text: str) -> str:
    return text.translate(TRANSLITERATION)


def _companies(rng: random.Random, people: int) -> list[tuple[str, str, float]]:
    count = max(3, people // 250)
    out = []
    for n in range(count):
        word = COMPANY_WORDS[n % len(COMPANY_WORDS)]
        name = f"{word} {['Nord', 'Süd', 'Rhein', 'Alpen', 'Donau'][n // len(COMPANY_WORDS) % 5]} {n}"
        out.append((name, f"{_ascii(word).lower()}{n}.example", 1 / (n + 1) ** 1.1))
    return out


def _phone(rng: random.Random) -> str:
    return f"+49 {rng.choice(['30', '89', '40', '221', '69'])} {rng.randint(1000000, 9999999)}"


def _phone_as_written(phone: str, rng: random.Random) -> str:
    _, area, number = phone.split(" ")
    return rng.choice([phone, f"0{area} {number}", f"(0{area}) {number[:3]}-{number[3:]}", f"+49{area}{number}"])


def generate_hard(seed: int = 7, people: int = PEOPLE_AT_SCALE_1, noise: dict[str, float] | None = None) -> Dataset:
    """The hard profile; the same arguments always give the same records."""
    p = {**HARD_NOISE, **(noise or {})}
    rng = random.Random(seed)
    data = Dataset()
    companies = _companies(rng, people)
    weights = [w for *_, w in companies]
    mailboxes: dict[str, int] = {}
    ids = {"hs": 200000, "sf": 0}
    signatures: dict[tuple[str, str, str], list[str]] = {}  # (company, first, last) -> humans
    linked: set[str] = set()  # humans whose two sides share something beyond name and company

    def sf_id(prefix: str) -> str:
        ids["sf"] += 1
        return f"{prefix}{ids['sf']:015d}"[:18]

    def name_as_written(human: _Human, other_side: bool) -> tuple[str, str]:
        first, last = human.first, human.last
        if other_side:
            if human.nicknames and rng.random() < p["nickname"]:
                first = rng.choice(human.nicknames)
            roll = rng.random()
            if roll < p["transliterated"]:
                first, last = _ascii(first), _ascii(last)
            elif roll < p["transliterated"] + p["stripped"]:
                first, last = first.translate(STRIPPED), last.translate(STRIPPED)
            if len(last) > 4 and rng.random() < p["typo"]:
                i = rng.randrange(1, len(last) - 2)
                last = last[:i] + last[i + 1] + last[i] + last[i + 2:]
            if rng.random() < p["swapped"]:
                first, last = last, first
        if rng.random() < p["upper_name"]:
            first, last = first.upper(), last.upper()
        return first, last

    def company_as_written(human: _Human) -> str:
        if rng.random() < p["company_variant"]:
            return f"{human.company} {rng.choice(LEGAL_FORMS)}"
        return human.company

    def email_as_written(address: str) -> str:
        return address.upper() if rng.random() < p["upper_email"] else address

    # common names are common: at 10,000 people, about a third of the largest customer's staff have a namesake there
    first_weights = [1 / (k + 1) ** 0.6 for k in range(len(FIRST_NAMES))]
    last_weights = [1 / (k + 1) ** 0.6 for k in range(len(LAST_NAMES))]
    for n in range(people):
        first, nicknames = rng.choices(FIRST_NAMES, first_weights)[0]
        last = rng.choices(LAST_NAMES, last_weights)[0]
        company, domain, _ = rng.choices(companies, weights)[0]
        local = f"{_ascii(first)}.{_ascii(last)}".lower()
        mailboxes[f"{local}@{domain}"] = mailboxes.get(f"{local}@{domain}", 0) + 1
        count = mailboxes[f"{local}@{domain}"]
        mailbox = f"{local}{count if count > 1 else ''}@{domain}"
        human = _Human(f"h{n:06d}", first, nicknames, last, company, domain, mailbox, _phone(rng),
                       rng.choice(TITLES), rng.choice(CITIES),
                       f"https://www.linkedin.com/in/{local.replace('.', '-')}-{n:x}")
        signatures.setdefault((company, first, last), []).append(human.key)
        created = START + timedelta(minutes=rng.randint(0, 500_000))
        roll = rng.random()
        in_hubspot = roll < p["both"] + p["hubspot_only"]
        in_salesforce = roll < p["both"] or roll >= p["both"] + p["hubspot_only"]
        personal = in_hubspot and rng.random() < p["personal_email"]
        shared = in_salesforce and rng.random() < p["shared_mailbox"]
        sf_ids: dict[str, str] = {}
        sf_mailbox = f"info@{domain}" if shared else human.mailbox
        hs_mailbox = (f"{_ascii(first).lower()}{_ascii(last).lower()}{rng.randint(1, 99)}@{rng.choice(FREE_MAIL)}"
                      if personal else human.mailbox)
        evidence: set[str] = set()
        if in_salesforce:
            first_sf, last_sf = name_as_written(human, other_side=in_hubspot)
            lead_id = sf_id("00Q")
            fields = {"Title": human.title if rng.random() < p["title"] else None,
                      "Phone": _phone_as_written(human.phone, rng) if rng.random() < p["phone"] else None}
            contact_id = sf_id("003") if rng.random() < p["converted"] else None
            data.add("salesforce", "leads", lead_id, created, {
                "attributes": {"type": "Lead"}, "Id": lead_id, "Email": email_as_written(sf_mailbox),
                "FirstName": first_sf, "LastName": last_sf, "Company": company_as_written(human),
                "City": human.city if rng.random() < p["city"] else None, **fields,
                "IsConverted": contact_id is not None, "ConvertedContactId": contact_id, "LeadSource": "Web",
                "Status": "Closed - Converted" if contact_id else "Open - Not Contacted",
                "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                "SystemModstamp": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "IsDeleted": False,
            }, human.key)
            sf_ids["salesforceleadid"] = lead_id
            if contact_id:
                data.add("salesforce", "contacts", contact_id, created, {
                    "attributes": {"type": "Contact"}, "Id": contact_id, "AccountId": None,
                    "Email": email_as_written(sf_mailbox), "FirstName": first_sf, "LastName": last_sf, **fields,
                    "MailingCity": human.city if rng.random() < p["city"] else None, "LeadSource": "Web",
                    "CreatedDate": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
                    "SystemModstamp": created.strftime("%Y-%m-%dT%H:%M:%S.000+0000"), "IsDeleted": False,
                }, human.key)
                sf_ids["salesforcecontactid"] = contact_id
            evidence |= {name for name in ("Phone", "Title") if fields[name]}
        if in_hubspot:
            contact_id = str(ids["hs"] + 1)
            ids["hs"] += 1
            first_hs, last_hs = name_as_written(human, other_side=False)
            synced = in_salesforce and rng.random() < p["sync_id"]
            phone = rng.random() < p["phone"]
            title = rng.random() < p["title"]
            props: dict[str, Any] = {
                "email": email_as_written(hs_mailbox), "firstname": first_hs, "lastname": last_hs,
                "company": None if personal and rng.random() < p["personal_without_company"]
                else company_as_written(human),
                "jobtitle": human.title if title else None,
                "phone": _phone_as_written(human.phone, rng) if phone else None,
                "city": human.city if rng.random() < p["city"] else None,
                "hs_linkedin_url": human.linkedin if rng.random() < p["linkedin"] else None,
                "createdate": created.isoformat(), "lastmodifieddate": created.isoformat(),
                **({key: value for key, value in sf_ids.items()} if synced else {}),
            }
            data.add("hubspot", "contacts", contact_id, created, {
                "id": contact_id, "properties": props, "createdAt": created.isoformat(),
                "updatedAt": created.isoformat(), "archived": False}, human.key)
            if in_salesforce and (synced or (not personal and not shared)
                                  or (phone and "Phone" in evidence) or (title and "Title" in evidence)):
                linked.add(human.key)
    data.indistinguishable = {human for humans in signatures.values() if len(humans) > 1 for human in humans
                              if human not in linked}
    return data
