"""The ensemble against its members on held-out test strips: accuracy, paired gain, calibration, speed.

    python benchmarks/bench_ensemble.py [--n 2000] [--members ctc,multihead,multilabel] [--seed 0]

Each member reads the strips of each suite of bench_accuracy.py (bundled test digits, which no
model saw) once; the ensemble's readings are the vote of those readings (``seqrec.ensemble.vote``,
what ``Ensemble.predict`` does). Per model and suite: exact match with a 95% interval over digits,
the ensemble minus the model on the same strips (paired interval), the expected calibration error
of the confidence and the coverage at 99.5% (share of strips confident enough to be right 99.5% of
the time). Then predict strips/s from uint8 (batch 256) of the first member and of the ensemble.
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
from bench_accuracy import SUITES  # noqa: E402


def readings_by_model(members, images) -> dict[str, list]:
    """Each member's Predictions of ``images``, and the ensemble's vote of them."""
    from seqrec.ensemble import vote

    out = {m.name: m.predict(images, return_confidence=True) for m in members}
    out["ensemble"] = [vote(column, len(members)) for column in zip(*out.values())]
    return out


def suite_rows(suite: str, strips, readings: dict[str, list], n_boot: int, seed: int) -> list[dict]:
    import numpy as np

    from seqrec.evaluation import (
        coverage_at_accuracy,
        coverage_interval,
        digit_bootstrap,
        expected_calibration_error,
        paired_difference,
    )

    truth = list(strips.labels)
    right = {k: np.array([p.text == t for p, t in zip(v, truth)], np.float64) for k, v in readings.items()}
    rows = []
    for name, preds in readings.items():
        conf = np.array([p.confidence for p in preds])
        lo, hi = digit_bootstrap(right[name], strips.digit_index, n_boot=n_boot, seed=seed)
        row = {"model": name, "suite": suite, "exact": right[name].mean(), "lo": lo, "hi": hi}
        if name != "ensemble":
            row["gain"] = paired_difference(right["ensemble"], right[name], strips.digit_index, n_boot, seed)
        row["ece"] = expected_calibration_error(conf, right[name])
        row["coverage"] = coverage_at_accuracy(conf, right[name])[0]
        row["coverage_ci"] = coverage_interval(conf, right[name], strips.digit_index, n_boot=n_boot, seed=seed)
        rows.append(row)
    return rows


def run(members: list[str], n: int, seed: int, n_boot: int, speed_n: int, log=print) -> tuple[list[dict], dict]:
    from seqrec import Ensemble, Recognizer, make_strips
    from seqrec.evaluation.measure import predict_rate

    recs = [Recognizer.load(m) for m in members]
    rows = []
    for suite, kw in SUITES.items():
        strips = make_strips(n, seed=seed, split="test", source="bundled", **kw)
        rows += suite_rows(suite, strips, readings_by_model(recs, strips.images), n_boot, seed)
        log(f"  {suite}: done")
    speed = {}
    if speed_n:
        images = make_strips(speed_n, seed=seed, split="test", source="bundled", **SUITES["fixed"]).images
        speed = {recs[0].name: predict_rate(recs[0], images), "ensemble": predict_rate(Ensemble(recs), images)}
    return rows, speed


def table(rows: list[dict]) -> str:
    from seqrec.evaluation import format_difference, format_interval

    lines = [
        "| suite | model | exact match [95% CI] | ensemble - model [95% paired CI] | ECE "
        "| coverage at 99.5% [95% CI] |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        gain = "–"
        if "gain" in r:
            gain = format_difference(*r["gain"])
        em = format_interval(r["exact"], r["lo"], r["hi"])
        coverage = format_interval(r["coverage"], *r["coverage_ci"])
        lines.append(f"| {r['suite']} | {r['model']} | {em} | {gain} | {r['ece']:.3f} | {coverage} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--members", default="ctc,multihead,multilabel", help="pretrained names and/or checkpoints")
    ap.add_argument("--n", type=int, default=2000, help="test strips per suite (default 2000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    ap.add_argument("--speed-n", type=int, default=2048, help="strips timed for predict strips/s; 0 skips")
    args = ap.parse_args(argv)
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    if len(members) < 2:
        print(f"bench_ensemble: an ensemble needs at least 2 members, got {members}", file=sys.stderr)
        return 2

    t0 = time.perf_counter()
    rows, speed = run(members, args.n, args.seed, args.boot, args.speed_n, log=lambda s: print(s, file=sys.stderr))
    print(f"# ensemble of {', '.join(members)} on held-out test strips, {args.n} per suite, seed {args.seed}")
    print(f"command: `python benchmarks/bench_ensemble.py --n {args.n} --members {','.join(members)}`  ")
    took = time.perf_counter() - t0
    print(f"hardware: {machine()}; {took:.0f} s\n")
    print(table(rows))
    if speed:
        print("\npredict() from uint8, batch 256, strips/s: " + ", ".join(f"{k} {v:,.0f}" for k, v in speed.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
