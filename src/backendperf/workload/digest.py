"""The ``digest`` report: the statements that cost the most, as data, text, JSON or HTML.

:func:`build` turns a :class:`~backendperf.workload.Workload` into a plain dict (the JSON
schema, ``"version": 1``, documented in docs/digest.md); the renderers only format that dict.
"""

from __future__ import annotations

import html
import io
import json
import math
from collections import Counter
from typing import TYPE_CHECKING, Any, Final, Literal

from backendperf.workload.sketch import Sketch

if TYPE_CHECKING:
    from backendperf.workload.workload import FingerprintStats, Workload

__all__ = ["SORT_KEYS", "build", "render_html", "render_json", "render_text"]

SORT_KEYS: Final = ("total", "count", "mean", "p99", "max")


def _iso(ts: Any) -> str | None:
    return ts.isoformat() if ts is not None else None


def _round(x: float) -> float:
    return round(x, 3) if math.isfinite(x) else 0.0


def _statement(rank: int, s: FingerprintStats, grand_total: float) -> dict[str, Any]:
    worst = s.samples[0] if s.samples else None
    return {
        "rank": rank,
        "fingerprint": s.fingerprint,
        "normalized": s.normalized,
        "dialect": s.dialect,
        "calls": s.count,
        "timed_calls": s.timed,
        "total_ms": _round(s.total_ms),
        "share": round(s.total_ms / grand_total, 4) if grand_total else 0.0,
        "mean_ms": _round(s.mean_ms),
        "min_ms": _round(s.min_ms) if s.timed else None,
        "p50_ms": _round(s.quantile(0.5)) if s.timed else None,
        "p95_ms": _round(s.quantile(0.95)) if s.timed else None,
        "p99_ms": _round(s.quantile(0.99)) if s.timed else None,
        "max_ms": _round(s.max_ms) if s.timed else None,
        "rows": s.rows,
        "rows_examined": s.rows_examined,
        "first_seen": _iso(s.first_seen),
        "last_seen": _iso(s.last_seen),
        "databases": dict(s.databases.most_common()),
        "users": dict(s.users.most_common()),
        "cancelled": dict(s.cancelled.most_common()),
        "worst_sample": None
        if worst is None
        else {
            "statement": worst.statement,
            "bound": worst.bound(),
            "duration_ms": worst.duration_ms,
            "params": list(worst.params) if isinstance(worst.params, tuple) else worst.params,
            "ts": _iso(worst.ts),
            "source": worst.source,
        },
    }


def build(workload: Workload, *, top: int = 20, by: str = "total") -> dict[str, Any]:
    """The report as plain data (see docs/digest.md for the schema)."""
    grand = workload.total_ms
    first, last = workload.span()
    histogram = Sketch()
    for s in workload.stats.values():
        histogram.merge(s.sketch)
    rs = workload.read_stats
    return {
        "version": 1,
        "sources": workload.sources,
        "sort": by,
        "totals": {
            "events": workload.events,
            "calls": workload.calls,
            "fingerprints": len(workload.stats),
            "total_ms": _round(grand),
            "first": _iso(first),
            "last": _iso(last),
            "lines": rs.lines if rs else None,
            "skipped": dict(rs.skipped.most_common()) if rs else {},
            "malformed": rs.malformed if rs else 0,
            "malformed_examples": rs.examples if rs else [],
            "notes": rs.notes if rs else [],
            "cancelled": workload.cancelled,
        },
        "statements": [_statement(i, s, grand) for i, s in enumerate(workload.top(top, by=by), 1)],
        "cancelled": [
            {
                "fingerprint": s.fingerprint,
                "normalized": s.normalized,
                "reasons": dict(s.cancelled.most_common()),
                "completed_calls": s.count,
                "sample": s.samples[0].statement if s.samples else None,
            }
            for s in sorted(
                (s for s in workload.stats.values() if s.cancelled),
                key=lambda s: (-sum(s.cancelled.values()), s.fingerprint),
            )[:top]
        ],
        "by_database": _breakdown(workload, "databases"),
        "by_user": _breakdown(workload, "users"),
        "histogram": [[_round(b), n] for b, n in histogram.histogram()],
    }


