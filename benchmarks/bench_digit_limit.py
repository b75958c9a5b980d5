"""The data's limit for per-digit accuracy: a single-digit CNN learns a fold's digits, then reads its unseen ones.

    python benchmarks/bench_digit_limit.py --folds 3                # the training digits of bench_cv.py's ctc folds
    python benchmarks/bench_digit_limit.py --folds 10 --with-val    # 4,500 training digits, as the published models
    for k in 0 1; do OMP_NUM_THREADS=1 python benchmarks/bench_digit_limit.py --folds 10 --only $k & done; wait
    python benchmarks/bench_digit_limit.py --folds 3 --flat-head --compare-to logs/digit_limit/3fold
    python benchmarks/bench_digit_limit.py --folds 3 --against logs/cv/ctc_gpu_ep100

Issue 11 asks for 99.4% of unseen digits read right inside strips, and puts the limit of 5,000
MNIST digits at about 99.5% for a single digit. This measures what the same training digits teach
a classifier that reads each digit alone and centred: a reference for the strip recipes'
cross-validation, which trains on a fold's digits too. For fold k of the stratified K-fold of
``bench_cv.py`` (``data.folds=K data.fold=k`` of the bundled source), the strip recipe's CNN
backbone (``experiment=pretrained_ctc``; ``--override`` changes it) under a pooled linear head --
the recipe's own backbone pretraining (``seqrec.pretrain``), with its warp of every training
digit -- or, with ``--flat-head``, a classic digit CNN's flattened head, learns fold k's train
digits (with ``--with-val`` also its val digits, the share a final fit adds) for ``--steps``
batches, then reads fold k's test digits, centred 28x28 as stored. Pooled over the folds each of
the 5,000 digits is read once; the 95% interval is a bootstrap over digits. "5 in a row" is the
per-digit accuracy to the 5th power, the exact match of 5-digit strips if their digits were read
independently at that rate.

``--compare-to DIR`` pairs this cross-validation with another one's, digit by digit.
``--against DIR`` (a ``bench_cv.py`` folder of the same K) finds the digits the strip model
misreads in at least half of its fixed strips, how many the classifier misreads too, and plots
them (``hard_digits.png``).

Each fold saves ``fold_k.json`` in ``--out`` (atomically) and a rerun with the same settings reuses
it, so folds can run side by side and then be pooled. Writes ``limit.md`` and prints its table.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import compose_run, doc_parser, machine  # noqa: E402

RECIPE = "pretrained_ctc"


def settings_of(args) -> dict:
    """What decides a fold's result: a saved fold is reused only under the same settings."""
    from dataclasses import asdict

    from omegaconf import OmegaConf

    from seqrec.pretrain import PretrainSettings

    cfg = compose_run([f"experiment={RECIPE}", *args.override], Path(args.out))
    pretrain = OmegaConf.to_container(cfg.backbone_pretrain, resolve=True) if cfg.get("backbone_pretrain") else {}
    pretrain.update({k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size)) if v})
    pretrain = asdict(PretrainSettings.from_config(pretrain))  # checked now, before any training
    return {
        "backbone": OmegaConf.to_container(cfg.model.net.backbone, resolve=True),
        "pretrain": pretrain,
        "folds": args.folds,
        "with_val": args.with_val,
        "seed": args.seed,
        **({"head": "flat"} if args.flat_head else {}),  # absent for the pooled head, as folds saved before it
    }


def settings_hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def read_digits(model, images, batch_size: int = 1000):
    """Predicted class of each 28x28 uint8 digit."""
    import torch

    preds = []
    with torch.inference_mode():
        for start in range(0, len(images), batch_size):
            x = torch.from_numpy(images[start : start + batch_size]).float().div_(255).unsqueeze(1)
            preds.append(model(x).argmax(1))
    return torch.cat(preds).numpy()


