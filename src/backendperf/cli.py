"""The ``backendperf`` command line.

Exit codes: 0 success, 1 findings (with ``--fail-on``), 2 usage or input errors.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from backendperf._version import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backendperf.advisor import Schema
    from backendperf.workload import Workload

__all__ = ["main"]

RULES_MAX_INDEXES = 10
"""``--max-indexes`` by default when no costs rank the indexes (DDL alone, MySQL, SQLite):
the rules rank by logged time, and this many are shown. With costs (``--validate`` on
PostgreSQL, or statistics), the pick keeps every index that saves ``--min-share``."""


def _demo(args: argparse.Namespace) -> int:
    """Show @cached on a slow lookup: the first call pays, the rest are hits."""
    from backendperf.cache import cached

    delay = args.delay_ms / 1000.0

    @cached(maxsize=1024, ttl=60)
    def lookup_user(user_id: int) -> dict[str, object]:
        time.sleep(delay)  # stands in for a database round trip
        return {"id": user_id, "name": f"user-{user_id}"}

    ids = [i % args.distinct for i in range(args.calls)]
    start = time.perf_counter()
    for user_id in ids:
        lookup_user(user_id)
    cached_s = time.perf_counter() - start
    uncached_s = len(ids) * delay
    info = lookup_user.cache_info()
    print(
        f"backendperf {__version__} caching demo: {args.calls} calls, {args.distinct} distinct ids"
    )
    print(f"  each miss costs {args.delay_ms:g} ms (a simulated database query)")
    print(f"  with @cached:    {cached_s * 1000:9.1f} ms")
    print(f"  without a cache: {uncached_s * 1000:9.1f} ms (estimated: calls x query time)")
    print(
        f"  cache_info(): hits={info.hits} misses={info.misses} "
        f"currsize={info.currsize} hit_ratio={info.hit_ratio:.1%}"
    )
    return 0


def _digest(args: argparse.Namespace) -> int:
    """Read query logs and print the statements that cost the most."""
    from backendperf.exceptions import BackendperfError
    from backendperf.workload import Workload
    from backendperf.workload import digest as report
    from backendperf.workload.readers import ReadStats, read_pgss_live

    try:
        if args.db:
            workload = Workload()
            workload.read_stats = ReadStats()
            workload.sources.append("pg_stat_statements")
            workload.extend(read_pgss_live(args.db, stats=workload.read_stats))
            if args.logs:
                workload.merge(_from_logs(args))
        else:
            workload = _from_logs(args)
    except (BackendperfError, OSError) as exc:  # bad input, a missing extra, a full disk
        print(f"backendperf digest: {exc}", file=sys.stderr)
        return 2
    if _unreadable(workload, args, "digest"):
        return 2
    data = report.build(workload, top=args.top, by=args.sort)
    if args.output == "json":
        text = report.render_json(data)
    elif args.output == "html":
        text = report.render_html(data)
    else:
        text = report.render_text(data, width=args.width)
    return _write(text, args.out, "digest")


def _unreadable(workload: Workload, args: argparse.Namespace, command: str) -> bool:
    """Every line that was not skipped for a reason was malformed, and no event was read: the
    format (or the log_line_prefix) is wrong. Say so and exit 2, unless ``--errors ignore``."""
    stats = workload.read_stats
    if stats is None or stats.events or not stats.malformed or args.errors == "ignore":
        return False
    print(
        f"backendperf {command}: no statement read: all {stats.malformed} lines that were not "
        f"skipped for a known reason are malformed (first: {stats.examples[0]}). Check "
        f"--format and --log-line-prefix; --errors ignore accepts an empty result.",
        file=sys.stderr,
    )
    return True


def _write(text: str, out: str | None, command: str) -> int:
    """Write a report to ``out`` (or stdout); 0, or 2 with a message when it cannot."""
    if out and out != "-":
        try:
            with open(out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"backendperf {command}: cannot write {out}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


def _modelled(schema: Schema, dialect: str | None) -> bool:
    """Whether the offline cost model prices ``schema``'s indexes: PostgreSQL, with row
    counts (a statistics snapshot or a database's own); DDL alone keeps the rules."""
    if (dialect or schema.dialect) != "postgresql":
        return False
    return any(table.rows for table in schema.tables.values())


def _advise(args: argparse.Namespace) -> int:
    """Read query logs and suggest the indexes that would serve them."""
    from backendperf.exceptions import BackendperfError

    try:
        from backendperf.advisor import Schema, advise

        workload = _from_logs(args)
        if _unreadable(workload, args, "advise"):
            return 2
        if args.stats and args.db:
            raise BackendperfError("give --stats or --db, not both (--db reads the statistics)")
        if args.schema:
            dialect = args.dialect or _workload_dialect(workload)
            schema = Schema.from_ddl_file(args.schema, dialect)
            if args.stats:  # a statistics-only dump over the DDL
                schema.add_statistics(Schema.from_stats_file(args.stats))
        elif args.stats:
            schema = Schema.from_stats_file(args.stats)
        elif args.db:
            schema = Schema.from_url(args.db)
        else:
            raise BackendperfError(
                "give the schema: --schema DDL.sql (CREATE TABLE/INDEX statements), --stats "
                "FILE (backendperf stats) or --db URL"
            )
    except (BackendperfError, OSError) as exc:
        print(f"backendperf advise: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a database that cannot be reached, say
        print(f"backendperf advise: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.validate and not args.db:
        print(
            "backendperf advise: --validate needs --db URL (PostgreSQL: HypoPG what-if "
            "plans; SQLite: EXPLAIN QUERY PLAN; MySQL/MariaDB: EXPLAIN confirmation)",
            file=sys.stderr,
        )
        return 2
    # What-if plans (PostgreSQL) spend the budgets better than estimates: they get twice the
    # candidates, sized by the database, and pick within --max-indexes and --max-size.
    # Without --validate, a PostgreSQL schema with statistics (--stats, --db) gets the same
    # pick on the offline cost model's estimates.
    whatif = args.validate and args.db.startswith("postgres")
    model = not args.validate and _modelled(schema, args.dialect)
    picked = whatif or model
    advice = advise(
        workload,
        schema=schema,
        dialect=args.dialect,
        # the pick gets every candidate unless a cap is asked for (then twice as many)
        max_indexes=(
            (args.max_indexes * 2 if args.max_indexes else None)
            if picked
            else (args.max_indexes or RULES_MAX_INDEXES)
        ),
        max_size=None if picked else args.max_size,
        # with what-if plans --min-share applies to what they say an index saves, not as a
        # filter on logged time before anything is costed
        min_share=0.0 if picked else args.min_share / 100,
        whatif=picked,
    )
    if model:
        from backendperf.advisor.whatif.offline import estimate

        estimate(
            advice,
            workload,
            schema,
            max_indexes=args.max_indexes,
            max_size=args.max_size,
            min_gain=args.min_share / 100,
        )
    if args.validate:
        from backendperf.advisor.whatif import validate

        try:
            validate(
                advice,
                workload,
                args.db,
                create_extension=args.create_extension,
                max_indexes=args.max_indexes if whatif else None,
                max_size=args.max_size if whatif else None,
                min_gain=args.min_share / 100,
            )
        except Exception as exc:  # the database went away, a permission: say it, exit 2
            print(f"backendperf advise: --validate: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 2
    if args.baseline:
        from backendperf.advisor.report import load_baseline

        try:
            known = load_baseline(args.baseline)
        except (OSError, ValueError) as exc:
            print(f"backendperf advise: --baseline {args.baseline}: {exc}", file=sys.stderr)
            return 2
        for suggestion in advice.indexes:
            suggestion.known = suggestion.identity() in known
    elif args.fail_on == "new":
        print("backendperf advise: --fail-on new needs --baseline FILE", file=sys.stderr)
        return 2
    advice.source = {"logs": list(args.logs), "schema": args.schema or args.db}
    if workload.read_stats is not None:
        advice.skipped["lines"] = sum(workload.read_stats.skipped.values()) + (
            workload.read_stats.malformed
        )
    if args.output == "json":
        text = advice.render_json()
    elif args.output == "sql":
        text = advice.render_sql()
    elif args.output == "html":
        text = advice.render_html()
    else:
        text = advice.render_text()
    if _write(text, args.out, "advise"):
        return 2
    if args.fail_on == "any":
        return 1 if advice.indexes else 0
    if args.fail_on == "new":
        return 1 if any(not s.known for s in advice.indexes) else 0
    return 0


def _stats(args: argparse.Namespace) -> int:
    """Export a database's schema and statistics for offline advice (``advise --stats``)."""
    import json

    from backendperf.advisor import Schema

    try:
        schema = Schema.from_url(args.db, schema=args.schema_name)
    except Exception as exc:  # a database that cannot be reached, a driver missing
        print(f"backendperf stats: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    document = schema.to_json(values=not args.no_values)
    return _write(json.dumps(document, indent=1, sort_keys=True) + "\n", args.out, "stats")


def _size(text: str) -> int:
    """``500MB``, ``2GB``, ``800k``, or plain bytes."""
    import re

    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size like 500MB or 2GB")
    return int(float(m[1]) * 1024 ** "bkmgt".index(m[2] or "b"))


def _workload_dialect(workload: Workload) -> str:
    dialects = [s.dialect for s in workload.stats.values() if s.dialect]
    return max(set(dialects), key=dialects.count) if dialects else "postgresql"


def _from_logs(args: argparse.Namespace) -> Workload:
    from backendperf.workload import Workload

    if not args.logs:
        from backendperf.exceptions import LogFormatError

        raise LogFormatError("give at least one LOG file (or - for stdin), or --db URL")
    import os

    if args.jobs == 0:  # the CPUs this process may run on (a container's share, say)
        args.jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    sizes = [os.path.getsize(p) for p in args.logs if p != "-" and os.path.isfile(p)]
    if args.jobs == 1 and sys.stderr.isatty() and sum(sizes) > 10 * 1024 * 1024:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("reading", total=sum(sizes))
            return Workload.from_logs(
                args.logs,
                format=args.format,
                errors=args.errors,
                log_line_prefix=args.log_line_prefix,
                on_bytes=lambda n: bar.advance(task, n),
            )
    return Workload.from_logs(
        args.logs,
        format=args.format,
        errors=args.errors,
        log_line_prefix=args.log_line_prefix,
        jobs=args.jobs,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backendperf",
        description="Make database-backed Python services fast.",
    )
    parser.add_argument("--version", action="version", version=f"backendperf {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="run a small @cached demo (no server needed)")
    demo.add_argument("--calls", type=int, default=2000, help="calls to make (default 2000)")
    demo.add_argument("--distinct", type=int, default=50, help="distinct arguments (default 50)")
    demo.add_argument(
        "--delay-ms", type=float, default=2.0, help="simulated query time per miss (default 2)"
    )
    demo.set_defaults(handler=_demo)

    from backendperf.workload.digest import SORT_KEYS
    from backendperf.workload.readers import FORMATS

    formats = ["auto", *FORMATS]  # every reader (a hand-kept list here once lacked four)
    digest = sub.add_parser(
        "digest",
        help="rank the statements of query logs by the time they cost",
        description="Read PostgreSQL (stderr, csvlog, jsonlog), MySQL/MariaDB (slow, general), "
        "pg_stat_statements exports, .sql files or backendperf JSONL; gzip/bz2/xz are read "
        "directly; '-' is stdin. Several files (rotated logs) are merged.",
    )
    digest.add_argument("logs", nargs="*", metavar="LOG", help="log files ('-' for stdin)")
    digest.add_argument("--format", default="auto", choices=formats, help="default: detect")
    digest.add_argument(
        "--log-line-prefix",
        "--prefix",
        dest="log_line_prefix",
        help="PostgreSQL log_line_prefix of a stderr log (default: '%%m [%%p] %%q%%u@%%d ')",
    )
    digest.add_argument("--top", type=int, default=20, help="statements to show (default 20)")
    digest.add_argument("--sort", default="total", choices=SORT_KEYS, help="default: total")
    digest.add_argument("--output", default="text", choices=("text", "json", "html"))
    digest.add_argument("-o", "--out", help="write the report here instead of stdout")
    digest.add_argument(
        "--errors",
        default="warn",
        choices=("ignore", "warn", "raise"),
        help="malformed lines: skip silently, skip and warn (default), or stop",
    )
    digest.add_argument("--db", help="also read pg_stat_statements from this PostgreSQL URL")
    digest.add_argument("--width", type=int, default=120, help="text report width")
    digest.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=1,
        help="parse large files in N processes (default 1; 0: one per CPU)",
    )
    digest.set_defaults(handler=_digest)

    advise = sub.add_parser(
        "advise",
        help="suggest the indexes a query log needs",
        description="Read query logs (every format digest reads), parse each distinct "
        "statement once, and suggest composite, covering, partial and expression indexes "
        "the schema lacks, with the reason for each; existing indexes that serve a statement, "
        "redundant indexes and predicates no index can serve are reported too.",
    )
    advise.add_argument("logs", nargs="*", metavar="LOG", help="log files ('-' for stdin)")
    advise.add_argument("--format", default="auto", choices=formats, help="default: detect")
    advise.add_argument(
        "--log-line-prefix", "--prefix", dest="log_line_prefix", help="as for digest"
    )
    source = advise.add_mutually_exclusive_group()
    source.add_argument("--schema", metavar="DDL", help="CREATE TABLE / CREATE INDEX statements")
    source.add_argument(
        "--db", metavar="URL", help="read the schema (and statistics) from this database"
    )
    advise.add_argument(
        "--stats",
        metavar="FILE",
        help="the schema and statistics `backendperf stats` exported, or a PostgreSQL 18 "
        "`pg_dump --statistics-only` script (with --schema DDL.sql) or `--schema-only "
        "--statistics` one: advise offline as with --db",
    )
    advise.add_argument(
        "--dialect",
        choices=("postgresql", "mysql", "sqlite"),
        help="SQL dialect (default: the log's, or the database's)",
    )
    advise.add_argument(
        "--max-indexes",
        type=int,
        default=None,
        help="suggest at most N indexes (default: every index that saves --min-share of the "
        "estimated cost, with --validate or statistics; 10 from DDL alone)",
    )
    advise.add_argument(
        "--max-size",
        type=_size,
        metavar="SIZE",
        help="total size budget of the suggested indexes, e.g. 500MB or 2GB (needs row "
        "counts: --db; with --validate on PostgreSQL, the database's own sizes)",
    )
    advise.add_argument(
        "--min-share",
        type=float,
        default=1.0,
        metavar="PCT",
        help="skip indexes serving less than PCT%% of the workload's time; with --validate on "
        "PostgreSQL, indexes saving less than PCT%% of its estimated cost (default 1)",
    )
    advise.add_argument("--output", default="text", choices=("text", "json", "sql", "html"))
    advise.add_argument("-o", "--out", help="write the report here instead of stdout")
    advise.add_argument(
        "--errors", default="warn", choices=("ignore", "warn", "raise"), help="as for digest"
    )
    advise.add_argument(
        "--validate",
        action="store_true",
        help="prove each suggestion with what-if plans on the --db PostgreSQL (HypoPG, or a "
        "rolled-back CREATE INDEX); keep only those that cut the estimated cost",
    )
    advise.add_argument(
        "--create-extension",
        action="store_true",
        help="with --validate: CREATE EXTENSION hypopg in the database if it is missing",
    )
    advise.add_argument(
        "--baseline",
        metavar="FILE",
        help="a previous --output json: its suggestions are known (accepted or deferred)",
    )
    advise.add_argument(
        "--fail-on",
        choices=("any", "new"),
        help="exit 1 when an index is suggested (any), or one not in --baseline (new): for CI",
    )
    advise.set_defaults(handler=_advise, jobs=1)

    stats = sub.add_parser(
        "stats",
        help="export a database's schema and statistics for offline advice",
        description="Write the tables, indexes, row counts and column statistics (n_distinct, "
        "null_frac, most common values, collations) and statement timeouts that `advise --db` "
        "reads, as JSON, for `advise --stats FILE` away from the database. Nothing is written "
        "to the database.",
    )
    stats.add_argument("--db", metavar="URL", required=True, help="the database to read")
    stats.add_argument(
        "--schema", dest="schema_name", metavar="NAME", help="PostgreSQL schema (default: current)"
    )
    stats.add_argument("-o", "--out", help="write it here instead of stdout")
    stats.add_argument(
        "--no-values",
        action="store_true",
        help="leave out the most common values and histogram bounds (real data) of each column",
    )
    stats.set_defaults(handler=_stats)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help/--version
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "calls", 1) < 1 or getattr(args, "distinct", 1) < 1:
        print("backendperf: --calls and --distinct must be at least 1", file=sys.stderr)
        return 2
    if getattr(args, "jobs", 1) < 0:
        print("backendperf: --jobs must be 0 (one per CPU) or more", file=sys.stderr)
        return 2
    code: int = args.handler(args)
    return code
