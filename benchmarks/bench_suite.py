"""Benchmark suite on strips built only from held-out (test split) digits.

    python benchmarks/bench_suite.py --models ctc,multihead,multilabel [--n 1000] [--out benchmarks/results]
    python benchmarks/bench_suite.py --models logs/compare_heads/multiruns/<time>/3/checkpoints/last.ckpt,...
    python benchmarks/bench_suite.py --models <fold 0's checkpoint of bench_cv.py> --folds 3 --fold 0
    python benchmarks/bench_suite.py --cv ctc=logs/cv/ctc --suites gap     # every fold of a cross-validation

``--models``: pretrained names (seqrec/pretrained/<name>.ckpt) and/or checkpoint paths, comma
separated (``name=PATH`` sets the row label). Every point reads ``--n`` strips with
``Recognizer.predict``; the same strips (same seed) for every model. The base condition is
clean: 5 digits, 0..2 px between neighbouring ink boxes, centred, no jitter, 28x140. Each
suite changes one factor:

* ``length`` (a): 1..5 digits;
* ``gap`` (b): exactly g px between neighbouring ink boxes, g = -8 (8 px of overlap) .. +8 on
  5-digit strips, and g = -4 .. +20 on 3-digit strips (wide spacing, as people often write;
  5 digits do not fit 140 px beyond +8);
* ``longer`` (c): length generalization, 6..8 digits on a canvas 28*k px wide; only heads
  that can emit more than max_len digits (ctc) -- the slot heads are "n/a";
* ``robust`` (d): each digit rotated by +-deg; each digit scaled; Gaussian pixel noise
  (std as a fraction of white).

Every cell is exact match with its 95% interval from a bootstrap over the test digits the
point's strips use (``seqrec.evaluation.digit_bootstrap``). Prints markdown tables (with the
command and hardware) and writes bench_suite.md, bench_suite.json and bench_suite.png into ``--out``.
``--folds K --fold k`` builds the strips from fold k's test digits of the K-fold split that
``bench_cv.py`` trains on instead, so that the checkpoints of one cross-validation fold (which may
have trained on the fixed test split's digits) are read on digits they never saw.
``--cv [NAME=]DIR`` (instead of ``--models``) reads every fold of a ``bench_cv.py`` cross-validation
saved in DIR: fold k's checkpoint reads ``--n`` strips of fold k's test digits, and each point pools
all folds' strips, its interval resampling all of their digits (every bundled digit is test data
once), like bench_cv.py's headline accuracies. ``[NAME=]DIR+DIR+...`` reads the folds of several
cross-validations of one split as an ensemble (each fold's checkpoints vote, each at the temperature
fitted on its own val digits, as ``bench_cv.py --ensemble-with``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from seqrec.evaluation.measure import evaluate_pooled  # noqa: E402
from seqrec.evaluation.strips import BENCHMARK, benchmark_strips, strips_at_gap  # noqa: E402

LENGTHS = (1, 2, 3, 4, 5)
GAPS = tuple(range(-8, 9, 2))
WIDE_GAPS = tuple(range(-4, 21, 4))
WIDE_LENGTH = 3
LONGER = (6, 7, 8)
ROTATIONS = (0, 10, 20, 30)
SCALES = (0.6, 0.8, 1.0, 1.15, 1.3)
NOISES = (0.0, 0.1, 0.2, 0.3, 0.4)
SUITES = ("length", "gap", "longer", "robust")
NA = "n/a"

__all__ = ["strips_at_gap", "benchmark_strips", "run_suite", "main"]


sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from _common import machine  # noqa: E402
from cv_folds import calibrated_reader, fold_checkpoint, saved_folds  # noqa: E402


def load_models(spec: str) -> list[tuple[str, object]]:
    from seqrec.recognizer import Recognizer

    models, seen = [], {}
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        label, _, path = item.rpartition("=") if "=" in item else ("", "", item)
        rec = Recognizer.load(path)
        label = label or (path if not Path(path).suffix else rec.head)
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:
            label = f"{label} #{seen[label]}"
        models.append((label, rec))
    return models


def load_cv(spec: str) -> tuple[list[tuple[str, dict]], int]:
    """``[NAME=]DIR[+DIR...],...`` of bench_cv.py output folders -> ([(label, {fold: reader})], K).
    Every fold 0..K-1 of each must be saved, with one K for all, before any model is loaded.
    ``DIR+DIR+...``: in each fold those folders' checkpoints vote as an :class:`~seqrec.ensemble.Ensemble`,
    each at the temperature fitted on its own val digits (as ``bench_cv.py --ensemble-with``); their
    folds must hold the same test digits."""
    found, ks = [], set()
    for item in [s.strip() for s in spec.split(",") if s.strip()]:
        label, _, paths = item.rpartition("=") if "=" in item else ("", "", item)
        dirs = [Path(p) for p in paths.split("+")]
        if len(set(dirs)) < len(dirs):
            raise ValueError(f"--cv {paths}: a folder votes twice in one ensemble")
        folds = [_all_folds(d) for d in dirs]
        if len({len(f) for f in folds}) > 1:
            raise ValueError(f"--cv {paths}: the folders have different fold counts; an ensemble needs one split")
        for i, fold in enumerate(zip(*folds)):
            if len({tuple(f.get("test_ids", ())) for f in fold}) > 1:
                raise ValueError(f"--cv {paths}: fold {i} holds other test digits in each folder; give one split")
        ks.add(len(folds[0]))
        found.append((label or "+".join(d.name for d in dirs), dirs, folds))
    if len(ks) > 1:
        raise ValueError(f"--cv: the cross-validations have different fold counts {sorted(ks)}; give one K")
    models = [
        (label, {i: _fold_reader(dirs, fold) for i, fold in enumerate(zip(*folds))}) for label, dirs, folds in found
    ]
    return models, ks.pop() if ks else 0


def _all_folds(path: Path) -> list[dict]:
    folds = saved_folds(path)
    if not folds:
        raise FileNotFoundError(f"--cv {path}: no saved folds (fold_<k>/fold.json of bench_cv.py)")
    k = int(next(iter(folds.values()))["folds"])
    missing = sorted(set(range(k)) - set(folds))
    if missing:
        raise ValueError(f"--cv {path}: folds {missing} of {k} have no result yet; run them with bench_cv.py")
    return [folds[i] for i in range(k)]


def _fold_reader(dirs: list[Path], folds: list[dict]):
    """One fold's reader: its checkpoint, or the vote of several folders' checkpoints."""
    from seqrec.ensemble import Ensemble
    from seqrec.recognizer import Recognizer

    if len(dirs) == 1:
        return Recognizer.load(fold_checkpoint(dirs[0], folds[0]))
    return Ensemble([calibrated_reader(f, d)[0] for d, f in zip(dirs, folds)], name="+".join(d.name for d in dirs))


def head_of(model) -> str:
    """The head of a Recognizer, or of a cross-validation's ({fold: Recognizer}) first fold."""
    return (next(iter(model.values())) if isinstance(model, dict) else model).head