def _breakdown(workload: Workload, attribute: str) -> dict[str, dict[str, Any]]:
    """Calls and time per database (or user); a statement's time is shared by its calls."""
    calls: Counter[str] = Counter()
    time: dict[str, float] = {}
    for s in workload.stats.values():
        for name, n in getattr(s, attribute).items():
            calls[name] += n
            time[name] = time.get(name, 0.0) + s.total_ms * n / s.count
    return {k: {"calls": calls[k], "total_ms": _round(time[k])} for k in sorted(calls)}


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 1000:
        return f"{x / 1000:.2f} s"
    return f"{x:.2f} ms" if x < 100 else f"{x:.0f} ms"


def render_text(report: dict[str, Any], *, width: int = 120) -> str:
    """A rich table (plain text when written to a file or a pipe)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    t = report["totals"]
    console.print(
        f"[bold]backendperf digest[/bold]: {t['events']} events, {t['calls']} calls, "
        f"{t['fingerprints']} distinct statements, {_ms(t['total_ms'])} in all"
    )
    if t["first"]:
        console.print(f"from {t['first']} to {t['last']}")
    table = Table(title=f"top {len(report['statements'])} by {report['sort']}", expand=True)
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("#", "right"),
        ("calls", "right"),
        ("total", "right"),
        ("share", "right"),
        ("mean", "right"),
        ("p95", "right"),
        ("p99", "right"),
        ("max", "right"),
        ("statement", "left"),
    )
    for col, just in columns:
        table.add_column(
            col, justify=just, overflow="fold", ratio=6 if col == "statement" else None
        )
    for s in report["statements"]:
        table.add_row(
            str(s["rank"]),
            str(s["calls"]),
            _ms(s["total_ms"]),
            f"{s['share']:.1%}",
            _ms(s["mean_ms"]),
            _ms(s["p95_ms"]),
            _ms(s["p99_ms"]),
            _ms(s["max_ms"]),
            _shorten(s["normalized"], 300),
        )
    console.print(table)
    for s in report["statements"][:5]:
        w = s["worst_sample"]
        if w is not None:
            console.print(
                f"#{s['rank']} {s['fingerprint']} worst ({_ms(w['duration_ms'])}, {w['source']}):"
                f" {_shorten(w['bound'], 400)}",
                markup=False,
            )
    if report.get("cancelled"):
        console.print(
            f"did not complete: {report['totals']['cancelled']} statements "
            "(their durations are unknown; often the slowest of all):",
            markup=False,
        )
        for c in report["cancelled"][:10]:
            reasons = ", ".join(f"{n} {why}" for why, n in c["reasons"].items())
            console.print(f"  {reasons}: {_shorten(c['normalized'], 200)}", markup=False)
    if report["by_database"]:
        console.print(
            "by database: "
            + ", ".join(
                f"{k} {v['calls']} calls {_ms(v['total_ms'])}"
                for k, v in report["by_database"].items()
            ),
            markup=False,
        )
    if report["by_user"]:
        console.print(
            "by user: "
            + ", ".join(
                f"{k} {v['calls']} calls {_ms(v['total_ms'])}" for k, v in report["by_user"].items()
            ),
            markup=False,
        )
    skipped = t["skipped"]
    if skipped:
        console.print(
            f"{t['lines']} lines read; not queries: "
            + ", ".join(f"{n} {reason}" for reason, n in skipped.items()),
            markup=False,
        )
    for example in t["malformed_examples"]:
        console.print(f"  malformed: {example}", markup=False)
    for note in t.get("notes", []):
        console.print(f"  note: {note} (--log-line-prefix to set it)", markup=False)
    return console.export_text()


def _shorten(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


_HTML: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>backendperf digest</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ddd;
text-align:right;vertical-align:top}th{cursor:pointer;background:#f4f4f4;user-select:none}th:last-child{text-align:left}
td.sql{text-align:left;font-family:ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
.bar{fill:#4a7bd0}.axis{font-size:11px;fill:#555}
</style></head><body>
<h1>backendperf digest</h1>
<p id="totals">__TOTALS__</p>
<h2>Query time distribution</h2>
__HISTOGRAM__
<h2>Top statements</h2>
<table id="digest"><thead><tr>
<th data-type="num">#</th><th data-type="num">calls</th><th data-type="num">total ms</th>
<th data-type="num">share</th><th data-type="num">mean ms</th><th data-type="num">p95 ms</th>
<th data-type="num">p99 ms</th><th data-type="num">max ms</th><th data-type="text">statement</th>
</tr></thead><tbody>
__ROWS__
</tbody></table>
<script>
document.querySelectorAll("#digest th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var body = document.querySelector("#digest tbody");
    var rows = Array.prototype.slice.call(body.rows);
    var asc = !th.classList.contains("sorted-asc");
    document.querySelectorAll("#digest th").forEach(function (h) {
      h.classList.remove("sorted-asc", "sorted-desc"); });
    th.classList.add(asc ? "sorted-asc" : "sorted-desc");
    var num = th.dataset.type === "num";
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var r = num ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
// digest.html#sort=N sorts by column N on load (links that open a sorted view)
var m = /sort=(\\d+)/.exec(location.hash);
if (m) { document.querySelectorAll("#digest th")[+m[1]].click(); }
</script></body></html>
"""


