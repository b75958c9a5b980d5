"""Calibration of a cross-validation's fold checkpoints at given temperatures (a one-off probe).

    python docs/cv/levers/multihead_resnet/cv_coverage.py logs/cv/multihead_k5_resnet_s24 1.0,0.655

Reads each fold's fixed and variable test strips (rebuilt as bench_cv.py made them) and prints,
pooled over the folds, exact match, ECE and the coverage at 99.5% accuracy at each temperature.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "benchmarks")
import cv_folds as cv  # noqa: E402

from seqrec.evaluation.intervals import coverage_at_accuracy, expected_calibration_error  # noqa: E402
from seqrec.recognizer import Recognizer  # noqa: E402


def main(out: Path, temperatures: list[float]) -> None:
    read: dict = {}
    for fold in cv.saved_folds(out).values():  # by fold number
        rec = Recognizer.from_checkpoint(cv.fold_checkpoint(out, fold))
        for suite, strips in cv.fold_strips(fold, rec.image_size).items():
            if suite not in ("fixed", "variable"):
                continue
            for t in temperatures:
                rec.codec.temperature = t
                preds = rec.predict(strips.images, return_confidence=True)
                conf, right = read.setdefault((suite, t), ([], []))
                conf += [p.confidence for p in preds]
                right += [p.text == label for p, label in zip(preds, strips.labels)]
    for (suite, t), (conf, right) in sorted(read.items()):
        c, r = np.array(conf), np.array(right, np.float64)
        kept, threshold = coverage_at_accuracy(c, r)
        ece = expected_calibration_error(c, r)
        kept_text = f"coverage at 99.5% {kept:.3f} (threshold {threshold:.3f})"
        print(f"{out} {suite} T={t}: exact {r.mean():.4f}, ECE {ece:.4f}, {kept_text}, {len(r)} strips")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(Path(sys.argv[1]), [float(x) for x in sys.argv[2].split(",")])
