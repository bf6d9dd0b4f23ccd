"""Stage 4: how ensembling changes accuracy for each subgroup (fairness.json).

Names are imported on first use, so that the command line's help (which needs only the
options' choices) does not load fairlearn and scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_API = {
    "Analysis": "analysis", "analyse": "analysis", "COMBINES": "combine",
    "RANKINGS": "options", "SCALES": "options", "AnalysisOptions": "options",
    "run_options": "options", "option_fields": "options", "from_settings": "options",
    "compare_runs": "paired", "Choice": "ranking",
    "RankingData": "inputs",
}
__all__ = list(_API)


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(f"{__name__}.{_API[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