def run_fold(fold: int, settings: dict, log=print) -> dict:
    """Train the digit classifier on fold ``fold``'s training digits; read its test digits."""
    from hydra.utils import instantiate

    from seqrec.data.datamodule import StripDataModule
    from seqrec.pretrain import PretrainSettings, train_digit_classifier

    # the digit pools a strip training of this fold gets (train, or train + val for a final fit)
    data = StripDataModule("bundled", folds=settings["folds"], fold=fold, train_on_val=settings["with_val"])
    pool, test = data.pool("train"), data.pool("test")
    backbone = instantiate(settings["backbone"])
    start = time.perf_counter()
    pooled_head = settings.get("head") != "flat"
    model = train_digit_classifier(
        backbone, pool, PretrainSettings(**settings["pretrain"]), settings["seed"], pooled_head=pooled_head
    )
    model.eval()
    seconds = time.perf_counter() - start
    preds = read_digits(model, test.images)
    errors = int((preds != test.labels).sum())
    acc = 1 - errors / len(test)
    log(f"  fold {fold}: {len(pool):,} training digits, {acc:.2%} of {len(test):,} test digits, {seconds / 60:.1f} min")
    return {
        "fold": fold,
        "train_digits": len(pool),
        "seconds": seconds,
        "accuracy": acc,
        "errors": errors,
        "ids": test.ids.tolist(),
        "labels": test.labels.tolist(),
        "preds": preds.tolist(),
    }


def fold_result(out: Path, fold: int, settings: dict, log=print) -> dict:
    """The saved result of ``fold`` under ``settings``, or a new one (saved atomically)."""
    from seqrec.data.atomic import replace_file

    path = out / f"fold_{fold}.json"
    key = settings_hash(settings)
    if path.is_file():
        saved = json.loads(path.read_text())
        if saved.get("settings_hash") == key:
            log(f"  fold {fold}: reusing {path}")
            return saved
    result = {**run_fold(fold, settings, log), "settings": settings, "settings_hash": key, "machine": machine()}
    out.mkdir(parents=True, exist_ok=True)
    replace_file(path, lambda f: json.dump(result, f), text=True)
    return result


def pooled(results: list[dict], n_boot: int = 1000) -> dict:
    """Per-digit accuracy of all folds' test digits, with a bootstrap interval over digits."""
    import numpy as np

    from seqrec.evaluation import digit_bootstrap

    ids = np.concatenate([r["ids"] for r in results])
    if len(np.unique(ids)) != len(ids):
        raise ValueError("the folds' test digits overlap; they must come from one K-fold")
    correct = np.concatenate([np.equal(r["preds"], r["labels"]) for r in results]).astype(float)
    lo, hi = digit_bootstrap(correct, ids[:, None], n_boot=n_boot)
    errors = int(len(ids) - correct.sum())
    return {"accuracy": float(correct.mean()), "lo": lo, "hi": hi, "digits": len(ids), "errors": errors}


def saved_results(out: Path) -> list[dict]:
    """Every fold result saved in a bench_digit_limit.py folder, by fold."""
    found = sorted((p for p in out.glob("fold_*.json") if p.stem[5:].isdigit()), key=lambda p: int(p.stem[5:]))
    results = [json.loads(p.read_text()) for p in found]
    if not results:
        raise FileNotFoundError(f"{out}: no saved folds there (fold_k.json of bench_digit_limit.py)")
    return results


def compare_to(results: list[dict], base: list[dict], n_boot: int = 1000) -> dict:
    """This limit minus ``base``'s on the digits both read (another K or settings), paired by digit."""
    import numpy as np

    from seqrec.evaluation.intervals import paired_difference

    def correct(rs):
        return {i: p == t for r in rs for i, p, t in zip(r["ids"], r["preds"], r["labels"])}

    new, old = correct(results), correct(base)
    ids = sorted(set(new) & set(old))
    if not ids:
        raise ValueError("--compare-to: the two cross-validations read no digit in common")
    a, b = np.array([new[i] for i in ids], float), np.array([old[i] for i in ids], float)
    diff, lo, hi = paired_difference(a, b, np.array(ids)[:, None], n_boot=n_boot)
    return {"digits": len(ids), "new": a.mean(), "base": b.mean(), "diff": diff, "lo": lo, "hi": hi}


