"""Calibration of each model's sequence confidence on held-out test strips, before and after temperature scaling.

    python benchmarks/bench_calibration.py [--models ctc,multihead,multilabel] [--n 5000] [--n-val 2000] [--plot PNG]

For each model and suite (fixed 5-digit 28x140; variable 1-5 digits, gaps -4..+6 px, +-2 px
jitter, random placement), on strips of the bundled test split (digits no model saw):

* ECE: expected calibration error of ``predict(..., return_confidence=True).confidence`` against
  "the whole number was read right", 15 equal-width bins;
* coverage at 99.5%: the share of strips whose confidence is high enough that the strips kept
  are right at least 99.5% of the time (and that confidence threshold), with a 95% interval over
  test digits (``coverage_interval``: a few confident errors on a few digits decide it);
* Brier score: the mean of (confidence - right)^2, with a 95% interval over test digits, and the
  paired change from "before" to "after" on the same strips: whether the temperature helps there
  beyond the noise (ECE has no such interval: its bins move with the resampled strips).

"before" uses temperature 1 (the raw logits); "after" the checkpoint's stored temperature, or,
when it has none, one fitted on ``--n-val`` strips of validation digits (never test digits) as
``scripts/calibrate.py`` does. Prints a markdown table with the command and hardware; ``--plot``
also draws the reliability diagram (share read right against confidence, per suite).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import machine  # noqa: E402
from bench_accuracy import SUITES  # noqa: E402

TARGET = 0.995
PLOT_BINS = 10  # equal-width confidence bins of the reliability diagram
PLOT_MIN_STRIPS = 5  # a bin with fewer strips is left out of the diagram (its share is noise)


def checkpoint_path(spec: str) -> Path:
    """A pretrained name's bundled file, or the path itself."""
    from seqrec.spec import PRETRAINED, pretrained_path

    if spec in PRETRAINED and not Path(spec).is_file():
        return pretrained_path(spec, must_exist=False)
    return Path(spec)


def read_at(rec, strips, key: str, row: dict, seed: int = 0) -> np.ndarray:
    """Read ``strips`` at the codec's current temperature into ``row``'s ``*_key`` columns; returns
    the per-strip squared errors (their mean is the Brier score) for a paired comparison; ``seed``
    seeds the bootstrap of the Brier interval."""
    from seqrec.evaluation import (
        confidences,
        coverage_at_accuracy,
        coverage_interval,
        digit_bootstrap,
        expected_calibration_error,
        squared_errors,
    )

    conf, correct, _ = confidences(rec, strips)
    coverage, threshold = coverage_at_accuracy(conf, correct, TARGET)
    sq = squared_errors(conf, correct)
    row.update(
        {
            "exact_match": float(correct.mean()),
            f"coverage_{key}": coverage,
            f"coverage_{key}_ci": coverage_interval(conf, correct, strips.digit_index, TARGET, seed=seed),
            f"ece_{key}": expected_calibration_error(conf, correct),
            f"threshold_{key}": threshold,
            f"mean_conf_{key}": float(conf.mean()),
            f"brier_{key}": float(sq.mean()),
            f"brier_{key}_ci": digit_bootstrap(sq, strips.digit_index, seed=seed),
            f"reliability_{key}": reliability(conf, correct),
        }
    )
    return sq


def reliability(conf: np.ndarray, correct: np.ndarray, n_bins: int = PLOT_BINS) -> list[tuple[float, float, int]]:
    """(mean confidence, share right, strips) of each non-empty bin of ``n_bins`` equal-width
    confidence bins, least confident first (the bins of a reliability diagram)."""
    which = np.minimum((np.asarray(conf) * n_bins).astype(int), n_bins - 1)
    return [
        (float(conf[which == b].mean()), float(correct[which == b].mean()), int((which == b).sum()))
        for b in range(n_bins)
        if (which == b).any()
    ]


