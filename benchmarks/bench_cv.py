"""K-fold cross-validated accuracy over the 5,000 bundled digits: every digit is test data once.

    python benchmarks/bench_cv.py --model ctc [--folds 5] [--epochs E] [--n 2000] [--out logs/cv/ctc]
    python benchmarks/bench_cv.py --model multihead --folds 2 --tiny      # seconds: a smoke test

For fold k of K, ``train(cfg)`` runs the published recipe with ``data.source=bundled
data.folds=K data.fold=k``: test digits are fold k of a stratified K-fold over all 5,000 digits,
val a 10% slice of the other folds (model selection only), train the rest. The recipe is
``experiment=pretrained_<model>``, and for multihead and multilabel then their paper fine-tuning
(``experiment=paper_finetune_<model>``, from the fold's stage-1 weights; ``--stage1-only`` skips
it), as the bundled models were made. The fold's best checkpoint (by val exact match) then reads
``--n`` strips per suite built from that fold's test digits only (suites of bench_accuracy.py:
fixed 5-digit, variable 1-5; and for heads that read any width, such as ctc, ``eight``: 8 digits
on a 28x224 canvas, issue 11's third target; folds saved before it existed are read on it from
their checkpoints when they are pooled).
The strips of all folds are pooled into one exact match and per-digit accuracy per suite, with a
95% interval from a bootstrap over all the pooled test digits (``seqrec.evaluation``): with
5,000 test digits instead of 500, the interval is about three times narrower than the fixed split's.

Cost: training dominates. On 2 CPU cores one fold of the published recipe takes about as long
as training the published model, about 1 hour per fold per head (ctc 25 epochs, multihead 18),
so 5 folds x 3 heads is about 15 hours; ``--folds 3`` or fewer ``--epochs`` trade precision for
time, and a GPU (``--override trainer=gpu``) makes it minutes. Each fold saves its result in
``fold_k/fold.json`` and a rerun with the same settings reuses it, so an interrupted run loses
only the fold in progress, and folds can run side by side, then be pooled::

    for k in 0 1 2; do OMP_NUM_THREADS=1 python benchmarks/bench_cv.py --model ctc --folds 3 --only $k & done; wait
    python benchmarks/bench_cv.py --model ctc --folds 3        # pools the three saved folds

``--no-train`` makes sure nothing trains: a fold without a result saved with the same settings
(an edited config file changes them) is an error, not a fold to train, so reading an old
cross-validation again with ``--tta`` or ``--calibration`` cannot start hours of training.

``--tta`` also reads every fold's test strips with ``predict(tta=True)`` (five shifted views
vote) from the fold's saved checkpoint, and reports it beside the plain reading with a paired
interval (the confidences of both at a temperature fitted on the fold's val digits); it trains
nothing, so it can be added to a finished cross-validation.

``--calibration`` reads every fold's test strips once more with confidences at a temperature
fitted on that fold's own val digits (as ``scripts/calibrate.py`` fits one, never on test digits)
and reports, pooled over the folds, the expected calibration error and the coverage at 99.5%
accuracy: the share of strips a user keeps who accepts only readings above a confidence threshold
and must be right 99.5% of the time. On 5,000 test digits, not 500; it trains nothing either.

``--tta --calibration`` together read each fold once for both tables.

``--ensemble-with DIR`` (repeatable) reads the folds that ``--out`` and every DIR have (the same
split and strips, checked) as an ensemble: each fold's checkpoints read its test strips at their
val-fitted temperatures and vote as ``Recognizer.pretrained("ensemble")`` does. It reports each
member, the vote, the paired difference vote - member, ECE and coverage (``--out``/ensemble.md);
it trains nothing::

    python benchmarks/bench_cv.py --out logs/cv/multihead --ensemble-with logs/cv/multilabel --ensemble-with logs/cv/ctc

``--compare-to BASE`` measures a change to the recipe: it pairs the folds saved in ``--out`` with
BASE's on the same test strips and reports the difference with a 95% interval over digits (in
``--out``/compare.md). Only the folds both have are compared, so one fold is enough::

    OMP_NUM_THREADS=1 python benchmarks/bench_cv.py --model ctc --folds 3 --only 0 --out logs/cv/ctc_ema \\
        --override '+callbacks.ema={_target_:pytorch_lightning.callbacks.EMAWeightAveraging,decay:0.999}'
    python benchmarks/bench_cv.py --out logs/cv/ctc_ema --compare-to logs/cv/ctc

With ``--calibration`` it also pairs the coverage at 99.5% accuracy: both sides' folds read their
test strips again at their val-fitted temperatures (saved readings keep no confidences).

``--stage1-from DIR`` measures a change to the second stage of a two-stage recipe (multihead,
multilabel) for the cost of that stage alone: each fold starts from the stage-1 weights that an
earlier cross-validation in DIR saved for the same fold (checked: same head, same split, not a
final fit), so only the second stage differs and ``--compare-to DIR`` pairs the two::

    python benchmarks/bench_cv.py --model multilabel --folds 5 --stage1-from logs/cv/multilabel \
        --out logs/cv/multilabel_s2 --override data.gap=[-4,24]
    python benchmarks/bench_cv.py --out logs/cv/multilabel_s2 --compare-to logs/cv/multilabel

Extra Hydra overrides go in ``--override`` (repeatable); a saved fold is reused only by a run whose
composed training config is the same (a hash of it is saved with the fold, so an edited config
file or other overrides or epochs train the fold again; folds saved before the hash was recorded
are matched by their overrides and epochs). Writes one run folder per fold under ``--out`` and cv.md/cv.json.
Reading saved folds (pooling, pairing, ``--tta``, ``--calibration``) lives in ``cv_folds.py``.
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
from _common import compose_run, doc_parser, machine  # noqa: E402
from cv_folds import (  # noqa: E402  (reading a finished cross-validation)
    FOLD_RESULT,
    add_eight,
    calibrated_readings,
    calibration_lines,
    common_suites,
    compare_coverage,
    compare_cv,
    compare_report,
    coverage_interval_text,
    digit_interval,
    ensemble_report,
    exact_interval,
    pooled_calibration,
    pooled_ensemble,
    pooled_readings,
    pooled_tta,
    read_fold,
    read_suites,
    strip_readings,
    suite_strips,
)

MODELS = ("ctc", "multihead", "multilabel", "attention")
# Second training stage of the published flat heads (stage 1 is experiment=pretrained_<model>).
SECOND_STAGE = {"multihead": "paper_finetune_multihead", "multilabel": "paper_finetune_multilabel"}
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
TINY_PRETRAIN = (2, 16)  # backbone pretraining steps and batch size of a --tiny recipe


def recipe(model: str, stage1_only: bool = False) -> list[str]:
    """The experiments that make the published ``model``, in order: stage 1, then the paper
    fine-tuning from its weights where the bundled model had one (README, "Pretrained models")."""
    stages = [f"pretrained_{model}"]
    if model in SECOND_STAGE and not stage1_only:
        stages.append(SECOND_STAGE[model])
    return stages


def compose_fold(
    model: str,
    folds: int,
    fold: int,
    out: Path,
    epochs: int | None = None,
    tiny: bool = False,
    overrides: list[str] | None = None,
    experiment: str | None = None,
    init_from: Path | None = None,
):
    """The train config of one fold, composed with Hydra's compose API and writing into ``out``:
    ``experiment`` (default: stage 1 of ``model``), started from ``init_from`` when given."""
    experiment = experiment or f"pretrained_{model}"
    known = (REPO / "configs" / "experiment" / f"{experiment}.yaml").is_file()
    base = [f"experiment={experiment}"] if known else [f"model={model}", "data=variable"]
    items = [
        *base,
        *([f"init_from='{init_from}'"] if init_from is not None else []),
        "data.source=bundled",
        f"data.folds={folds}",
        f"data.fold={fold}",
        *(TINY if tiny else []),
        *([f"trainer.max_epochs={epochs}"] if epochs else []),
        *(overrides or []),
        # a later stage starts from the last stage's weights: a backbone pretraining would replace them
        *(["backbone_pretrain=null"] if init_from is not None else []),
    ]
    cfg = compose_run(items, out, job=fold)
    if tiny and cfg.get("backbone_pretrain"):  # a smoke test: a recipe's pretraining shrinks with it
        cfg.backbone_pretrain.steps, cfg.backbone_pretrain.batch_size = TINY_PRETRAIN
    return cfg, items


def best_checkpoint(run_dir: Path) -> Path:
    """The fold's best checkpoint (the one ``train`` tested: seqrec.checkpoint.best_checkpoint)."""
    from seqrec import checkpoint

    best = checkpoint.best_checkpoint(run_dir / "checkpoints") if (run_dir / "checkpoints").is_dir() else None
    if best is None:
        raise FileNotFoundError(f"fold run {run_dir} wrote no checkpoint")
    return best