def against_folds(cv_dir: Path, folds: int, wanted) -> list[dict]:
    """The folds ``wanted`` of the bench_cv.py cross-validation in ``cv_dir``, checked (before any
    training) to test the same digits as this ``folds``-fold's."""
    from cv_folds import saved_folds

    from seqrec.data.sources import load_digits

    saved = saved_folds(cv_dir)
    if not saved:
        raise FileNotFoundError(f"--against {cv_dir}: no saved folds there (fold_k/fold.json of bench_cv.py)")
    missing = [k for k in wanted if k not in saved]
    if missing:
        raise ValueError(
            f"--against {cv_dir}: it has folds {sorted(saved)}, not folds {missing} of this cross-validation"
        )
    for k in wanted:
        if sorted(saved[k]["test_ids"]) != sorted(load_digits("bundled", "test", folds=folds, fold=k).ids):
            raise ValueError(
                f"--against {cv_dir}: its fold {k} tests other digits than this {folds}-fold's "
                "(cross-validate both with the same --folds)"
            )
    return [saved[k] for k in wanted]


def against_cv(results: list[dict], cv_folds: list[dict], suite: str = "fixed") -> dict:
    """Per test digit, how often the cross-validated strip model of ``cv_folds`` (from
    :func:`against_folds`) misread it in ``suite``'s strips, beside the classifier's reading."""
    import numpy as np
    from cv_folds import pooled_readings

    from seqrec.evaluation.intervals import digit_correct

    preds, labels, index = pooled_readings(cv_folds, suite)
    valid = index >= 0
    wrong = ~digit_correct(preds, labels, index.shape[1])
    size = int(index.max()) + 1
    seen = np.bincount(index[valid], minlength=size)
    misread = np.bincount(index[valid], weights=wrong[valid], minlength=size)
    classifier = {i: p for r in results for i, p, t in zip(r["ids"], r["preds"], r["labels"]) if p != t}
    hard = sorted((i for i in np.flatnonzero(seen) if misread[i] / seen[i] >= 0.5), key=lambda i: -misread[i] / seen[i])
    return {
        "model": cv_folds[0].get("model", "strip model"),
        "suite": suite,
        "per_digit": 1 - misread.sum() / seen.sum(),
        "slots": int(seen.sum()),
        "hard": [(int(i), int(misread[i]), int(seen[i])) for i in hard],
        "classifier_wrong": classifier,
        "share_on_classifier_wrong": misread[list(classifier)].sum() / max(misread.sum(), 1),
    }


