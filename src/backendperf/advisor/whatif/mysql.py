"""MySQL/MariaDB: no hypothetical indexes exist; ``EXPLAIN`` of the current plan confirms
the problem (full scans, filesort, rows examined). The advice stays heuristic."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backendperf.advisor.whatif.base import samples as workload_samples

if TYPE_CHECKING:
    from backendperf.advisor.report import Advice
    from backendperf.workload.workload import Workload


def _confirm_mysql(advice: Advice, workload: Workload, url: str) -> None:
    import pymysql
    from sqlalchemy.engine import make_url

    from backendperf.advisor.schema import _driver_url

    parsed = make_url(_driver_url(url))
    samples = workload_samples(workload)
    conn = pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
    )
    try:
        with conn.cursor() as cur:
            for suggestion in advice.indexes:
                findings: list[str] = []
                for fingerprint in suggestion.fingerprints:
                    if fingerprint not in samples:
                        continue
                    try:
                        cur.execute("EXPLAIN " + samples[fingerprint][0])
                    except pymysql.MySQLError:
                        continue
                    columns = [d[0].lower() for d in cur.description or ()]
                    for row in cur.fetchall():
                        plan = dict(zip(columns, row, strict=False))
                        if plan.get("table") != suggestion.table:
                            continue
                        extra = str(plan.get("extra") or "")
                        if plan.get("type") == "ALL":
                            findings.append(f"full scan of ~{plan.get('rows')} rows")
                        if "filesort" in extra:
                            findings.append("filesort")
                if findings:
                    suggestion.notes.append(
                        "confirmed by EXPLAIN: " + ", ".join(dict.fromkeys(findings))
                    )
                else:
                    suggestion.notes.append("EXPLAIN shows no full scan or filesort today")
    finally:
        conn.close()
    advice.summary["validated"] = "mysql-explain (heuristic)"
