"""Fingerprints: one id per statement shape, whatever the values, spacing, case or comments."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backendperf.workload import Fingerprinter, fingerprint, normalize, read
from backendperf.workload.fingerprinting import _simple_blank, blank_literals

GOLDEN = [
    (
        "/* c */ SELECT aid, abalance\n\t FROM pgbench_accounts\n WHERE aid IN (1, 2, 3) -- x\n",
        "select aid, abalance from pgbench_accounts where aid in (?+)",
    ),
    ("SELECT * FROM t WHERE s = 'it''s' AND e = E'a\\'b'", "select * from t where s = ? and e = ?"),
    ("SELECT $$x 'y'$$, $body$ z $body$", "select ?, ?"),
    (
        'SELECT "Aid" FROM "t" WHERE x BETWEEN -1 AND 2.5e3',
        "select Aid from t where x between ? and ?",
    ),
    (
        "SELECT count(*) FROM t WHERE bid = ANY('{1,2}'::int[])",
        "select count(*) from t where bid = any(?::int[])",
    ),
    ("UPDATE a SET b = b + -5 WHERE c = $1", "update a set b = b + ? where c = ?"),
    ("UPDATE a SET b = b - 5", "update a set b = b - ?"),
    ("INSERT INTO h (a, b) VALUES (1, now()), (2, now())", "insert into h(a, b) values (?, now())"),
    (
        "SELECT * FROM t WHERE a IS NOT NULL AND b = NULL AND c = TRUE",
        "select * from t where a is not null and b = ? and c = ?",
    ),
    (
        "select x from t where y = :name and z = %(z)s and w = %s and v = ?",
        "select x from t where y = ? and z = ? and w = ? and v = ?",
    ),
    ("SELECT a->>'k', b #> '{x}' FROM j", "select a ->> ?, b #> ? from j"),
    ("SELECT 1;", "select ?"),
]


@pytest.mark.parametrize(("sql", "expected"), GOLDEN)
def test_golden_normalizations(sql: str, expected: str) -> None:
    """Each normalization rule, on a readable example."""
    assert normalize(sql) == expected


def test_mysql_dialect_strings_and_comments() -> None:
    """In MySQL, "..." is a string, backticks quote identifiers and # starts a comment."""
    assert normalize('SELECT `c` FROM t WHERE a = "x\\"y" # hi', "mysql") == (
        "select c from t where a = ?"
    )


def test_the_same_statement_from_every_source_shares_a_fingerprint() -> None:
    """PostgreSQL's $1, MariaDB's literal, and a driver's %s / ? give one id."""
    ids = {
        fingerprint("SELECT c FROM sbtest1 WHERE id = $1"),
        fingerprint("SELECT c FROM sbtest1 WHERE id=42", "mysql"),
        fingerprint("select c from sbtest1 where id = %s"),
        fingerprint("SELECT c\n  FROM sbtest1\n WHERE id = ?"),
        fingerprint('SELECT "c" FROM "sbtest1" WHERE "id" = :id'),
    }
    assert len(ids) == 1
    assert len(next(iter(ids))) == 16


literals = st.one_of(
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False, min_value=0).map(repr),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10).map(
        lambda s: "'" + s.replace("'", "''") + "'"
    ),
    st.sampled_from(["NULL", "TRUE", "false", "$1", "%s", "?", ":p"]),
)
TEMPLATES = [
    "SELECT a, b FROM t WHERE a = {} AND b > {}",
    "UPDATE t SET x = {} WHERE id = {}",
    "INSERT INTO t (a, b) VALUES ({}, {})",
    "SELECT * FROM t WHERE id IN ({}, {}) ORDER BY a LIMIT 10",
    "DELETE FROM t WHERE a < {} OR b = {}",
]


@given(st.sampled_from(TEMPLATES), literals, literals, literals, literals)
def test_literal_values_do_not_change_the_fingerprint(
    template: str, a: str, b: str, c: str, d: str
) -> None:
    """Any literal in any slot gives the template's one fingerprint."""
    assert fingerprint(template.format(a, b)) == fingerprint(template.format(c, d))


whitespace = st.text(alphabet=" \t\n", min_size=1, max_size=3)


