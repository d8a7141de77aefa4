"""What-if on SQLite: ``EXPLAIN QUERY PLAN`` with each index created inside a savepoint that
is rolled back; a suggestion no plan uses is dropped."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backendperf.advisor.whatif.base import samples as workload_samples

if TYPE_CHECKING:
    from collections.abc import Mapping

    from backendperf.advisor.report import Advice, Suggestion
    from backendperf.workload.workload import Workload


def _validate_sqlite(
    advice: Advice, workload: Workload, url: str, texts: Mapping[str, str]
) -> None:
    import sqlite3

    from sqlalchemy.engine import make_url

    samples = workload_samples(workload)
    # savepoints are managed here: no implicit transactions
    conn = sqlite3.connect(make_url(url).database or ":memory:", isolation_level=None)
    kept: list[Suggestion] = []
    try:
        for suggestion in advice.indexes:
            if suggestion.candidate is None:
                kept.append(suggestion)
                continue
            statements = [samples[f][0] for f in suggestion.fingerprints if f in samples]
            before = [_sqlite_plan(conn, sql) for sql in statements]
            conn.execute("SAVEPOINT bp_whatif")
            try:
                conn.execute(suggestion.candidate.ddl("sqlite"))
                after = [_sqlite_plan(conn, sql) for sql in statements]
            finally:
                conn.execute("ROLLBACK TO bp_whatif")
                conn.execute("RELEASE bp_whatif")
            name = suggestion.candidate.name()
            # useful: a SEARCH through it instead of a scan, or a sort it removes (a full
            # scan of a covering index is still a full scan)
            used = [
                (b, a)
                for b, a in zip(before, after, strict=True)
                if name in a
                and (
                    ("SEARCH" in a and "SEARCH" not in b)
                    or ("TEMP B-TREE" in b and "TEMP B-TREE" not in a)
                )
            ]
            if used:
                suggestion.method = "sqlite-plan"
                suggestion.notes.append(f"plan before: {used[0][0]}")
                suggestion.notes.append(f"plan with it: {used[0][1]}")
                kept.append(suggestion)
            else:
                advice.drop(
                    suggestion,
                    "what-if (SQLite EXPLAIN QUERY PLAN): no plan searches through it",
                    texts,
                )
    finally:
        conn.close()
    advice.indexes = kept
    advice.summary["validated"] = "sqlite-plan"


def _sqlite_plan(conn: Any, sql: str) -> str:
    args = (None,) * sql.count("?")  # placeholders: SQLite plans do not depend on the values
    try:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", args).fetchall()
    except Exception as exc:  # a statement this database cannot plan
        return f"(cannot plan: {exc})"
    return "; ".join(str(row[-1]) for row in rows)
