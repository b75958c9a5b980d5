"""Strip generation throughput on ONE core: python benchmarks/bench_strips.py [--n 4000] [--repeats 7]

Cases: (a) fixed 5 digits, 28x140; (b) 1-5 digits, gap (-4, 6), jitter 2, random placement;
(c) (b) plus the training defaults: per-digit DigitWarp(1.0) and default_augment(). Prints a markdown table
(median strips/s over the repeats).
Targets: (b) >= 50,000 strips/s, (c) >= 5,000 strips/s.
"""

from __future__ import annotations

import os

for _var in (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
):
    os.environ[_var] = "1"  # before numpy is imported

import argparse  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

TARGETS = {"b": 50_000, "c": 5_000}


sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import cpu_model  # noqa: E402


def pin_one_core() -> str:
    """Single-threaded libraries, and the process pinned to one CPU where the OS allows it."""
    import cv2

    cv2.setNumThreads(1)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned"


def run_case(make_batch, n: int, repeats: int) -> float:
    make_batch(min(n, 256), 10**6)  # warm-up: caches, lazy imports
    rates = []
    for r in range(repeats):
        t0 = time.perf_counter()
        make_batch(n, r)
        rates.append(n / (time.perf_counter() - t0))
    return float(np.median(rates))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="strips per repeat (default 4000)")
    parser.add_argument("--repeats", type=int, default=7, help="repeats per case; the median is reported (default 7)")
    parser.add_argument("--n-augment", type=int, default=2000, help="strips per repeat for case (c) (default 2000)")
    args = parser.parse_args(argv)

    pinned = pin_one_core()
    from seqrec.data.augment import DigitWarp, apply_augment, default_augment
    from seqrec.data.sources import load_digits
    from seqrec.data.strips import StripComposer, StripConfig

    pool = load_digits("bundled", "train")
    fixed = StripComposer(pool, StripConfig(min_len=5, max_len=5, height=28, width=140))
    varied = StripComposer(pool, StripConfig(min_len=1, max_len=5, gap=(-4, 6), jitter=2, placement="random"))
    warped = StripComposer(pool, varied.config, digit_transform=DigitWarp(1.0))
    augment = default_augment()

    def augmented(n, seed):
        strips = warped(n, seed=seed)
        return apply_augment(augment, strips.images, [seed, 1])

    cases = [
        ("a", "fixed 5 digits, 28x140", lambda n, s: fixed(n, seed=s), args.n),
        ("b", "1-5 digits, gap (-4,6), jitter 2, random placement", lambda n, s: varied(n, seed=s), args.n),
        ("c", "(b) + per-digit warp + default_augment()", augmented, args.n_augment),
    ]
    rows, missed = [], []
    for key, what, fn, n in cases:
        rate = run_case(fn, n, args.repeats)
        target = TARGETS.get(key)
        verdict = "-" if target is None else (f">= {target:,}: ok" if rate >= target else f">= {target:,}: MISSED")
        if target is not None and rate < target:
            missed.append(key)
        rows.append(f"| ({key}) {what} | {n:,} x {args.repeats} | {rate:,.0f} | {verdict} |")

    command = "python " + " ".join(
        shlex.quote(a) for a in [os.path.relpath(__file__)] + (sys.argv[1:] if argv is None else list(argv))
    )
    print(f"Strip generation, one core ({pinned}; OMP/MKL/OPENBLAS threads = 1, cv2 threads = 1)\n")
    print(
        f"- hardware: {cpu_model()}, {os.cpu_count()} logical CPUs; "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    print(f"- command: `{command}`\n")
    print("| case | strips x repeats | strips/s (median) | target |")
    print("|---|---:|---:|---|")
    print("\n".join(rows))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
