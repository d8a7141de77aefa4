"""Statement fingerprints: one shape for every statement that differs only in its values.

The algorithm (stable: the ids appear in reports and JSONL files):

1. Tokenize with one compiled regular expression (no SQL parse): comments, string literals
   (``'..'`` with ``''`` escapes, ``E'..'`` with backslash escapes, ``$tag$..$tag$``, and in
   the MySQL dialect ``".."`` and backslash escapes; a prefix letter such as ``x'1F'`` counts
   only at the start of a word), quoted identifiers (``".."`` in
   PostgreSQL, backticks in MySQL), placeholders (``$1``, ``%s``, ``%(name)s``, ``?``,
   ``:name``), numbers, words, operators.
2. Drop comments. Replace every literal and placeholder with ``?``: strings, numbers (with a
   unary minus), ``TRUE``/``FALSE``, and ``NULL`` unless it follows ``IS`` / ``IS NOT``.
3. Lower-case words; quoted identifiers lose their quotes but keep their case.
4. Collapse ``IN (?, ?, ...)`` to ``in (?+)`` and runs of identical ``VALUES`` tuples to one.
5. Join tokens with single spaces (none inside ``a.b``, ``f(``, ``x::int``, before ``,``).

The id is the first 16 hex digits of BLAKE2b over the normalized text.

>>> normalize("SELECT * FROM users WHERE id IN (1, 2, 3) AND name = 'x' -- hi")
'select * from users where id in (?+) and name = ?'
>>> fingerprint("select * from t where id = $1") == fingerprint("SELECT * FROM t WHERE id=42")
True
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import re
from typing import Final, Literal, cast

__all__ = ["Fingerprinter", "blank_literals", "fingerprint", "normalize"]

Dialect = Literal["postgresql", "mysql", "sqlite", "generic"]

_COMMON = [
    ("ws", r"\s+"),
    ("comment", r"--[^\n]*|/\*.*?(?:\*/|\Z)"),
    ("dollar", r"\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$.*?(?:\$(?P=tag)\$|\Z)"),
    ("param", r"\$\d+|%\(\w+\)s|%s|\?|(?<!:):[A-Za-z_]\w*"),
    ("number", r"0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"),
    # [A-Za-z_\x80-\U0010ffff][A-Za-z_0-9$\x80-\U0010ffff]*, spelled as the complement of
    # the ASCII left out: a class over 1.1M code points takes ~13 ms to compile, this ~0.
    ("word", r"[^\x00-@\[-^`{-\x7f][^\x00-#%-/:-@\[-^`{-\x7f]*"),
    ("op", r"::|:=|<>|!=|<=|>=|\|\||->>|->|#>>|#>|[^\s\w]"),
]
_NOT_WORD_CHARS: Final = r"\x00-#%-/:-@\[-^`{-\x7f"  # word chars: A-Za-z_0-9$ and non-ASCII
_AT_WORD_START: Final = rf"(?<![^{_NOT_WORD_CHARS}])"  # a prefix letter counts only there (1x'1F')
_PREFIX_LETTERS: Final = "BbEeNnUuXx"  # x'1F', N'..', E'..', ... in either dialect
_PG = [
    ("estring", rf"{_AT_WORD_START}[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)"),
    ("string", rf"(?:{_AT_WORD_START}[BbXxNnUu])?'(?:[^']|'')*(?:'|\Z)"),
    ("ident", r'"(?:[^"]|"")*(?:"|\Z)|`(?:[^`]|``)*(?:`|\Z)'),
]
_MYSQL = [
    ("hashcomment", r"#[^\n]*"),
    (
        "string",
        rf"(?:{_AT_WORD_START}[BbXxNn])?'(?:[^'\\]|\\.|'')*(?:'|\Z)"
        r'|"(?:[^"\\]|\\.|"")*(?:"|\Z)',
    ),
    ("ident", r"`(?:[^`]|``)*(?:`|\Z)"),
    # user and system variables: @x, @@port, @@session.sql_mode, @'a b', @`a`
    ("var", r"@@?(?:[\w$.]+|'(?:[^'\\]|\\.)*'|`[^`]*`|\"[^\"]*\")"),
]


def _compile(parts: list[tuple[str, str]]) -> re.Pattern[str]:
    # Order matters: comments before operators, quoted forms before words.
    head = [p for p in _COMMON if p[0] in ("ws", "comment", "dollar")]
    tail = [p for p in _COMMON if p[0] not in ("ws", "comment", "dollar")]
    return re.compile(
        "|".join(f"(?P<{name}>{rx})" for name, rx in [*head, *parts, *tail]), re.DOTALL
    )


_TOKENS: Final = {"pg": _compile(_PG), "mysql": _compile(_MYSQL)}
_UNARY_BEFORE: Final = frozenset(
    {"(", ",", "=", "<", ">", "<=", ">=", "<>", "!=", "+", "-", "*", "/", "%", "||", "::"}
) | {
    "and",
    "or",
    "not",
    "select",
    "where",
    "when",
    "then",
    "else",
    "return",
    "values",
    "by",
    "between",
    "in",
    "set",
    "like",
    "limit",
    "offset",
    "case",
    "is",
    "on",
    "having",
}
_NO_SPACE_BEFORE: Final = frozenset({",", ")", ".", "::", "[", "]", ";"})
_NO_SPACE_AFTER: Final = frozenset({"(", ".", "::", "["})
_LITERAL_WORDS: Final = frozenset({"true", "false"})
_PLAIN_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")


def _tokens(sql: str, dialect: str) -> list[str]:
    regex = _TOKENS["mysql" if dialect == "mysql" else "pg"]
    out: list[str] = []
    append = out.append
    for m in regex.finditer(sql):
        kind = m.lastgroup
        if kind in ("ws", "comment", "hashcomment"):
            continue
        text = m.group()
        if kind == "word":
            low = text.lower()
            if low in _LITERAL_WORDS:
                append("?")
            elif low == "null":
                prev = out[-1] if out else ""
                is_test = prev == "is" or (prev == "not" and len(out) > 1 and out[-2] == "is")
                append("null" if is_test else "?")
            else:
                append(low)
        elif kind == "ident":
            name = text[1:-1] if len(text) > 1 and text[-1] == text[0] else text[1:]
            # A quoted name that is one plain word reads as the word (ORMs quote everything);
            # any other (``a tbl``, ``a.b``) stays quoted, or it would read as other tokens.
            append(name if _PLAIN_NAME.fullmatch(name) else '"' + name.replace('"', '""') + '"')
        elif kind == "var":
            append(text.lower())
        elif kind == "op":
            append(text)
        elif out and out[-1] in ("-", "+") and (len(out) == 1 or out[-2] in _UNARY_BEFORE):
            out[-1] = "?"  # a signed literal (or a negated placeholder)
        else:  # number, param, string, estring, dollar
            append("?")
    return out


def _collapse(tokens: list[str]) -> list[str]:
    """``in (?, ?, ?)`` -> ``in (?+)``; identical consecutive VALUES tuples -> one."""
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        tok = tokens[i]
        if tok == "(" and out and out[-1] == "in":
            if tokens[i + 1 : i + 4] == ["?", "+", ")"]:  # already collapsed: idempotent
                out += ["(", "?+", ")"]
                i += 4
                continue
            j = i + 1
            while j + 1 < n and tokens[j] == "?" and tokens[j + 1] == ",":
                j += 2
            if j + 1 < n and tokens[j] == "?" and tokens[j + 1] == ")":
                out += ["(", "?+", ")"]
                i = j + 2
                continue
        if tok == "(" and out and out[-1] in ("values", "value"):
            end = _matching(tokens, i)
            if end is not None:
                group = tokens[i : end + 1]
                out += group
                i = end + 1
                while i + len(group) < n + 1 and tokens[i : i + 1] == [","]:
                    nxt = _matching(tokens, i + 1) if tokens[i + 1 : i + 2] == ["("] else None
                    if nxt is None or tokens[i + 1 : nxt + 1] != group:
                        break
                    i = nxt + 1
                continue
        out.append(tok)
        i += 1
    return out


def _matching(tokens: list[str], start: int) -> int | None:
    depth = 0
    for k in range(start, len(tokens)):
        if tokens[k] == "(":
            depth += 1
        elif tokens[k] == ")":
            depth -= 1
            if depth == 0:
                return k
    return None


_SPACED_PAREN: Final = frozenset(
    {
        "in",
        "values",
        "value",
        "as",
        "and",
        "or",
        "not",
        "exists",
        "from",
        "join",
        "on",
        "using",
        "where",
        "select",
        "when",
        "then",
        "else",
        "over",
        "with",
        "into",
        "by",
        "set",
        "between",
        "returning",
        "lateral",
        "union",
        "except",
        "intersect",
        "all",
        "distinct",
        "case",
        "is",
    }
)


def _join(tokens: list[str]) -> str:
    """Tokens joined canonically: ``f(x)``, ``t(a, b)`` but ``in (?+)``, ``values (?)``."""
    parts: list[str] = []
    prev = ""
    for tok in tokens:
        if parts and tok not in _NO_SPACE_BEFORE and prev not in _NO_SPACE_AFTER:
            call = (
                tok == "(" and prev not in _SPACED_PAREN and (prev[:1].isalnum() or prev[:1] == "_")
            )
            if not call:
                parts.append(" ")
        parts.append(tok)
        prev = tok
    text = "".join(parts)
    return text[:-1].rstrip() if text.endswith(";") else text


def normalize(sql: str, dialect: str = "postgresql") -> str:
    """The statement's shape: literals as ``?``, lists collapsed, case and spacing normalized.

    >>> normalize('SELECT "aid" FROM "pgbench_accounts" WHERE aid BETWEEN 100 AND 200')
    'select aid from pgbench_accounts where aid between ? and ?'
    >>> normalize("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')")
    'insert into t(a, b) values (?, ?)'
    >>> normalize("SELECT * FROM t WHERE a IS NULL AND b = NULL AND c = -5")
    'select * from t where a is null and b = ? and c = ?'
    """
    return _join(_collapse(_tokens(sql, dialect)))


def fingerprint_id(normalized: str) -> str:
    """16 hex digits of BLAKE2b over the normalized text."""
    return hashlib.blake2b(normalized.encode(), digest_size=8).hexdigest()


def fingerprint(sql: str, dialect: str = "postgresql") -> str:
    """The fingerprint id of ``sql``.

    >>> fingerprint("SELECT 1") == fingerprint("select   2 -- two")
    True
    """
    return fingerprint_id(normalize(sql, dialect))


def _prepass_regex(mysql: bool) -> re.Pattern[str]:
    # The same lexical rules as the tokenizer; a prefix letter (E'', x'', ...) counts only at
    # the start of a word, as it does there (the tokenizer reads ``AB'x'`` as AB, then 'x').
    start = _AT_WORD_START
    # A literal that ends in a word character (``1``, ``$$x$$``) glued to what follows stays
    # as it is: blanked to ``?``, it would turn a following ``B'`` into a string prefix.
    if mysql:
        strings = [
            rf"(?:{start}[BbXxNn])?'(?:[^'\\]|\\.|'')*(?:'|\Z)",
            r'"(?:[^"\\]|\\.|"")*(?:"|\Z)',
        ]
        idents = [r"`(?:[^`]|``)*(?:`|\Z)"]
    else:
        strings = [
            rf"{start}[Ee]'(?:[^'\\]|\\.|'')*(?:'|\Z)",
            rf"(?:{start}[BbXxNnUu])?'(?:[^']|'')*(?:'|\Z)",
        ]
        idents = [r'"(?:[^"]|"")*(?:"|\Z)', r"`(?:[^`]|``)*(?:`|\Z)"]
    parts = [
        ("keep", r"--[^\n]*|/\*.*?(?:\*/|\Z)" + (r"|#[^\n]*" if mysql else "")),
        # ``a$$b$$`` is one word (identifiers may hold ``$``), not a word and a dollar quote
        (
            "lit",  # the body stops at the first closing tag: no longer match to backtrack to
            start + r"\$(?P<tag>[A-Za-z_][A-Za-z_0-9]*|)\$(?:(?!\$(?P=tag)\$).)*"
            rf"(?:\$(?P=tag)\$(?![{_PREFIX_LETTERS}]')|\Z)",
        ),
        *(("keep", rx) for rx in idents),
        *(("lit", rx) for rx in strings),
        # placeholders, ``:name`` too: its last letter is no string prefix (``:n'x'``)
        ("keep", r"\$\d+|%\(\w+\)s|%s|(?<!:):[A-Za-z_]\w*"),
        (
            "lit",
            rf"(?<![^{_NOT_WORD_CHARS}]|\.)(?:0[xX][0-9A-Fa-f]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
            rf"(?![^{_NOT_WORD_CHARS}]|\.)",
        ),
    ]
    body = "|".join(f"(?P<{name}{i}>{rx})" for i, (name, rx) in enumerate(parts))
    # Most positions start nothing of interest: a cheap lookahead skips them (2x faster).
    first = rf"(?=[-/#$'\"`%:0-9.{_PREFIX_LETTERS}])"  # one class test per position, then the rest
    rest = rf"(?=--|/\*|\#|\$|'|\"|`|%|:\w|\d|\.\d|[{_PREFIX_LETTERS}]')"
    return re.compile(first + rest + "(?:" + body + ")", re.DOTALL)


_PREPASS: Final = {False: _prepass_regex(False), True: _prepass_regex(True)}

# The common case, ASCII with plain quotes and numbers only, needs no Python callback at all.
# Anything the simple pattern could misread (comments, quoted identifiers, dollar quotes,
# escapes, prefixed strings like E'' or x'') sends the text down the full pass instead.
_SIMPLE: Final = re.compile(
    # One character class first, then the branches (told apart by a lookbehind at the character
    # taken): a pattern that starts with a class lets the regex engine skip to the candidate
    # positions in C, where an alternation of a literal and a class is tried at every position
    # (1.7x slower on pgbench's statements). The lookbehind rejects digits inside identifiers.
    r"[0-9.'](?:"
    r"(?<=')[^']*(?:''[^']*)*'"  # unrolled: one loop per run of plain characters
    r"|(?<=(?<![A-Za-z0-9_$.])[0-9.])"
    r"(?:(?<=0)[xX][0-9A-Fa-f]+|(?<=\d)\d*\.?\d*(?:[eE][+-]?\d+)?|(?<=\.)\d+(?:[eE][+-]?\d+)?))"
)
# A one-letter prefix at the start of a word (x'1F', N'x', E'a\\'b') changes how the quote
# reads. It is looked for in what the simple pattern made of the text: there a prefixed
# literal reads ``x?`` (the pattern reads up to the first prefix right, so the first one
# shows), while the letters inside strings are gone, so the search is short and only a
# word start counts. After a digit too (``1B'x'`` reads ``?B?``: blanking the number made
# ``B'`` a prefix). No number blanks to ``?`` right after a letter, so ``x?`` cannot come
# from one; a ``?`` placeholder right after a letter (not SQL any server takes) only costs
# the full pass.
_PREFIXED: Final = re.compile(rf"(?<![A-Za-z_$])[{_PREFIX_LETTERS}]\?")


def _simple_blank(sql: str, pattern: re.Pattern[str] = _SIMPLE) -> str | None:
    """``sql`` with its literals blanked by the simple pattern, or ``None`` where that could
    misread it (the full pass then decides)."""
    if (
        sql.isascii()
        and "--" not in sql
        and "/*" not in sql
        and '"' not in sql
        and "`" not in sql
        and "$" not in sql
        and "#" not in sql
        and "\\" not in sql
    ):
        out = pattern.sub("?", sql)
        if "'" not in sql or _PREFIXED.search(out) is None:
            return out
    return None


# Many texts blanked in one call: joined by a NUL, which no literal of the joined pattern
# takes (a quote left open in one text cannot reach into the next), and which reads as a
# text's start to every lookbehind of the pattern.
_JOIN: Final = "\x00"
_SIMPLE_JOINED: Final = re.compile(_SIMPLE.pattern.replace("[^']", "[^'\\x00]"))


def _simple_blank_many(sqls: list[str]) -> list[str] | None:
    """:func:`_simple_blank` of each of ``sqls`` in one regex call (per-call overhead is a
    third of the cost on short statements), or ``None`` unless the simple pattern takes all."""
    joined = _JOIN.join(sqls)
    if joined.count(_JOIN) != len(sqls) - 1:  # a text holds a NUL itself
        return None
    out = _simple_blank(joined, _SIMPLE_JOINED)
    return None if out is None else out.split(_JOIN)


def _blank(m: re.Match[str]) -> str:
    return "?" if m.lastgroup and m.lastgroup.startswith("lit") else m.group()


def blank_literals(sql: str, dialect: str = "postgresql") -> str:
    """``sql`` with its string and number literals replaced by ``?`` and nothing else changed:
    one C-level pass, and a key that repeats across calls with different values.
    ``normalize(blank_literals(s)) == normalize(s)`` for every ``s`` (a tested property).

    >>> blank_literals("SELECT * FROM t1 WHERE a = 'x' AND b = 42 -- 'c'")
    "SELECT * FROM t1 WHERE a = ? AND b = ? -- 'c'"
    """
    out = _simple_blank(sql)
    if out is not None:
        return out
    return _PREPASS[dialect == "mysql"].sub(_blank, sql)


_MEMO_TEXT: Final = 512  # longer texts are not remembered whole (bounded memory)


class Fingerprinter:
    """:func:`normalize` and :func:`fingerprint` for a stream of statements, fast.

    Logs repeat statement *shapes* far more often than they repeat texts: the values change,
    the spelling does not. So each text is first reduced by :func:`blank_literals` (one regex
    pass in C), and the full normalization runs once per distinct blanked text. Texts repeat
    too (hot rows, literal-free ORM statements): short ones are remembered whole, so a repeat
    costs one dict lookup. Both caches are bounded by ``maxsize`` entries.

    >>> fp = Fingerprinter()
    >>> fp("SELECT * FROM t WHERE id = 1")[0] == fp("SELECT * FROM t WHERE id = 2")[0]
    True
    """

    def __init__(self, dialect: str = "postgresql", *, maxsize: int = 100_000) -> None:
        self.dialect = dialect
        self.maxsize = maxsize
        self._shapes: dict[str, tuple[str, str]] = {}
        self._texts: dict[str, tuple[str, str]] = {}
        self._blank = _PREPASS[dialect == "mysql"].sub

    def __call__(self, sql: str) -> tuple[str, str]:
        """``(fingerprint id, normalized text)``."""
        seen = self._texts.get(sql)  # prepared statements and ORMs repeat the exact text
        if seen is not None:
            return seen
        key = _simple_blank(sql)
        if key is None:
            key = self._blank(_blank, sql)
        hit = self._shape(key)
        if len(sql) <= _MEMO_TEXT:  # hot rows come back with the same values: remember the text
            texts = self._texts
            if len(texts) >= self.maxsize:
                texts.clear()
            texts[sql] = hit
        return hit

    def many(self, sqls: list[str]) -> list[tuple[str, str]]:
        """``self(sql)`` for each of ``sqls``: the remembered texts looked up in one C loop, the
        others blanked in one regex call where the simple pattern takes them all."""
        texts = self._texts
        hits: list[tuple[str, str] | None] = list(map(texts.get, sqls))
        if None not in hits:
            return hits  # type: ignore[return-value]  # no None
        todo = list(itertools.compress(range(len(sqls)), map(operator.not_, hits)))
        new = [sqls[i] for i in todo]
        keys = _simple_blank_many(new)
        if keys is None:
            for i in todo:
                hits[i] = self(sqls[i])
            return hits  # type: ignore[return-value]  # no None left
        shapes = self._shapes
        found: list[tuple[str, str] | None] = list(map(shapes.get, keys))
        if None in found:
            for k, key in enumerate(keys):
                if found[k] is None:
                    found[k] = self._shape(key)
        done = cast("list[tuple[str, str]]", found)  # no None left
        for i, hit in zip(todo, done, strict=True):
            hits[i] = hit
        if len(texts) + len(new) > self.maxsize:
            texts.clear()
        if len(new) <= self.maxsize:  # (a batch larger than the memo is not remembered)
            texts.update(
                itertools.compress(
                    zip(new, done, strict=True),
                    map(operator.ge, itertools.repeat(_MEMO_TEXT), map(len, new)),
                )
            )
        return hits  # type: ignore[return-value]  # no None left

    def _shape(self, key: str) -> tuple[str, str]:
        """The fingerprint of a blanked text, normalized once and remembered."""
        shapes = self._shapes
        hit = shapes.get(key)
        if hit is None:
            text = normalize(key, self.dialect)
            hit = (fingerprint_id(text), text)
            if len(shapes) >= self.maxsize:
                shapes.clear()
            shapes[key] = hit
        return hit
