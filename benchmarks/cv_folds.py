"""Reading a finished ``bench_cv.py`` cross-validation: its saved folds and their test strips,
pooled and paired readings, test-time augmentation, calibration, and several cross-validations
voting as an ensemble. Nothing here trains; the training of folds and the command line are in
``bench_cv.py``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when imported by file path
from bench_accuracy import SUITES  # noqa: E402

# Issue 11's third suite: 8 digits on a 28x224 canvas, read by the heads that take any width (ctc).
EIGHT, EIGHT_SPEC, EIGHT_WIDTH = "eight", dict(min_len=8, max_len=8, gap=(0, 0)), 224
FOLD_RESULT = "fold.json"  # one fold's result and readings, next to its run folder's checkpoints


def read_suites(fold: dict, rec, strips: dict) -> None:
    """``rec`` reads each suite's strips: exact match and per-strip readings go into ``fold``."""
    for suite, s in strips.items():
        preds = rec.predict(s.images)
        fold[suite] = sum(p == t for p, t in zip(preds, s.labels)) / len(preds)
        fold["readings"][suite] = {"preds": preds, "labels": list(s.labels), "index": s.digit_index.tolist()}


def fold_checkpoint(out: Path | str, fold: dict) -> str:
    """A saved fold's checkpoint: the path it was saved with, or the same file under ``out`` when
    the cross-validation folder has moved since (found from the ``fold_k`` folder on)."""
    saved, name = Path(fold["checkpoint"]), f"fold_{fold['fold']}"
    if saved.is_file():
        return str(saved)
    if name in saved.parts:
        last = len(saved.parts) - 1 - saved.parts[::-1].index(name)
        moved = Path(out).joinpath(*saved.parts[last:])
        if moved.is_file():
            return str(moved)
    raise FileNotFoundError(f"{name}'s checkpoint {saved} is not there, nor under {Path(out) / name}")


def read_fold(out: Path, k: int) -> dict | None:
    try:
        return json.loads((out / f"fold_{k}" / FOLD_RESULT).read_text())
    except (OSError, ValueError):
        return None


def saved_folds(out: Path) -> dict[int, dict]:
    """Every fold result saved under ``out``, by fold number."""
    found = (read_fold(out, int(p.name.split("_")[1])) for p in sorted(out.glob("fold_*")) if p.name[5:].isdigit())
    return {f["fold"]: f for f in found if f is not None}


def suite_strips(pool, n: int, k: int, size: tuple[int, int], any_width: bool = False) -> dict:
    """Fold ``k``'s test strips: ``n`` per suite from its test ``pool``, (height, width) ``size``;
    with ``any_width`` also the 8-digit suite at 28x224."""
    from seqrec.data.strips import make_strips

    h, w = size
    specs = {suite: (kw, w) for suite, kw in SUITES.items()}
    if any_width:
        specs[EIGHT] = (EIGHT_SPEC, EIGHT_WIDTH)
    return {
        suite: make_strips(n, seed=[2026, k], pool=pool, height=h, width=sw, **kw) for suite, (kw, sw) in specs.items()
    }


def fold_strips(fold: dict, size: tuple[int, int]) -> dict:
    """The test strips of every suite that fold ``fold`` was read on, rebuilt from its seed and
    checked against its saved labels."""
    from seqrec.data.sources import load_digits

    pool = load_digits("bundled", "test", folds=fold["folds"], fold=fold["fold"])
    strips = suite_strips(pool, fold["n"], fold["fold"], size, any_width=EIGHT in fold["readings"])
    for suite, s in strips.items():
        if list(s.labels) != fold["readings"][suite]["labels"]:
            raise ValueError(f"fold {fold['fold']}: rebuilt {suite} strips differ from the saved ones")
    return strips


def add_eight(fold: dict, out: Path) -> dict:
    """A fold saved before the 8-digit suite existed gets it now, from its checkpoint, when its head
    reads any width (saved again, atomically; a fixed-width head's fold is returned as it is)."""
    from seqrec.data.atomic import replace_file
    from seqrec.data.sources import load_digits
    from seqrec.recognizer import Recognizer

    if EIGHT in fold["readings"]:
        return fold
    rec = Recognizer.from_checkpoint(fold_checkpoint(out, fold))
    if rec.fixed_width:
        return fold
    pool = load_digits("bundled", "test", folds=fold["folds"], fold=fold["fold"])
    read_suites(fold, rec, {EIGHT: suite_strips(pool, fold["n"], fold["fold"], rec.image_size, True)[EIGHT]})
    replace_file(out / f"fold_{fold['fold']}" / FOLD_RESULT, lambda f: json.dump(fold, f), text=True)
    return fold


