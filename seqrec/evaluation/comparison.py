"""Compare trained runs side by side: one row per run of a Hydra sweep (or of a W&B group).

    python scripts/compare.py logs/compare_heads/multiruns/2026-01-01_12-00-00
    python scripts/compare.py --wandb-group ENTITY/seqrec/sweep-2026-01-01_12-00-00

For each run (a job folder with ``.hydra/config.yaml``, ``csv/version_0/metrics.csv`` and
``checkpoints/*.ckpt``) the report has: exact match, per-digit accuracy, CER and accuracy per
length on the run's test strips (``test/*`` of metrics.csv; the best validation epoch when the
run was not tested), the parameter count (from the best checkpoint), the training time (wall
clock of the job: fitting and the final test), predict throughput (``Recognizer.predict`` on
the CPU, strips/s) and the exact match on strips of held-out test digits at each gap from -8
(8 px of overlap) to +8 px. It writes comparison.md, comparison.csv (values with their
95% intervals) and three PNG plots, and, when the runs
logged to W&B, logs the table and the plots into their group as a summary run (``job_type``
compare). Everything but the W&B upload works offline from the local run files.

This module ties the parts together: ``runs`` (reading runs), ``measure`` (measuring them),
``report`` (the table and plots) and ``summary_run`` (the W&B upload).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..data.atomic import replace_file
from .measure import GAPS, measure
from .report import markdown, plot_all, table_rows, write_csv
from .runs import Run, find_run_dirs, label_runs, read_run, runs_from_wandb
from .summary_run import log_summary_run

log = logging.getLogger(__name__)


@dataclass
class Report:
    runs: list[Run]
    out: Path
    markdown: Path
    csv: Path
    plots: dict[str, Path]
    wandb_run: str | None = None


def compare(
    source: str | os.PathLike | None = None,
    out: str | os.PathLike | None = None,
    *,
    wandb_group: str | None = None,
    gaps: Sequence[int] = GAPS,
    n_gap: int = 200,
    n_speed: int = 256,
    data_source: str | None = None,
    wandb_mode: str = "auto",
    command: str | None = None,
    api=None,
    optimize: bool = True,
) -> Report:
    """Build the comparison of a sweep folder (``source``) or a W&B group (``wandb_group``) and
    write it to ``out`` (default: the sweep folder, or ./comparison-<group>). ``wandb_mode``:
    ``auto`` (log a summary run into the runs' W&B group: online with credentials, else offline
    when the runs themselves logged to W&B), ``online``, ``offline`` or ``off``."""
    if (source is None) == (wandb_group is None):
        raise ValueError("give either a sweep folder or a W&B group")
    if wandb_mode not in ("auto", "online", "offline", "off"):
        raise ValueError(f"wandb_mode must be auto, online, offline or off, got {wandb_mode!r}")
    if source is not None:
        runs = [read_run(d) for d in find_run_dirs(Path(source))]
        where = str(source)
        out = Path(out) if out is not None else Path(source)
    else:
        runs = runs_from_wandb(wandb_group, api=api)
        where = f"W&B group {wandb_group}"
        out = Path(out) if out is not None else Path(f"comparison-{wandb_group.rstrip('/').rsplit('/', 1)[-1]}")
    out.mkdir(parents=True, exist_ok=True)
    label_runs(runs)
    for r in runs:
        try:
            measure(r, gaps=gaps, n_gap=n_gap, n_speed=n_speed, source=data_source, optimize=optimize)
        except Exception as err:  # noqa: BLE001 - one broken run must not sink the report
            log.warning("seqrec: could not measure %s from %s (%s: %s)", r.name, r.checkpoint, type(err).__name__, err)
    columns, rows = table_rows(runs)
    csv_path = out / "comparison.csv"
    write_csv(csv_path, columns, rows)
    plots = plot_all(runs, out)
    title = f"Comparison of {len(runs)} runs"
    md_path = out / "comparison.md"
    text = markdown(runs, title, where, plots, command)
    replace_file(md_path, lambda f: f.write(text), text=True)
    report = Report(runs, out, md_path, csv_path, {k: out / v for k, v in plots.items()})
    report.wandb_run = log_summary_run(report, columns, rows, wandb_mode)
    return report
