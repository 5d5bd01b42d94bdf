"""MedLab core: everything that is not UI (data, models, training, jobs, evaluation, CLI).

Nothing in this package imports streamlit; the pages and the CLI (`python -m core`) call the same functions.
"""
from __future__ import annotations

__version__ = "0.1.0"