def plot_hard(cmp: dict, path: Path, columns: int = 10) -> None:
    """The digits the strip model misreads in at least half of their strips, with what each reader said."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqrec.data.atomic import replace_file
    from seqrec.data.sources import load_bundled

    images, labels = load_bundled()
    hard = cmp["hard"]
    rows = max(1, -(-len(hard) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.1, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (i, bad, seen) in zip(axes.flat, hard):
        ax.imshow(images[i], cmap="gray_r")
        said = cmp["classifier_wrong"].get(i, "ok")
        ax.set_title(f"#{i}, label {labels[i]}\n{cmp['model']} {bad}/{seen}, clf {said}", fontsize=7)
    title = (
        f"digits {cmp['model']} misreads in >= half of their {cmp['suite']} strips (wrong/strips; clf: the classifier)"
    )
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    replace_file(path, lambda f: fig.savefig(f, format="png", dpi=110))
    plt.close(fig)


def against_lines(cmp: dict, figure: str) -> list[str]:
    hard, wrong = cmp["hard"], cmp["classifier_wrong"]
    both = sum(i in wrong for i, _, _ in hard)
    hard_errors = sum(bad for _, bad, _ in hard)
    return [
        "",
        f"Against {cmp['model']}'s cross-validation ({cmp['suite']} strips, {cmp['slots']:,} digit slots): it reads "
        f"{cmp['per_digit']:.2%} of digits. {len(hard)} digits are misread in at least half of their strips; the "
        f"classifier misreads {both} of them too. {cmp['share_on_classifier_wrong']:.0%} of {cmp['model']}'s digit "
        f"errors fall on the {len(wrong)} digits the classifier misreads. Its errors on the hard digits are "
        f"{hard_errors / cmp['slots']:.2%} of all digit slots. The hard digits: `{figure}`.",
    ]


def markdown(results: list[dict], total: dict, settings: dict, command: str, extra: list[str] = ()) -> str:
    pct = "{:.2%}".format
    p = settings["pretrain"]
    lines = [
        f"# Per-digit limit: {settings['folds']}-fold, {'train + val' if settings['with_val'] else 'train'} digits",
        "",
        f"    {command}",
        "",
        f"Backbone `{settings['backbone'].get('_target_')}` under a {settings.get('head', 'pooled')} head, "
        f"{p['steps']} steps of "
        f"{p['batch_size']} (lr {p['lr']}, digit warp {p['digit_augment']}), seed {settings['seed']}; "
        f"{results[0].get('machine', machine())}.",
        "",
        "| fold | training digits | test digits | per digit | errors | 5 in a row | minutes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        acc, minutes = r["accuracy"], r["seconds"] / 60
        row = f"| {r['fold']} | {r['train_digits']:,} | {len(r['labels']):,} | {pct(acc)} | {r['errors']} |"
        lines.append(f"{row} {pct(acc**5)} | {minutes:.1f} |")
    a, lo, hi = total["accuracy"], total["lo"], total["hi"]
    lines.append(
        f"| **pooled** | | {total['digits']:,} | **{pct(a)} [{pct(lo)}, {pct(hi)}]** | {total['errors']} | "
        f"{pct(a**5)} [{pct(lo**5)}, {pct(hi**5)}] | |"
    )
    return "\n".join([*lines, *extra]) + "\n"


def main(argv=None) -> dict:
    parser = doc_parser(__doc__)
    parser.add_argument("--folds", type=int, default=3, help="K of the stratified K-fold (bench_cv.py's)")
    parser.add_argument("--only", type=int, nargs="+", help="train and save these folds only, not pool")
    parser.add_argument("--with-val", action="store_true", help="also learn each fold's val digits")
    parser.add_argument("--steps", type=int, help="training batches (default: the recipe's pretraining)")
    parser.add_argument("--batch-size", type=int, help="digits per batch (default: the recipe's)")
    parser.add_argument(
        "--flat-head",
        action="store_true",
        help="a classic digit CNN's head (flattened map, hidden layer), not the pretraining's pooled linear one",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[], help="Hydra override of the recipe (repeatable)")
    parser.add_argument("--out", help="folder of the fold results (default: logs/digit_limit/<folds>fold[_val])")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--against", help="a bench_cv.py folder of the same K-fold: which digits both misread")
    parser.add_argument("--compare-to", help="another bench_digit_limit.py folder: the difference, paired by digit")
    args = parser.parse_args(argv)
    from seqrec.data.sources import check_folds

    check_folds(args.folds, 0)
    for k in args.only or []:
        check_folds(args.folds, k)
    for name in ("steps", "batch_size"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    name = f"{args.folds}fold{'_val' if args.with_val else ''}{'_flat' if args.flat_head else ''}"
    args.out = Path(args.out or REPO / "logs" / "digit_limit" / name)
    for flag, folder in (("--against", args.against), ("--compare-to", args.compare_to)):
        if folder and not Path(folder).is_dir():
            parser.error(f"{flag} {folder}: no such folder")
    base = saved_results(Path(args.compare_to)) if args.compare_to else None
    wanted = args.only or range(args.folds)
    cv_folds = against_folds(Path(args.against), args.folds, wanted) if args.against and not args.only else None
    settings = settings_of(args)
    results = [fold_result(args.out, k, settings) for k in wanted]
    if args.only:
        return {"folds": results}
    total = pooled(results, args.n_boot)
    extra = []
    if cv_folds:
        cmp = against_cv(results, cv_folds)
        plot_hard(cmp, args.out / "hard_digits.png")
        extra = against_lines(cmp, str(args.out / "hard_digits.png"))
    if base is not None:
        d = compare_to(results, base, args.n_boot)
        extra.append(
            f"\nAgainst {args.compare_to} ({base[0]['train_digits']:,} training digits per fold), paired on the "
            f"{d['digits']:,} digits both read: {d['new']:.2%} - {d['base']:.2%} = {100 * d['diff']:+.2f} points "
            f"[{100 * d['lo']:+.2f}, {100 * d['hi']:+.2f}] (95%, over digits)."
        )
    command = "python benchmarks/bench_digit_limit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(results, total, settings, command.strip(), extra)
    from seqrec.data.atomic import replace_file

    replace_file(args.out / "limit.md", lambda f: f.write(text), text=True)
    print(text)
    return {"folds": results, "pooled": total}


if __name__ == "__main__":
    main()
