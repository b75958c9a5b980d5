"""K-fold cross-validated accuracy over the 5,000 bundled digits: every digit is test data once.

    python benchmarks/bench_cv.py --model ctc [--folds 5] [--epochs E] [--n 2000] [--out logs/cv/ctc]
    python benchmarks/bench_cv.py --model multihead --folds 2 --tiny      # seconds: a smoke test

For fold k of K, ``train(cfg)`` runs the published recipe (``experiment=pretrained_<model>``) with
``data.source=bundled data.folds=K data.fold=k``: test digits are fold k of a stratified K-fold
over all 5,000 digits, val a 10% slice of the other folds (model selection only), train the
rest. Each fold's best checkpoint (by val exact match) then reads ``--n`` strips per suite built
from that fold's test digits only (suites of bench_accuracy.py: fixed 5-digit, variable 1-5).
The strips of all folds are pooled into one exact match and per-digit accuracy per suite, with a
95% interval from a bootstrap over all the pooled test digits (``seqrec.evaluation``): with
5,000 test digits instead of 500, the interval is about three times narrower than the fixed split's.

Cost: training dominates. On 2 CPU cores one fold of the published recipe takes about as long
as training the published model, about 1 hour per fold per head (ctc 25 epochs, multihead 18),
so 5 folds x 3 heads is about 15 hours; ``--folds 3`` or fewer ``--epochs`` trade precision for
time, and a GPU (``--override trainer=gpu``) makes it minutes. Extra Hydra overrides go in
``--override`` (repeatable). Writes one run folder per fold under ``--out`` and cv.md/cv.json.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import compose_run, cpu_model, doc_parser  # noqa: E402
from bench_accuracy import SUITES  # noqa: E402

MODELS = ("ctc", "multihead", "multilabel", "attention")
TINY = [
    "logger=none",
    "data.num_workers=0",
    "data.batch_size=16",
    "data.batches_per_epoch=2",
    "data.n_val=32",
    "data.n_test=32",
    "trainer.max_epochs=1",
    "+trainer.enable_model_summary=false",
    "~callbacks.progress_bar",
]


def compose_fold(
    model: str,
    folds: int,
    fold: int,
    out: Path,
    epochs: int | None = None,
    tiny: bool = False,
    overrides: list[str] | None = None,
):
    """The train config of one fold, composed with Hydra's compose API and writing into ``out``."""
    experiment = REPO / "configs" / "experiment" / f"pretrained_{model}.yaml"
    base = [f"experiment=pretrained_{model}"] if experiment.is_file() else [f"model={model}", "data=variable"]
    items = [
        *base,
        "data.source=bundled",
        f"data.folds={folds}",
        f"data.fold={fold}",
        *(TINY if tiny else []),
        *([f"trainer.max_epochs={epochs}"] if epochs else []),
        *(overrides or []),
    ]
    cfg = compose_run(items, out, job=fold)
    return cfg, items


def best_checkpoint(run_dir: Path) -> Path:
    """The fold's best checkpoint (the one ``train`` tested: seqrec.checkpoint.best_checkpoint)."""
    from seqrec import checkpoint

    best = checkpoint.best_checkpoint(run_dir / "checkpoints") if (run_dir / "checkpoints").is_dir() else None
    if best is None:
        raise FileNotFoundError(f"fold run {run_dir} wrote no checkpoint")
    return best