def plot(rows: list[dict], path: Path) -> Path:
    """Reliability diagram, one panel per suite: the share of strips read right against their mean
    confidence, per confidence bin (dot area: strips in the bin). On the diagonal a confidence
    means what it says: of the strips read with confidence 0.9, 90% are right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqrec.data.atomic import replace_file

    suites = list(dict.fromkeys(r["suite"] for r in rows))
    fig, axes = plt.subplots(1, len(suites), figsize=(4.6 * len(suites), 4.4), squeeze=False)
    for ax, suite in zip(axes.flat, suites):
        for i, r in enumerate(r for r in rows if r["suite"] == suite):
            colour, name = plt.get_cmap("tab10")(i), Path(r["model"]).stem
            for key, style, label in (
                ("before", ":", f"{name}, T = 1"),
                ("after", "-", f"{name}, T = {r['temperature']:.2f}"),
            ):
                pts = [p for p in r[f"reliability_{key}"] if p[2] >= PLOT_MIN_STRIPS]
                conf, right, count = (np.array(v) for v in zip(*pts)) if pts else ([], [], [])
                ax.plot(conf, right, style, color=colour, lw=1, label=label)
                ax.scatter(conf, right, s=4 + 60 * np.sqrt(np.asarray(count) / max(r["n"], 1)), color=colour)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set(xlim=(0, 1.01), ylim=(0, 1.01), title=f"{suite} strips", aspect="equal")
        ax.set_xlabel("mean confidence of the bin")
        ax.set_ylabel("share read right")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    replace_file(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)
    return path


def run(models: list[str], n: int, n_val: int, seed: int, source: str = "bundled", log=print) -> list[dict]:
    from seqrec import Recognizer, make_strips
    from seqrec.evaluation import calibrate_checkpoint, paired_difference

    strips = {name: make_strips(n, seed=seed, split="test", source=source, **kw) for name, kw in SUITES.items()}
    rows = []
    for spec in models:
        path = checkpoint_path(spec)
        rec = Recognizer.from_checkpoint(path, name=spec)
        fitted = rec.codec.temperature
        how = "stored"
        if fitted == 1.0:
            fitted = calibrate_checkpoint(path, source=source, n=n_val, seed=seed, write=False)["temperature"]
            how = f"fitted on {n_val} val strips"
        log(f"  {spec}: temperature {fitted:.3f} ({how})")
        for suite, s in strips.items():
            row = {"model": spec, "head": rec.head, "suite": suite, "temperature": fitted, "how": how, "n": len(s)}
            sq = {}
            for key, t in (("before", 1.0), ("after", fitted)):
                rec.codec.temperature = t
                sq[key] = read_at(rec, s, key, row, seed)
            row["brier_change"] = paired_difference(sq["after"], sq["before"], s.digit_index, seed=seed)
            rows.append(row)
            log(
                f"  {spec} {suite}: ECE {row['ece_before']:.4f} -> {row['ece_after']:.4f}, coverage "
                f"{row['coverage_before']:.3f} -> {row['coverage_after']:.3f}, Brier "
                f"{row['brier_before']:.4f} -> {row['brier_after']:.4f}"
            )
    return rows


def _thr(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.3f}"


def _coverage(r: dict, key: str) -> str:
    from seqrec.evaluation import format_interval

    return f"{format_interval(r[f'coverage_{key}'], *r[f'coverage_{key}_ci'])} ({_thr(r[f'threshold_{key}'])})"


def _brier(r: dict, key: str) -> str:
    lo, hi = r[f"brier_{key}_ci"]
    return f"{r[f'brier_{key}']:.4f} [{lo:.4f}, {hi:.4f}]"


def table(rows: list[dict]) -> str:
    lines = [
        "| model | suite | exact match | mean conf. before / after | T | ECE before | ECE after "
        f"| coverage @ {100 * TARGET:.1f}% before [95% CI] (threshold) | after [95% CI] (threshold) "
        "| Brier after [95% CI] | Brier after - before [paired CI] |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        d, lo, hi = r["brier_change"]
        lines.append(
            f"| {r['model']} | {r['suite']} | {100 * r['exact_match']:.1f}% | {r['mean_conf_before']:.3f} / "
            f"{r['mean_conf_after']:.3f} | {r['temperature']:.3f} | {r['ece_before']:.4f} "
            f"| {r['ece_after']:.4f} "
            f"| {_coverage(r, 'before')} | {_coverage(r, 'after')} "
            f"| {_brier(r, 'after')} | {d:+.4f} [{lo:+.4f}, {hi:+.4f}] |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ctc,multihead,multilabel", help="pretrained names and/or checkpoint paths")
    ap.add_argument("--n", type=int, default=5000, help="test strips per suite (default 5000)")
    ap.add_argument("--n-val", type=int, default=2000, help="val strips to fit a missing temperature (default 2000)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--source", default="bundled", help="digit source (default bundled)")
    ap.add_argument("--plot", type=Path, metavar="PNG", help="also draw the reliability diagram into this file")
    args = ap.parse_args(argv)

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for spec in models:
        if not checkpoint_path(spec).is_file():
            print(f"bench_calibration: {spec!r} is neither a pretrained model nor a checkpoint file", file=sys.stderr)
            return 2
    if args.plot is not None and not args.plot.parent.is_dir():
        print(f"bench_calibration: --plot {args.plot}: folder {args.plot.parent} does not exist", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    rows = run(models, args.n, args.n_val, args.seed, args.source, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"# calibration on held-out test strips, {args.n} per suite, seed {args.seed}, source {args.source}")
    print(
        f"command: `python benchmarks/bench_calibration.py --models {','.join(models)} --n {args.n} "
        f"--n-val {args.n_val} --seed {args.seed}`  "
    )
    print(f"hardware: {machine()}; {time.perf_counter() - t0:.0f} s\n")
    print(table(rows))
    print(
        f"\nECE: 15 equal-width bins. Coverage: the largest share of strips, most confident first, that is "
        f"right >= {100 * TARGET:.1f}% of the time; threshold: the lowest confidence kept. "
        "T: the temperature used for 'after' (before: T = 1). Brier: the mean of (confidence - right)^2, "
        "lower is better; its intervals resample the test digits, and a paired interval below 0 means the "
        "temperature helped on these strips."
    )
    if args.plot is not None:
        print(f"\nReliability diagram: {plot(rows, args.plot)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