def pooled_readings(fold_results: list[dict], suite: str) -> tuple:
    """One suite's saved readings of ``fold_results`` end to end: (predictions, labels, digit index)."""
    import numpy as np

    parts = [f["readings"][suite] for f in fold_results]
    preds, labels = sum((p["preds"] for p in parts), []), sum((p["labels"] for p in parts), [])
    return preds, labels, np.concatenate([np.asarray(p["index"], np.int64) for p in parts])


def common_suites(fold_results: list[dict]) -> list[str]:
    """The suites every fold was read on, in the order of the first."""
    return [s for s in fold_results[0]["readings"] if all(s in f["readings"] for f in fold_results)]


def strip_readings(fold: dict) -> dict:
    """A fold's result without its per-strip readings (those stay in fold_k/fold.json)."""
    return {k: v for k, v in fold.items() if k != "readings"}


def calibrated_readings(fold_results: list[dict], out: Path, tta: bool = False, n_val: int = 2000, log=print) -> dict:
    """Every fold's test strips read once with confidences, each fold's checkpoint at the temperature
    fitted on ``n_val`` strips of its own val digits (:func:`calibrated_reader`); with ``tta`` also
    with ``predict(tta=True)``. Returns {"temperatures": {fold: T}, "suites": {suite: {fold: {"labels",
    "index", "plain" (and "tta"): Predictions}}}}. ``out``: the folds' folder."""
    import numpy as np

    views = {"plain": False, **({"tta": True} if tta else {})}
    read: dict = {suite: {} for suite in common_suites(fold_results)}
    temperatures = {}
    for f in fold_results:  # each fold's checkpoint and test strips, loaded once
        k = f["fold"]
        rec, temperatures[k] = calibrated_reader(f, out, n_val)
        for suite, strips in fold_strips(f, rec.image_size).items():
            if suite in read:
                read[suite][k] = {"labels": list(strips.labels), "index": np.asarray(f["readings"][suite]["index"])}
                for view, shifted in views.items():
                    read[suite][k][view] = rec.predict(strips.images, tta=shifted, return_confidence=True)
        log(f"  fold {k} read at T = {temperatures[k]:.3f}" + (" (plain and tta)" if tta else ""))
    return {"temperatures": temperatures, "suites": read}


def scored(fold_read: dict, view: str) -> tuple:
    """(confidence, right, digit index) of one fold's readings in ``view``, as calibration_summary takes them."""
    import numpy as np

    preds = fold_read[view]
    conf = np.array([p.confidence for p in preds], np.float64)
    right = np.array([p.text == t for p, t in zip(preds, fold_read["labels"])], np.float64)
    return conf, right, fold_read["index"]


def pooled_tta(readings: dict, n_boot: int) -> dict:
    """Per suite, from :func:`calibrated_readings` with ``tta``: pooled accuracy with
    ``predict(tta=True)``, its paired difference to the plain readings over the same strips (95%
    interval over digits), and the calibration of both views (:func:`calibration_summary`)."""
    import numpy as np

    from seqrec.evaluation import paired_difference, strip_accuracy

    out: dict = {}
    for suite, by_fold in readings["suites"].items():
        texts = [p.text for f in by_fold.values() for p in f["tta"]]
        labels = [t for f in by_fold.values() for t in f["labels"]]
        index = np.concatenate([f["index"] for f in by_fold.values()])
        right = {view: np.concatenate([scored(f, view)[1] for f in by_fold.values()]) for view in ("plain", "tta")}
        diff, lo, hi = paired_difference(right["tta"], right["plain"], index, n_boot=n_boot)
        out[suite] = {**strip_accuracy(texts, labels, index, n_boot=n_boot), "gain": diff, "gain_lo": lo, "gain_hi": hi}
        for view in ("plain", "tta"):
            out[suite][view] = calibration_summary({k: scored(f, view) for k, f in by_fold.items()}, n_boot)
    return out


