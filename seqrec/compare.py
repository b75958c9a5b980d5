"""Compare trained runs side by side (``python scripts/compare.py SWEEP``).

The work lives in ``seqrec.evaluation`` (``runs``, ``measure``, ``strips``, ``report``,
``summary_run``, ``callback``, tied together by ``comparison``); this module keeps the old
import path, and the Hydra callback name ``seqrec.compare.CompareCallback`` of older configs.
"""

from .evaluation.callback import CompareCallback
from .evaluation.comparison import Report, compare
from .evaluation.measure import GAPS, evaluate, measure, predict_rate
from .evaluation.report import markdown, plot_all, table_rows, write_csv
from .evaluation.runs import Run, find_run_dirs, read_metrics_csv, read_run, runs_from_wandb, summarise_metrics
from .evaluation.strips import benchmark_strips, strips_at_gap

__all__ = [
    "GAPS",
    "CompareCallback",
    "Report",
    "Run",
    "benchmark_strips",
    "compare",
    "evaluate",
    "find_run_dirs",
    "markdown",
    "measure",
    "plot_all",
    "predict_rate",
    "read_metrics_csv",
    "read_run",
    "runs_from_wandb",
    "strips_at_gap",
    "summarise_metrics",
    "table_rows",
    "write_csv",
]