def _svg_histogram(hist: list[list[float]]) -> str:
    if not hist:
        return "<p>no timed statements</p>"
    # regroup the sketch's fine buckets into powers of 10^(1/4) for a readable chart
    groups: Counter[int] = Counter()
    for bound, n in hist:
        groups[-99 if bound <= 0 else math.floor(math.log10(bound) * 4)] += int(n)
    keys = sorted(groups)
    peak = max(groups.values())
    w, h, bw = 720, 180, max(4, 680 // max(len(keys), 1))
    bars = []
    for i, k in enumerate(keys):
        bh = max(1, round(groups[k] / peak * (h - 30)))
        label = "0" if k == -99 else _ms(10 ** (k / 4))
        bars.append(
            f'<rect class="bar" x="{30 + i * bw}" y="{h - 20 - bh}" width="{bw - 2}" '
            f'height="{bh}"><title>{html.escape(label)}: {groups[k]}</title></rect>'
        )
        if i % max(1, len(keys) // 8) == 0:
            bars.append(
                f'<text class="axis" x="{30 + i * bw}" y="{h - 5}">{html.escape(label)}</text>'
            )
    return f'<svg id="histogram" width="{w}" height="{h}" role="img">{"".join(bars)}</svg>'


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML file: totals, a time histogram, a sortable table."""
    t = report["totals"]
    totals = html.escape(
        f"{t['events']} events, {t['calls']} calls, {t['fingerprints']} distinct statements, "
        f"{_ms(t['total_ms'])} in all" + (f", {t['first']} to {t['last']}" if t["first"] else "")
    )
    rows = []
    for s in report["statements"]:
        cells = [
            (s["rank"], str(s["rank"])),
            (s["calls"], str(s["calls"])),
            (s["total_ms"], f"{s['total_ms']:.2f}"),
            (s["share"], f"{s['share']:.1%}"),
            (s["mean_ms"], f"{s['mean_ms']:.3f}"),
            (s["p95_ms"] or 0, "-" if s["p95_ms"] is None else f"{s['p95_ms']:.3f}"),
            (s["p99_ms"] or 0, "-" if s["p99_ms"] is None else f"{s['p99_ms']:.3f}"),
            (s["max_ms"] or 0, "-" if s["max_ms"] is None else f"{s['max_ms']:.3f}"),
        ]
        tds = "".join(f'<td data-v="{v}">{html.escape(text)}</td>' for v, text in cells)
        worst = s["worst_sample"]
        title = html.escape(worst["bound"]) if worst else ""
        rows.append(
            f'<tr>{tds}<td class="sql" title="{title}">{html.escape(s["normalized"])}</td></tr>'
        )
    return (
        _HTML.replace("__TOTALS__", totals)
        .replace("__HISTOGRAM__", _svg_histogram(report["histogram"]))
        .replace("__ROWS__", "\n".join(rows))
    )
