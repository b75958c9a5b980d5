"""Compare trained runs: a Hydra sweep (or a W&B group) of heads x seeds (x training digits).

    python scripts/compare.py logs/compare_heads/multiruns/2026-01-01_12-00-00
    python scripts/compare.py --wandb-group ENTITY/seqrec/sweep-2026-01-01_12-00-00

For each run (a job folder with ``.hydra/config.yaml``, ``csv/version_0/metrics.csv`` and
``checkpoints/*.ckpt``): exact match, per-digit accuracy, CER and accuracy per length on the
run's test strips (``test/*`` of metrics.csv; the best validation epoch when the run was not
tested), the parameter count, the training time, predict throughput (``Recognizer.predict`` on
the CPU, strips/s), the exact match at each gap from -8 to +8 px and on wide strips of 6-8 digits
(heads that read any width). Runs that differ only in their seed are grouped into arms
(``aggregate``): mean and 95% interval over seeds and test digits, differences between heads with
a verdict (real / within noise), a flag on arms that have not learned, and the sample-efficiency
table when arms differ in ``data.train_digits``. It writes comparison.md, comparison.csv (one row
per run), comparison_arms.csv, comparison_pairs.csv, comparison_sample_efficiency.csv and the
plots, and, when the runs logged to W&B, logs the tables and plots into their group as a summary
run (``job_type`` compare). Everything but the W&B upload works offline from the local run files.

This module ties the parts together: ``runs`` (reading runs), ``measure`` (measuring them),
``aggregate`` (arms and intervals), ``report`` (tables and plots) and ``summary_run`` (the W&B upload)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..data.atomic import replace_file
from .aggregate import LEARNED_AT, Arm, digits_axis, pairwise
from .measure import GAPS, LONG, measure
from .report import (
    PAIR_COLUMNS,
    arm_rows,
    build_arms,
    efficiency_rows,
    markdown,
    pair_rows,
    plot_all,
    table_rows,
    write_csv,
)
from .runs import Run, find_run_dirs, label_runs, launcher_note, read_run, runs_from_wandb
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
    arms: list[Arm] = field(default_factory=list)
    tables: dict[str, tuple[list[str], list[dict]]] = field(default_factory=dict)  # name -> (columns, rows)
    csvs: dict[str, Path] = field(default_factory=dict)  # name -> CSV file of each table


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
    n_long: int = 300,
    long_lengths: Sequence[int] = LONG,
    learned_at: float = LEARNED_AT,
) -> Report:
    """Build the comparison of a sweep folder (``source``) or a W&B group (``wandb_group``) and
    write it to ``out`` (default: the sweep folder, or ./comparison-<group>). ``wandb_mode``:
    ``auto`` (log a summary run into the runs' W&B group: online with credentials, else offline
    when the runs themselves logged to W&B), ``online``, ``offline`` or ``off``.

    Runs that differ only in their seed are repeats of one arm (``aggregate``): the report gives each
    arm's mean with a 95% interval (seeds and the test's digit sampling), the differences between heads
    with verdicts, a flag on arms below ``learned_at`` mean exact match, and, when arms differ in
    ``data.train_digits``, the sample-efficiency table. ``n_long``: strips per length of
    ``long_lengths`` for length generalisation (0 skips)."""
    if not 0 < learned_at <= 1:
        raise ValueError(f"learned_at must be an exact-match share in (0, 1], got {learned_at!r}")
    if isinstance(n_long, bool) or int(n_long) != n_long or n_long < 0:
        raise ValueError(f"n_long must be a number of strips >= 0, got {n_long!r}")
    if (source is None) == (wandb_group is None):
        raise ValueError("give either a sweep folder or a W&B group")
    if wandb_mode not in ("auto", "online", "offline", "off"):
        raise ValueError(f"wandb_mode must be auto, online, offline or off, got {wandb_mode!r}")
    if source is not None:
        runs = [read_run(d) for d in find_run_dirs(Path(source))]
        where, notes = str(source), [launcher_note(Path(source))]
        out = Path(out) if out is not None else Path(source)
    else:
        runs = runs_from_wandb(wandb_group, api=api)
        where, notes = f"W&B group {wandb_group}", []
        out = Path(out) if out is not None else Path(f"comparison-{wandb_group.rstrip('/').rsplit('/', 1)[-1]}")
    out.mkdir(parents=True, exist_ok=True)
    label_runs(runs)
    for r in runs:
        try:
            measure(
                r,
                gaps=gaps,
                n_gap=n_gap,
                n_speed=n_speed,
                source=data_source,
                optimize=optimize,
                n_long=n_long,
                long_lengths=long_lengths,
            )
        except Exception as err:  # noqa: BLE001 - one broken run must not sink the report
            log.warning("seqrec: could not measure %s from %s (%s: %s)", r.name, r.checkpoint, type(err).__name__, err)
    arms = build_arms(runs)
    digits = digits_axis(arms)
    tables = {
        "runs": table_rows(runs, arms, learned_at),
        "arms": arm_rows(arms, digits, learned_at),
        "pairs": (PAIR_COLUMNS, pair_rows(pairwise(arms))),
    }
    if digits:
        rows = efficiency_rows(arms, digits)
        tables["sample_efficiency"] = (list(rows[0]) if rows else [], rows)
    names = {"runs": "comparison.csv"}
    csvs = {key: out / names.get(key, f"comparison_{key}.csv") for key in tables}
    for key, (columns, rows) in tables.items():
        write_csv(csvs[key], columns, rows)
    plots = plot_all(runs, out, arms, digits)
    title = f"Comparison of {len(runs)} runs" + (f" ({len(arms)} arms)" if len(arms) != len(runs) else "")
    md_path = out / "comparison.md"
    text = markdown(runs, title, where, plots, command, arms=arms, learned_at=learned_at, digits=digits, notes=notes)
    replace_file(md_path, lambda f: f.write(text), text=True)
    report = Report(
        runs, out, md_path, csvs["runs"], {k: out / v for k, v in plots.items()}, arms=arms, tables=tables, csvs=csvs
    )
    report.wandb_run = log_summary_run(report, *tables["runs"], wandb_mode)
    return report
