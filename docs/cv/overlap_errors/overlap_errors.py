r"""Where 3-digit strips with ink overlapping by 4 px go wrong (issue 11's missed -4 px point).

    python docs/cv/overlap_errors/overlap_errors.py logs/cv/multilabel_k5_resnet logs/cv/multihead_k5_resnet_s24 \
        --grid docs/cv/overlap_errors/multilabel_fold0.png

Each fold's checkpoint of a ``bench_cv.py`` cross-validation reads 1,000 three-digit strips of its
own test digits at an ink gap of -4 px and the same digit sequences (same seed, same digits) at
+4 px, where only the spacing differs. Every error at -4 px is sorted: right at +4 px or not, and
a digit lost, a digit too many or a digit misread; misread pairs are counted (true->read), and
the lost digits.
``--grid PNG`` draws the first 24 errors of the first folder's fold 0. Trains nothing; prints one
JSON line per folder.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]
from cv_folds import fold_checkpoint, saved_folds  # noqa: E402

from seqrec.data.sources import load_digits  # noqa: E402
from seqrec.evaluation.strips import benchmark_strips  # noqa: E402
from seqrec.recognizer import Recognizer  # noqa: E402

N, SEED = 1000, 7700


def fold_readings(out: Path, fold: dict):
    """(strips at -4 px, readings at -4 px, readings at +4 px) of one fold's test digits."""
    rec = Recognizer.from_checkpoint(fold_checkpoint(out, fold))
    pool = load_digits("bundled", "test", folds=fold["folds"], fold=fold["fold"])
    strips = {g: benchmark_strips(N, pool=pool, seed=SEED + fold["fold"], gap=g, min_len=3, max_len=3) for g in (-4, 4)}
    if list(strips[-4].labels) != list(strips[4].labels) or (strips[-4].digit_index != strips[4].digit_index).any():
        raise ValueError("the -4 and +4 px strips do not hold the same digits")
    return strips[-4], rec.predict(strips[-4].images), rec.predict(strips[4].images)


def sort_errors(cv_dir: Path) -> dict:
    counts, misreads, lost = Counter(), Counter(), Counter()
    for _, fold in sorted(saved_folds(cv_dir).items()):
        strips, tight, wide = fold_readings(cv_dir, fold)
        counts["strips"] += len(strips.labels)
        for p, q, t in zip(tight, wide, strips.labels):
            if p == t:
                continue
            counts["wrong at -4 px"] += 1
            counts["of them right at +4 px" if q == t else "of them wrong at +4 px too"] += 1
            counts["lost a digit" if len(p) < len(t) else "a digit too many" if len(p) > len(t) else "misread"] += 1
            misreads.update(f"{a}->{b}" for a, b in zip(t, p) if a != b and len(p) == len(t))
            lost.update({t[i] for i in range(len(t)) if t[:i] + t[i + 1 :] == p})  # which digit went missing
    return {"cv": str(cv_dir), **counts, "top_misreads": misreads.most_common(8), "lost_digits": lost.most_common()}


def draw_grid(cv_dir: Path, path: Path, n: int = 24) -> None:
    import cv2
    import numpy as np

    strips, tight, _ = fold_readings(cv_dir, saved_folds(cv_dir)[0])
    tiles = []
    for i in [i for i, (p, t) in enumerate(zip(tight, strips.labels)) if p != t][:n]:
        im = cv2.resize(np.asarray(strips.images[i]), None, fx=3, fy=3, interpolation=cv2.INTER_NEAREST)
        im = cv2.copyMakeBorder(im, 0, 30, 0, 0, cv2.BORDER_CONSTANT, value=0)
        caption = f"{strips.labels[i]} -> {tight[i]}"
        cv2.putText(im, caption, (5, im.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
        tiles.append(im)
    rows = [np.hstack(tiles[j : j + 3]) for j in range(0, len(tiles) - len(tiles) % 3, 3)]
    cv2.imwrite(str(path), np.vstack(rows))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cv", nargs="+", type=Path, help="bench_cv.py cross-validation folders")
    ap.add_argument("--grid", type=Path, default=None, help="draw the first errors of the first folder's fold 0")
    args = ap.parse_args()
    for d in args.cv:
        print(json.dumps(sort_errors(d)), flush=True)
    if args.grid:
        draw_grid(args.cv[0], args.grid)
