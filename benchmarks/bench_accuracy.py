"""Accuracy of the bundled pretrained models on strips built only from held-out test digits.

    python benchmarks/bench_accuracy.py [--n 5000] [--models ctc,multihead,multilabel]

Two suites (issue targets in brackets): fixed 5-digit 28x140 strips [ctc >= 96%, others >= 95%]
and variable strips, 1-5 digits, gaps -4..+6 px, +-2 px vertical jitter, random placement
[ctc >= 94%, others >= 90%]. The test digits are the bundled source's test split, which no
pretrained model saw in training or model selection.
"""
from __future__ import annotations

import argparse
import platform
import time

from seqrec import Recognizer, make_strips
from seqrec.metrics import SequenceMetrics

SUITES = {
    "fixed": dict(min_len=5, max_len=5, gap=(0, 0)),
    "variable": dict(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random"),
}
TARGETS = {("fixed", "ctc"): 0.96, ("fixed", "multihead"): 0.95, ("fixed", "multilabel"): 0.95,
           ("variable", "ctc"): 0.94, ("variable", "multihead"): 0.90, ("variable", "multilabel"): 0.90}


def evaluate(rec: Recognizer, strips) -> dict[str, float]:
    metrics = SequenceMetrics(5)
    metrics.update(rec.predict(strips.images, batch_size=512), strips.labels)
    return {k: float(v) for k, v in metrics.compute().items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--models", default="ctc,multihead,multilabel")
    args = ap.parse_args()
    strips = {name: make_strips(args.n, seed=args.seed, split="test", source="bundled", **kw) for name, kw in SUITES.items()}
    print(f"# held-out accuracy, {args.n} strips per suite, seed {args.seed}; {platform.machine()} CPU")
    print(f"command: python benchmarks/bench_accuracy.py --n {args.n} --seed {args.seed}\n")
    print("| model | suite | exact match | target | per-digit acc | CER | acc len 1..5 |")
    print("|---|---|---:|---:|---:|---:|---|")
    for name in args.models.split(","):
        rec = Recognizer.pretrained(name)
        for suite, s in strips.items():
            t = time.perf_counter()
            m = evaluate(rec, s)
            by_len = " / ".join(f"{m[f'acc_len{k}']:.3f}" for k in range(1, 6) if f"acc_len{k}" in m)
            target = TARGETS[(suite, name)]
            verdict = "met" if m["exact_match"] >= target else "MISSED"
            print(f"| {name} | {suite} | {m['exact_match']:.4f} | {target:.2f} ({verdict}) | {m['digit_acc']:.4f} | "
                  f"{m['cer']:.4f} | {by_len} |", flush=True)


if __name__ == "__main__":
    main()
