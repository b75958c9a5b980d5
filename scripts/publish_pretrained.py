"""Copy a run's best checkpoint into the package as a slim pretrained model.

python scripts/publish_pretrained.py logs/pretrained_ctc/runs/<time> ctc
"""

import argparse
from pathlib import Path

from seqrec.checkpoint import best_checkpoint, load_system, save_slim
from seqrec.spec import PRETRAINED, pretrained_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run directory or a checkpoint file")
    ap.add_argument("name", choices=list(PRETRAINED))
    args = ap.parse_args()
    src = best_checkpoint(args.run)
    if src is None:
        raise SystemExit(f"no checkpoint under {args.run} (looked in {args.run / 'checkpoints'} and {args.run})")
    out = save_slim(load_system(src), pretrained_path(args.name, must_exist=False))
    print(f"{src} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
