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

__all__ = ["main"]


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
    code: int = args.handler(args)
    return code