def run_fold(
    model, folds, k, n, epochs, tiny, out: Path, overrides, stages: list[str], config_hash: str, start=None
) -> dict:
    """Train fold ``k`` through the ``stages`` of its recipe (each from the last one's best
    checkpoint; ``epochs`` sets stage 1's) and read ``n`` strips per suite of its test digits: the
    fold's result, with its readings, labels and digit ids (for pooling), and ``config_hash``
    (``recipe_hash``, taken before training). Saved as ``fold_k/fold.json`` (atomically).
    ``start``: a stage-1 checkpoint of this fold (``stage1_checkpoint``); stage 1 is then not trained."""

    from seqrec.data.atomic import replace_file
    from seqrec.recognizer import Recognizer
    from seqrec.train import build, train

    t0 = time.perf_counter()
    run_dir, best, items = out / f"fold_{k}", start, [] if start is None else [[f"stage1_from={start}"]]
    for i, experiment in enumerate(stages):  # each stage starts from the previous stage's best weights
        if i == 0 and start is not None:
            continue
        stage_dir = run_dir if i == 0 else run_dir / f"stage{i + 1}"
        stage_epochs = epochs if i == 0 else None
        cfg, stage_items = compose_fold(model, folds, k, stage_dir, stage_epochs, tiny, overrides, experiment, best)
        metrics = train(cfg)
        best = best_checkpoint(stage_dir)
        items.append(stage_items)
    rec = Recognizer.from_checkpoint(best)
    pool = build(cfg.data).pool("test")  # fold k's digits only
    fold = {
        "model": model,
        "folds": folds,
        "fold": k,
        "n": n,
        "tiny": tiny,
        "recipe": stages,
        "settings": fold_settings(epochs, overrides, config_hash),
        "overrides": items,
        "checkpoint": str(best),
        **({"stage1_from": str(start)} if start is not None else {}),
        "test_ids": sorted(int(i) for i in pool.ids),
        "train_test_exact_match": metrics.get("test/exact_match"),
        "trained_on": machine(cfg.trainer.get("accelerator")),
        "readings": {},
    }
    read_suites(fold, rec, suite_strips(pool, n, k, rec.image_size, any_width=not rec.fixed_width))
    fold["seconds"] = time.perf_counter() - t0
    replace_file(run_dir / FOLD_RESULT, lambda f: json.dump(fold, f), text=True)
    return fold


