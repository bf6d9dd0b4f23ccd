"""Stage 6: ONNX export of members and ensembles, int8 variants, ORT format, device bundle."""

from .graphs import ProbabilityGraph as ProbabilityGraph
from .graphs import export_onnx as export_onnx
from .graphs import open_session as open_session
from .run_export import ExportOptions as ExportOptions
from .run_export import export_run as export_run