def can_read_longer(rec) -> bool:
    """More digits than max_len: only a CTC head at any width."""
    from seqrec.codecs import CTCCodec

    return isinstance(getattr(rec, "codec", None), CTCCodec) and not rec.fixed_width  # an Ensemble has none


def points(suites, gaps, wide_gaps=WIDE_GAPS):
    """(suite, factor, value, strip kwargs) of every benchmark point."""
    for suite in suites:
        if suite == "length":
            for k in LENGTHS:
                yield suite, "digits", k, dict(min_len=k, max_len=k)
        elif suite == "gap":
            for g in gaps:
                yield suite, "gap (px)", g, dict(gap=(g, g))
            for g in wide_gaps:
                wide = dict(gap=(g, g), min_len=WIDE_LENGTH, max_len=WIDE_LENGTH)
                yield suite, f"gap, {WIDE_LENGTH} digits (px)", g, wide
        elif suite == "longer":
            for k in LONGER:
                yield suite, "digits", k, dict(min_len=k, max_len=k, width=28 * k)
        elif suite == "robust":
            for r in ROTATIONS:
                yield suite, "rotation (deg)", r, dict(rotate=r)
            for s in SCALES:
                yield suite, "scale", s, dict(scale=s)
            for v in NOISES:
                yield suite, "noise (std)", v, dict(noise=v)
        else:
            raise ValueError(f"unknown suite {suite!r}; allowed: {', '.join(SUITES)}")


