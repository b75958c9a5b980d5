"""The comparison report: markdown, CSVs and plots, from measured runs grouped into arms (``aggregate``)."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data.atomic import replace_file
from .aggregate import LEARNED_AT, Arm, Difference, Estimate, estimate_arms, group_arms, pairwise, verdict_text
from .intervals import format_interval
from .runs import Run, is_number

PLOTS = {
    "val_curve": "val_accuracy.png",
    "val_time": "val_accuracy_time.png",
    "length": "accuracy_by_length.png",
    "gap": "accuracy_by_gap.png",
    "sample_efficiency": "sample_efficiency.png",
}
INTERVALS = ("exact_match", "digit_acc")  # metrics whose 95% digit-bootstrap interval the runs may carry
ESTIMATE_FIELDS = ("mean", "lo", "hi", "s_seed", "se_test")  # per-arm CSV columns of each metric


def max_length(runs: list[Run]) -> int:
    lengths = [int(k[7:]) for r in runs for k in r.metrics if k.startswith("acc_len") and k[7:].isdigit()]
    return max(lengths, default=0)


def long_lengths(runs: list[Run]) -> list[int]:
    return sorted({k for r in runs for k in r.long_acc})


def arm_metrics(runs: list[Run]) -> list[str]:
    """The metrics aggregated per arm: exact match, per-digit accuracy, CER, accuracy per length,
    on wider strips (``long{k}``) and by gap (``gap{g}``)."""
    gaps = sorted({g for r in runs for g in r.gap_acc})
    return [
        "exact_match",
        "digit_acc",
        "cer",
        *[f"acc_len{k}" for k in range(1, max_length(runs) + 1)],
        *[f"long{k}" for k in long_lengths(runs)],
        *[f"gap{g:+d}" for g in gaps],
    ]


def build_arms(runs: list[Run]) -> list[Arm]:
    """The runs' arms with every metric of :func:`arm_metrics` estimated."""
    arms = group_arms(runs)
    estimate_arms(arms, arm_metrics(runs))
    return arms


def _arm_of(runs: list[Run], arms: list[Arm]) -> dict[int, Arm]:
    return {id(r): a for a in arms for r in a.runs}


def table_rows(
    runs: list[Run], arms: list[Arm] | None = None, learned_at: float = LEARNED_AT
) -> tuple[list[str], list[dict[str, Any]]]:
    """CSV columns and one row per run (numbers stay numbers; missing ones are NaN)."""
    arms = build_arms(runs) if arms is None else arms
    arm_of = _arm_of(runs, arms)
    L = max_length(runs)
    gaps = sorted({g for r in runs for g in r.gap_acc})
    longs = long_lengths(runs)
    bounds = [f"{k}_{end}" for k in INTERVALS for end in ("lo", "hi")]
    gap_cols = [f"acc_gap{g:+d}{end}" for g in gaps for end in ("", "_lo", "_hi")]
    long_cols = [f"acc_long{k}{end}" for k in longs for end in ("", "_lo", "_hi")]
    columns = [
        "model",
        "head",
        "arm",
        "seed",
        "train_digits",
        "learned",
        "exact_match",
        "digit_acc",
        "cer",
        *[f"acc_len{k}" for k in range(1, L + 1)],
        "params",
        "train_time_s",
        "steps",
        "elapsed_s",
        "predict_strips_per_s",
        *gap_cols,
        *long_cols,
        "long_note",
        *bounds,
        "metrics_from",
        "run_dir",
        "checkpoint",
    ]
    rows = []
    for r in runs:
        arm = arm_of.get(id(r))
        learned = arm.learned(learned_at) if arm is not None else None
        row = {
            "model": r.name,
            "head": r.head,
            "arm": arm.name if arm is not None else r.name,
            "seed": "" if r.seed is None else r.seed,
            "train_digits": "" if r.train_digits is None else r.train_digits,
            "learned": "" if learned is None else learned,
            "metrics_from": r.metrics_from,
            "long_note": r.long_note,
            "run_dir": str(r.path or ""),
            "checkpoint": str(r.checkpoint or ""),
        }
        for k in ("exact_match", "digit_acc", "cer", *[f"acc_len{k}" for k in range(1, L + 1)], *bounds):
            row[k] = r.metrics.get(k, math.nan)
        row.update(params=r.params, train_time_s=r.train_time_s, steps=r.steps, predict_strips_per_s=r.predict_sps)
        row["elapsed_s"] = r.elapsed[max(r.elapsed)] if r.elapsed else math.nan
        for prefix, values, cis, keys in (
            ("acc_gap", r.gap_acc, r.gap_ci, gaps),
            ("acc_long", r.long_acc, r.long_ci, longs),
        ):
            for g in keys:
                lo, hi = cis.get(g, (math.nan, math.nan))
                name = f"{prefix}{g:+d}" if prefix == "acc_gap" else f"{prefix}{g}"
                row.update({name: values.get(g, math.nan), f"{name}_lo": lo, f"{name}_hi": hi})
        rows.append(row)
    return columns, rows


