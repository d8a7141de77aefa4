"""What every what-if step reads from a workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

from backendperf.advisor.pipeline import _RAN_LONG

if TYPE_CHECKING:
    from backendperf.workload.workload import Workload

__all__ = ["samples"]


def samples(workload: Workload) -> dict[str, tuple[str, int]]:
    """fingerprint -> (a sample with its values bound, the calls it weighs): the calls that
    completed and the ones cancelled after running long (by ``statement_timeout``, a lock
    timeout, a user, a recovery conflict: it ran as long as the database let it, and its
    plan's cost is what a run costs; a deadlock or an error need not have run long)."""
    return {
        s.fingerprint: (
            s.samples[0].bound(),
            s.count + sum(n for why, n in s.cancelled.items() if why in _RAN_LONG),
        )
        for s in workload.stats.values()
        if s.samples
    }