def run_suite(
    models,
    n: int = 1000,
    suites=SUITES,
    gaps=GAPS,
    source: str = "bundled",
    seed: int = 0,
    log=print,
    wide_gaps=WIDE_GAPS,
    folds: int | None = None,
    fold: int | None = None,
) -> list[dict]:
    """One result per (model, point): exact match and digit accuracy (with 95% digit-bootstrap
    intervals, ``*_lo``/``*_hi``) and CER, or n/a. ``folds``/``fold``: fold ``fold``'s test digits.
    A model given as ``{k: Recognizer}`` for every k < ``folds`` (``fold`` None) is a
    cross-validation: model k reads ``n`` strips of fold k's test digits and the point pools them."""
    from seqrec.data.sources import load_digits

    pools = {}

    def pool(k):
        if k not in pools:
            pools[k] = load_digits(source, "test", folds=folds, fold=k)
        return pools[k]

    # (fold's test digits, model) pairs per row; a plain model reads the one test pool
    parts = {label: list(m.items()) if isinstance(m, dict) else [(fold, m)] for label, m in models}
    folds_read = {k for pairs in parts.values() for k, _ in pairs}
    results = []
    for suite, factor, value, kwargs in points(suites, gaps, wide_gaps):
        t0 = time.perf_counter()
        # The same strips for a point whatever else runs: the seed comes from the point itself.
        point_seed = zlib.crc32(f"{seed}/{suite}/{factor}/{value}".encode())
        strips = {k: benchmark_strips(n, pool=pool(k), seed=point_seed, **kwargs) for k in folds_read}
        for label, pairs in parts.items():
            rec = pairs[0][1]
            row = {"suite": suite, "factor": factor, "value": value, "model": label, "head": rec.head}
            row["n"] = n * len(pairs)
            if suite == "longer" and not can_read_longer(rec):
                row.update(
                    exact_match=None, digit_acc=None, cer=None, note=f"{NA}: at most max_len={rec.max_len} digits"
                )
            elif suite != "longer" and kwargs.get("max_len", BENCHMARK.max_len) > rec.max_len:
                row.update(exact_match=None, digit_acc=None, cer=None, note=f"{NA}: above max_len={rec.max_len}")
            else:
                m = evaluate_pooled([(r, strips[k]) for k, r in pairs])
                keys = (
                    "exact_match",
                    "exact_match_lo",
                    "exact_match_hi",
                    "digit_acc",
                    "digit_acc_lo",
                    "digit_acc_hi",
                    "cer",
                    "n_digits",
                )
                row.update({k: m[k] for k in keys}, note="")
            results.append(row)
        log(
            f"  {suite:<7} {factor:<15} {value!s:>5}: "
            + "  ".join(f"{r['model']} {_cell(r)}" for r in results[-len(models) :])
            + f"  ({time.perf_counter() - t0:.1f} s)"
        )
    return results


def _cell(r, interval: bool = False) -> str:
    from seqrec.evaluation import format_interval

    if r is None or r["exact_match"] is None:
        return NA
    if interval and r.get("exact_match_lo") is not None:
        return format_interval(r["exact_match"], r["exact_match_lo"], r["exact_match_hi"])
    return format_interval(r["exact_match"])


