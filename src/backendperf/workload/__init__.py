"""Query logs in, per-statement statistics out: readers, fingerprints, ``Workload``, digest.

>>> from backendperf.workload import Workload, fingerprint, normalize
>>> normalize("SELECT * FROM t WHERE id IN (1, 2, 3)")
'select * from t where id in (?+)'
"""

from __future__ import annotations

from backendperf.workload.fingerprinting import Fingerprinter, fingerprint, normalize
from backendperf.workload.readers import FORMATS, ErrorLevel, ReadStats, detect, read
from backendperf.workload.sketch import Sketch
from backendperf.workload.workload import FingerprintStats, Workload

__all__ = [
    "FORMATS",
    "ErrorLevel",
    "FingerprintStats",
    "Fingerprinter",
    "ReadStats",
    "Sketch",
    "Workload",
    "detect",
    "fingerprint",
    "normalize",
    "read",
]
