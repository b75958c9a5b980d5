"""The comparison table: markdown, CSV and the three plots, from measured runs."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from ..data.atomic import replace_file
from .intervals import format_interval
from .runs import Run, is_number

PLOTS = {"val_curve": "val_accuracy.png", "length": "accuracy_by_length.png", "gap": "accuracy_by_gap.png"}
INTERVALS = ("exact_match", "digit_acc")  # metrics whose 95% digit-bootstrap interval the runs may carry


def max_length(runs: list[Run]) -> int:
    lengths = [int(k[7:]) for r in runs for k in r.metrics if k.startswith("acc_len") and k[7:].isdigit()]
    return max(lengths, default=0)


def table_rows(runs: list[Run]) -> tuple[list[str], list[dict[str, Any]]]:
    """CSV columns and one row per run (numbers stay numbers; missing ones are NaN)."""
    L = max_length(runs)
    gaps = sorted({g for r in runs for g in r.gap_acc})
    bounds = [f"{k}_{end}" for k in INTERVALS for end in ("lo", "hi")]
    gap_cols = [f"acc_gap{g:+d}{end}" for g in gaps for end in ("", "_lo", "_hi")]
    columns = [
        "model",
        "head",
        "exact_match",
        "digit_acc",
        "cer",
        *[f"acc_len{k}" for k in range(1, L + 1)],
        "params",
        "train_time_s",
        "steps",
        "predict_strips_per_s",
        *gap_cols,
        *bounds,
        "metrics_from",
        "run_dir",
        "checkpoint",
    ]
    rows = []
    for r in runs:
        row = {
            "model": r.name,
            "head": r.head,
            "metrics_from": r.metrics_from,
            "run_dir": str(r.path or ""),
            "checkpoint": str(r.checkpoint or ""),
        }
        for k in ("exact_match", "digit_acc", "cer", *[f"acc_len{k}" for k in range(1, L + 1)], *bounds):
            row[k] = r.metrics.get(k, math.nan)
        row.update(params=r.params, train_time_s=r.train_time_s, steps=r.steps, predict_strips_per_s=r.predict_sps)
        for g in gaps:
            lo, hi = r.gap_ci.get(g, (math.nan, math.nan))
            row.update({f"acc_gap{g:+d}": r.gap_acc.get(g, math.nan), f"acc_gap{g:+d}_lo": lo, f"acc_gap{g:+d}_hi": hi})
        rows.append(row)
    return columns, rows


def pct(v) -> str:
    return "–" if not is_number(v) else f"{100 * v:.1f}%"


def pct_ci(v, lo=None, hi=None) -> str:
    """``96.9% [95.8, 97.7]``: the value with its 95% digit-bootstrap interval where there is one."""
    return format_interval(v, lo, hi) if is_number(v) else "–"


def _metric_ci(metrics: dict, key: str) -> str:
    return pct_ci(*(metrics.get(k) for k in (key, f"{key}_lo", f"{key}_hi")))


def _num(v, fmt="{:,.0f}") -> str:
    return "–" if not is_number(v) else fmt.format(v)


def _params(v) -> str:
    if not is_number(v):
        return "–"
    return f"{v / 1e6:.2f}M" if v >= 1e6 else f"{v / 1e3:.0f}k"


def _duration(v) -> str:
    if not is_number(v):
        return "–"
    return f"{v:.0f} s" if v < 120 else f"{v / 60:.1f} min"


def markdown(runs: list[Run], title: str, source: str, plots: dict[str, str], command: str | None = None) -> str:
    L = max_length(runs)
    head = [
        "model",
        "exact match",
        "per-digit acc",
        "CER",
        *[f"len {k}" for k in range(1, L + 1)],
        "params",
        "training time",
        "predict strips/s",
    ]
    lines = [
        f"# {title}",
        "",
        f"Runs: `{source}`" + (f"  \nCommand: `{command}`" if command else ""),
        "",
        "Exact match, per-digit accuracy, CER and accuracy per length (len k: exact match on strips of k digits) "
        "are on each run's test strips (held-out test digits); brackets: 95% interval from a bootstrap over the "
        "test digits (strips reuse digits, so the digits, not the strips, are the sample); `(val)` marks a run "
        "that was not tested (best validation epoch). Training time: wall clock of the job (fitting and the "
        "final test). Predict: `Recognizer.predict` on the CPU from uint8 strips, batch 256.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" + "---:|" * (len(head) - 1),
    ]
    for r in runs:
        tag = " (val)" if r.metrics_from == "val" else ""
        cells = [
            r.name + tag,
            _metric_ci(r.metrics, "exact_match"),
            _metric_ci(r.metrics, "digit_acc"),
            _num(r.metrics.get("cer"), "{:.3f}"),
            *[pct(r.metrics.get(f"acc_len{k}")) for k in range(1, L + 1)],
            _params(r.params),
            _duration(r.train_time_s),
            _num(r.predict_sps),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    gaps = sorted({g for r in runs for g in r.gap_acc})
    if gaps:
        lines += [
            "",
            "Exact match by gap between neighbouring digits (px; negative = overlap), "
            "strips of max_len held-out test digits; brackets: 95% digit-bootstrap interval:",
            "",
            "| model | " + " | ".join(f"{g:+d}" for g in gaps) + " |",
            "|---|" + "---:|" * len(gaps),
        ]
        for r in runs:
            cells = (pct_ci(r.gap_acc.get(g), *r.gap_ci.get(g, (None, None))) for g in gaps)
            lines.append(f"| {r.name} | " + " | ".join(cells) + " |")
    lines.append("")
    for key, caption in (
        ("val_curve", "Validation exact match against training step"),
        ("length", "Test exact match by number length"),
        ("gap", "Exact match by gap / overlap"),
    ):
        if key in plots:
            lines += [f"![{caption}]({plots[key]})", ""]
    return "\n".join(lines)


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """The table as CSV (NaN as an empty cell), written atomically."""

    def write(f) -> None:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})

    replace_file(path, write, text=True)


def plot_all(runs: list[Run], out: Path) -> dict[str, str]:
    """The three PNGs (file names relative to ``out``); a plot with nothing to show is skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = {}

    def save(fig, ax, key, title, xlabel, ylabel="exact match"):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / PLOTS[key], dpi=110)
        plt.close(fig)
        written[key] = PLOTS[key]

    if any(r.curve for r in runs):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            if r.curve:
                steps, values = zip(*r.curve)
                ax.plot(steps, values, marker="o", ms=3, label=r.name)
        save(fig, ax, "val_curve", "validation exact match", "training step")
    L = max_length(runs)
    if L:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            ks = [k for k in range(1, L + 1) if is_number(r.metrics.get(f"acc_len{k}"))]
            if ks:
                ax.plot(ks, [r.metrics[f"acc_len{k}"] for k in ks], marker="o", label=r.name)
        ax.set_xticks(range(1, L + 1))
        save(fig, ax, "length", "test exact match by number length", "digits in the strip")
    if any(r.gap_acc for r in runs):
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for r in runs:
            if r.gap_acc:
                gs = sorted(r.gap_acc)
                ax.plot(gs, [r.gap_acc[g] for g in gs], marker="o", label=r.name)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        save(fig, ax, "gap", "exact match by gap (negative: overlap)", "gap between neighbouring ink boxes (px)")
    return written
