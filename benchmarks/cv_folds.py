"""Reading a finished ``bench_cv.py`` cross-validation: its saved folds and their test strips,
pooled and paired readings, test-time augmentation and calibration. Nothing here trains; the
training of folds and the command line are in ``bench_cv.py``."""

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


def pooled_tta(fold_results: list[dict], n_boot: int, out: Path, log=print) -> dict:
    """Per suite: pooled accuracy with ``predict(tta=True)`` of each fold's checkpoint, its paired
    difference to the plain readings over the same strips (95% interval over digits), and the
    calibration (ECE, coverage at 99.5%) of both readings' confidences, each fold at the temperature
    fitted on its val digits (:func:`calibrated_reader`). ``out``: the folds' folder."""
    import numpy as np

    from seqrec.evaluation import paired_difference, strip_accuracy
    from seqrec.evaluation.intervals import coverage_at_accuracy, expected_calibration_error

    read = {suite: {False: [], True: []} for suite in common_suites(fold_results)}
    for f in fold_results:  # each fold's checkpoint and test strips, loaded once
        rec, _ = calibrated_reader(f, out)
        for suite, strips in fold_strips(f, rec.image_size).items():
            if suite not in read:
                continue
            for tta in (False, True):
                read[suite][tta] += rec.predict(strips.images, tta=tta, return_confidence=True)
        log(f"  tta: fold {f['fold']} read")
    out: dict = {}
    for suite, views in read.items():
        _, labels, index = pooled_readings(fold_results, suite)
        right = {tta: np.array([p.text == t for p, t in zip(ps, labels)], np.float64) for tta, ps in views.items()}
        diff, lo, hi = paired_difference(right[True], right[False], index, n_boot=n_boot)
        calibration = {}
        for tta, name in ((False, "plain"), (True, "tta")):
            conf = np.array([p.confidence for p in views[tta]])
            calibration[f"{name}_ece"] = expected_calibration_error(conf, right[tta])
            calibration[f"{name}_coverage"] = coverage_at_accuracy(conf, right[tta])[0]
        texts = [p.text for p in views[True]]
        out[suite] = {**strip_accuracy(texts, labels, index, n_boot=n_boot), "gain": diff, "gain_lo": lo, "gain_hi": hi}
        out[suite].update(calibration)
    return out


def pooled_calibration(fold_results: list[dict], out: Path, n_boot: int = 1000, n_val: int = 2000, log=print) -> dict:
    """Per suite: ECE and coverage at 99.5% (and 99%) accuracy of every fold's test strips, each
    fold's confidences at the temperature fitted on ``n_val`` strips of its own val digits, pooled;
    also each fold's own coverage at 99.5%, which shows how few strips decide it; with the
    temperatures (``temperatures``, by fold). ``out``: the folds' folder."""
    import numpy as np

    read: dict = {suite: {} for suite in common_suites(fold_results)}  # suite -> fold -> (conf, right, index)
    temperatures = {}
    for f in fold_results:
        k = f["fold"]
        rec, temperatures[k] = calibrated_reader(f, out, n_val)
        for suite, strips in fold_strips(f, rec.image_size).items():
            if suite in read:
                preds = rec.predict(strips.images, return_confidence=True)
                conf = np.array([p.confidence for p in preds], np.float64)
                right = np.array([p.text == t for p, t in zip(preds, strips.labels)], np.float64)
                read[suite][k] = conf, right, np.asarray(f["readings"][suite]["index"])
        log(f"  calibration: fold {k} read at T = {temperatures[k]:.3f}")
    suites = {suite: calibration_summary(by_fold, n_boot) for suite, by_fold in read.items()}
    return {"temperatures": temperatures, "suites": suites}


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
            f"{100 * m['coverage']:.1f}% [{100 * m['coverage_lo']:.1f}, {100 * m['coverage_hi']:.1f}] "
            f"({threshold}) | {by_fold} | {100 * m['coverage_99']:.1f}% |"
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


def exact_interval(m: dict) -> str:
    from seqrec.evaluation import format_interval

    return format_interval(m["exact_match"], m["exact_match_lo"], m["exact_match_hi"])


def digit_interval(m: dict) -> str:
    from seqrec.evaluation import format_interval

    return format_interval(m["digit_acc"], m["digit_acc_lo"], m["digit_acc_hi"], 2)


def compare_report(cmp: dict, command: str) -> str:
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
            f"{100 * m['diff']:+.1f} [{100 * m['diff_lo']:+.1f}, {100 * m['diff_hi']:+.1f}] | {m['verdict']} | "
            f"{digit_interval(old)} / {digit_interval(new)} |"
        )
    lines += ["", "Intervals: 95% bootstrap over the test digits of the folds compared."]
    return "\n".join(lines)