def run_cv(
    model: str,
    folds: int = 5,
    n: int = 2000,
    epochs: int | None = None,
    tiny: bool = False,
    out: Path | str = "logs/cv",
    overrides: list[str] | None = None,
    n_boot: int = 1000,
    log=print,
) -> dict:
    """Train and test every fold; returns per-fold results and the pooled accuracy per suite."""
    import numpy as np

    from seqrec.data.strips import make_strips
    from seqrec.evaluation import strip_accuracy
    from seqrec.recognizer import Recognizer
    from seqrec.train import build, train

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    if isinstance(folds, bool) or int(folds) != folds or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    out = Path(out)
    pooled = {s: {"preds": [], "labels": [], "index": []} for s in SUITES}
    results = {"model": model, "folds": folds, "n": n, "tiny": tiny, "fold_results": [], "pooled": {}}
    for k in range(folds):
        t0 = time.perf_counter()
        run_dir = out / f"fold_{k}"
        cfg, items = compose_fold(model, folds, k, run_dir, epochs, tiny, overrides)
        metrics = train(cfg)
        rec = Recognizer.from_checkpoint(best_checkpoint(run_dir))
        datamodule = build(cfg.data)
        pool = datamodule.pool("test")  # fold k's digits only
        fold = {
            "fold": k,
            "overrides": items,
            "checkpoint": str(best_checkpoint(run_dir)),
            "test_ids": sorted(int(i) for i in pool.ids),
            "train_test_exact_match": metrics.get("test/exact_match"),
        }
        for suite, kw in SUITES.items():
            strips = make_strips(n, seed=[2026, k], pool=pool, width=rec.image_size[1], height=rec.image_size[0], **kw)
            preds = rec.predict(strips.images)
            pooled[suite]["preds"] += preds
            pooled[suite]["labels"] += list(strips.labels)
            pooled[suite]["index"].append(strips.digit_index)
            fold[suite] = float(np.mean([p == t for p, t in zip(preds, strips.labels)]))
        fold["seconds"] = time.perf_counter() - t0
        results["fold_results"].append(fold)
        log(f"  fold {k}/{folds}: " + ", ".join(f"{s} {fold[s]:.4f}" for s in SUITES) + f" ({fold['seconds']:.0f} s)")
    for suite, p in pooled.items():
        index = np.concatenate(p["index"])
        results["pooled"][suite] = strip_accuracy(p["preds"], p["labels"], index, n_boot=n_boot)
    return results


def report(results: dict, command: str, elapsed: float) -> str:
    import torch

    from seqrec.evaluation import format_interval

    lines = [
        f"# {results['folds']}-fold cross-validation of {results['model']}"
        + (" (tiny smoke run, not a result)" if results["tiny"] else ""),
        "",
        f"command: `{command}`  ",
        f"hardware: {cpu_model()}, {os.cpu_count()} cores, torch {torch.__version__}; {elapsed / 60:.1f} min",
        "",
        "| suite | exact match [95% CI] | per-digit acc [95% CI] | strips | test digits |",
        "|---|---:|---:|---:|---:|",
    ]
    for suite, m in results["pooled"].items():
        lines.append(
            f"| {suite} | {format_interval(m['exact_match'], m['exact_match_lo'], m['exact_match_hi'])} | "
            f"{format_interval(m['digit_acc'], m['digit_acc_lo'], m['digit_acc_hi'], 2)} | "
            f"{len(results['fold_results']) * results.get('n', 0) or '–'} | {int(m['n_digits'])} |"
        )
    lines += [
        "",
        "Per fold (exact match): "
        + "; ".join(
            f"fold {f['fold']}: " + ", ".join(f"{s} {100 * f[s]:.1f}%" for s in SUITES) for f in results["fold_results"]
        ),
        "",
        "Intervals: 95% bootstrap over the pooled test digits (every digit is in exactly one fold's test set).",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = doc_parser(__doc__)
    ap.add_argument("--model", default="ctc", choices=MODELS)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=None, help="trainer.max_epochs (default: the recipe's)")
    ap.add_argument("--n", type=int, default=2000, help="test strips per fold and suite (default 2000)")
    ap.add_argument("--tiny", action="store_true", help="seconds-long folds (a smoke test; the numbers mean nothing)")
    ap.add_argument("--override", action="append", default=[], help="extra Hydra override, e.g. trainer=gpu")
    ap.add_argument("--out", default=None, help="output folder (default logs/cv/<model>)")
    ap.add_argument("--boot", type=int, default=1000, help="bootstrap draws (default 1000)")
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQREC_OFFLINE", "1")
    out = Path(args.out or REPO / "logs" / "cv" / args.model)
    t0 = time.perf_counter()
    try:
        results = run_cv(
            args.model,
            args.folds,
            args.n,
            args.epochs,
            args.tiny,
            out,
            args.override,
            args.boot,
            log=lambda s: print(s, file=sys.stderr, flush=True),
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"bench_cv: {err}", file=sys.stderr)
        return 2
    command = "python " + shlex.join(["benchmarks/bench_cv.py", *argv])
    md = report(results, command, time.perf_counter() - t0)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cv.md").write_text(md + "\n")
    (out / "cv.json").write_text(json.dumps({"command": command, **results}, indent=1))
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
