"""The comparison's W&B summary run: the table and plots logged into the runs' group (job_type ``compare``)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any

from .runs import SUMMARY_JOB_TYPE, Run

log = logging.getLogger(__name__)


def _wandb_target(runs: list[Run]) -> dict | None:
    for r in runs:
        if r.wandb.get("project") and r.wandb.get("group"):
            return r.wandb
    return None


def resolve_wandb_mode(mode: str, runs: list[Run]) -> str:
    """auto -> online with credentials, offline when the runs logged to W&B without them, else off."""
    if mode != "auto":
        return mode
    if _wandb_target(runs) is None:
        return "off"
    try:
        import wandb  # noqa: F401
    except ImportError:
        return "off"
    from ..wandb_utils import has_wandb_credentials

    env = os.environ.get("WANDB_MODE")
    if env == "disabled":
        return "off"
    if env in ("offline", "dryrun") or not has_wandb_credentials():
        return "offline"
    return "online"


def _cell(v):
    """A table cell W&B can store: NaN and "" as None (W&B types a column from its values, and None
    fits any column), numpy scalars as Python numbers."""
    if v is None or v == "" or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if hasattr(v, "item") else v


def log_summary_run(report, columns: list[str], rows: list[dict], mode: str = "auto") -> str | None:
    """Log the tables (per run, per arm, pairwise differences, sample efficiency: ``report.tables``)
    and plots into the runs' W&B group as one run with job_type ``compare``.
    Returns the run's path (online) or its offline folder; None when not logged."""
    mode = resolve_wandb_mode(mode, report.runs)
    target = _wandb_target(report.runs)
    if mode == "off":
        return None
    if target is None:
        log.warning("seqrec: the runs did not log to W&B (no logger.wandb in their config); no summary run")
        return None
    import wandb

    run = wandb.init(
        project=target["project"],
        entity=target.get("entity"),
        group=target["group"],
        name="comparison",
        job_type=SUMMARY_JOB_TYPE,
        dir=str(report.out),
        mode=mode,
        config={"runs": [r.name for r in report.runs], "arms": [a.name for a in getattr(report, "arms", [])]},
    )
    try:
        tables = dict(getattr(report, "tables", None) or {})
        tables["runs"] = (columns, rows)
        payload: dict[str, Any] = {}
        for name, (cols, body) in tables.items():  # runs: "comparison/table", as before; then arms_table, ...
            key = "comparison/table" if name == "runs" else f"comparison/{name}_table"
            payload[key] = wandb.Table(columns=cols, data=[[_cell(row.get(c)) for c in cols] for row in body])
        for key, path in report.plots.items():
            payload[f"comparison/{key}"] = wandb.Image(str(path))
        run.log(payload)
        where = run.path if mode == "online" else str(Path(run.dir).parent)
    finally:
        run.finish()
    if mode == "offline":
        print(f"seqrec: comparison logged offline in {where}\n        upload it with: wandb sync {where}")
    else:
        print(f"seqrec: comparison logged to W&B run {where} (group {target['group']})")
    return str(where)
