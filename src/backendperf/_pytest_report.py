"""What the pytest plugin prints and writes at the end of a session: the run's report, the
index advice over everything the suite executed, and SARIF.

Imported only at the end of a session that asked for one of them (the plugin stays light).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from backendperf import __version__
from backendperf.pytest_plugin import p95
from backendperf.testing import _short_caller, _sql, kind_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backendperf.advisor import Advice
    from backendperf.pytest_plugin import _Finding, _Run

_ADVISED_KINDS = ("SELECT", "INSERT", "UPDATE", "DELETE")


def report_lines(run: _Run, findings: Sequence[_Finding], *, verbose: bool = False) -> list[str]:
    """The end-of-session summary (``--backendperf-report``)."""
    top = 30 if verbose else 10
    width = 200 if verbose else 90
    shapes = sorted(run.shapes.values(), key=lambda s: (-s.total_ms, s.fingerprint))
    total = sum(s.count for s in shapes)
    total_ms = sum(s.total_ms for s in shapes)
    lines = [
        f"{total:,} statements ({total_ms:,.1f} ms of database time), {len(shapes):,} distinct "
        f"shapes; {sum(int(t[0]) for t in run.tests.values()):,} of them in the call phase of "
        f"{len(run.tests):,} tests"
    ]
    if shapes:
        lines += ["", "Slowest statement shapes, by total time:"]
        lines.append(
            f"  {'calls':>7} {'total ms':>10} {'mean ms':>9} {'p95 ms':>9} {'max ms':>9}  statement"
        )
        for s in shapes[:top]:
            lines.append(
                f"  {s.count:>7,} {s.total_ms:>10.2f} {s.total_ms / s.count:>9.3f} "
                f"{p95(s):>9.3f} {s.max_ms:>9.3f}  {_sql(s.statement, False, width)}"
            )
            if s.caller:
                lines.append(f"  {'':>48}  first run at {_short_caller(s.caller)}")
    tests = sorted(run.tests.items(), key=lambda t: (-t[1][0], t[0]))
    if tests:
        lines += ["", "Tests with the most queries (call phase):"]
        lines.append(f"  {'queries':>7} {'ms':>10}  test")
        for nodeid, (count, ms) in tests[:top]:
            lines.append(f"  {int(count):>7,} {ms:>10.2f}  {nodeid}")
    for rule, title in (("nplusone", "N+1 findings"), ("query-budget", "Query budgets exceeded")):
        chosen = [f for f in findings if f.rule == rule]
        if chosen:
            lines += ["", f"{title} ({len(chosen)}):"]
        for f in chosen:
            state = "FAILED" if f.failed else "reported"
            lines.append(f"  [{state}] {f.nodeid}")
            lines.append(f"      {f.message}")
    return lines


def advise_run(run: _Run, *, schema_file: str | None = None) -> Advice | None:
    """Index advice over every statement the run executed.

    The statements are those of the tests' call phases (the application at work; fixtures'
    seed INSERTs are not its workload), weighed by how often the tests ran them, not by their
    time: timings on a test database's handful of rows say little about production, and
    counts make the advice the same on every run. The schema is ``schema_file``, else the
    ``CREATE TABLE/INDEX`` statements the suite ran (``metadata.create_all``), else the live
    database of the engine that ran the most statements.
    """
    from backendperf.advisor import Schema, advise
    from backendperf.events import QueryEvent
    from backendperf.workload import Workload

    shapes = [
        s
        for s in run.shapes.values()
        if s.calls_in_tests and kind_of(s.normalized) in _ADVISED_KINDS
    ]
    if not shapes:
        return None
    dialects = Counter(s.dialect or "postgresql" for s in shapes)
    dialect = min(dialects, key=lambda d: (-dialects[d], d))
    workload = Workload()
    for s in sorted(shapes, key=lambda s: s.fingerprint):
        if (s.dialect or "postgresql") != dialect:
            continue
        params = s.slow_params
        workload.add(
            QueryEvent(
                statement=s.statement,
                duration_ms=float(s.calls_in_tests),
                calls=s.calls_in_tests,
                params=tuple(params) if isinstance(params, list) else params,
                dialect=dialect,
                database=s.database,
            )
        )
    source: str
    if schema_file:
        schema = Schema.from_ddl_file(schema_file, dialect)
        source = schema_file
    else:
        ddl = list(dict.fromkeys(s for d, s in run.ddl if d == dialect))
        if ddl:
            schema = Schema.from_ddl(";\n".join(ddl) + ";", dialect)
            source = f"{len(ddl)} CREATE statements the suite ran"
        else:
            urls = [u for u in run.urls if u.split(":", 1)[0].startswith(dialect[:5])]
            usable = [u for u in urls if u not in ("sqlite://", "sqlite:///:memory:")]
            if not usable:
                raise ValueError(
                    "no schema: the suite ran no CREATE TABLE statement and no engine points at "
                    "a database that can be read afterwards; give --backendperf-schema DDL"
                )
            url = max(usable, key=lambda u: (run.urls[u], u))
            schema = Schema.from_url(url)
            source = "the test database"
    advice = advise(workload, schema=schema, dialect=dialect)
    advice.source = {"logs": ["pytest run"], "schema": source}
    return advice


def advice_lines(advice: Advice, fail: str) -> list[str]:
    lines = advice.render_text().rstrip("\n").splitlines()
    new = [s for s in advice.indexes if not s.known]
    if fail == "any" and advice.indexes:
        lines.append(f"--backendperf-advise-fail=any: {len(advice.indexes)} suggestion(s): failing")
    elif fail == "new" and new:
        lines.append(f"--backendperf-advise-fail=new: {len(new)} not in the baseline: failing")
    return lines


# --------------------------------------------------------------------------------------------
# SARIF 2.1.0


_RULES: dict[str, dict[str, Any]] = {
    "nplusone": {
        "id": "nplusone",
        "name": "NPlusOneQuery",
        "shortDescription": {"text": "One query per row: an N+1 pattern"},
        "fullDescription": {
            "text": "The same SELECT ran once per parent row. Load the related rows with the "
            "parent query (selectinload/joinedload) or in one query."
        },
        "defaultConfiguration": {"level": "error"},
    },
    "query-budget": {
        "id": "query-budget",
        "name": "QueryBudgetExceeded",
        "shortDescription": {"text": "A test ran more queries (or database time) than its budget"},
        "defaultConfiguration": {"level": "error"},
    },
    "missing-index": {
        "id": "missing-index",
        "name": "MissingIndex",
        "shortDescription": {"text": "Statements the test suite runs would use this index"},
        "defaultConfiguration": {"level": "warning"},
    },
}


def _location(where: str | None) -> list[dict[str, Any]]:
    if not where:
        return []
    path, _, rest = where.partition(":")
    line = rest.split(":", 1)[0]
    physical: dict[str, Any] = {"artifactLocation": {"uri": path.replace("\\", "/")}}
    if line.isdigit():
        physical["region"] = {"startLine": int(line)}
    return [{"physicalLocation": physical}]


def sarif(findings: Sequence[_Finding], advice: Advice | None, run: _Run | None) -> dict[str, Any]:
    """A SARIF log for code-scanning UIs: N+1s and budgets at the application line that ran
    the statement; missing indexes at the line that first ran a statement they serve."""
    results: list[dict[str, Any]] = []
    for f in findings:
        results.append(
            {
                "ruleId": f.rule,
                "level": "error" if f.failed else "warning",
                "message": {"text": f"{f.nodeid}: {f.message}"},
                "locations": _location(f.location),
                "partialFingerprints": {"backendperf/v1": f"{f.rule}:{f.nodeid}"},
            }
        )
    if advice is not None:
        callers = {s.fingerprint: s.caller for s in run.shapes.values()} if run else {}
        for s in advice.indexes:
            where = next((callers[fp] for fp in s.fingerprints if callers.get(fp)), None)
            results.append(
                {
                    "ruleId": "missing-index",
                    "level": "note" if s.known else "warning",
                    "message": {"text": f"{s.ddl} -- {s.reason}"},
                    "locations": _location(where),
                    "partialFingerprints": {
                        "backendperf/v1": f"missing-index:{s.table}({','.join(s.columns)})"
                    },
                }
            )
    used = sorted({r["ruleId"] for r in results})
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "backendperf",
                        "version": __version__,
                        "informationUri": "https://pypi.org/project/backendperf/",
                        "rules": [_RULES[r] for r in used],
                    }
                },
                "results": results,
            }
        ],
    }