def _mean(values) -> float:
    vals = [float(v) for v in values if is_number(v)]
    return sum(vals) / len(vals) if vals else math.nan


RUN_MEANS = {
    "params": "params",
    "train_time_s": "train_time_s",
    "steps": "steps",
    "predict_strips_per_s": "predict_sps",
}


def arm_rows(arms: list[Arm], digits: dict[str, int | None] | None = None, learned_at: float = LEARNED_AT):
    """CSV columns and one row per arm: each metric's mean, 95% interval, seed spread and test
    standard error (``{metric}_mean/_lo/_hi/_s_seed/_se_test``), the learned flag and run means."""
    metrics = list(arms[0].estimates) if arms else []
    columns = ["arm", "head", "settings", "train_digits", "n_seeds", "seeds", "learned"]
    columns += [f"{m}_{f}" for m in metrics for f in ESTIMATE_FIELDS] + list(RUN_MEANS)
    rows = []
    for a in arms:
        n_digits = (digits or {}).get(a.name, a.train_digits)
        learned = a.learned(learned_at)
        row = {
            "arm": a.name,
            "head": a.head,
            "settings": " ".join(f"{k}={v}" for k, v in a.settings),
            "train_digits": "" if n_digits is None else n_digits,
            "n_seeds": len(a.runs),
            "seeds": " ".join(str(s) for s in a.seeds if s is not None),
            "learned": "" if learned is None else learned,
        }
        for m in metrics:
            e = a.estimates.get(m, Estimate())
            row.update({f"{m}_{f}": getattr(e, f) for f in ESTIMATE_FIELDS})
        row.update({col: _mean(getattr(r, attr) for r in a.runs) for col, attr in RUN_MEANS.items()})
        rows.append(row)
    return columns, rows


PAIR_COLUMNS = ["settings", "a", "b", "metric", "difference", "lo", "hi", "verdict"]


def pair_rows(pairs: list[tuple[tuple, Difference]], metric: str = "exact_match") -> list[dict[str, Any]]:
    return [
        {
            "settings": " ".join(f"{k}={v}" for k, v in settings),
            "a": d.a,
            "b": d.b,
            "metric": metric,
            "difference": d.diff,
            "lo": d.lo,
            "hi": d.hi,
            "verdict": d.verdict,
        }
        for settings, d in pairs
    ]


def efficiency_rows(arms: list[Arm], digits: dict[str, int | None], metric: str = "exact_match") -> list[dict]:
    """One row per arm on the sample-efficiency axis: curve (the head plus settings other than
    train_digits), distinct training digits, and the metric's mean and interval."""
    rows = []
    for a in arms:
        if digits.get(a.name) is None:
            continue
        other = [f"{k}={v}" for k, v in a.settings if k != "data.train_digits"]
        e = a.estimates.get(metric, Estimate())
        curve = f"{a.head} ({', '.join(other)})" if other else a.head
        row = {"curve": curve, "train_digits": digits[a.name], "arm": a.name}
        rows.append({**row, "mean": e.mean, "lo": e.lo, "hi": e.hi, "n_seeds": e.n})
    return sorted(rows, key=lambda r: (r["curve"], r["train_digits"]))


