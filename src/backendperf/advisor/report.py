"""The advice and its renderings: text, JSON (the schema in DESIGN.md) and runnable SQL."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from backendperf.advisor.candidates import Candidate

__all__ = [
    "COVERING_REASON",
    "Advice",
    "NoSuggestion",
    "Reason",
    "Redundant",
    "Suggestion",
    "Unindexable",
    "load_baseline",
]


COVERING_REASON: Final = "covering: INCLUDE holds the other columns read (index-only scan)"
PATTERN_OPS_REASON: Final = "text_pattern_ops so LIKE 'prefix%' can use it under a non-C collation"
_CLAIMS: Final = {
    "sorts": "returns rows in ORDER BY order for the LIMIT",
    "covering": COVERING_REASON,
    "pattern_ops": PATTERN_OPS_REASON,
}
_LISTS: Final = ("equality on", "range on", "join on", "expression index on")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why an index is suggested, as data: how many statement shapes it serves and their
    share of the workload, then what it does for them, in order. Only ``str()`` makes text
    of it (the reports); a variant of the index gets its reason from the data
    (:meth:`for_index`), never from the text.

    >>> from backendperf.advisor.candidates import Candidate
    >>> why = Reason(2, 0.33, "time", ("orders", "status", "created_at"),
    ...              (("equality on", ("status",)), ("range on", ("created_at",)), ("sorts", ())))
    >>> print(why)  # doctest: +NORMALIZE_WHITESPACE
    2 statement shapes (33% of the workload's time): equality on status; range on created_at;
    returns rows in ORDER BY order for the LIMIT
    >>> print(why.for_index(Candidate("orders", ("status",))))
    2 statement shapes (33% of the workload's time): equality on status
    """

    shapes: int
    share: float
    basis: str
    """``time`` or ``calls`` (a workload without durations)."""
    key: tuple[str, ...]
    """The table and key columns of the index it was written for."""
    claims: tuple[tuple[str, tuple[str, ...]], ...]
    """``(kind, values)``: ``equality on``, ``range on``, ``join on``, ``expression index
    on`` with their columns; ``sorts``, ``covering``, ``pattern_ops`` with none;
    ``partial`` with its predicate."""

    def __str__(self) -> str:
        head = (
            f"{self.shapes} statement shape{'s' if self.shapes != 1 else ''} "
            f"({self.share:.0%} of the workload's {self.basis})"
        )
        parts = []
        for kind, values in self.claims:
            if kind in _LISTS:
                parts.append(f"{kind} {', '.join(values)}")
            elif kind == "partial":
                parts.append(f"partial: only rows where {values[0]}")
            else:
                parts.append(_CLAIMS[kind])
        return f"{head}: {'; '.join(parts) or 'serves their access path'}"

    def for_index(self, candidate: Candidate) -> Reason:
        """The reason for ``candidate``, a variant of the index this one was written for
        (fewer or other key columns, other INCLUDE columns): the columns it does not have
        leave the lists; the ORDER BY claim holds only while the key is the same (the sort
        columns are the last key columns); covering goes with the INCLUDE list, and an
        INCLUDE list added makes it covering."""
        same_key = (candidate.table, *candidate.columns) == self.key
        claims: list[tuple[str, tuple[str, ...]]] = []
        for kind, values in self.claims:
            if kind in _LISTS:
                kept = tuple(c for c in values if c in candidate.columns)
                if kept:
                    claims.append((kind, kept))
            elif kind == "sorts":
                if same_key:
                    claims.append((kind, values))
            elif kind == "covering":
                if candidate.include:
                    claims.append((kind, values))
            elif kind != "pattern_ops" or candidate.pattern_ops:
                claims.append((kind, values))
        if candidate.include and ("covering", ()) not in claims:  # widened by what-if
            claims.append(("covering", ()))
        key = (candidate.table, *candidate.columns)
        return Reason(self.shapes, self.share, self.basis, key, tuple(claims))


