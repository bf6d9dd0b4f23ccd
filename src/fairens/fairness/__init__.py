"""Stage 4: how ensembling changes accuracy for each subgroup (fairness.json)."""

from .analysis import Analysis as Analysis
from .analysis import analyse as analyse
from .combine import COMBINES as COMBINES
