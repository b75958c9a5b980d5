r"""Which head keeps more strips at 99.5% accuracy, paired on the same cross-validation strips.

    python docs/cv/ensemble_k5/coverage_pairs.py logs/cv/ctc_k5_ep50 logs/cv/multihead_k5_resnet_s24 \
        logs/cv/multilabel_k5_resnet

Each folder's folds read their test strips at the temperatures fitted on their own val digits
(``cv_folds.calibrated_readings``, as ``bench_cv.py --calibration``); for every pair of folders,
the coverage difference at 99.5% accuracy with a paired 95% interval over the test digits
(``seqrec.evaluation.coverage_difference``). Trains nothing; prints a markdown table.
"""

import sys
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from cv_folds import calibrated_readings, pooled_scores, saved_folds  # noqa: E402

from seqrec.evaluation import coverage_difference, format_difference  # noqa: E402


def main(dirs: list[Path]) -> None:
    quiet = lambda s: None  # noqa: E731
    read = {d.name: calibrated_readings([f for _, f in sorted(saved_folds(d).items())], d, log=quiet) for d in dirs}
    print("| suite | a | b | coverage a - b at 99.5% [95% paired CI] |\n|---|---|---|---:|")
    for suite in ("fixed", "variable"):
        scores = {name: pooled_scores(r, suite) for name, r in read.items()}
        for a, b in combinations(scores, 2):
            (ca, ra, index), (cb, rb, index_b) = scores[a], scores[b]
            if not np.array_equal(index, index_b):
                raise ValueError(f"{a} and {b} did not read the same strips")
            diff, lo, hi = coverage_difference((ca, ra), (cb, rb), index)
            print(f"| {suite} | {a} | {b} | {format_difference(diff, lo, hi)} |")


if __name__ == "__main__":
    main([Path(d) for d in sys.argv[1:]])