def tables(results, models) -> str:
    """Markdown: one table per suite/factor, models as rows, values as columns (exact match)."""
    out = []
    titles = {
        ("length", "digits"): "(a) Exact match by number length (clean strips)",
        ("gap", "gap (px)"): "(b) Exact match by gap between neighbouring ink boxes (negative = overlap), 5 digits",
        ("gap", f"gap, {WIDE_LENGTH} digits (px)"): f"(b) Exact match by gap between neighbouring ink boxes, "
        f"{WIDE_LENGTH} digits (wide spacing; target >= 95% from -4 to +20)",
        (
            "longer",
            "digits",
        ): "(c) Length generalization: trained on <= 5 digits, tested on 6-8 digits on a 28*k px canvas",
        ("robust", "rotation (deg)"): "(d) Robustness: each digit rotated by +-deg",
        ("robust", "scale"): "(d) Robustness: each digit scaled",
        ("robust", "noise (std)"): "(d) Robustness: Gaussian pixel noise (std, fraction of white)",
    }
    keys = list(dict.fromkeys((r["suite"], r["factor"]) for r in results))
    for key in keys:
        rows = [r for r in results if (r["suite"], r["factor"]) == key]
        values = list(dict.fromkeys(r["value"] for r in rows))
        fmt = (lambda v: f"{v:+d}") if key[0] == "gap" else str
        out += [
            f"**{titles.get(key, key)}**",
            "",
            "| model | " + " | ".join(fmt(v) for v in values) + " |",
            "|---|" + "---:|" * len(values),
        ]
        for label, _ in models:
            by_value = {r["value"]: r for r in rows if r["model"] == label}
            out.append(f"| {label} | " + " | ".join(_cell(by_value.get(v), interval=True) for v in values) + " |")
        n_digits = max((int(r["n_digits"]) for r in rows if r.get("n_digits")), default=0)
        if n_digits:
            out += ["", f"Brackets: 95% interval, bootstrap over the test digits of each point (up to {n_digits})."]
        out.append("")
    return "\n".join(out)


