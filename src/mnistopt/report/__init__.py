"""Turning results into tables, figures and files. Never imports TensorFlow.

Data first, drawing second: :func:`pareto_front` and :func:`hypervolume` (pure NumPy)
compute what :func:`write_report` renders (JSON, Markdown, HTML and plots).
"""

from .pareto import hypervolume, pareto_front, pareto_mask
from .data import report_data
from .render import write_report

__all__ = ["hypervolume", "pareto_front", "pareto_mask", "report_data", "write_report"]
