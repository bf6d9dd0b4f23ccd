"""Stage 5: human-readable reports of an analysis (Markdown, HTML, plots, comparisons)."""

from .compare import write_comparison as write_comparison
from .publish import write_report as write_report
from .run_report import build_run_document as build_run_document
from .run_report import summary_lines as summary_lines
from .zoo import write_zoo_table as write_zoo_table