@dataclass(slots=True)
class Suggestion:
    table: str
    columns: tuple[str, ...]
    desc: tuple[bool, ...]
    include: tuple[str, ...]
    where: str | None
    ddl: str
    reason: str
    """:attr:`why`, rendered."""
    fingerprints: list[str]
    queries_helped: int
    share: float
    """Share of the workload's total time spent in the statements this index serves."""
    calls: int
    notes: list[str] = field(default_factory=list)
    method: str = "heuristic"
    """``heuristic`` (offline rules), ``model`` (the offline cost model, from statistics), or
    ``hypopg`` / ``rollback`` when validated with what-if plans."""
    cost_before: float | None = None
    cost_after: float | None = None
    size_bytes: int | None = None
    candidate: Candidate | None = None
    offline: Candidate | None = None
    """The index as the offline advice gave it, once what-if validation reshaped it."""
    covers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """fingerprint -> the columns that statement needs from the index for an index-only
    scan (what-if validation tries the INCLUDE lists they make)."""
    known: bool = False
    """In the ``--baseline`` file already (accepted or deferred before)."""
    statements: list[tuple[str, float]] = field(default_factory=list)
    """``(normalized statement, share of the workload's time)`` of the statements it serves."""
    why: Reason | None = None
    """The reason as data (``None``: read back from a report, where only its text is)."""
    keys: tuple[str, ...] = ()
    """The columns its statements filter, join, sort or group its table by: what what-if
    validation may add to its key (Extend's extension step)."""

    def identity(self) -> tuple[str, tuple[str, ...], str | None]:
        """What makes two suggestions the same index (across runs)."""
        return (self.table, self.columns, self.where)

    def to_json(self) -> dict[str, Any]:
        return {
            "known": self.known,
            "table": self.table,
            "columns": list(self.columns),
            "desc": [c for c, d in zip(self.columns, self.desc, strict=False) if d],
            "include": list(self.include),
            "where": self.where,
            "ddl": self.ddl,
            "reason": self.reason,
            "notes": self.notes,
            "fingerprints": self.fingerprints,
            "queries_helped": self.queries_helped,
            "statements": [{"statement": t, "share": round(x, 4)} for t, x in self.statements],
            "share": round(self.share, 4),
            "calls": self.calls,
            "estimated": {
                "cost_before": self.cost_before,
                "cost_after": self.cost_after,
                "size_bytes": self.size_bytes,
                "method": self.method,
            },
        }


def human_size(n: int) -> str:
    """``3.0 MB``, ``812.0 kB``, ``96 B`` (powers of 1024, as ``--max-size`` reads them)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"  # pragma: no cover - the loop always returns


def load_baseline(path: str) -> set[tuple[str, tuple[str, ...], str | None]]:
    """The suggestions of a previous ``--output json`` report."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("indexes"), list):
        raise ValueError("not a backendperf advise JSON report (no 'indexes' list)")
    return {
        (i["table"], tuple(i["columns"]), i.get("where"))
        for i in data["indexes"]
        if isinstance(i, dict) and "table" in i and "columns" in i
    }


@dataclass(frozen=True, slots=True)
class Redundant:
    table: str
    index: str
    covered_by: str
    reason: str


@dataclass(frozen=True, slots=True)
class Unindexable:
    fingerprint: str
    table: str
    predicate: str
    reason: str


NO_ROWS: Final = "an INSERT finds no rows: an index only adds to its work"
NOT_A_QUERY: Final = "not a query on a table (a setting, transaction control or DDL)"
NOTHING_TO_INDEX: Final = (NO_ROWS, NOT_A_QUERY)
"""The reasons that say a statement has nothing an index could do: the text and HTML
reports count these statements instead of listing each."""


@dataclass(frozen=True, slots=True)
class NoSuggestion:
    fingerprint: str
    normalized: str
    reason: str


