"""Stage 7: on-device-style latency with ONNX Runtime, device files, and the frontier."""

from .frontier import write_frontier as write_frontier
from .ingest import ingest as ingest
from .latency import bench_export as bench_export
from .latency import parse_threads as parse_threads
