"""fairens: homogeneous deep ensembles, per-subgroup fairness, and on-device latency.

The public API, one name per stage in the order data flows (imported on first use, so that
``fairens --help`` does not load PyTorch):

    load_dataset    data      datasets decoded into memory, with their subgroups
    create_model    models    architectures by name (``list_models()``)
    train           pipeline  ``python train.py``: train a run, then report it
    load_run        rundir    a run directory's test groups and member predictions
    analyse         fairness  fairness.json: per-group accuracy, curves, intervals
    write_report    report    fairness.json, report.md/.html of a run directory
    export_run      export    ONNX graphs, int8, ORT format, device bundle
    bench_export    bench     ONNX Runtime latency of an export
"""

from __future__ import annotations

import importlib
import os
from typing import Any

__version__ = "0.1.0"

# PyTorch's OpenMP threads spin while they wait for work. On a machine whose cores other
# processes also use, spinning threads take the cores from the threads with work. On 2
# cores with 2 busy processes, a 2-member digits run took 154.0 s with spinning and 61.8 s
# with passive waiting (1 thread: 60.8 s); idle it took 34.4 s either way. Set before
# PyTorch starts OpenMP; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_API = {
    "load_dataset": "fairens.data", "list_datasets": "fairens.data",
    "create_model": "fairens.models", "list_models": "fairens.models",
    "train": "fairens.pipeline", "load_run": "fairens.rundir",
    "analyse": "fairens.fairness", "write_report": "fairens.report",
    "write_comparison": "fairens.report", "export_run": "fairens.export",
    "bench_export": "fairens.bench", "FairensError": "fairens.errors",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'fairens' has no attribute {name!r}")
