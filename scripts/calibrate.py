"""Fit a checkpoint's confidence temperature on validation strips and store it in the checkpoint.

    python scripts/calibrate.py CKPT [CKPT ...] [--source bundled] [--n 2000] [--seed 0] [--dry-run]
    python scripts/calibrate.py FINAL_CKPT --fit-on FOLD_CKPT [FOLD_CKPT ...]

The temperature T minimises the negative log-likelihood of the true labels of ``--n`` strips built
from the ``--source`` validation digits (never test digits), composed like the checkpoint's own
training data. Only the codec's temperature changes: the checkpoint is rewritten atomically with
every weight unchanged, and the decoded text never depends on T (confidences do).

A final fit on train + val (``data.train_on_val=true``) has no validation digits of its own, so it
is refused; ``--fit-on`` fits its temperature on the cross-validation folds of its recipe
(``benchmarks/bench_cv.py`` checkpoints), each reading ``--n`` strips of its own fold's val digits,
less the final fit's test digits.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help=".ckpt files written by scripts/train.py or save_slim")
    p.add_argument("--source", default="bundled", help="digit source whose validation split is used (default bundled)")
    p.add_argument("--split", default="val", choices=("val", "train"), help="digit split (default val; never test)")
    p.add_argument("--n", type=int, default=2000, help="validation strips (default 2000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fit-on", nargs="+", metavar="FOLD_CKPT", help="fit on these CV folds' val digits instead")
    p.add_argument("--dry-run", action="store_true", help="fit and print, but do not rewrite the checkpoint")
    args = p.parse_args(argv)
    from seqrec.checkpoint import CheckpointError
    from seqrec.evaluation import calibrate_checkpoint

    status = 0
    for path in args.checkpoints:
        try:
            report = calibrate_checkpoint(
                path,
                source=args.source,
                split=args.split,
                n=args.n,
                seed=args.seed,
                write=not args.dry_run,
                fit_on=args.fit_on,
            )
        except (FileNotFoundError, CheckpointError, ValueError) as err:
            print(f"calibrate: {path}: {err}", file=sys.stderr)
            status = 2
            continue
        print(json.dumps({"checkpoint": str(path), "written": not args.dry_run, **report}))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