def fold_settings(epochs: int | None, overrides: list[str] | None, config_hash: str | None = None) -> dict:
    """What made a fold: the user's epochs and overrides and, since it is recorded, a hash of the
    composed training config of every stage (``recipe_hash``), which also sees an edited config file."""
    settings = {"epochs": epochs, "overrides": list(overrides or [])}
    return settings if config_hash is None else {**settings, "config_hash": config_hash}


TRAINING_KEYS = ("seed", "backbone_pretrain", "data", "model", "callbacks", "trainer")


def recipe_hash(model, folds, k, epochs, tiny, overrides, stages: list[str]) -> str:
    """A hash of what fold ``k`` learns from: the training parts of each stage's composed config
    (not where it writes, nor which file a later stage starts from)."""
    import hashlib

    from omegaconf import OmegaConf

    parts = []
    for i, experiment in enumerate(stages):
        start = Path("previous-stage.ckpt") if i else None
        cfg, _ = compose_fold(
            model, folds, k, Path("fold"), epochs if i == 0 else None, tiny, overrides, experiment, start
        )
        full = OmegaConf.to_container(cfg, resolve=False)
        parts.append({key: full.get(key) for key in TRAINING_KEYS})
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage1_checkpoint(source: Path, model: str, folds: int, k: int) -> Path:
    """Fold ``k``'s stage-1 checkpoint in an earlier cross-validation folder ``source``, checked
    to be ``model`` trained on this very split (the same folds of the bundled digits, not a final
    fit): its test digits must be this fold's, or the second stage would be tested on trained digits."""
    from seqrec.checkpoint import CHECKPOINT_KEY, read_checkpoint

    run = Path(source) / f"fold_{k}"  # stage 1's run folder; later stages write under it, in stageN/
    try:
        best = best_checkpoint(run)
    except FileNotFoundError:
        raise FileNotFoundError(f"--stage1-from: {run} has no stage-1 checkpoint (checkpoints/*.ckpt)") from None
    meta = read_checkpoint(best)[CHECKPOINT_KEY]
    data = meta["config"].get("data") or {}
    made = (meta.get("head"), data.get("source"), data.get("folds"), data.get("fold"), bool(data.get("train_on_val")))
    wanted = (model, "bundled", folds, k, False)
    if made != wanted:
        raise ValueError(
            f"--stage1-from: {best} is (head, source, folds, fold, train_on_val) {made}; fold {k} needs {wanted}"
        )
    return best


