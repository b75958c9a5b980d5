"""Write the raw logits of a cross-validation's fold checkpoints on their test strips (a one-off probe).

    python docs/cv/levers/multihead_ls0/posthoc/dump.py logs/cv/multihead_k5_resnet_s24 /tmp/probe/mhr

Writes PREFIX_f{k}_{suite}.npz (logits, labels, digit index) for the fixed and variable suites.
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, "benchmarks")
import cv_folds as cv  # noqa: E402

from seqrec.evaluation.intervals import recognizer_logits  # noqa: E402
from seqrec.recognizer import Recognizer  # noqa: E402


def main(out: Path, prefix: str) -> None:
    for k, fold in cv.saved_folds(out).items():
        rec = Recognizer.from_checkpoint(cv.fold_checkpoint(out, fold))
        for suite, strips in cv.fold_strips(fold, rec.image_size).items():
            if suite in ("fixed", "variable"):
                logits = recognizer_logits(rec, strips.images).numpy()
                index = np.array(fold["readings"][suite]["index"])
                labels = np.array(strips.labels)
                np.savez_compressed(f"{prefix}_f{k}_{suite}.npz", logits=logits, labels=labels, index=index)
                print(prefix, k, suite, logits.shape, flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main(Path(sys.argv[1]), sys.argv[2])
