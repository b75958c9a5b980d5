"""Accuracy reached after a fixed wall-clock training budget, per head.

    python benchmarks/bench_budget.py --minutes 10 [--heads ctc,multihead,multilabel,split,segment] \
        [--out DIR] [KEY=VALUE ...]

Each head trains through train(cfg) (configs/train.yaml, data=variable on the bundled digits,
CSV logging) with ``trainer.max_time`` = the budget and no practical epoch limit; an epoch is
``--epoch-steps`` batches, so validation (and the best checkpoint) keeps up. The number of
steps is not known in advance, so the learning rate follows scheduler=plateau (halved when
val/loss stops improving) instead of the default one-cycle schedule. The best
checkpoint is then tested on the run's test strips (held-out test digits; ``data.n_test``).
Extra ``KEY=VALUE`` arguments are Hydra overrides for every head (e.g. ``trainer=gpu``).
The budget covers fitting (training and validation), not the final test. Heads run one after
another on the same machine; on a shared machine the load changes what a minute buys --
the table records the load average.
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import compose_run, doc_parser  # noqa: E402

HEADS = ("ctc", "multihead", "multilabel", "split", "segment")


def compose(overrides: list[str], out: Path):
    """configs/train.yaml with overrides, writing into ``out`` (as scripts/train.py would)."""
    return compose_run(overrides, out)


def max_time(seconds: float) -> str:
    """Lightning's "DD:HH:MM:SS" for a number of seconds (whole seconds, at least 1)."""
    s = max(1, int(round(seconds)))
    return f"{s // 86400:02d}:{s % 86400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def budget_run(head: str, seconds: float, out: Path, epoch_steps: int, extra: list[str]) -> dict:
    from omegaconf import open_dict

    from seqrec.evaluation.runs import read_metrics_csv, summarise_metrics
    from seqrec.train import train

    overrides = [
        f"model={head}",
        "data=variable",
        "data.source=bundled",
        "logger=csv",
        "seed=0",
        f"data.batches_per_epoch={epoch_steps}",
        "data.n_val=500",
        "data.n_test=2000",
        "data.num_workers=0",
        "scheduler=plateau",
        "trainer.max_epochs=100000",
        "trainer.log_every_n_steps=10",
        *extra,
    ]
    cfg = compose(overrides, out)
    with open_dict(cfg):
        cfg.trainer.max_time = max_time(seconds)
    t0 = time.perf_counter()
    metrics = train(cfg)
    wall = time.perf_counter() - t0
    rows = read_metrics_csv(next(out.glob("csv/version_*/metrics.csv")))
    _, _, curve, steps = summarise_metrics(rows)
    steps = int(steps) + 1 if math.isfinite(steps) else 0
    return {
        "head": head,
        "budget_s": seconds,
        "steps": steps,
        "strips": steps * int(cfg.data.batch_size),
        "best_val": max((v for _, v in curve), default=math.nan),
        "exact_match": metrics.get("test/exact_match", math.nan),
        "digit_acc": metrics.get("test/digit_acc", math.nan),
        "cer": metrics.get("test/cer", math.nan),
        "wall_s": wall,
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = doc_parser(__doc__)
    p.add_argument("--minutes", type=float, default=10.0, help="training budget per head (default 10)")
    p.add_argument(
        "--seconds", type=float, default=None, help="budget in seconds (overrides --minutes; for smoke tests)"
    )
    p.add_argument("--heads", default=",".join(HEADS), help=f"comma separated (default {','.join(HEADS)})")
    p.add_argument(
        "--epoch-steps", type=int, default=50, help="batches per epoch, i.e. between validations (default 50)"
    )
    p.add_argument(
        "--out",
        default="benchmarks/results/budget",
        help="run folders and bench_budget.md (default benchmarks/results/budget)",
    )
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides for every head")
    args = p.parse_args(argv)
    os.environ.setdefault("SEQREC_OFFLINE", "1")
    seconds = args.seconds if args.seconds is not None else 60.0 * args.minutes
    heads = [h.strip() for h in args.heads.split(",") if h.strip()]
    out = Path(args.out)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    results = []
    for head in heads:
        print(f"bench_budget: training {head} for {seconds:.0f} s", file=sys.stderr, flush=True)
        results.append(budget_run(head, seconds, out / stamp / head, args.epoch_steps, args.overrides))
    import torch

    from seqrec.evaluation.report import pct

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    command = "python " + shlex.join(["benchmarks/bench_budget.py", *argv])
    budget = f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
    lines = [
        f"**Command:** `{command}`  ",
        f"**Setup:** {budget} of fitting per head (trainer.max_time), data=variable (1-5 digits, gap -4..6 px, jitter, "
        f"random placement) from the bundled train digits, validation every {args.epoch_steps} steps; best checkpoint "
        f"tested on 2000 strips of held-out test digits. {os.cpu_count()} CPU cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.1f} at the end.",
        "",
        "| head | steps | strips seen | best val exact | test exact match | per-digit acc | CER |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['head']} | {r['steps']:,} | {r['strips']:,} | {pct(r['best_val'])} | {pct(r['exact_match'])} | "
            f"{pct(r['digit_acc'])} | {r['cer']:.3f} |"
        )
    md = "\n".join(lines) + "\n"
    (out / stamp).mkdir(parents=True, exist_ok=True)
    (out / stamp / "bench_budget.md").write_text(md)
    print(md)
    print(f"wrote {out / stamp / 'bench_budget.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