def pooled_calibration(readings: dict, n_boot: int = 1000) -> dict:
    """Per suite, from :func:`calibrated_readings`: ECE and coverage at 99.5% (and 99%) accuracy of
    every fold's plain readings pooled (:func:`calibration_summary`), with each fold's own coverage,
    which shows how few strips decide it; and the temperatures (``temperatures``, by fold)."""
    suites = {
        suite: calibration_summary({k: scored(f, "plain") for k, f in by_fold.items()}, n_boot)
        for suite, by_fold in readings["suites"].items()
    }
    return {"temperatures": readings["temperatures"], "suites": suites}


def calibrated_reader(fold: dict, out: Path, n_val: int = 2000) -> tuple:
    """(Recognizer, temperature): a fold's checkpoint with its confidences at the temperature fitted
    on ``n_val`` strips of its own val digits, as ``scripts/calibrate.py`` fits one (never on test
    digits, so its test strips read as the published weights' would)."""
    import numpy as np

    from seqrec.evaluation.intervals import fit_recognizer_temperature, fold_calibration_set
    from seqrec.recognizer import Recognizer

    path, none_held_out = fold_checkpoint(out, fold), np.array([], dtype=np.int64)  # val is never test
    fitter, val = fold_calibration_set(path, n_val, [0, 0xCA1B, fold["fold"]], none_held_out)
    temperature = fit_recognizer_temperature(fitter, val)
    rec = Recognizer.from_checkpoint(path)  # the optimized reader that predict() runs by default
    rec.codec.temperature = temperature
    return rec, temperature


def calibration_summary(by_fold: dict, n_boot: int = 1000) -> dict:
    """ECE and coverage of confidences pooled over folds ({fold: (conf, right, digit_index)}), with
    the coverage's 95% interval over the pooled test digits, and each fold's own coverage."""
    import numpy as np

    from seqrec.evaluation.intervals import coverage_at_accuracy, coverage_interval, expected_calibration_error

    conf, right, index = (np.concatenate(parts) for parts in zip(*by_fold.values()))
    kept, threshold = coverage_at_accuracy(conf, right)
    lo, hi = coverage_interval(conf, right, index, n_boot=n_boot)
    return {
        "exact_match": float(right.mean()),
        "ece": expected_calibration_error(conf, right),
        "coverage": kept,
        "coverage_lo": lo,
        "coverage_hi": hi,
        "threshold": None if threshold == float("inf") else threshold,  # nothing qualifies
        "coverage_99": coverage_at_accuracy(conf, right, 0.99)[0],
        "coverage_by_fold": {k: coverage_at_accuracy(c, r)[0] for k, (c, r, _) in by_fold.items()},
        "strips": len(right),
    }


def coverage_interval_text(m: dict) -> str:
    """``44.1% [10.3, 89.4]``: a :func:`calibration_summary`'s coverage at 99.5% with its interval."""
    from seqrec.evaluation import format_interval

    return format_interval(m["coverage"], m["coverage_lo"], m["coverage_hi"])


