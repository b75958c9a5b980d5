"""Copy a run's best checkpoint into the package as a slim pretrained model.

    python scripts/publish_pretrained.py logs/pretrained_ctc/runs/<time> ctc
"""
import argparse
from pathlib import Path

from seqrec.checkpoint import load_system, save_slim

PRETRAINED = Path(__file__).resolve().parents[1] / "seqrec" / "pretrained"


def best_checkpoint(run: Path) -> Path:
    if run.is_file():
        return run
    ckpts = sorted(p for p in (run / "checkpoints").glob("epoch_*.ckpt"))
    if not ckpts:
        raise SystemExit(f"no checkpoints/epoch_*.ckpt under {run}")
    return ckpts[-1]  # ModelCheckpoint keeps only the best (save_top_k=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run directory or a checkpoint file")
    ap.add_argument("name", choices=["ctc", "multihead", "multilabel"])
    args = ap.parse_args()
    src = best_checkpoint(args.run)
    out = save_slim(load_system(src), PRETRAINED / f"{args.name}.ckpt")
    print(f"{src} -> {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
