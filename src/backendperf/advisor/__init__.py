"""The index advisor: from a Workload and a Schema to index suggestions.

>>> from backendperf.advisor import Schema, advise
>>> from backendperf.workload import Workload
>>> advise(Workload(), schema=Schema()).indexes
[]
"""

from __future__ import annotations

from backendperf.advisor.pipeline import STAGES, advise
from backendperf.advisor.report import Advice, Suggestion
from backendperf.advisor.schema import Column, Index, Schema, Table

__all__ = ["STAGES", "Advice", "Column", "Index", "Schema", "Suggestion", "Table", "advise"]