@given(st.sampled_from(TEMPLATES), st.lists(whitespace, min_size=30, max_size=30), st.randoms())
def test_whitespace_case_and_comments_do_not_matter(
    template: str, spaces: list[str], rnd: object
) -> None:
    """Re-spacing, re-casing and commenting a statement keeps its fingerprint."""
    sql = template.format(1, "'x'")
    tokens = sql.split(" ")
    spaced = "".join(t + s for t, s in zip(tokens, itertools.cycle(spaces), strict=False))
    recased = "".join(ch.upper() if i % 3 == 0 else ch for i, ch in enumerate(spaced))
    recased = recased.replace("'X'", "'x'")
    commented = "/* tag */ " + recased + " -- trailing"
    assert fingerprint(commented) == fingerprint(sql)


@given(st.sampled_from(TEMPLATES), literals, literals)
def test_normalize_is_idempotent(template: str, a: str, b: str) -> None:
    """A normalized statement normalizes to itself."""
    once = normalize(template.format(a, b))
    assert normalize(once) == once


def test_distinct_shapes_do_not_collide_on_the_fixture_corpus() -> None:
    """Across every statement in the real sample logs: one id per normalized text."""
    import glob

    by_id: dict[str, str] = {}
    fp = Fingerprinter()
    for path in sorted(glob.glob("tests/fixtures/logs/*")):
        for event in read(path, errors="ignore"):
            fid, text = fp(event.statement)
            assert by_id.setdefault(fid, text) == text
    assert len(by_id) > 60


@given(st.text(max_size=200))
def test_any_text_normalizes_without_error(text: str) -> None:
    """Garbage in (unterminated quotes, stray symbols) never raises."""
    normalize(text)
    normalize(text, "mysql")


sqlish = st.lists(
    st.sampled_from(
        [
            "SELECT",
            "a",
            "t1",
            "=",
            "-",
            "+",
            "1",
            "2.5",
            "1e3",
            ".5",
            "0x1F",
            "'x'",
            "'it''s'",
            "E'a\\'b'",
            "$$q$$",
            "$1",
            "%s",
            "?",
            ":n",
            "(",
            ")",
            ",",
            "IN",
            "VALUES",
            "NULL",
            "IS",
            "NOT",
            "TRUE",
            "--c\n",
            "/* c */",
            '"Q"',
            "`b`",
            "::int",
            "x'1F'",
            "N'n'",
            "e'\\''",
            "b'01'",
            "9'z'",
            "c'",
            "'a-9'",
            "#",
            "\n",
            " ",
        ]
    ),
    max_size=30,
)
sqlish = sqlish.map(" ".join) | sqlish.map("".join)  # glued too: ``c'x'``, ``9'x'``


# the characters where the two paths could part: quotes, prefixes, digits, ``$``, ``:``
lexical = st.text(alphabet=st.sampled_from(list("'xXnNeEbBuU&9c0 \\-=a1._$\"`#/*:?%()s\n")))


@given(sqlish | lexical | st.text(max_size=80), st.sampled_from(["postgresql", "mysql"]))
def test_blanking_literals_first_changes_nothing(sql: str, dialect: str) -> None:
    """The fast path (blank literals, then normalize once per blanked text) gives exactly the
    full normalization."""
    assert normalize(blank_literals(sql, dialect), dialect) == normalize(sql, dialect)
    assert Fingerprinter(dialect)(sql) == (fingerprint(sql, dialect), normalize(sql, dialect))


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE sbtest1 SET c='36974564174-03140739334' WHERE id=9999",  # ends in a digit
        "INSERT INTO t (a, b) VALUES (1, 'abc'), (2, 'xyz')",  # ends in a letter
        "SELECT * FROM users WHERE email = 'ann@example.com' AND n > 2.5",
        "SELECT * FROM t WHERE a = 'plan b' AND b = 'x'",  # a word start before the quote
    ],
)
def test_ordinary_string_literals_take_the_one_regex_path(sql: str) -> None:
    """Only a prefix letter at the start of a word (``x'1F'``) needs the full pass. A string
    that merely ends in a letter or digit used to be sent there too: 10% of a sysbench log,
    as much time as the other 90%."""
    assert _simple_blank(sql) is not None
    assert normalize(blank_literals(sql, "mysql"), "mysql") == normalize(sql, "mysql")


@pytest.mark.parametrize("sql", ["SELECT x'1F'", "SELECT N'ü'", "SELECT 1B'x'", "SELECT E'a'"])
def test_prefixed_strings_take_the_full_pass(sql: str) -> None:
    assert _simple_blank(sql) is None