def calibration_lines(cal: dict) -> list[str]:
    temperatures = ", ".join(f"fold {k}: {t:.3f}" for k, t in cal["temperatures"].items())
    lines = [
        "",
        "## Calibration (each fold's confidences at a temperature fitted on its own val digits)",
        "",
        f"temperatures: {temperatures}",
        "",
        "| suite | strips | exact match | ECE | coverage at 99.5% accuracy [95% CI] (threshold) "
        "| each fold's own | coverage at 99% |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for suite, m in cal["suites"].items():
        threshold = "none qualifies" if m["threshold"] is None else f"{m['threshold']:.4f}"
        by_fold = ", ".join(f"{100 * c:.0f}%" for c in m["coverage_by_fold"].values())
        lines.append(
            f"| {suite} | {m['strips']} | {100 * m['exact_match']:.1f}% | {m['ece']:.3f} | "
            f"{coverage_interval_text(m)} ({threshold}) | {by_fold} | {100 * m['coverage_99']:.1f}% |"
        )
    lines += [
        "",
        "Coverage: the share of strips kept when only readings above the threshold are accepted. At",
        "99.5% a few confident errors decide it: its interval (a bootstrap over the test digits, which",
        "errs wide) and each fold's own coverage show how much it moves.",
    ]
    return lines


def compare_cv(new: Path, base: Path, n_boot: int = 1000) -> dict:
    """Per suite: ``new``'s saved folds against ``base``'s on the same test strips (the folds both
    have, which need not be all): each one's pooled accuracy and the paired difference of exact
    match with its 95% interval over digits. A recipe change measured on one fold costs one
    training, and pairing cancels most of the strip-to-strip noise. Trains nothing."""
    import numpy as np

    from seqrec.evaluation import difference_verdict, paired_difference, strip_accuracy

    a, b = saved_folds(Path(new)), saved_folds(Path(base))
    common = sorted(set(a) & set(b))
    if not common:
        raise ValueError(f"{new} and {base} have no saved fold in common (fold_k/{FOLD_RESULT})")
    for k in common:
        settings = [(f["folds"], f["n"], f["tiny"]) for f in (a[k], b[k])]
        if settings[0] != settings[1]:
            raise ValueError(f"fold {k}: (folds, n, tiny) {settings[0]} against {settings[1]}: not the same strips")
    out = {"new": str(new), "base": str(base), "folds": common, "suites": {}}
    for suite in common_suites([f[k] for f in (a, b) for k in common]):
        (new_preds, labels, index), (base_preds, base_labels, _) = (
            pooled_readings([f[k] for k in common], suite) for f in (a, b)
        )
        if labels != base_labels:
            raise ValueError(f"{suite} strips differ between {new} and {base}: not the same test strips")
        preds = {"new": new_preds, "base": base_preds}
        right = {name: np.array([p == t for p, t in zip(ps, labels)], np.float64) for name, ps in preds.items()}
        diff, lo, hi = paired_difference(right["new"], right["base"], index, n_boot=n_boot)
        out["suites"][suite] = {
            **{name: strip_accuracy(ps, labels, index, n_boot=n_boot) for name, ps in preds.items()},
            "diff": diff,
            "diff_lo": lo,
            "diff_hi": hi,
            "verdict": difference_verdict(lo, hi),
            "strips": len(labels),
        }
    return out


def pooled_scores(readings: dict, suite: str, view: str = "plain") -> tuple:
    """(confidence, right, digit index) of one suite of :func:`calibrated_readings`, folds in order."""
    import numpy as np

    parts = [scored(f, view) for _, f in sorted(readings["suites"][suite].items())]
    return tuple(np.concatenate(p) for p in zip(*parts))


def compare_coverage(cmp: dict, n_boot: int = 1000, n_val: int = 2000, log=print) -> dict:
    """Adds to each suite of :func:`compare_cv`'s ``cmp`` the coverage at 99.5% accuracy of both
    sides (``coverage``: {"base", "new"}: :func:`calibration_summary`) and its paired difference
    new - base over the same digit draws (``coverage_diff``, ``_lo``, ``_hi``). Each side's folds
    read their test strips again at the temperatures fitted on their own val digits, since saved
    readings keep no confidences."""
    import numpy as np

    from seqrec.evaluation import coverage_difference

    read = {}
    for side in ("new", "base"):
        folds = saved_folds(Path(cmp[side]))
        said = lambda s, side=side: log(f"{side}: {s.strip()}")  # noqa: E731
        read[side] = calibrated_readings([folds[k] for k in cmp["folds"]], Path(cmp[side]), n_val=n_val, log=said)
    for suite, m in cmp["suites"].items():
        scores = {side: pooled_scores(r, suite) for side, r in read.items()}
        (conf, right, index), (base_conf, base_right, base_index) = scores["new"], scores["base"]
        if not np.array_equal(index, base_index):
            raise ValueError(f"{suite}: {cmp['new']} and {cmp['base']} did not read the same strips")
        by_side = {side: {k: scored(f, "plain") for k, f in r["suites"][suite].items()} for side, r in read.items()}
        m["coverage"] = {side: calibration_summary(by_fold, n_boot) for side, by_fold in by_side.items()}
        diff = coverage_difference((conf, right), (base_conf, base_right), index, n_boot=n_boot)
        m["coverage_diff"], m["coverage_diff_lo"], m["coverage_diff_hi"] = diff
    return cmp


def exact_interval(m: dict) -> str:
    from seqrec.evaluation import format_interval

    return format_interval(m["exact_match"], m["exact_match_lo"], m["exact_match_hi"])


def digit_interval(m: dict) -> str:
    from seqrec.evaluation import format_interval

    return format_interval(m["digit_acc"], m["digit_acc_lo"], m["digit_acc_hi"], 2)


def compare_report(cmp: dict, command: str) -> str:
    from seqrec.evaluation import format_difference

    lines = [
        f"# {cmp['new']} against {cmp['base']}, paired on the same test strips",
        "",
        f"command: `{command}`  ",
        "folds compared: " + ", ".join(map(str, cmp["folds"])),
        "",
        "| suite | strips | base exact [95% CI] | new exact [95% CI] | new - base [95% paired CI] | verdict "
        "| per-digit base / new [95% CI] |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for suite, m in cmp["suites"].items():
        old, new = m["base"], m["new"]
        lines.append(
            f"| {suite} | {m['strips']} | {exact_interval(old)} | {exact_interval(new)} | "
            f"{format_difference(m['diff'], m['diff_lo'], m['diff_hi'])} | {m['verdict']} | "
            f"{digit_interval(old)} / {digit_interval(new)} |"
        )
    lines += ["", "Intervals: 95% bootstrap over the test digits of the folds compared."]
    if any("coverage" in m for m in cmp["suites"].values()):
        lines += coverage_compare_lines(cmp)
    return "\n".join(lines)


def coverage_compare_lines(cmp: dict) -> list[str]:
    from seqrec.evaluation import difference_verdict, format_difference

    lines = [
        "",
        "## Coverage at 99.5% accuracy (each fold at a temperature fitted on its own val digits)",
        "",
        "| suite | base ECE | new ECE | base coverage [95% CI] | new coverage [95% CI] "
        "| new - base [95% paired CI] | verdict |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for suite, m in cmp["suites"].items():
        base, new = m["coverage"]["base"], m["coverage"]["new"]
        diff = (m["coverage_diff"], m["coverage_diff_lo"], m["coverage_diff_hi"])
        lines.append(
            f"| {suite} | {base['ece']:.3f} | {new['ece']:.3f} | {coverage_interval_text(base)} | "
            f"{coverage_interval_text(new)} | {format_difference(*diff)} | {difference_verdict(*diff[1:])} |"
        )
    lines += ["", "Both coverages are computed on the same bootstrap draws of the test digits (paired)."]
    return lines


def ensemble_summary(readings: dict, labels: list, index, n_boot: int = 1000) -> dict:
    """The members' readings of the same strips ({name: [Prediction]}, in the vote's tie-break order)
    and their confidence-weighted vote (``seqrec.ensemble.vote``): per reader, accuracy with its
    interval, calibration and coverage (:func:`calibration_summary`), and for each member the
    paired difference ensemble - member over the test digits."""
    import numpy as np

    from seqrec.ensemble import vote
    from seqrec.evaluation import coverage_difference, difference_verdict, paired_difference, strip_accuracy

    members = list(readings)
    readers = {**readings, "ensemble": [vote(column, len(members)) for column in zip(*readings.values())]}
    index = np.asarray(index)
    out, scores = {}, {}
    for name, preds in readers.items():
        texts = [p.text for p in preds]
        scores[name] = (
            np.array([p.confidence for p in preds], np.float64),
            np.array([t == y for t, y in zip(texts, labels)], np.float64),
        )
        calibration = calibration_summary({0: (*scores[name], index)}, n_boot)
        del calibration["coverage_by_fold"]  # one pool here, not folds
        out[name] = {**strip_accuracy(texts, labels, index, n_boot=n_boot), **calibration}
    for name in members:
        diff, lo, hi = paired_difference(scores["ensemble"][1], scores[name][1], index, n_boot=n_boot)
        out[name].update(gain=diff, gain_lo=lo, gain_hi=hi, verdict=difference_verdict(lo, hi))
        diff, lo, hi = coverage_difference(scores["ensemble"], scores[name], index, n_boot=n_boot)
        out[name].update(coverage_gain=diff, coverage_gain_lo=lo, coverage_gain_hi=hi)
    return out


def pooled_ensemble(dirs: list[Path], n_boot: int = 1000, n_val: int = 2000, log=print) -> dict:
    """Several cross-validations of the same split, read as an ensemble: in every fold they all have,
    each one's checkpoint reads that fold's test strips at the temperature fitted on its own val
    digits (:func:`calibrated_reader`), and the readings vote as ``Recognizer.pretrained("ensemble")``
    does. Per suite, pooled over those folds: :func:`ensemble_summary`. Trains nothing."""
    import numpy as np

    dirs = [Path(d) for d in dirs]
    if len(dirs) < 2 or len(set(dirs)) < len(dirs):
        got = [str(d) for d in dirs]
        raise ValueError(f"an ensemble needs at least 2 different cross-validation folders, got {got}")
    saved = [saved_folds(d) for d in dirs]
    common = sorted(set.intersection(*(set(s) for s in saved)))
    if not common:
        raise ValueError(f"{', '.join(map(str, dirs))} have no saved fold in common (fold_k/{FOLD_RESULT})")
    names = [d.name for d in dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in dirs]
    suites = common_suites([s[k] for s in saved for k in common])
    read: dict = {suite: {name: [] for name in names} for suite in suites}
    labels: dict = {suite: [] for suite in suites}
    index: dict = {suite: [] for suite in suites}
    for k in common:
        folds = [s[k] for s in saved]
        same = {(f["folds"], f["n"], f["tiny"], tuple(f.get("test_ids", ()))) for f in folds}
        if len(same) > 1:
            raise ValueError(f"fold {k}: the folders' folds have other splits or strips (folds, n, tiny, test digits)")
        strips = None
        for name, d, f in zip(names, dirs, folds):
            rec, temperature = calibrated_reader(f, d, n_val)
            strips = strips or fold_strips(f, rec.image_size)  # the same strips for every member
            for suite in suites:
                read[suite][name] += rec.predict(strips[suite].images, return_confidence=True)
            log(f"  ensemble: fold {k} read by {name} at T = {temperature:.3f}")
        for suite in suites:
            labels[suite] += list(strips[suite].labels)
            index[suite].append(np.asarray(folds[0]["readings"][suite]["index"]))
    return {
        "members": names,
        "folders": [str(d) for d in dirs],
        "folds": common,
        "suites": {s: ensemble_summary(read[s], labels[s], np.concatenate(index[s]), n_boot) for s in suites},
    }


def ensemble_report(ens: dict, command: str) -> str:
    from seqrec.evaluation import format_difference

    lines = [
        f"# Cross-validated ensemble of {', '.join(ens['members'])}: a confidence-weighted vote",
        "",
        f"command: `{command}`  ",
        f"folders: {', '.join(f'`{f}`' for f in ens['folders'])}  ",
        "folds: " + ", ".join(map(str, ens["folds"])) + " (each member at its fold's val-fitted temperature)",
        "",
        "| suite | reader | exact match [95% CI] | per digit [95% CI] | ensemble - reader [95% paired CI] "
        "| ECE | coverage at 99.5% [95% CI] | ensemble - reader, coverage [95% paired CI] | coverage at 99% |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def gain(m, key):
        if key not in m:
            return "–"
        return format_difference(m[key], m[key + "_lo"], m[key + "_hi"])

    for suite, by_reader in ens["suites"].items():
        for name, m in by_reader.items():
            verdict = f" ({m['verdict']})" if "verdict" in m else ""
            lines.append(
                f"| {suite} | {name} | {exact_interval(m)} | {digit_interval(m)} | {gain(m, 'gain')}{verdict} | "
                f"{m['ece']:.3f} | {coverage_interval_text(m)} | {gain(m, 'coverage_gain')} | "
                f"{100 * m['coverage_99']:.1f}% |"
            )
    lines += [
        "",
        "The vote: a reading's score is the sum of the members' confidences for it (ties: the first",
        "member); its confidence is that score over the number of members. Intervals: 95% bootstrap",
        "over the pooled test digits; coverage: the share of strips kept above the confidence",
        "threshold that keeps them 99.5% (99%) right.",
    ]
    return "\n".join(lines)
