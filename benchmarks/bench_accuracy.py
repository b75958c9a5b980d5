"""Accuracy of the bundled pretrained models on strips built only from held-out test digits, with 95% intervals.

    python benchmarks/bench_accuracy.py [--n 5000] [--models ctc,multihead,multilabel] [--boot 1000]

Two suites: fixed 5-digit 28x140 strips and variable strips, 1-5 digits, gaps -4..+6 px, +-2 px
vertical jitter, random placement. The test digits are the bundled source's test split (500
digits), which no pretrained model saw in training or model selection.

Every accuracy carries a 95% interval from a bootstrap over the test *digits*
(``seqrec.evaluation.digit_bootstrap``): the strips reuse the same few hundred digits, so they
are not independent samples, and more strips do not narrow the interval much. Targets (issue 11,
on unseen digits) are "met" when the whole interval is above them, "missed" when it is below,
and "unclear" when the interval straddles the target.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import machine  # noqa: E402

SUITES = {
    "fixed": dict(min_len=5, max_len=5, gap=(0, 0)),
    "variable": dict(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random"),
}
TARGETS = {
    ("fixed", "ctc"): 0.97,
    ("fixed", "multihead"): 0.965,
    ("fixed", "multilabel"): 0.965,
    ("variable", "ctc"): 0.965,
    ("variable", "multihead"): 0.95,
    ("variable", "multilabel"): 0.95,
}
DIGIT_TARGET = 0.994


def verdict(lo: float, hi: float, target: float | None) -> str:
    if target is None:
        return "–"
    return "met" if lo >= target else "missed" if hi < target else "unclear"


def run(models: list[str], n: int, seed: int, n_boot: int, source: str = "bundled", log=print) -> list[dict]:
    """One row per (model, suite): compare.evaluate's metrics with intervals, target and verdicts."""
    from seqrec import Recognizer, make_strips
    from seqrec.evaluation.measure import evaluate

    strips = {name: make_strips(n, seed=seed, split="test", source=source, **kw) for name, kw in SUITES.items()}
    rows = []
    for name in models:
        rec = Recognizer.load(name)
        for suite, s in strips.items():
            t0 = time.perf_counter()
            m = evaluate(rec, s, n_boot=n_boot)
            target = TARGETS.get((suite, rec.head))
            rows.append(
                {
                    "model": name,
                    "suite": suite,
                    "target": target,
                    "seconds": time.perf_counter() - t0,
                    "verdict": verdict(m["exact_match_lo"], m["exact_match_hi"], target),
                    "digit_verdict": verdict(m["digit_acc_lo"], m["digit_acc_hi"], DIGIT_TARGET),
                    **m,
                }
            )
            log(f"  {name} {suite}: {m['exact_match']:.4f} ({rows[-1]['seconds']:.1f} s)")
    return rows


def paired(old: str, new: str, n: int, seed: int, n_boot: int, source: str = "bundled") -> list[str]:
    """Exact match of ``new`` minus ``old`` on the same strips of each suite, with a paired 95%
    interval over digits (seqrec.evaluation.paired_difference). "lower"/"higher" only when the
    interval excludes 0."""
    import numpy as np

    from seqrec import Recognizer, make_strips
    from seqrec.evaluation import difference_verdict, format_difference, paired_difference

    a, b = Recognizer.load(old), Recognizer.load(new)
    lines = [f"| suite | {old} | {new} | new - old [95% paired CI] | verdict |", "|---|---:|---:|---:|---|"]
    for suite, kw in SUITES.items():
        s = make_strips(n, seed=seed, split="test", source=source, **kw)
        truth = ["".join(map(str, d[d >= 0])) for d in s.digits]
        ea, eb = (np.array([p == t for p, t in zip(r.predict(s.images), truth)], np.float64) for r in (a, b))
        diff, lo, hi = paired_difference(eb, ea, s.digit_index, n_boot=n_boot, seed=seed)
        word = difference_verdict(lo, hi)
        lines.append(
            f"| {suite} | {100 * ea.mean():.1f}% | {100 * eb.mean():.1f}% | "
            f"{format_difference(diff, lo, hi)} | {word} |"
        )
    return lines


def table(rows: list[dict]) -> str:
    from seqrec.evaluation import format_interval

    lines = [
        "| model | suite | exact match [95% CI] | target | per-digit acc [95% CI] | CER | acc len 1..5 | test digits |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for r in rows:
        by_len = " / ".join(f"{r[f'acc_len{k}']:.3f}" for k in range(1, 6) if f"acc_len{k}" in r)
        target = "–" if r["target"] is None else f"{100 * r['target']:.1f}% ({r['verdict']})"
        em = format_interval(r["exact_match"], r["exact_match_lo"], r["exact_match_hi"])
        da = format_interval(r["digit_acc"], r["digit_acc_lo"], r["digit_acc_hi"], 2)
        lines.append(
            f"| {r['model']} | {r['suite']} | {em} | {target} | {da} ({r['digit_verdict']} vs "
            f"{100 * DIGIT_TARGET:.1f}%) | {r['cer']:.4f} | {by_len} | {int(r['n_digits'])} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000, help="strips per suite (default 5000)")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--models", default="ctc,multihead,multilabel", help="pretrained names and/or checkpoint paths")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    ap.add_argument("--source", default="bundled", help="digit source; its test split is used (default bundled)")
    ap.add_argument(
        "--paired", metavar="OLD,NEW", help="instead: NEW minus OLD exact match on the same strips, paired interval"
    )
    args = ap.parse_args(argv)

    if args.paired:
        pair = [m.strip() for m in args.paired.split(",")]
        if len(pair) != 2 or not all(pair):
            ap.error(f"--paired takes two models OLD,NEW, got {args.paired!r}")
        print(f"# paired comparison, {args.n} strips per suite, seed {args.seed}, source {args.source} (test split)")
        cmd = f"python benchmarks/bench_accuracy.py --paired {args.paired} --n {args.n} --seed {args.seed}"
        print(f"command: `{cmd}`\n")
        print("\n".join(paired(*pair, args.n, args.seed, args.boot, args.source)))
        return 0

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    t0 = time.perf_counter()
    rows = run(models, args.n, args.seed, args.boot, args.source, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(f"# held-out accuracy, {args.n} strips per suite, seed {args.seed}, source {args.source} (test split)")
    print(f"command: `python benchmarks/bench_accuracy.py --n {args.n} --seed {args.seed} --boot {args.boot}`  ")
    elapsed = time.perf_counter() - t0
    print(f"hardware: {machine()}; {elapsed:.0f} s\n")
    print(table(rows))
    print(
        f"\nIntervals: 95%, from a bootstrap over the {int(rows[0]['n_digits']) if rows else 0} distinct test digits "
        f"({args.boot} draws) whose spread matches the multiway cluster-robust variance "
        "(seqrec.evaluation.digit_bootstrap); strips reuse digits, so more strips barely narrow them."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
