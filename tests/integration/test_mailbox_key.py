"""The mailbox key: ``core.mailbox_key`` in the warehouse and its Python twin give the same key
for any string, and the rules fold what one mailbox is spelled as."""


import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from smarketing.mailbox import LOWER_FROM, fold, is_address, mailbox_key

# Characters Python's Unicode database knows (the server's may be newer: a character assigned
# after Python 3.11's Unicode 14 has no case mapping here, and is no address character anyway).
known = st.characters(blacklist_categories=("Cs", "Cn", "Co"))
ws = st.sampled_from([" ", "\t", "\n", "\u00a0", "\ufeff", "\u200b", ""])
part = st.text(st.one_of(known, st.sampled_from("+.@<>: AZaz09ÄÖÜẞİΣ")), max_size=12)
# a domain's labels in their ASCII form (punycode), valid or not
ace = st.builds(lambda label, tld: f"XN--{label}.{tld}" if label[:1] == "Z" else f"xn--{label}.{tld}",
                st.text(st.sampled_from("abkvz019-Z"), max_size=14), st.sampled_from(["de", "xn--p1ai", "com."]))
domain = st.one_of(st.sampled_from(["gmail.com", "GoogleMail.com", "gmail.com.", "Example.COM", "müller.de",
                                    "MÜLLER.DE", "xn--mller-kva.de"]), ace, part)
address = st.builds(lambda a, lo, d, b: f"{a}{lo}@{d}{b}", ws, part, domain, ws)


@pytest.fixture(scope="module")
def warehouse(engine):
    from smarketing import warehouse as wh

    wh.migrate(engine)
    return engine


def sql_keys(eng, values):
    with eng.connect() as conn:
        return conn.execute(text("select core.mailbox_key(v) from unnest(cast(:vs as text[])) with ordinality"
                                 " as t (v, n) order by n"), {"vs": values}).scalars().all()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.one_of(address, st.text(known, max_size=20)), min_size=1, max_size=25))
@example(values=["ΑΣ@x.gr", "İstanbul@x.tr", "ß@x.de", "ẞ@x.de", "e\u0301@x.fr", "\u00e9@x.fr", "a@b@c.", "@", ""])
@example(values=["a@xn--.de", "a@xn--abc-.de", "a@xn--zzzzzzzzzz.de", "a@xn--99999999.de", "a@xn--a.de",
                 "a@xn--ib9b.de", "a@xn---.de", "a@xn--ls8h.xn--p1ai", "a@xn--mller-kva.de", "a@xn--m\u00fcller.de",
                 "a@xn--" + "z" * 60 + ".de", "a@xn--" + "b" * 70 + ".de", "a@XN--MLLER-KVA.DE"])
def test_the_warehouse_and_python_give_the_same_key(warehouse, values):
    values = [v.replace("\x00", "") for v in values]  # PostgreSQL text cannot hold NUL
    assert sql_keys(warehouse, values) == [mailbox_key(v) for v in values]


def test_every_letter_of_the_case_table_folds_alike(warehouse):
    with warehouse.connect() as conn:
        folded = conn.execute(text("select core.email_fold(:v)"), {"v": LOWER_FROM}).scalar_one()
    assert folded == fold(LOWER_FROM)
    assert fold(folded) == folded  # folding twice changes nothing


@pytest.mark.parametrize(("spelling", "mailbox"), [
    (" ANNA.Berg+News@Example.com ", "anna.berg@example.com"),
    ("anna.berg@example.com.", "anna.berg@example.com"),
    ("A.N.N.A+x@GoogleMail.com", "anna@gmail.com"),
    ("\ufeffJürgen.Müller@MÜLLER.de\u00a0", "jürgen.müller@müller.de"),
    ("Ju\u0308rgen@x.de", "jürgen@x.de"),           # decomposed umlaut: the same mailbox as the composed one
    ("SALES@acme.example", "sales@acme.example"),
    ("ΟΔΟΣ@greek.example", "οδοσ@greek.example"),   # final sigma folds like any sigma
    ("οδος@greek.example", "οδοσ@greek.example"),
    ("İLSE@x.example", "ilse@x.example"),
    ("ſam@x.example", "sam@x.example"),
    ("+tag@x.example", "+tag@x.example"),            # no base mailbox: kept whole, not "@x.example"
    ("Olga Wolf <Olga.Wolf+crm@X.example>", "olga.wolf@x.example"),
    ("MAILTO:olga.wolf@x.example", "olga.wolf@x.example"),
    ("<a> b <c@d.example> e", "c@d.example"),
    ("anna@XN--MLLER-KVA.de", "anna@müller.de"),  # the domain in the ASCII form DNS carries it
    ("anna@xn--bcher-kva.xn--mller-kva.de.", "anna@bücher.müller.de"),
    ("anna@xn--99.de", "anna@xn--99.de"),  # not valid punycode: kept as written
    ("bob@xn--example-.com", "bob@xn--example-.com"),  # decodes to ASCII only: no A-label, another name
    ("bob@xn--a.de", "bob@xn--a.de"),  # decodes to a control character
    ("not an address", "not an address"),
    ("", None),
    (None, None),
])
def test_spellings_of_one_mailbox_share_its_key(warehouse, spelling, mailbox):
    assert mailbox_key(spelling) == mailbox
    assert sql_keys(warehouse, [spelling]) == [mailbox]


def test_the_command_line_refuses_what_is_not_an_address():
    assert is_address("someone+news@gmail.com")
    assert is_address(" Jürgen@müller.de ")
    for bad in ("not an email", "someone@", "@example.com", "a@b", "a b@example.com", "a@b@example.com"):
        assert not is_address(bad), bad