def pct(v) -> str:
    return "–" if not is_number(v) else f"{100 * v:.1f}%"


def pct_ci(v, lo=None, hi=None) -> str:
    """``96.9% [95.8, 97.7]``: the value with its 95% interval where there is one."""
    return format_interval(v, lo, hi) if is_number(v) else "–"


def _metric_ci(metrics: dict, key: str) -> str:
    return pct_ci(*(metrics.get(k) for k in (key, f"{key}_lo", f"{key}_hi")))


def _est(e: Estimate) -> str:
    return pct_ci(e.mean, e.lo, e.hi)


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


def budget_text(config: dict) -> str:
    """The training budget a run's config sets: steps, epochs, batches per epoch, batch size, max_time."""
    trainer, data = config.get("trainer") or {}, config.get("data") or {}
    parts = []
    if is_number(trainer.get("max_steps")) and trainer["max_steps"] > 0:
        parts.append(f"at most {trainer['max_steps']:,} steps")
    if is_number(trainer.get("max_epochs")) and trainer["max_epochs"] > 0:
        per = f" of {data['batches_per_epoch']:,} batches" if is_number(data.get("batches_per_epoch")) else ""
        epochs = trainer["max_epochs"]
        parts.append(f"at most {epochs} epoch{'s' if epochs != 1 else ''}{per}")
    if is_number(data.get("batch_size")):
        parts.append(f"batch {data['batch_size']}")
    if trainer.get("max_time"):
        parts.append(f"max_time {trainer['max_time']}")
    pre = config.get("backbone_pretrain") or {}
    if is_number(pre.get("steps")) and pre["steps"] > 0:
        batch = f" of batch {pre['batch_size']}" if is_number(pre.get("batch_size")) else ""
        parts.append(f"after {pre['steps']:,} steps{batch} pretraining the backbone as a digit classifier")
    return ", ".join(parts)


def budget_lines(arms: list[Arm]) -> list[str]:
    budgets = {a.name: budget_text(a.runs[0].config) for a in arms}
    if not any(budgets.values()):
        return []
    if len(set(budgets.values())) == 1:
        return [f"Budget of each run: {next(iter(budgets.values()))}.", ""]
    return ["Budgets: " + "; ".join(f"{name}: {b or 'not in its config'}" for name, b in budgets.items()) + ".", ""]


def interval_rule(arms: list[Arm]) -> str:
    """How the report's intervals were made, for the test design its arms used."""
    cv = [a for a in arms if a.cross_validated]
    shared = [a for a in arms if len(a.runs) > 1 and not a.cross_validated]
    parts = [
        "**How to read the numbers.** Each arm is a head under one setting; its runs differ only in their seed. "
        "A number is the mean over the arm's seeds with a 95% interval."
    ]
    if cv:
        k = cv[0].runs[0].test_fold[0]
        parts.append(
            f"Cross-validated ({k} folds, one per seed): each seed was tested on strips of its own fold's digits, "
            "disjoint from its training and validation digits and from the other seeds' test digits, so the seeds "
            "together test every digit once. The spread over seeds then holds both the training's variation and "
            "the test's sampling error, and the interval is t x s / sqrt(n), but never narrower than the folds' "
            "own digit-bootstrap error averaged over the n folds."
        )
    if shared:
        lead = "Where the seeds share one test split, the"
        if not cv:
            lead = "Every seed is tested on the same held-out digits; the"
        parts.append(
            lead + " interval adds, in quadrature, the spread over seeds (t x s / sqrt(n)) and the test's own sampling "
            "error over digits (each run's digit bootstrap), which does not shrink with more seeds."
        )
    parts.append("s is the standard deviation over the arm's seeds, t the t quantile with n - 1 degrees of freedom.")
    parts.append(
        "A difference between two heads is **real** when its 95% interval (the two arms' variances added) excludes "
        "0, else **within noise**; adding the variances ignores the positive correlation of shared test digits, so "
        'the verdict errs toward "within noise".'
    )
    return " ".join(parts)