def with_stage1(config_hash: str, start: Path) -> str:
    """``config_hash`` of a fold whose stage 1 is the checkpoint ``start``: its bytes are part of the recipe."""
    import hashlib

    digest = hashlib.sha256(Path(start).read_bytes()).hexdigest()
    return hashlib.sha256(f"{config_hash}:{digest}".encode()).hexdigest()[:16]


def check_stage1_from(source: Path | None, out: Path, stages: list[str], epochs: int | None) -> None:
    """``--stage1-from``'s settings, refused before any training."""
    if source is None:
        return
    if len(stages) < 2:
        raise ValueError(f"--stage1-from reuses stage 1 of a two-stage recipe; this recipe is {stages} (one stage)")
    if epochs is not None:
        raise ValueError(
            "--epochs sets stage 1's epochs, which --stage1-from reuses; set the second stage's with "
            "--override trainer.max_epochs=N"
        )
    if Path(source).resolve() == Path(out).resolve():
        raise ValueError(f"--stage1-from {source} is --out itself: its folds' results would be overwritten")
    if not Path(source).is_dir():
        raise FileNotFoundError(f"--stage1-from: {source} is not a folder (a bench_cv.py --out folder)")


def saved_fold(
    out: Path, model: str, folds: int, k: int, n: int, tiny: bool, stages: list[str], settings: dict | None = None
) -> dict | None:
    """Fold ``k``'s saved result when it was made with the same model, recipe, folds, strips, size,
    epochs and overrides."""
    fold = read_fold(out, k)
    if fold is None:
        return None
    same = (fold.get("model"), fold.get("folds"), fold.get("n"), fold.get("tiny")) == (model, folds, n, tiny)
    made_by = fold.get("recipe", [f"pretrained_{model}"])  # results saved before recipes were recorded: stage 1
    # results saved before settings were recorded all ran with the recipe's epochs and no overrides
    saved, wanted = fold.get("settings", fold_settings(None, [])), settings or fold_settings(None, [])
    if "config_hash" in saved and "config_hash" in wanted:  # the configs themselves
        same_settings = saved["config_hash"] == wanted["config_hash"]
    else:  # saved before config hashes were recorded: by what the user chose
        same_settings = {k: saved.get(k) for k in ("epochs", "overrides")} == {
            k: wanted.get(k) for k in ("epochs", "overrides")
        }
    return fold if same and made_by == stages and same_settings and fold.get("fold") == k else None


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
    only: list[int] | None = None,
    stage1_only: bool = False,
    tta: bool = False,
    stage1_from: Path | str | None = None,
    calibration: bool = False,
    train: bool = True,
) -> dict:
    """Train and test every fold (or the folds in ``only``), reusing folds saved by an earlier run
    with the same settings; returns per-fold results and, once every fold has one, the pooled
    accuracy per suite (``pooled`` stays empty while folds are missing). ``stage1_from``: a
    cross-validation folder whose folds' stage-1 weights start the second stage (``--stage1-from``).
    ``train=False`` (``--no-train``): a fold that would have to be trained is an error instead."""
    from seqrec.evaluation import strip_accuracy

    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; allowed: {', '.join(MODELS)}")
    if isinstance(folds, bool) or int(folds) != folds or folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {folds!r}")
    todo = list(range(folds)) if only is None else sorted(set(only))
    if not todo or any(not 0 <= k < folds for k in todo):
        raise ValueError(f"--only must name folds in 0..{folds - 1}, got {only!r}")
    out, stages = Path(out), recipe(model, stage1_only)
    check_stage1_from(stage1_from, out, stages, epochs)
    starts = {k: stage1_checkpoint(stage1_from, model, folds, k) for k in todo} if stage1_from else {}
    results = {"model": model, "recipe": stages, "folds": folds, "n": n, "tiny": tiny, "fold_results": [], "pooled": {}}
    if stage1_from:
        results["stage1_from"] = str(stage1_from)
    for k in range(folds):
        config_hash = recipe_hash(model, folds, k, epochs, tiny, overrides, stages)
        if stage1_from:
            try:  # a fold not trained now is reused only when its stage 1 is the same file
                if k not in starts:  # the folds to train were checked (and read) above
                    starts[k] = stage1_checkpoint(stage1_from, model, folds, k)
            except (OSError, ValueError):
                continue
            config_hash = with_stage1(config_hash, starts[k])
        fold = saved_fold(out, model, folds, k, n, tiny, stages, fold_settings(epochs, overrides, config_hash))
        if fold is not None:
            log(f"  fold {k}/{folds}: reusing {out / f'fold_{k}' / FOLD_RESULT}")
            fold = add_eight(fold, out)
        elif k in todo and not train:
            raise ValueError(
                f"--no-train: fold {k} has no result under {out} made with these settings (an edited config, "
                "other overrides or epochs would train it again); pass the settings it was made with"
            )
        elif k in todo:
            fold = run_fold(model, folds, k, n, epochs, tiny, out, overrides, stages, config_hash, starts.get(k))
        if fold is None:
            continue
        results["fold_results"].append(fold)
        scores = ", ".join(f"{s} {fold[s]:.4f}" for s in fold["readings"])
        log(f"  fold {k}/{folds}: {scores} ({fold['seconds']:.0f} s)")
    if len(results["fold_results"]) < folds:
        return results  # pooled once every fold is there
    for suite in common_suites(results["fold_results"]):
        preds, labels, index = pooled_readings(results["fold_results"], suite)
        results["pooled"][suite] = strip_accuracy(preds, labels, index, n_boot=n_boot)
    if tta or calibration:  # one reading of each fold serves both
        readings = calibrated_readings(results["fold_results"], out, tta, log=log)
        if tta:
            results["tta"] = pooled_tta(readings, n_boot)
        if calibration:
            results["calibration"] = pooled_calibration(readings, n_boot)
    return results


