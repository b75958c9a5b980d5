"""Recognizer throughput: python benchmarks/bench_predict.py [--n 4096] [--repeats 5] [--device cuda]

For each pretrained model (seqrec/pretrained/<name>.ckpt; missing ones are skipped with a
message) and each ``--checkpoint PATH``, at batch 256, in strips/s:

* ``tensor``: ``rec.logits(x)`` + ``rec.decode`` on an already preprocessed (N, 1, 28, 140) batch;
* ``predict``: the full ``rec.predict(images)`` from a (N, 28, 140) uint8 numpy array
  (polarity check, ink check, float conversion, model, decoding).

Also the preprocessing time of one 1-megapixel photo (1155x866, a number on grey, noisy,
unevenly lit paper) through ``seqrec.imaging.prepare``, in ms: from the decoded pixels, and
from JPEG bytes (``load_image`` + ``prepare``). Target: < 20 ms.

Backends: ``torch`` (frozen TorchScript copy, the default of Recognizer.from_checkpoint),
``torch-eager`` (``optimize=False``) and ``onnxruntime`` (exported with seqrec.export; skipped
when onnx/onnxruntime are not installed). Prints a markdown table with the hardware and the
command. Target: >= 2,000 strips/s for ctc on 2 cores. ``--device cuda`` times the models on a GPU
(the preprocessing stays on the CPU; onnxruntime runs there only with its CUDA provider).

On the CPU the table also says how close each backend runs to the machine: the net's floating-point
operations per strip (torch's flop counter, 2 per multiply-add), the GFLOP/s its tensor path
reaches, and that as a share of a large fp32 matrix multiply on the same threads (the "roof",
about the most these cores compute). A throughput target above the roof needs a smaller net or
lower precision, not a faster runtime.
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
PHOTO_TARGET_MS = 20
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
    from seqrec.spec import PRETRAINED

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
            rec.decode(rec.logits(x[i : i + batch]))  # decoding reads the logits back: the GPU has finished

    return {
        "model": label,
        "head": rec.head,
        "backend": rec.backend if rec.backend != "torch" else ("torch" if rec.optimize else "torch-eager"),
        "tensor": rate(tensor_path, n, repeats),
        "predict": rate(lambda: rec.predict(images, batch_size=batch), n, repeats),
    }


def flops_per_strip(rec) -> float | None:
    """Floating-point operations of ``rec``'s net (a Recognizer loaded with ``optimize=False``) on one
    strip of its input size (torch's flop counter, 2 per multiply-add), or None when it is not a
    PyTorch net (an ONNX or TorchScript file)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if not isinstance(rec.model, torch.nn.Module) or isinstance(rec.model, torch.jit.ScriptModule):
        return None
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        rec.model.eval()(torch.zeros(1, 1, *rec.image_size))
    return float(counter.get_total_flops()) or None


def matmul_roof(size: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a ``size`` x ``size`` fp32 matrix multiply with torch's threads, best of ``repeats``."""
    import torch

    a, b = torch.rand(size, size), torch.rand(size, size)
    return 2 * size**3 * rate(lambda: a @ b, 1, repeats) / 1e9


def photo_1mp(seed: int = 0) -> np.ndarray:
    """A 1155x866 photo of a handwritten-looking number: grey paper, dark ink, noise, blur, a gradient."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = 866, 1155
    ink = np.zeros((h, w), np.uint8)
    cv2.putText(ink, "40719", (300, 520), cv2.FONT_HERSHEY_SIMPLEX, 5.0, 255, 14, cv2.LINE_AA)
    ink = cv2.GaussianBlur(ink.astype(np.float32) / 255, (0, 0), 1.0)
    paper = 200 + np.linspace(-30, 30, w, dtype=np.float32)[None, :]
    img = paper * (1 - ink) + 60 * ink + rng.normal(0, 12, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_ms(repeats: int) -> tuple[float, float]:
    """Best-of-``repeats`` ms to preprocess the 1 MP photo: (from pixels, from JPEG bytes)."""
    import io

    from PIL import Image

    from seqrec import imaging

    photo = photo_1mp()
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(max(repeats, 5)):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return 1000 * min(times)

    return best(lambda: imaging.prepare(photo)), best(lambda: imaging.prepare(*imaging.load_image(data)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=2048, help="strips per timed run (default 2048)")
    p.add_argument("--batch", type=int, default=256, help="batch size (default 256)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs; the best is reported (default 3)")
    p.add_argument("--checkpoint", action="append", default=[], metavar="PATH", help="also benchmark this checkpoint")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--no-onnx", action="store_true", help="skip onnxruntime")
    p.add_argument("--no-eager", action="store_true", help="skip the eager (optimize=False) PyTorch run")
    p.add_argument("--device", default="cpu", help="where the models run: cpu (default) or cuda[:N]")
    args = p.parse_args(argv)

    import torch

    from seqrec.data.strips import make_strips
    from seqrec.recognizer import Recognizer

    if args.threads:
        torch.set_num_threads(args.threads)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {args.device}: torch sees no CUDA GPU here")
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
            rec = Recognizer.from_checkpoint(path, device=args.device)
            eager = Recognizer.from_checkpoint(path, device=args.device, optimize=False)  # timed, and its work counted
            recs = [rec, *([] if args.no_eager else [eager])]
            if ort is not None and not args.no_onnx:
                try:
                    onnx_path = export(rec, Path(tmp) / f"{label}.onnx")
                    recs.append(Recognizer.from_checkpoint(onnx_path, device=args.device))
                except ValueError as err:  # e.g. --device cuda with the CPU-only onnxruntime
                    print(f"skipping onnxruntime: {err}", file=sys.stderr)
            flops = flops_per_strip(eager) if torch.device(args.device).type == "cpu" else None
            for r in recs:
                rows.append(bench_one(label, r, images, args.batch, args.repeats) | {"flops": flops})
                r = rows[-1]
                print(
                    f"  {r['model']:<12} {r['head']:<10} {r['backend']:<12} tensor {r['tensor']:8.0f}/s  "
                    f"predict {r['predict']:8.0f}/s",
                    file=sys.stderr,
                    flush=True,
                )

    roof = matmul_roof() if torch.device(args.device).type == "cpu" else None
    pixels_ms, jpeg_ms = photo_ms(args.repeats)
    print(f"  1 MP photo: {pixels_ms:.1f} ms from pixels, {jpeg_ms:.1f} ms from JPEG bytes", file=sys.stderr)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = f"torch {torch.__version__}" + (f", onnxruntime {ort.__version__}" if ort is not None else "")
    gpu = f"{torch.cuda.get_device_name(args.device)} (models), " if torch.device(args.device).type == "cuda" else ""
    print(
        f"\n**Hardware:** {gpu}{cpu_model()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}, "
        f"load average {load:.1f} at the end; {versions}, Python {platform.python_version()}"
    )
    command = shlex.join([Path(sys.argv[0]).as_posix(), *(argv if argv is not None else sys.argv[1:])])
    print(f"**Command:** `python {command}`")
    print(
        f"**Setup:** {args.n} strips 28x140 uint8 (make_strips, bundled test digits), batch {args.batch}, "
        f"best of {args.repeats} runs; target >= {TARGET:,} strips/s for ctc.\n"
    )
    print(
        "| model | head | backend | tensor path (strips/s) | predict() from uint8 (strips/s) "
        "| MFLOP per strip | tensor path GFLOP/s (of roof) |"
    )
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        work = "n/a | n/a"
        if r["flops"] and roof:
            achieved = r["flops"] * r["tensor"] / 1e9
            work = f"{r['flops'] / 1e6:.1f} | {achieved:.0f} ({100 * achieved / roof:.0f}%)"
        print(f"| {r['model']} | {r['head']} | {r['backend']} | {r['tensor']:,.0f} | {r['predict']:,.0f} | {work} |")
    if roof:
        ceilings = dict.fromkeys((r["model"], r["flops"]) for r in rows if r["flops"])
        print(
            f"\nRoof: a 1024x1024 fp32 matrix multiply runs at {roof:.0f} GFLOP/s on these "
            f"{torch.get_num_threads()} torch threads. A backend running at the roof would read "
            + ", ".join(f"{label} {roof * 1e9 / flops:,.0f} strips/s" for label, flops in ceilings)
            + " (tensor path, fp32)."
        )
    print(
        f"\n**1-megapixel photo** (1155x866, seqrec.imaging.prepare, best of {max(args.repeats, 5)}): "
        f"{pixels_ms:.1f} ms from decoded pixels, {jpeg_ms:.1f} ms from JPEG bytes (decode included); "
        f"target < {PHOTO_TARGET_MS} ms."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