def learned_lines(arms: list[Arm], learned_at: float) -> list[str]:
    """The learned flag in words: each arm below ``learned_at`` mean exact match, or that all passed."""
    lines = []
    for a in arms:
        flag = a.learned(learned_at)
        e = a.estimates.get("exact_match", Estimate())
        if flag is False:
            what = "budget and training data" if a.train_digits is not None else "budget"
            lines.append(
                f"- **{a.name} has not learned** at this {what} (mean exact match {pct(e.mean)} < "
                f"{100 * learned_at:.0f}%): its row says nothing about the head, only about the {what}."
            )
    measured = [a for a in arms if a.learned(learned_at) is not None]
    if measured and not lines:
        lines.append(
            f"Every arm has learned: mean exact match at least {100 * learned_at:.0f}% on its test strips "
            "(held-out digits)."
        )
    elif lines:
        lines.insert(
            0, f"Learned = mean exact match at least {100 * learned_at:.0f}% on the test strips (held-out digits)."
        )
    return (lines + [""] if lines else []) + clearance_lines(arms, learned_at)


def clearance_lines(arms: list[Arm], learned_at: float) -> list[str]:
    """Of the learned arms, which clear the threshold with their whole 95% interval and which are
    unclear (the interval reaches below it): a target counts as met only when the interval clears it."""
    learned = [(a, a.estimates["exact_match"]) for a in arms if a.learned(learned_at)]
    cleared = [a.name for a, e in learned if is_number(e.lo) and e.lo >= learned_at]
    unclear = [f"{a.name} (from {pct(e.lo)})" for a, e in learned if a.name not in cleared]
    at = f"{100 * learned_at:.0f}%"
    if not learned:
        return []
    if not unclear:
        return [f"The whole 95% interval is at or above {at} for every learned arm.", ""]
    head = f"Clear of {at} with the whole 95% interval: {', '.join(cleared) or 'none'}; "
    return [head + f"unclear, the interval reaching below {at}: {', '.join(unclear)}.", ""]


