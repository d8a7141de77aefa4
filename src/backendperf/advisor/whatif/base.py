"""What every what-if step reads from a workload."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backendperf.workload.workload import Workload

__all__ = ["samples"]


def samples(workload: Workload) -> dict[str, tuple[str, int]]:
    return {
        s.fingerprint: (s.samples[0].bound(), s.count) for s in workload.stats.values() if s.samples
    }