@dataclass(slots=True)
class Advice:
    indexes: list[Suggestion] = field(default_factory=list)
    redundant_indexes: list[Redundant] = field(default_factory=list)
    unindexable: list[Unindexable] = field(default_factory=list)
    no_suggestion: list[NoSuggestion] = field(default_factory=list)
    unused_indexes: list[dict[str, str]] = field(default_factory=list)
    """Indexes the server never scanned (``--db`` on PostgreSQL): candidates to drop."""
    unindexed_foreign_keys: list[dict[str, Any]] = field(default_factory=list)
    """Foreign keys the workload joins on, with no index leading with their columns."""
    warnings: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def drop(self, suggestion: Suggestion, reason: str, statements: Mapping[str, str]) -> None:
        """Tell, for each statement of ``suggestion`` (left out), why: ``statements`` maps a
        fingerprint to its normalized text."""
        what = suggestion.candidate or suggestion.ddl
        for fingerprint in suggestion.fingerprints:
            self.no_suggestion.append(
                NoSuggestion(fingerprint, statements.get(fingerprint, ""), f"{what}: {reason}")
            )

    def settle(self, statements: Mapping[str, str]) -> None:
        """Keep ``no_suggestion`` true to its name: every statement shape of ``statements``
        (fingerprint -> normalized text) that no suggestion serves is listed with its
        reasons, once each; a statement a suggestion serves is not listed (the reasons an
        index on its other tables was left out are noise beside the index it gets)."""
        served = {f for s in self.indexes for f in s.fingerprints}
        seen: set[tuple[str, str]] = set()
        kept: list[NoSuggestion] = []
        for n in self.no_suggestion:
            if n.fingerprint in served or (n.fingerprint, n.reason) in seen:
                continue
            seen.add((n.fingerprint, n.reason))
            kept.append(n)
        told = {n.fingerprint for n in kept}
        for fingerprint, normalized in statements.items():
            if fingerprint not in served and fingerprint not in told:
                kept.append(NoSuggestion(fingerprint, normalized, "no candidate index serves it"))
        self.no_suggestion = kept

    def _without_suggestion(self) -> tuple[list[NoSuggestion], list[str]]:
        """``no_suggestion`` as the text and HTML reports show it: the entries to list, and
        one line per reason that says a statement has nothing to index (INSERTs, settings),
        counted, as a test suite's log holds many such shapes (the JSON lists each)."""
        listed = [n for n in self.no_suggestion if n.reason not in NOTHING_TO_INDEX]
        counted = []
        for reason in NOTHING_TO_INDEX:
            n = sum(1 for x in self.no_suggestion if x.reason == reason)
            if n:
                counted.append(f"{n} statement shape{'s' if n != 1 else ''}: {reason}")
        return listed, counted

    def mark_suggested_keys(self) -> None:
        """Flag each unindexed foreign key that a suggestion leads with (again after
        validation dropped or narrowed suggestions)."""
        led = {(s.table, s.columns[0]) for s in self.indexes}
        for key in self.unindexed_foreign_keys:
            key["suggested"] = (key["table"], key["columns"][0]) in led

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``version`` 1)."""
        return {
            "version": 1,
            "source": self.source,
            "summary": self.summary,
            "indexes": [s.to_json() for s in self.indexes],
            "redundant_indexes": [
                {"table": r.table, "index": r.index, "covered_by": r.covered_by, "reason": r.reason}
                for r in self.redundant_indexes
            ],
            "unindexable": [
                {
                    "fingerprint": u.fingerprint,
                    "table": u.table,
                    "predicate": u.predicate,
                    "reason": u.reason,
                }
                for u in self.unindexable
            ],
            "no_suggestion": [
                {"fingerprint": n.fingerprint, "statement": n.normalized, "reason": n.reason}
                for n in self.no_suggestion
            ],
            "unused_indexes": self.unused_indexes,
            "unindexed_foreign_keys": self.unindexed_foreign_keys,
            "warnings": self.warnings,
            "skipped": {
                "lines": self.skipped.get("lines", 0),
                "statements": self.skipped.get("statements", 0),
                **self.skipped,
            },
        }

    def render_json(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def render_sql(self) -> str:
        """Runnable SQL: one ``CREATE INDEX`` per suggestion, its reason in a comment above."""
        lines: list[str] = []
        for s in self.indexes:
            lines.append(f"-- {s.reason}")
            if s.cost_before is not None and s.cost_after is not None:
                lines.append(
                    f"-- estimated cost {s.cost_before:,.1f} -> {s.cost_after:,.1f} ({s.method})"
                )
            lines.extend(f"-- note: {note}" for note in s.notes)
            lines.append(s.ddl)
            lines.append("")
        if not self.indexes:
            lines.append("-- backendperf advise: no index to suggest")
        return "\n".join(lines).rstrip() + "\n"

    def render_html(self) -> str:
        """One self-contained HTML page: the suggestions with their DDL, reasons and costs,
        then what was not suggested and why."""
        e = html.escape
        rows = []
        for i, s in enumerate(self.indexes, 1):
            cost = (
                f"{s.cost_before:,.0f} &rarr; {s.cost_after:,.0f}"
                if s.cost_before is not None and s.cost_after is not None
                else "&ndash;"
            )
            notes = "".join(f"<li>{e(n)}</li>" for n in s.notes)
            rows.append(
                f"<tr><td>{i}</td><td><code>{e(s.ddl)}</code>"
                f"{f'<ul>{notes}</ul>' if notes else ''}</td><td>{e(s.reason)}</td>"
                f"<td>{s.share:.0%}</td><td>{cost}</td><td>{e(s.method)}</td></tr>"
            )

        def section(title: str, items: list[str]) -> str:
            if not items:
                return ""
            return f"<h2>{e(title)}</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"

        listed, counted = self._without_suggestion()
        parts = [
            section(
                "Redundant existing indexes",
                [
                    f"<code>{e(r.table)}.{e(r.index)}</code>: {e(r.reason)}"
                    for r in self.redundant_indexes
                ],
            ),
            section(
                "Foreign keys joined on without an index",
                [
                    f"<code>{e(f['table'])} ({e(', '.join(f['columns']))})</code> &rarr; "
                    f"{e(f['references'])}" + (" (suggested above)" if f.get("suggested") else "")
                    for f in self.unindexed_foreign_keys
                ],
            ),
            section(
                "Indexes never scanned",
                [f"<code>{e(u['table'])}.{e(u['index'])}</code>" for u in self.unused_indexes],
            ),
            section(
                "Predicates no index can serve as written",
                [f"<code>{e(u.predicate)}</code>: {e(u.reason)}" for u in self.unindexable],
            ),
            section(
                "Statements without a suggestion",
                [f"<code>{e(n.normalized[:200])}</code>: {e(n.reason)}" for n in listed]
                + [e(line) for line in counted],
            ),
            section("Warnings", [e(w) for w in self.warnings]),
        ]
        total = self.summary.get("statements", 0)
        return _HTML.format(
            head=e(f"{len(self.indexes)} index suggestion(s) for {total} statement shape(s)"),
            rows="\n".join(rows) or '<tr><td colspan="6">No index to suggest.</td></tr>',
            sections="\n".join(p for p in parts if p),
        )

    def _table(self) -> str:
        """The suggestions at a glance: a rich table (plain text in a file or a pipe)."""
        import io

        from rich.console import Console
        from rich.table import Table

        table = Table(show_edge=False, pad_edge=False)
        for name, justify in (
            ("#", "right"),
            ("index", "left"),
            ("statements", "right"),
            ("share", "right"),
            ("est. cost", "right"),
            ("size", "right"),
            ("status", "left"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for i, s in enumerate(self.indexes, 1):
            cols = ", ".join(
                c + (" DESC" if i < len(s.desc) and s.desc[i] else "")
                for i, c in enumerate(s.columns)
            )
            name = f"{s.table} ({cols})" + (" partial" if s.where else "")
            cost = (
                f"{s.cost_before:,.0f} -> {s.cost_after:,.0f}"
                if s.cost_before is not None and s.cost_after is not None
                else "-"
            )
            status = (
                "heuristic"
                if s.method == "heuristic"
                else "estimated (model)"
                if s.method == "model"
                else f"validated ({s.method})"
            )
            table.add_row(
                str(i),
                name,
                str(s.queries_helped),
                f"{s.share:.0%}",
                cost,
                human_size(s.size_bytes) if s.size_bytes else "-",
                status,
            )
        console = Console(width=120, record=True, file=io.StringIO(), color_system=None)
        console.print(table)
        return console.export_text()

    def _totals(self) -> list[str]:
        """The validated workload cost before and after, and what bounded the pick."""
        before = self.summary.get("workload_cost_before")
        after = self.summary.get("workload_cost_after")
        if not before or after is None:
            return []
        how = self.summary.get("validated") or self.summary.get("estimated")
        lines = [
            f"estimated workload cost ({how}): {before:,.1f} -> "
            f"{after:,.1f} ({after / before - 1:+.1%})"
        ]
        budget = self.summary.get("budget")
        if budget:
            size = human_size(budget["size_bytes"])
            limits = []
            if budget.get("max_size") is not None:
                limits.append(f"--max-size {human_size(budget['max_size'])}")
            if budget.get("max_indexes") is not None:
                limits.append(f"--max-indexes {budget['max_indexes']}")
            bound = (
                " within " + " and ".join(limits)
                if limits
                else " (no --max-size: every index that pays its way)"
            )
            lines.append(
                f"budget: {size} of new indexes{bound}; each saves at least "
                f"{budget['min_share']:.0%} of the estimated cost"
            )
        return lines

    def render_text(self) -> str:
        """A plain-text report (what ``--output text`` prints)."""
        out: list[str] = []
        total = self.summary.get("statements", 0)
        out.append(
            f"backendperf advise: {len(self.indexes)} index suggestion(s) for "
            f"{total} statement shape(s)"
        )
        out.extend(self._totals())
        if self.indexes:
            out.append("")
            out.append(self._table().rstrip("\n"))
        for i, s in enumerate(self.indexes, 1):
            out.append("")
            out.append(f"{i}. {s.ddl}" + ("   [in baseline]" if s.known else ""))
            out.append(f"   why: {s.reason}")
            if s.cost_before is not None and s.cost_after is not None:
                out.append(
                    f"   estimated cost: {s.cost_before:,.1f} -> {s.cost_after:,.1f} "
                    + (
                        "(the offline cost model, from the statistics; not validated)"
                        if s.method == "model"
                        else f"({s.method}, validated)"
                    )
                )
            else:
                out.append("   status: heuristic (not validated against a database)")
            if s.size_bytes:
                out.append(f"   size: ~{human_size(s.size_bytes)}")
            for text, share in s.statements[:5]:
                short = text if len(text) <= 100 else text[:97] + "..."
                out.append(f"   helps ({share:.0%}): {short}")
            if len(s.statements) > 5:
                out.append(f"   helps {len(s.statements) - 5} more statement shape(s)")
            out.extend(f"   note: {note}" for note in s.notes)
        listed, counted = self._without_suggestion()
        sections = [
            (
                "Redundant existing indexes:",
                [
                    f"{r.table}.{r.index}: covered by {r.covered_by} ({r.reason})"
                    for r in self.redundant_indexes
                ],
            ),
            (
                "Indexes never scanned since the statistics were reset (drop candidates):",
                [f"{u['table']}.{u['index']}" for u in self.unused_indexes],
            ),
            (
                "Foreign keys the workload joins on, without an index:",
                [
                    f"{f['table']} ({', '.join(f['columns'])}) -> {f['references']}"
                    + (" (suggested above)" if f.get("suggested") else "")
                    for f in self.unindexed_foreign_keys
                ],
            ),
            (
                "Predicates no index can serve as written:",
                [f"{u.table}: {u.predicate} -- {u.reason}" for u in self.unindexable],
            ),
            (
                "Statements without a suggestion:",
                [
                    f"{n.normalized[:90]}{'...' if len(n.normalized) > 90 else ''} -- {n.reason}"
                    for n in listed
                ]
                + counted,
            ),
        ]
        for title, lines in sections:
            if lines:
                out.extend(["", title])
                out.extend(f"  {line}" for line in lines)
        if self.warnings:
            out.append("")
            out.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(out) + "\n"


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backendperf advise</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 6px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f4f4f4; }}
code {{ font: 12px/1.3 ui-monospace, monospace; white-space: pre-wrap; }}
ul {{ margin: 4px 0; }}
</style></head><body>
<h1>backendperf advise</h1>
<p>{head}</p>
<table><thead><tr><th>#</th><th>index</th><th>why</th><th>share of time</th>
<th>estimated cost</th><th>method</th></tr></thead>
<tbody>
{rows}
</tbody></table>
{sections}
</body></html>
"""