def markdown(
    runs: list[Run],
    title: str,
    source: str,
    plots: dict[str, str],
    command: str | None = None,
    arms: list[Arm] | None = None,
    learned_at: float = LEARNED_AT,
    digits: dict[str, int | None] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """The report; ``notes``: sentences on how the runs were made (e.g. jobs side by side)."""
    arms = build_arms(runs) if arms is None else arms
    L = max_length(runs)
    longs = long_lengths(runs)
    lines = [f"# {title}", "", f"Runs: `{source}`" + (f"  \nCommand: `{command}`" if command else ""), ""]
    lines += budget_lines(arms)
    lines += [n for note in notes if note for n in (note, "")]
    lines += [interval_rule(arms), ""]
    single = [a.name for a in arms if len(a.runs) == 1]
    which = "one seed per arm" if len(single) == len(arms) else f"one seed: {', '.join(single)}"
    if single:
        unmeasured = f"Seed variation is **unmeasured** ({which}): those intervals are the runs' digit-bootstrap "
        lines += [unmeasured + "intervals, which miss the spread between trainings.", ""]
    lines += learned_lines(arms, learned_at)
    wide = (
        f"len {longs[0]}-{longs[-1]} (wide): strips of that many held-out digits on a canvas {longs[-1]} digits "
        "wide, composed like the training strips otherwise. "
        if longs
        else ""
    )
    arm_head = ["arm", "exact match", "per-digit acc", "CER", *[f"len {k}" for k in range(1, L + 1)]]
    arm_head += [f"len {k} (wide)" for k in longs] + ["seeds", "params", "training time", "steps", "predict strips/s"]
    lines += [
        "## Heads: mean over seeds [95% interval]",
        "",
        "Exact match, per-digit accuracy, CER and accuracy per length (len k: exact match on the test strips of "
        "k digits) are on each run's test strips (held-out test digits); CER and len k carry no per-run test "
        "interval, so theirs covers the seeds only. "
        + wide
        + "Training time: wall clock of the job; predict: `Recognizer.predict` on the CPU, batch 256.",
        "",
        "| " + " | ".join(arm_head) + " |",
        "|" + "---|" + "---:|" * (len(arm_head) - 1),
    ]
    for a in arms:
        est = a.estimates
        cells = [
            a.name,
            _est(est.get("exact_match", Estimate())),
            _est(est.get("digit_acc", Estimate())),
            _num(est.get("cer", Estimate()).mean, "{:.3f}"),
            *[_est(est.get(f"acc_len{k}", Estimate())) for k in range(1, L + 1)],
            *[_est(est[f"long{k}"]) if is_number(est[f"long{k}"].mean) else _long_na(a) for k in longs],
            str(len(a.runs)),
            _params(_mean(r.params for r in a.runs)),
            _duration(_mean(r.train_time_s for r in a.runs)),
            _num(_mean(r.steps for r in a.runs)),
            _num(_mean(r.predict_sps for r in a.runs)),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    notes = {a.head: a.runs[0].long_note for a in arms if a.runs[0].long_note}
    fixed = [head for head, note in notes.items() if note.startswith("n/a")]
    bullets = [f"- {head}: {note}." for head, note in notes.items() if head not in fixed]
    if fixed:
        bullets.insert(
            0, f"- {', '.join(fixed)}: fixed-width heads (the net takes only its training width), no wide strips."
        )
    lines += [""] + bullets if bullets else []
    low = {a.name for a in arms if a.learned(learned_at) is False}
    lines += [""] + difference_lines(pairwise(arms), low, {a.name: a.head for a in arms})
    if digits:
        lines += efficiency_lines(efficiency_rows(arms, digits), arms, learned_at, plots)
        if any(n is None for n in digits.values()):
            lines += ["Arms on the whole train pool are left out of it: the pool's size could not be read here.", ""]
    lines += run_lines(runs, L)
    gaps = sorted({g for r in runs for g in r.gap_acc})
    if gaps:
        lines += [
            "",
            "## Exact match by gap",
            "",
            "Gap between neighbouring digits (px; negative = overlap), strips of max_len held-out test digits; "
            "mean over seeds [95% interval]:",
            "",
            "| arm | " + " | ".join(f"{g:+d}" for g in gaps) + " |",
            "|---|" + "---:|" * len(gaps),
        ]
        for a in arms:
            lines.append(f"| {a.name} | " + " | ".join(_est(a.estimates[f"gap{g:+d}"]) for g in gaps) + " |")
    lines.append("")
    for key, caption in (
        ("val_curve", "Validation exact match against training step"),
        ("val_time", "Validation exact match against wall-clock time"),
        ("length", "Test exact match by number length"),
        ("gap", "Exact match by gap / overlap"),
    ):
        if key in plots:
            lines += [f"![{caption}]({plots[key]})", ""]
    if "val_curve" in plots and "val_time" not in plots:
        lines += ["No plot against wall-clock time: the runs' metrics.csv has no `val/elapsed_s`.", ""]
    return "\n".join(lines)


def _long_na(arm: Arm) -> str:
    note = arm.runs[0].long_note
    return note if note.startswith("n/a") else "–"


def difference_lines(
    pairs: list[tuple[tuple, Difference]], not_learned: set[str] = frozenset(), heads: dict[str, str] | None = None
) -> list[str]:
    """The pairwise table and each verdict in words, grouped by setting (arms then named by their
    head, ``heads``: arm name -> head); a pair with an arm that has not learned says so."""
    if not pairs:
        return []
    with_setting = any(settings for settings, _ in pairs)
    order = list(dict.fromkeys(settings for settings, _ in pairs))
    pairs = sorted(pairs, key=lambda p: order.index(p[0]))
    head = ["setting"] if with_setting else []
    head += ["first", "second", "difference", "95% interval", "verdict"]
    lines = [
        "## Differences between heads (exact match)",
        "",
        "Percentage points, first minus second, 95% interval from both arms' noise (variances added):",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * (len(head) - 3) + "---:|---:|---|",
    ]
    words = []
    for settings, d in pairs:
        where = ", ".join(f"{k}={v}" for k, v in settings) or "defaults"  # arms without an override
        low = [(heads or {}).get(n, n) for n in (d.a, d.b) if n in not_learned]
        if with_setting and heads:
            d = replace(d, a=heads.get(d.a, d.a), b=heads.get(d.b, d.b))
        ci = f"[{100 * d.lo:+.1f}, {100 * d.hi:+.1f}]" if is_number(d.lo) else "–"
        cells = [where] if with_setting else []
        lines.append("| " + " | ".join([*cells, d.a, d.b, f"{100 * d.diff:+.1f}", ci, d.verdict]) + " |")
        caveat = f" (not learned: {' and '.join(low)}; this compares budgets more than heads)" if low else ""
        words.append(f"- {f'{where}: ' if with_setting else ''}{verdict_text(d)}{caveat}.")
    return lines + [""] + words + [""]


def efficiency_lines(rows: list[dict], arms: list[Arm], learned_at: float, plots: dict[str, str]) -> list[str]:
    if not rows:
        return []
    counts = sorted({r["train_digits"] for r in rows})
    cell = {(r["curve"], r["train_digits"]): r for r in rows}
    low = {a.name for a in arms if a.learned(learned_at) is False}
    lines = [
        "## Sample efficiency: exact match by distinct training digits",
        "",
        "Heads trained on nested, stratified subsets of the train pool (the largest count is the whole pool); "
        f"mean [95% interval]; * not learned (< {100 * learned_at:.0f}%).",
        "",
        "| head | " + " | ".join(f"{n:,}" for n in counts) + " |",
        "|---|" + "---:|" * len(counts),
    ]
    for curve in dict.fromkeys(r["curve"] for r in rows):
        cells = []
        for n in counts:
            r = cell.get((curve, n))
            star = "*" if r is not None and r["arm"] in low else ""
            cells.append(pct_ci(r["mean"], r["lo"], r["hi"]) + star if r else "–")
        lines.append(f"| {curve} | " + " | ".join(cells) + " |")
    lines.append("")
    if "sample_efficiency" in plots:
        lines += [f"![Exact match against distinct training digits]({plots['sample_efficiency']})", ""]
    return lines


def run_lines(runs: list[Run], L: int) -> list[str]:
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
        "## Runs",
        "",
        "One row per run (seed); brackets: 95% interval from a bootstrap over the test digits (strips reuse "
        "digits, so the digits, not the strips, are the sample); `(val)` marks a run that was not tested (best "
        "validation epoch).",
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
    return lines


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """The table as CSV (NaN as an empty cell), written atomically."""

    def write(f) -> None:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        for row in rows:
            w.writerow({k: ("" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()})

    replace_file(path, write, text=True)


def _mean_curve(points: list[list[tuple[float, float, float]]]) -> tuple[list[float], list[float]]:
    """Mean x and mean y at each step, over the seeds' (step, x, y) points."""
    by_step: dict[float, list[tuple[float, float]]] = {}
    for run_points in points:
        for step, x, y in run_points:
            by_step.setdefault(step, []).append((x, y))
    steps = sorted(by_step)
    return [_mean(x for x, _ in by_step[s]) for s in steps], [_mean(y for _, y in by_step[s]) for s in steps]


def _errorbar(ax, xs, estimates: list[Estimate], **kwargs) -> None:
    """Means with their 95% intervals as error bars (points without an interval get none)."""
    ys = [e.mean for e in estimates]
    err = [
        [e.mean - e.lo if is_number(e.lo) else 0 for e in estimates],
        [e.hi - e.mean if is_number(e.hi) else 0 for e in estimates],
    ]
    ax.errorbar(xs, ys, yerr=err, marker="o", ms=4, capsize=3, **kwargs)


def arm_colours(arms: list[Arm], palette) -> dict[str, tuple]:
    """One colour per head; a head's arms under several settings get lighter shades of it, the
    fewest training digits lightest (arms in order of appearance otherwise), the whole pool full."""
    from matplotlib.colors import to_rgb

    heads = list(dict.fromkeys(a.head for a in arms))
    out = {}
    for h, head in enumerate(heads):
        base = np.array(to_rgb(palette(h % palette.N)))
        own = sorted((a for a in arms if a.head == head), key=lambda a: (a.train_digits is None, a.train_digits or 0))
        for i, a in enumerate(own):
            white = 0.6 * (len(own) - 1 - i) / max(len(own) - 1, 1)  # 0 for the last arm
            out[a.name] = tuple(base + (1 - base) * white)
    return out


def plot_all(
    runs: list[Run], out: Path, arms: list[Arm] | None = None, digits: dict[str, int | None] | None = None
) -> dict[str, str]:
    """The PNGs (file names relative to ``out``), one line per arm; a plot with nothing to show is
    skipped. Curves: thin lines per seed, a bold line for the mean over seeds at each step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = build_arms(runs) if arms is None else arms
    colour = arm_colours(arms, plt.get_cmap("tab10"))
    written = {}

    def save(fig, ax, key, title, xlabel, ylabel="exact match"):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        if len(ax.get_legend_handles_labels()[1]) > 6:  # many arms: the legend goes beside the plot
            fig.set_size_inches(9.6, 4.4)
            ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        else:
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / PLOTS[key], dpi=110)
        plt.close(fig)
        written[key] = PLOTS[key]

    for key, xlabel, point in (
        ("val_curve", "training step", lambda r, s: s),
        ("val_time", "wall clock since fitting started (s)", lambda r, s: r.elapsed.get(s)),
    ):
        curves = {
            a.name: [[(s, point(r, s), v) for s, v in r.curve if point(r, s) is not None] for r in a.runs] for a in arms
        }
        if not any(p for runs_points in curves.values() for p in runs_points):
            continue
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for name, points in curves.items():
            if not any(points):
                continue
            for p in points if len(points) > 1 else ():
                ax.plot([x for _, x, _ in p], [y for _, _, y in p], color=colour[name], lw=0.8, alpha=0.35)
            xs, ys = _mean_curve(points)
            ax.plot(xs, ys, color=colour[name], lw=2, marker="o", ms=3, label=name)
        save(fig, ax, key, "validation exact match (bold: mean over seeds)", xlabel)
    L, longs = max_length(runs), long_lengths(runs)
    if L or longs:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for a in arms:
            ks = [k for k in range(1, L + 1) if is_number(a.estimates[f"acc_len{k}"].mean)]
            ks += [k for k in longs if is_number(a.estimates[f"long{k}"].mean)]
            ests = [a.estimates[f"acc_len{k}"] if k <= L else a.estimates[f"long{k}"] for k in ks]
            if ks:
                _errorbar(ax, ks, ests, color=colour[a.name], label=a.name)
        if longs:
            ax.axvline(min(longs) - 0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(range(1, max(L, *longs, 1) + 1))
        save(fig, ax, "length", "exact match by number length (right of the line: wide strips)", "digits in the strip")
    gaps = sorted({g for r in runs for g in r.gap_acc})
    if gaps:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for a in arms:
            gs = [g for g in gaps if is_number(a.estimates[f"gap{g:+d}"].mean)]
            if gs:
                _errorbar(ax, gs, [a.estimates[f"gap{g:+d}"] for g in gs], color=colour[a.name], label=a.name)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        save(fig, ax, "gap", "exact match by gap (negative: overlap)", "gap between neighbouring ink boxes (px)")
    rows = efficiency_rows(arms, digits or {})
    if rows:
        fig, ax = plt.subplots(figsize=(6.4, 4))
        for curve in dict.fromkeys(r["curve"] for r in rows):
            pts = [r for r in rows if r["curve"] == curve]
            ests = [Estimate(r["mean"], r["lo"], r["hi"]) for r in pts]
            full = max(pts, key=lambda r: r["train_digits"])["arm"]  # the curve in its head's full colour
            _errorbar(ax, [r["train_digits"] for r in pts], ests, label=curve, color=colour[full])
        ax.set_xscale("log")
        counts = sorted({r["train_digits"] for r in rows})
        ax.set_xticks(counts, [f"{n:,}" for n in counts])
        ax.minorticks_off()
        save(
            fig,
            ax,
            "sample_efficiency",
            "sample efficiency (mean over seeds, 95% intervals)",
            "distinct training digits",
        )
    return written