def report(results: dict, command: str, elapsed: float) -> str:
    from seqrec.evaluation import format_difference

    lines = [
        f"# {results['folds']}-fold cross-validation of {results['model']}"
        + (" (tiny smoke run, not a result)" if results["tiny"] else ""),
        "",
        "recipe per fold: " + " then ".join(f"`experiment={e}`" for e in results.get("recipe", [])) + "  ",
        *(
            [f"stage 1 of each fold: its weights in `{results['stage1_from']}` (not trained again)  "]
            if results.get("stage1_from")
            else []
        ),
        f"command: `{command}`  ",
        f"hardware: {machine()}; this command {elapsed / 60:.1f} "
        f"min, the folds {sum(f['seconds'] for f in results['fold_results']) / 60:.1f} min of wall clock together "
        "(summed: folds run side by side overlap)  ",
        "folds trained on: "
        + ("; ".join(sorted({f.get("trained_on", "not recorded") for f in results["fold_results"]}))),
        "",
        "| suite | exact match [95% CI] | per-digit acc [95% CI] | strips | test digits |",
        "|---|---:|---:|---:|---:|",
    ]
    for suite, m in results["pooled"].items():
        lines.append(
            f"| {suite} | {exact_interval(m)} | "
            f"{digit_interval(m)} | "
            f"{len(results['fold_results']) * results.get('n', 0) or '–'} | {int(m['n_digits'])} |"
        )
    lines += [
        "",
        "Per fold (exact match): "
        + "; ".join(
            f"fold {f['fold']}: " + ", ".join(f"{s} {100 * f[s]:.1f}%" for s in f["readings"])
            for f in results["fold_results"]
        ),
        "",
        "Intervals: 95% bootstrap over the pooled test digits (every digit is in exactly one fold's test set).",
    ]
    if results.get("tta"):
        lines += [
            "",
            "## With test-time augmentation (`predict(tta=True)`: five views shifted by a pixel vote)",
            "",
            "Confidences: each fold at a temperature fitted on its own val digits (since 2026-11-24; T = 1 before).",
            "",
            "| suite | exact match [95% CI] | per-digit acc [95% CI] | tta - plain [95% paired CI] "
            "| ECE plain / tta | coverage at 99.5% [95% CI], plain / tta |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for suite, m in results["tta"].items():
            plain, tta = m["plain"], m["tta"]
            lines.append(
                f"| {suite} | {exact_interval(m)} | "
                f"{digit_interval(m)} | "
                f"{format_difference(m['gain'], m['gain_lo'], m['gain_hi'])} | "
                f"{plain['ece']:.3f} / {tta['ece']:.3f} | "
                f"{coverage_interval_text(plain)} / {coverage_interval_text(tta)} |"
            )
    if results.get("calibration"):
        lines += calibration_lines(results["calibration"])
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
    ap.add_argument("--only", default=None, help="comma-separated folds to train now (e.g. 0,1): parallel runs")
    ap.add_argument("--stage1-only", action="store_true", help="skip the flat heads' paper fine-tuning stage")
    ap.add_argument("--tta", action="store_true", help="also read each fold's test strips with predict(tta=True)")
    ap.add_argument(
        "--calibration",
        action="store_true",
        help="also report ECE and coverage at 99.5%% accuracy, each fold at a temperature fitted on its val digits",
    )
    ap.add_argument(
        "--no-train",
        action="store_true",
        help="only pool and read the folds saved with these settings; a fold that needs training is an error",
    )
    ap.add_argument(
        "--stage1-from",
        default=None,
        metavar="DIR",
        help="start each fold's second stage from DIR's stage-1 weights of that fold (trains the second stage only)",
    )
    ap.add_argument(
        "--compare-to",
        default=None,
        metavar="BASE",
        help="compare the folds saved in --out with BASE's, paired on the same strips (trains nothing)",
    )
    ap.add_argument(
        "--ensemble-with",
        action="append",
        default=[],
        metavar="DIR",
        help="read --out's folds and DIR's (repeatable) as an ensemble that votes (trains nothing)",
    )
    args = ap.parse_args(argv)
    os.environ.setdefault("SEQREC_OFFLINE", "1")
    out = Path(args.out or REPO / "logs" / "cv" / args.model)
    if args.compare_to:
        return compare_main(out, Path(args.compare_to), args.boot, argv, coverage=args.calibration)
    if args.ensemble_with:
        return ensemble_main([out, *map(Path, args.ensemble_with)], args.boot, argv)
    t0 = time.perf_counter()
    try:
        only = None if args.only is None else [int(k) for k in args.only.split(",") if k.strip()]
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
            only=only,
            stage1_only=args.stage1_only,
            tta=args.tta,
            stage1_from=args.stage1_from,
            calibration=args.calibration,
            train=not args.no_train,
        )
    except (ValueError, FileNotFoundError) as err:
        print(f"bench_cv: {err}", file=sys.stderr)
        return 2
    if not results["pooled"]:
        missing = sorted(set(range(args.folds)) - {f["fold"] for f in results["fold_results"]})
        print(f"bench_cv: folds {missing} have no result yet; run them (--only), then rerun without --only to pool")
        return 0
    command = "python " + shlex.join(["benchmarks/bench_cv.py", *argv])
    md = report(results, command, time.perf_counter() - t0)
    from seqrec.data.atomic import replace_file

    out.mkdir(parents=True, exist_ok=True)
    replace_file(out / "cv.md", lambda f: f.write(md + "\n"), text=True)
    summary = {"command": command, **results, "fold_results": [strip_readings(f) for f in results["fold_results"]]}
    replace_file(out / "cv.json", lambda f: json.dump(summary, f, indent=1), text=True)
    print(md)
    return 0


