"""What-if validation on PostgreSQL: prove each suggestion with the planner's own costs.

Each suggested index is created *hypothetically* with HypoPG (or, without HypoPG, for real
inside a transaction that is always rolled back, under ``lock_timeout`` and
``statement_timeout``), and every statement it should help is EXPLAINed (never executed)
with its real logged values, before and after. The final set is chosen greedily by workload
cost reduction (sum of cost x calls), re-costing after each pick so that index interactions
count; a suggestion no plan uses is dropped. Nothing is left behind: ``hypopg_reset()`` and a
rollback run in a ``finally``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backendperf.advisor.whatif.mysql import _confirm_mysql
from backendperf.advisor.whatif.pick import MIN_GAIN, Coster
from backendperf.advisor.whatif.postgres import _validate_postgres
from backendperf.advisor.whatif.sqlite import _validate_sqlite

if TYPE_CHECKING:
    from backendperf.advisor.report import Advice
    from backendperf.workload.workload import Workload

__all__ = ["MIN_GAIN", "Coster", "validate"]


def validate(
    advice: Advice,
    workload: Workload,
    url: str,
    *,
    create_extension: bool = False,
    statement_timeout_ms: int = 5000,
    lock_timeout_ms: int = 1000,
    max_indexes: int | None = None,
    max_size: int | None = None,
    min_gain: float = MIN_GAIN,
) -> Advice:
    """Check ``advice``'s suggestions against the database at ``url``; keep those that pay.

    - PostgreSQL: what-if costs (HypoPG, or a rolled-back ``CREATE INDEX``) and a greedy pick,
      within ``max_indexes`` and ``max_size`` (bytes, as the database sizes each index). Give
      it more suggestions than the budget (``advise(max_indexes=...)`` higher, no
      ``max_size``, and ``min_share=0``) and the budget goes where the planner says it pays
      most. ``min_gain``: the share of the workload's estimated cost an index must save to be
      kept (``--min-share`` applies here, to what the plans say, not to logged time).
      ``create_extension=True`` runs ``CREATE EXTENSION IF NOT EXISTS hypopg`` when HypoPG is
      installed on the server but not in the database (the only change this function ever
      commits, and only with that consent).
    - SQLite (``sqlite:///path``): ``EXPLAIN QUERY PLAN`` with each index created inside a
      savepoint that is rolled back; a suggestion no plan uses is dropped.
    - MySQL/MariaDB: no hypothetical indexes exist; ``EXPLAIN`` of the current plan confirms
      the problem (full scans, filesort, rows examined). The advice stays ``heuristic``.
    """
    texts = {f: s.normalized for f, s in workload.stats.items()}
    if url.startswith("sqlite"):
        _validate_sqlite(advice, workload, url, texts)
    elif url.startswith(("mysql", "mariadb")):
        _confirm_mysql(advice, workload, url)
    else:
        _validate_postgres(
            advice,
            workload,
            url,
            create_extension,
            (statement_timeout_ms, lock_timeout_ms),
            (max_indexes, max_size, min_gain),
            texts,
        )
    advice.settle(texts)
    advice.mark_suggested_keys()
    return advice