def plot(results, models, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [
        ("length", "digits", "(a) length"),
        ("gap", "gap (px)", "(b) gap / overlap"),
        ("gap", f"gap, {WIDE_LENGTH} digits (px)", f"(b) wide gaps, {WIDE_LENGTH} digits"),
        ("longer", "digits", "(c) longer than trained"),
        ("robust", "rotation (deg)", "(d) rotation"),
        ("robust", "scale", "(d) scale"),
        ("robust", "noise (std)", "(d) noise"),
    ]
    panels = [p for p in panels if any((r["suite"], r["factor"]) == p[:2] for r in results)]
    cols = min(3, len(panels))
    rows_n = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.3 * rows_n), squeeze=False)
    for ax, (suite, factor, title) in zip(axes.flat, panels):
        for label, _ in models:
            pts = [
                (r["value"], r["exact_match"])
                for r in results
                if (r["suite"], r["factor"], r["model"]) == (suite, factor, label) and r["exact_match"] is not None
            ]
            if pts:
                xs, ys = zip(*pts)
                ax.plot(xs, ys, marker="o", ms=3, label=label)
        ax.set_title(title)
        ax.set_xlabel(factor)
        if factor in ("digits",) or factor.startswith("gap"):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no 6.5 digits or 2.5 px
        ax.set_ylabel("exact match")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parse_ints(text: str) -> list[int]:
    if text.strip().lower() == "none":
        return []
    if ".." in text:
        lo, hi, *step = (int(p) for p in text.split(".."))
        return list(range(lo, hi + 1, step[0] if step else 1))
    return [int(v) for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # "--gaps -8..8": a value that starts with "-" would read as an option; glue it to its flag.
    flags = ("--gaps", "--wide-gaps")
    argv = [
        f"{a}={argv[i + 1]}" if a in flags and i + 1 < len(argv) else a
        for i, a in enumerate(argv)
        if not (i > 0 and argv[i - 1] in flags)
    ]
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--models",
        default=None,
        help="pretrained names and/or checkpoint paths, comma separated (default ctc,multihead,multilabel)",
    )
    p.add_argument(
        "--cv",
        default=None,
        help="instead of --models: bench_cv.py output folders ([NAME=]DIR, comma separated; DIR+DIR+... "
        "votes as an ensemble); every fold reads its own test digits, pooled",
    )
    p.add_argument("--n", type=int, default=1000, help="strips per point (default 1000)")
    p.add_argument("--suites", default=",".join(SUITES), help=f"comma separated subset of {','.join(SUITES)}")
    p.add_argument(
        "--gaps",
        type=parse_ints,
        default=list(GAPS),
        help="gaps for (b): -8..8 (every px), -8..8..2 (default) or -8,0,8",
    )
    p.add_argument(
        "--wide-gaps",
        type=parse_ints,
        default=list(WIDE_GAPS),
        help=f"gaps for (b) on {WIDE_LENGTH}-digit strips: -4..20..4 (default), -4..20 or none",
    )
    p.add_argument("--source", default="bundled", help="digit source; its test split is used (default bundled)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--folds", type=int, default=None, help="with --fold: the K of bench_cv.py's K-fold split")
    p.add_argument("--fold", type=int, default=None, help="read fold k's test digits (0..K-1), not the test split")
    p.add_argument(
        "--out", default="benchmarks/results", help="folder for bench_suite.md/.json/.png (default benchmarks/results)"
    )
    args = p.parse_args(argv)

    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    try:
        from seqrec.data.sources import check_folds

        check_folds(args.folds, args.fold)  # before any model is loaded
        if args.cv is not None and (args.models is not None or args.folds is not None):
            raise ValueError("--cv reads each fold's own test digits: give it without --models, --folds and --fold")
        if args.cv is not None and args.source != "bundled":
            raise ValueError(f"--cv: bench_cv.py's folds split the bundled digits, not --source {args.source!r}")
        if args.cv is not None:
            models, args.folds = load_cv(args.cv)
        else:
            models = load_models(args.models or "ctc,multihead,multilabel")
    except (FileNotFoundError, ValueError) as err:
        print(f"bench_suite: {err}", file=sys.stderr)
        return 2
    if not models:
        print("bench_suite: no models given", file=sys.stderr)
        return 2
    print(f"models: {', '.join(f'{label} ({head_of(m)})' for label, m in models)}", file=sys.stderr)
    t0 = time.perf_counter()
    results = run_suite(
        models,
        n=args.n,
        suites=suites,
        gaps=args.gaps,
        source=args.source,
        seed=args.seed,
        log=lambda s: print(s, file=sys.stderr, flush=True),
        wide_gaps=args.wide_gaps,
        folds=args.folds,
        fold=args.fold,
    )
    elapsed = time.perf_counter() - t0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = plot(results, models, out / "bench_suite.png")
    command = "python " + shlex.join(["benchmarks/bench_suite.py", *argv])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    if args.cv is not None:
        digits = f"test digits of each of the {args.folds} folds of bench_cv.py's split (per fold, pooled)"
    elif args.folds is not None:
        digits = f"fold {args.fold} of {args.folds} of bench_cv.py's split"
    else:
        digits = "test split"
    header = (
        f"**Command:** `{command}`  \n**Setup:** {args.n} strips per point from the `{args.source}` {digits} "
        f"(held-out digits); base: {BENCHMARK.max_len} digits, gap {BENCHMARK.gap[0]}..{BENCHMARK.gap[1]} px, "
        f"centred, no jitter, 28x140; metric: exact match.  \n"
        f"**Hardware:** {machine()}, "
        f"load {load:.1f}; {elapsed:.0f} s.\n"
    )
    md = header + "\n" + tables(results, models) + f"\n![benchmark suite]({png.name})\n"
    (out / "bench_suite.md").write_text(md)
    (out / "bench_suite.json").write_text(
        json.dumps({"command": command, "n": args.n, "source": args.source, "results": results}, indent=1)
    )
    print(md)
    print(f"wrote {out / 'bench_suite.md'}, {out / 'bench_suite.json'}, {png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
