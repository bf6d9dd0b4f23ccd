"""Stage 4: how ensembling changes accuracy for each subgroup (fairness.json)."""

from .analysis import Analysis as Analysis
from .analysis import analyse as analyse
from .combine import COMBINES as COMBINES
from .options import RANKINGS as RANKINGS
from .options import SCALES as SCALES
from .options import AnalysisOptions as AnalysisOptions
from .options import run_options as run_options
from .paired import compare_runs as compare_runs
from .ranking import Choice as Choice
from .ranking import RankingData as RankingData