def test_the_text_memo_is_bounded() -> None:
    """Repeated texts cost a dict lookup, but the memo never holds more than ``maxsize``
    texts, nor any text longer than 512 characters."""
    fp = Fingerprinter("mysql", maxsize=10)
    ids = {fp(f"SELECT c FROM t WHERE id={i}") for i in range(25)}
    assert len(ids) == 1
    assert 0 < len(fp._texts) <= 10
    assert fp("SELECT c FROM t WHERE id=24") in ids  # a repeat: served from the memo
    long = "SELECT c FROM t WHERE c IN (" + ", ".join(map(str, range(300))) + ")"
    fp(long)
    assert long not in fp._texts


@pytest.mark.parametrize(
    ("sql", "normalized"),
    [
        ("SELECT @@port", "select @@port"),
        ("SELECT @@SESSION.sql_mode", "select @@session.sql_mode"),
        ("SET @x := 1", "set @x := ?"),
        ("SELECT * FROM t WHERE a = @v", "select * from t where a = @v"),
        ("SELECT * FROM `a tbl` WHERE id = 1", 'select * from "a tbl" where id = ?'),
        ("SELECT `id` FROM `users`", "select id from users"),
    ],
)
def test_mysql_variables_assignments_and_quoted_names(sql: str, normalized: str) -> None:
    """Variables and ``:=`` stay one token each, and a quoted name with a space stays quoted
    (``@@port`` read as ``@ @ port``; `` `a tbl` `` collided with the alias in ``a tbl``)."""
    assert normalize(sql, "mysql") == normalized
    assert fingerprint("SELECT * FROM `a tbl`", "mysql") != fingerprint(
        "SELECT * FROM a tbl", "mysql"
    )


def test_the_fingerprint_function_does_not_shadow_its_module() -> None:
    """``backendperf.workload.fingerprint`` is the function; its module has its own name, so
    ``import backendperf.workload.fingerprinting as m`` is the module, not the function."""
    import importlib
    import inspect

    import backendperf.workload
    import backendperf.workload.fingerprinting as module

    assert inspect.ismodule(module)
    assert inspect.isfunction(backendperf.workload.fingerprint)
    assert importlib.import_module("backendperf.workload.fingerprinting").fingerprint is (
        backendperf.workload.fingerprint
    )


@given(
    st.lists(
        sqlish | lexical | st.text(max_size=40) | st.just("SELECT '\x00' AS nul"), max_size=12
    ),
    st.sampled_from(["postgresql", "mysql"]),
)
def test_many_texts_at_once_read_as_one_at_a_time(sqls: list[str], dialect: str) -> None:
    """:meth:`Fingerprinter.many` blanks a batch's new texts in one regex call over the texts
    joined by a NUL: a quote left open in one text must not reach into the next, a text
    holding a NUL itself must not shift the others, and repeats within the batch agree."""
    one = Fingerprinter(dialect)
    assert Fingerprinter(dialect).many(sqls) == [one(sql) for sql in sqls]
    twice = Fingerprinter(dialect)
    twice.many(sqls[: len(sqls) // 2])
    assert twice.many(sqls) == [one(sql) for sql in sqls]


def test_a_quote_left_open_stays_in_its_own_text() -> None:
    fp = Fingerprinter("mysql")
    got = fp.many(["SELECT 'abc", "SELECT 1 FROM t WHERE a = 'x'", "SELECT 2"])
    assert [text for _, text in got] == [
        normalize("SELECT 'abc", "mysql"),
        "select ? from t where a = ?",
        "select ?",
    ]


def test_the_text_memo_stays_bounded_when_texts_come_in_batches() -> None:
    fp = Fingerprinter("mysql", maxsize=10)
    for start in range(0, 60, 7):
        fp.many([f"SELECT c FROM t WHERE id={i}" for i in range(start, start + 7)])
        assert len(fp._texts) <= 10
    fp.many([f"SELECT c FROM t WHERE id={i}" for i in range(100, 130)])  # larger than the memo
    assert len(fp._texts) <= 10
    long = "SELECT c FROM t WHERE c IN (" + ", ".join(map(str, range(300))) + ")"
    fp.many([long, "SELECT 1"])
    assert long not in fp._texts
