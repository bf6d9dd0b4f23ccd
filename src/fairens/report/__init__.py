"""Stage 5: human-readable reports of an analysis."""

from .markdown import render_markdown as render_markdown
from .markdown import summary_lines as summary_lines
from .write import write_report as write_report
