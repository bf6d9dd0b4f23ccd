"""Stage 4: how ensembling changes accuracy for each subgroup (fairness.json)."""

from .analysis import Analysis as Analysis
from .analysis import Choice as Choice
from .analysis import RankingData as RankingData
from .analysis import analyse as analyse
from .combine import COMBINES as COMBINES
from .options import RANKINGS as RANKINGS
from .options import SCALES as SCALES
from .options import AnalysisOptions as AnalysisOptions
from .paired import compare_runs as compare_runs
