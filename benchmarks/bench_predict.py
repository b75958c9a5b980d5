"""Recognizer throughput on the CPU: python benchmarks/bench_predict.py [--n 4096] [--repeats 5]

For each pretrained model (seqrec/pretrained/<name>.ckpt; missing ones are skipped with a
message) and each ``--checkpoint PATH``, at batch 256, in strips/s:

* ``tensor``: ``rec.logits(x)`` + ``rec.decode`` on an already preprocessed (N, 1, 28, 140) batch;
* ``predict``: the full ``rec.predict(images)`` from a (N, 28, 140) uint8 numpy array
  (polarity check, ink check, float conversion, model, decoding).

Backends: ``torch`` (frozen TorchScript copy, the default of Recognizer.from_checkpoint),
``torch-eager`` (``optimize=False``) and ``onnxruntime`` (exported with seqrec.export; skipped
when onnx/onnxruntime are not installed). Prints a markdown table with the hardware and the
command. Target: >= 2,000 strips/s for ctc on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET = 2_000
REPO = Path(__file__).resolve().parents[1]


sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import cpu_model  # noqa: E402


def rate(fn, n: int, repeats: int) -> float:
    """Best of ``repeats`` timed runs (after one warm-up), in strips/s: the least disturbed run
    on a shared machine."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def models(args) -> list[tuple[str, str]]:
    from seqrec.recognizer import PRETRAINED

    found = []
    for name in PRETRAINED:
        path = REPO / "seqrec" / "pretrained" / f"{name}.ckpt"
        if path.is_file():
            found.append((name, str(path)))
        else:
            print(f"skipping pretrained {name!r}: {path.relative_to(REPO)} is not there", file=sys.stderr)
    for path in args.checkpoint:
        found.append((Path(path).name, path))
    return found


def bench_one(label: str, rec, images: np.ndarray, batch: int, repeats: int) -> dict:
    x = rec.preprocess(images)
    n = len(images)

    def tensor_path():
        for i in range(0, n, batch):
            rec.decode(rec.logits(x[i : i + batch]))

    return {
        "model": label,
        "head": rec.head,
        "backend": rec.backend if rec.backend != "torch" else ("torch" if rec.optimize else "torch-eager"),
        "tensor": rate(tensor_path, n, repeats),
        "predict": rate(lambda: rec.predict(images, batch_size=batch), n, repeats),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2048, help="strips per timed run (default 2048)")
    p.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported (default 3)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="PATH", help="also benchmark this checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    p.add_argument("--no-eager", action="store_true", help="skip the eager (optimize=False) PyTorch run")
    args = p.parse_args(argv)

    import torch

    from seqrec.data.strips import make_strips
    from seqrec.recognizer import Recognizer

    if args.threads:
        torch.set_num_threads(args.threads)
    todo = models(args)
    if not todo:
        print("nothing to benchmark: no pretrained weights yet; pass --checkpoint PATH", file=sys.stderr)
        return 1
    images = make_strips(args.n, seed=0, split="test", source="bundled").images
    try:
        import onnxruntime as ort

        from seqrec.export import export
    except ImportError:
        ort = None
        print('skipping onnxruntime: not installed (pip install "seqrec[onnx]")', file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in todo:
            rec = Recognizer.from_checkpoint(path)
            recs = [rec] + ([] if args.no_eager else [Recognizer.from_checkpoint(path, optimize=False)])
            if ort is not None and not args.no_onnx:
                recs.append(Recognizer.from_checkpoint(export(rec, Path(tmp) / f"{label}.onnx")))
            for r in recs:
                rows.append(bench_one(label, r, images, args.batch, args.repeats))
                print(f"  {rows[-1]['model']:<12} {rows[-1]['head']:<10} {rows[-1]['backend']:<12} tensor {rows[-1]['tensor']:8.0f}/s  "
                      f"predict {rows[-1]['predict']:8.0f}/s", file=sys.stderr, flush=True)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = f"torch {torch.__version__}" + (f", onnxruntime {ort.__version__}" if ort is not None else "")
    print(f"\n**Hardware:** {cpu_model()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, "
          f"load average {load:.1f} at the end; {versions}, Python {platform.python_version()}")
    print(f"**Command:** `python {shlex.join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])])}`")
    print(f"**Setup:** {args.n} strips 28x140 uint8 (make_strips, bundled test digits), batch {args.batch}, "
          f"best of {args.repeats} runs; target >= {TARGET:,} strips/s for ctc.\n")
    print("| model | head | backend | tensor path (strips/s) | predict() from uint8 (strips/s) |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['head']} | {r['backend']} | {r['tensor']:,.0f} | {r['predict']:,.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