def compare_main(out: Path, base: Path, n_boot: int, argv: list[str], coverage: bool = False) -> int:
    from seqrec.data.atomic import replace_file

    try:
        cmp = compare_cv(out, base, n_boot)
        if coverage:  # reads both sides' checkpoints again: saved readings keep no confidences
            compare_coverage(cmp, n_boot, log=lambda s: print(s, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as err:
        print(f"bench_cv: {err}", file=sys.stderr)
        return 2
    md = compare_report(cmp, "python " + shlex.join(["benchmarks/bench_cv.py", *argv]))
    replace_file(out / "compare.md", lambda f: f.write(md + "\n"), text=True)
    print(md)
    return 0


def ensemble_main(dirs: list[Path], n_boot: int, argv: list[str]) -> int:
    from seqrec.data.atomic import replace_file

    try:
        ens = pooled_ensemble(dirs, n_boot, log=lambda s: print(s, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError) as err:
        print(f"bench_cv: {err}", file=sys.stderr)
        return 2
    md = ensemble_report(ens, "python " + shlex.join(["benchmarks/bench_cv.py", *argv]))
    replace_file(dirs[0] / "ensemble.md", lambda f: f.write(md + "\n"), text=True)
    replace_file(dirs[0] / "ensemble.json", lambda f: json.dump(ens, f, indent=1), text=True)
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
