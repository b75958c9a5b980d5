"""Honest numbers: bootstrap intervals over test *digits*, calibration metrics and temperature scaling.

Strips reuse their test digits (5,000 strips from 500 digits reuse each about 50 times), so the
strips are not independent samples and a bootstrap over strips is far too narrow. The unit of
sampling is the digit: :func:`digit_bootstrap` resamples digit ids.

Calibration: :func:`expected_calibration_error`, :func:`coverage_at_accuracy`, and a temperature
fitted on validation strips (:func:`fit_temperature`, :func:`calibrate_checkpoint`; the command
``python scripts/calibrate.py CKPT``) that the codec applies to the logits for confidences only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

LEVEL = 0.95
T_RANGE = (0.05, 20.0)


# ---------------------------------------------------------------------- digit bootstrap
def digit_bootstrap(
    correct, digit_index, n_boot: int = 1000, seed: int = 0, level: float = LEVEL, chunk: int = 50
) -> tuple[float, float]:
    """Percentile interval of an accuracy, resampling the test pool's digit ids.

    ``correct``: (n,) per strip (exact match) or (n, L) per digit slot (per-digit accuracy; slots
    where ``digit_index`` is -1 are ignored). ``digit_index``: (n, L) source ids of each strip's
    digits, -1 padding (``Strips.digit_index``).

    Scheme: each of ``n_boot`` draws samples the D distinct digit ids D times with replacement,
    giving each id a multiplicity m_d (0, 1, 2, ...). A strip of digits d1..dk gets the weight
    1 + sum_j (m_dj - 1), and the draw's accuracy is the weighted mean of ``correct`` (per-digit:
    weighted correct slots over weighted slots). A strip made of resampled digits "exists"
    prod_j m_dj times (the pigeonhole bootstrap of crossed designs, Owen 2007); the weight above
    is that product to first order (the product itself multiplies each strip's own noise by
    weights of variance up to 2^L - 1 and was 2-3x too wide in simulation).

    The first-order bootstrap still counts each strip's own variance once per digit (L times,
    not once). So the draws' spread around the point estimate is scaled to the multiway
    cluster-robust variance (Cameron, Gelbach & Miller 2011), digits as crossed clusters:
    V = [sum_d G_d^2 - sum_s (sum_d n_sd^2 - 1) r_s^2] / N^2, with r_s a strip's residual, G_d the
    sum of the residuals of the strips holding digit d (n_sd times), N the strip (or digit-slot)
    count -- never below the variance of independent strips. The interval is the point estimate
    plus the scaled (1-level)/2 and (1+level)/2 percentile deviations, clipped to [0, 1]. With
    one digit per strip this is the ordinary bootstrap over strips.

    Simulated check (500-digit pools from a population with 5% hard digits, 5-digit strips,
    strips right when all digits are read right; truth: the spread over fresh pools and strips):
    true standard errors 0.0180 / 0.0116 / 0.0112 / 0.0095 at 200 / 1,000 / 2,000 / 5,000
    strips; this variance 0.0178 / 0.0116 / 0.0105 / 0.0096; a strip bootstrap 0.0159 / 0.0073 /
    0.0052 / 0.0033 (too narrow: it ignores that strips reuse digits).
    """
    correct = np.asarray(correct, dtype=np.float64)
    digit_index = np.asarray(digit_index)
    if digit_index.ndim != 2 or len(digit_index) != len(correct):
        raise ValueError(
            f"digit_index must be (n, L) with n = len(correct) = {len(correct)}, got shape {digit_index.shape}"
        )
    if correct.ndim == 2 and correct.shape != digit_index.shape:
        raise ValueError(f"per-slot correct must have digit_index's shape {digit_index.shape}, got {correct.shape}")
    if correct.ndim not in (1, 2) or len(correct) == 0:
        raise ValueError(f"correct must be a non-empty (n,) or (n, L) array, got shape {correct.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot!r}")
    pos, valid, n_ids = digit_positions(digit_index)
    if correct.ndim == 2:
        num, den = np.where(valid, correct, 0).sum(1), valid.sum(1).astype(np.float64)
    else:
        num, den = correct, np.ones(len(correct))
    total_den = den.sum()
    if total_den <= 0:
        return math.nan, math.nan
    point = num.sum() / total_den
    stats = []
    for w in digit_weight_draws(pos, n_ids, int(n_boot), seed, chunk):
        total = w @ den
        with np.errstate(invalid="ignore", divide="ignore"):
            stats.append(np.where(total > 0, (w @ num) / total, np.nan))
    stats = np.concatenate(stats)
    stats = stats[np.isfinite(stats)]
    if not len(stats):
        return math.nan, math.nan
    boot_var = float(np.mean((stats - point) ** 2))
    target = cluster_variance(num - point * den, pos, valid, n_ids) / total_den**2
    scale = math.sqrt(target / boot_var) if boot_var > 0 else 0.0
    lo, hi = point + scale * (np.percentile(stats, [50 * (1 - level), 50 * (1 + level)]) - point)
    return float(np.clip(lo, 0.0, 1.0)), float(np.clip(hi, 0.0, 1.0))


def paired_difference(new, old, digit_index, n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(mean of new - old, lo, hi): the difference of two per-strip outcomes on the *same* strips
    with a paired 95% interval, resampled over digits like :func:`digit_bootstrap`. The per-strip
    difference (-1..1) is mapped to [0, 1] for the bootstrap (which clips there) and back; the
    resampling is linear, so the mapping changes nothing else."""
    new, old = np.asarray(new, np.float64), np.asarray(old, np.float64)
    if new.shape != old.shape:
        raise ValueError(f"paired outcomes must have the same shape, got {new.shape} and {old.shape}")
    lo, hi = digit_bootstrap((new - old + 1) / 2, digit_index, n_boot=n_boot, seed=seed)
    return float(new.mean() - old.mean()), 2 * lo - 1, 2 * hi - 1


def difference_verdict(lo: float, hi: float) -> str:
    """How a paired interval reads: "higher"/"lower" only when it excludes 0."""
    return "lower" if hi < 0 else "higher" if lo > 0 else "no difference shown"


def digit_positions(digit_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """(pos, valid, n_ids): each slot's position among the distinct digit ids (padding points at
    position n_ids, whose multiplicity stays 1), which slots hold a digit, and how many ids."""
    valid = digit_index >= 0
    ids, inverse = np.unique(digit_index[valid], return_inverse=True)
    pos = np.full(digit_index.shape, len(ids))
    pos[valid] = inverse
    return pos, valid, len(ids)


def digit_weight_draws(pos: np.ndarray, n_ids: int, n_boot: int, seed: int, chunk: int = 50):
    """Bootstrap draws of strip weights, ``chunk`` draws at a time as (b, n) arrays: the digit ids
    resampled with replacement (multiplicities m_d), a strip weighted 1 + sum_j (m_dj - 1)."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        m = np.ones((b, n_ids + 1))
        m[:, :-1] = rng.multinomial(n_ids, np.full(n_ids, 1.0 / max(n_ids, 1)), size=b) if n_ids else 0
        yield 1.0 + (m[:, pos] - 1.0).sum(axis=2)


def cluster_variance(resid: np.ndarray, pos: np.ndarray, valid: np.ndarray, n_ids: int) -> float:
    """N^2 x the multiway cluster-robust variance of a mean whose strips (residuals ``resid``) are
    crossed with digit clusters (``pos``: (n, L) digit positions, ``valid``: real slots): the sum
    of r_s r_s' over pairs of strips that share a digit, each strip with itself once; never less
    than sum_s r_s^2 (independent strips)."""
    g = np.zeros(n_ids + 1)
    np.add.at(g, np.where(valid, pos, n_ids), np.where(valid, resid[:, None], 0.0))
    # sum_d n_sd^2 per strip: pairs of slots that hold the same digit (a slot with itself included)
    same = (pos[:, :, None] == pos[:, None, :]) & valid[:, :, None] & valid[:, None, :]
    own = resid**2
    v = float((g[:n_ids] ** 2).sum() - ((same.sum((1, 2)) - 1) * own).sum())
    return max(v, float(own.sum()))


def digit_correct(preds: Sequence[str], labels: Sequence[str], width: int) -> np.ndarray:
    """(n, width) bool: the prediction's character at each position of the label equals the label's
    (the position-aligned per-digit accuracy of ``SequenceMetrics``); False beyond the label."""
    out = np.zeros((len(labels), width), bool)
    for i, (p, t) in enumerate(zip(preds, labels)):
        for j, ch in enumerate(t[:width]):
            out[i, j] = j < len(p) and p[j] == ch
    return out


def format_interval(value, lo=None, hi=None, digits: int = 1) -> str:
    """``96.9% [95.8, 97.7]`` (percent); just ``96.9%`` without bounds; ``–`` for a missing value."""
    if value is None or not math.isfinite(float(value)):
        return "–"
    text = f"{100 * float(value):.{digits}f}%"
    if lo is not None and hi is not None and math.isfinite(float(lo)) and math.isfinite(float(hi)):
        text += f" [{100 * float(lo):.{digits}f}, {100 * float(hi):.{digits}f}]"
    return text


def format_difference(diff, lo, hi, digits: int = 1) -> str:
    """``+0.4 [-0.1, +0.9]``: a paired difference and its interval, in signed points (percent)."""
    return f"{100 * diff:+.{digits}f} [{100 * lo:+.{digits}f}, {100 * hi:+.{digits}f}]"


def strip_accuracy(
    preds: Sequence[str], labels: Sequence[str], digit_index, n_boot: int = 1000, seed: int = 0
) -> dict[str, float]:
    """Exact match and per-digit accuracy with their digit-bootstrap intervals, and how many
    distinct test digits the strips hold: keys exact_match(_lo, _hi), digit_acc(_lo, _hi), n_digits."""
    if len(preds) != len(labels):
        raise ValueError(f"got {len(preds)} predictions for {len(labels)} labels")
    digit_index = np.asarray(digit_index)
    exact = np.array([p == t for p, t in zip(preds, labels)])
    return outcome_accuracy(exact, digit_correct(preds, labels, digit_index.shape[1]), digit_index, n_boot, seed)


def outcome_accuracy(exact, correct, digit_index, n_boot: int = 1000, seed: int = 0) -> dict[str, float]:
    """:func:`strip_accuracy` from per-strip outcomes: ``exact`` (n,) bool and ``correct`` (n, L) bool per
    digit slot (``seqrec.metrics.match_digits``), with ``digit_index`` (n, L)."""
    digit_index = np.asarray(digit_index)
    exact = np.asarray(exact, np.float64)
    per_digit = np.asarray(correct, bool)[:, : digit_index.shape[1]] & (digit_index >= 0)
    lens = (digit_index >= 0).sum()
    out = {
        "exact_match": float(exact.mean()),
        "digit_acc": float(per_digit.sum() / max(lens, 1)),
        "n_digits": float(len(np.unique(digit_index[digit_index >= 0]))),
    }
    out["exact_match_lo"], out["exact_match_hi"] = digit_bootstrap(exact, digit_index, n_boot, seed)
    out["digit_acc_lo"], out["digit_acc_hi"] = digit_bootstrap(per_digit, digit_index, n_boot, seed)
    return out


# ---------------------------------------------------------------------- calibration
def _conf_correct(conf, correct) -> tuple[torch.Tensor, torch.Tensor]:
    conf = torch.as_tensor(np.asarray(conf, dtype=np.float64)).flatten()
    correct = torch.as_tensor(np.asarray(correct)).flatten()
    if len(conf) != len(correct) or len(conf) == 0:
        raise ValueError(f"conf and correct must be non-empty and of one length, got {len(conf)} and {len(correct)}")
    if bool(((conf < 0) | (conf > 1) | conf.isnan()).any()):
        raise ValueError("confidences must lie in [0, 1]")
    return conf, correct.bool()


def expected_calibration_error(conf, correct, n_bins: int = 15) -> float:
    """ECE: sum over ``n_bins`` equal-width confidence bins of (share of strips in the bin) x
    |accuracy - mean confidence| in the bin (torchmetrics' binary calibration error, L1 norm)."""
    from torchmetrics.functional.classification import binary_calibration_error

    if isinstance(n_bins, bool) or int(n_bins) != n_bins or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    conf, correct = _conf_correct(conf, correct)
    return float(binary_calibration_error(conf.float(), correct.long(), n_bins=int(n_bins), norm="l1"))


def squared_errors(conf, correct) -> np.ndarray:
    """(confidence - right)^2 per strip. Their mean is the Brier score, a proper score that rewards
    both calibration and sharpness; being a mean, :func:`digit_bootstrap` and
    :func:`paired_difference` give it an interval over digits, which the binned ECE lacks."""
    conf, correct = _conf_correct(conf, correct)
    return ((conf - correct.double()) ** 2).numpy()


def coverage_at_accuracy(conf, correct, target: float = 0.995) -> tuple[float, float]:
    """(share of strips kept, confidence threshold): keep strips with confidence >= threshold,
    the largest such set whose accuracy is >= ``target``. Strips are sorted by confidence,
    highest first; a set ends only where the confidence changes (ties are kept or dropped
    together). Nothing qualifies: (0.0, inf)."""
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    conf, correct = _conf_correct(conf, correct)
    order = torch.argsort(conf, descending=True, stable=True)
    c, ok = conf[order].numpy(), correct[order].numpy().astype(np.float64)
    k = int(largest_prefix(np.cumsum(ok)[None], np.arange(1.0, len(ok) + 1)[None], c, target)[0])
    if k < 0:
        return 0.0, math.inf
    return (k + 1) / len(c), float(c[k])


def largest_prefix(right: np.ndarray, kept: np.ndarray, sorted_conf: np.ndarray, target: float) -> np.ndarray:
    """Per row of (b, n) running totals of right and kept strips (most confident first, confidences
    ``sorted_conf`` descending), the index of the last strip of the largest prefix whose accuracy is
    >= ``target``; -1 where none is. A prefix ends only between different confidences (ties are
    kept or dropped together)."""
    ends = np.append(sorted_conf[1:] < sorted_conf[:-1], True)
    good = ends & (right >= (target - 1e-12) * kept)
    last = good.shape[1] - 1 - np.argmax(good[:, ::-1], axis=1)
    return np.where(good.any(1), last, -1)


def coverage_interval(
    conf, correct, digit_index, target: float = 0.995, n_boot: int = 1000, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile interval of :func:`coverage_at_accuracy`, resampling the test digits as
    :func:`digit_bootstrap` does (strip weights from digit multiplicities): each draw keeps the
    largest confidence-ordered prefix whose weighted accuracy is >= ``target``. Coverage is not a
    mean, so the draws are not rescaled to the cluster variance as an accuracy's are; with several
    digits per strip the first-order weights count each strip's own noise once per digit, so the
    interval errs wide. At 99.5% a handful of confident errors on a few digits decide coverage,
    and this shows how much it can move.

    Simulated check (``docs/cv/calibration/coverage_interval_sim.py``: fresh pools of 500 or 5,000
    digits with 1-5% hard digits, 2,000 or 10,000 strips of 5): the intervals held the mean
    coverage over draws in 95%, 98% and 99% of 80 draws."""
    lo, hi = np.percentile(
        coverage_draws(conf, correct, digit_index, target, n_boot, seed), [50 * (1 - level), 50 * (1 + level)]
    )
    return float(lo), float(hi)


def coverage_draws(conf, correct, digit_index, target: float = 0.995, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_boot,) coverages at ``target`` accuracy, one per bootstrap draw of the test digits. The
    draws depend only on ``digit_index`` and ``seed``, so two readers of the same strips share them."""
    conf, correct = (t.numpy() for t in _conf_correct(conf, correct))
    digit_index = np.asarray(digit_index)
    if digit_index.ndim != 2 or len(digit_index) != len(conf):
        raise ValueError(f"digit_index must be (n, L) with n = {len(conf)} strips, got shape {digit_index.shape}")
    if not 0 < target <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {target!r}")
    order = np.argsort(-conf, kind="stable")
    ok = correct[order].astype(np.float64)
    pos, _, n_ids = digit_positions(digit_index)
    draws = []
    for w in digit_weight_draws(pos, n_ids, int(n_boot), seed):
        w = w[:, order]  # most confident strip first
        kept = np.cumsum(w, axis=1)
        last = largest_prefix(np.cumsum(w * ok, axis=1), kept, conf[order], target)
        draws.append(np.where(last >= 0, kept[np.arange(len(w)), last] / kept[:, -1], 0.0))
    return np.concatenate(draws)


def coverage_difference(
    new: tuple, old: tuple, digit_index, target: float = 0.995, n_boot: int = 1000, seed: int = 0, level: float = LEVEL
) -> tuple[float, float, float]:
    """(coverage of new - old, lo, hi): two readers' (confidence, correct) on the *same* strips,
    with a paired percentile interval from the same digit draws (:func:`coverage_draws`)."""
    if len(new[0]) != len(old[0]):
        raise ValueError(f"paired readers must read the same strips, got {len(new[0])} and {len(old[0])}")
    diff = coverage_at_accuracy(*new, target)[0] - coverage_at_accuracy(*old, target)[0]
    draws = coverage_draws(*new, digit_index, target, n_boot, seed) - coverage_draws(
        *old, digit_index, target, n_boot, seed
    )
    lo, hi = np.percentile(draws, [50 * (1 - level), 50 * (1 + level)])
    return float(diff), float(lo), float(hi)


def fit_temperature(nll: Callable[[float], float], bounds: tuple[float, float] = T_RANGE, iters: int = 30) -> float:
    """The temperature in ``bounds`` minimising ``nll(T)`` (mean negative log-likelihood of the
    true labels with logits / T): golden-section search over log T (the NLL is unimodal in T)."""
    lo, hi = (math.log(b) for b in bounds)
    if not lo < hi:
        raise ValueError(f"temperature bounds must be 0 < low < high, got {bounds!r}")
    g = (math.sqrt(5) - 1) / 2
    a, b = lo + (1 - g) * (hi - lo), lo + g * (hi - lo)
    fa, fb = nll(math.exp(a)), nll(math.exp(b))
    for _ in range(iters):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - g) * (hi - lo)
            fa = nll(math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = nll(math.exp(b))
    return math.exp((lo + hi) / 2)


def fit_codec_temperature(codec, logits: torch.Tensor, digits: torch.Tensor, lengths: torch.Tensor) -> float:
    """Temperature minimising the codec's mean sequence NLL of the true labels (``Codec.sequence_nll``)."""
    logits = logits.detach().float()

    def nll(t: float) -> float:
        values = codec.sequence_nll(logits, digits, lengths, temperature=t)
        return float(values.clamp(max=1e4).mean())  # an infeasible label must not swamp the rest

    return fit_temperature(nll)


def confidences(rec, strips, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(sequence confidence, correct, texts) of a Recognizer on strips."""
    preds = rec.predict(strips.images, batch_size=batch_size, return_confidence=True)
    texts = [p.text for p in preds]
    conf = np.array([p.confidence for p in preds], np.float64)
    return conf, np.array([p == t for p, t in zip(texts, strips.labels)]), texts


def strip_tensors(strips, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits (n, max_len) int64 padded with -1, lengths (n,)) of labelled strips (``Strips.digits``)."""
    digits = torch.full((len(strips), max_len), -1, dtype=torch.long)
    width = min(max_len, strips.digits.shape[1])
    digits[:, :width] = torch.as_tensor(strips.digits[:, :width], dtype=torch.long)
    return digits, torch.as_tensor(strips.lengths, dtype=torch.long).clamp(max=max_len)


def recognizer_logits(rec, images: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """Raw logits of a Recognizer on model-size uint8 strips (preprocessed as ``predict`` does)."""
    chunks = range(0, len(images), batch_size)
    return torch.cat([rec.logits(rec.preprocess(images[i : i + batch_size])) for i in chunks])


def fit_recognizer_temperature(rec, strips, batch_size: int = 256) -> float:
    """Temperature of a Recognizer's codec fitted on labelled (validation) strips."""
    if getattr(strips, "split", "") == "test":
        raise ValueError("fit the temperature on validation strips, never on test strips")
    digits, lengths = strip_tensors(strips, rec.codec.max_len)
    return fit_codec_temperature(rec.codec, recognizer_logits(rec, strips.images, batch_size), digits, lengths)


def write_temperature(path, temperature: float) -> Path:
    """Rewrite a checkpoint with only its codec temperature changed, atomically (tmp file, then
    rename); every other entry, weights included, is written back unchanged."""
    from ..checkpoint import CHECKPOINT_KEY, read_checkpoint
    from ..codecs import check_temperature
    from ..data.atomic import replace_file

    path = Path(path)
    ckpt = read_checkpoint(path)  # weights-only load: a foreign file cannot run code
    codec = dict(ckpt[CHECKPOINT_KEY]["codec"])
    codec["temperature"] = check_temperature(temperature)
    ckpt[CHECKPOINT_KEY] = {**ckpt[CHECKPOINT_KEY], "codec": codec}
    return replace_file(path, lambda f: torch.save(ckpt, f))


def calibrate_checkpoint(
    path,
    source: str = "bundled",
    split: str = "val",
    n: int = 2000,
    seed: int = 0,
    root=None,
    write: bool = True,
    fit_on: Sequence | None = None,
) -> dict:
    """Fit a checkpoint's temperature on ``n`` strips of ``split`` digits, composed like its
    training data (the checkpoint's data config), and (``write``) store it in the checkpoint.

    ``fit_on``: cross-validation fold checkpoints of the same recipe instead, each reading ``n``
    strips of its own fold's val digits (which it never trained on), less the target's test
    digits. This is how a final fit on train + val (``data.train_on_val``) is calibrated: its own
    val digits are training data, on which its confidences would look better than they are.
    Returns {"temperature", "before": {nll, ece}, "after": {nll, ece}, "n", "source", "split"}."""
    from ..recognizer import Recognizer

    if split == "test":
        raise ValueError("split='test': the temperature is fitted on validation digits, never on test digits")
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive number of strips, got {n!r}")
    data = checkpoint_data(path)
    if data.get("train_on_val") and not fit_on:
        raise ValueError(
            f"{path} trained on its val digits (data.train_on_val=true), so a temperature fitted on them "
            "would make its confidences too high; fit it on the recipe's cross-validation folds instead "
            "(fit_on=[fold checkpoints]; scripts/calibrate.py CKPT --fit-on FOLD_CKPT ...)"
        )
    rec = Recognizer.from_checkpoint(path, optimize=False)
    if fit_on:
        sets = fold_calibration_sets(rec, data, fit_on, int(n), int(seed), root)
    else:
        sets = [(rec, _strips_like(data, rec, int(n), [int(seed), 0xCA1B], split=split, source=source, root=root))]
    logits = torch.cat([recognizer_logits(r, s.images) for r, s in sets])
    digits, lengths = (torch.cat(t) for t in zip(*(strip_tensors(s, rec.codec.max_len) for _, s in sets)))
    report = {"n": int(n) * len(sets), "source": source, "split": split}
    if fit_on:
        report.update(source=sets[0][1].source, split="val of the folds", fit_on=[str(f) for f in fit_on])
    report.update(temperature_report(rec.codec, logits, digits, lengths))
    if write:
        write_temperature(path, report["temperature"])
    return report


def temperature_report(codec, logits: torch.Tensor, digits: torch.Tensor, lengths: torch.Tensor) -> dict:
    """The fitted temperature, with the NLL and ECE of the codec's confidences before and after."""
    from ..metrics import match_digits

    temperature = fit_codec_temperature(codec, logits, digits, lengths)
    decoded = codec.decode(logits)
    correct = match_digits(decoded.digits, decoded.lengths, digits, lengths, codec.max_len)[0].numpy()
    report = {"temperature": temperature}
    stored = codec.temperature
    try:
        for key, t in (("before", stored), ("after", temperature)):
            codec.temperature = t
            report[key] = {
                "temperature": t,
                "nll": float(codec.sequence_nll(logits, digits, lengths).mean()),
                "ece": expected_calibration_error(codec.decode(logits).confidence.clamp(0, 1), correct),
            }
    finally:
        codec.temperature = stored
    return report


def checkpoint_data(path) -> dict:
    """The data config a checkpoint was trained with (empty when it has none)."""
    from ..checkpoint import read_checkpoint

    return dict((read_checkpoint(path)["seqrec"]["config"] or {}).get("data") or {})


def _strips_like(data: dict, rec, n: int, seed, **where):
    """``n`` strips composed like the training data ``data``, at ``rec``'s input size."""
    from ..data.strips import StripConfig, make_strips

    keys = set(StripConfig.__dataclass_fields__) - {"height", "width"}
    kwargs = {k: v for k, v in data.items() if k in keys}
    kwargs["height"], kwargs["width"] = rec.image_size
    return make_strips(n, seed=seed, **where, **kwargs)


def load_test_ids(data: dict, root=None) -> np.ndarray:
    """Global ids of the test digits of a checkpoint's data config (its split, or its fold)."""
    from ..data.sources import load_digits

    return load_digits(data.get("source", "bundled"), "test", root, data.get("folds"), data.get("fold")).ids


def fold_calibration_sets(target, data: dict, fit_on: Sequence, n: int, seed: int, root=None) -> list[tuple]:
    """(Recognizer, strips) of each fold checkpoint in ``fit_on``, for the ``target`` Recognizer
    trained on ``data``: same head, input size and digit source, and none of its test digits."""
    held_out, source = load_test_ids(data, root), data.get("source", "bundled")
    sets = []
    for k, path in enumerate(fit_on):
        fold_rec, strips = fold_calibration_set(path, n, [seed, 0xCA1B, k], held_out, source, root)
        check_same_reader(target, fold_rec, path)
        sets.append((fold_rec, strips))
    return sets


def fold_calibration_set(path, n: int, seed, held_out: np.ndarray, source: str = "bundled", root=None) -> tuple:
    """(Recognizer, strips) of a cross-validation fold checkpoint trained on ``source``: strips of
    its fold's val digits, less the ``held_out`` ids (the published model's test digits)."""
    import dataclasses

    from ..data.sources import load_digits
    from ..recognizer import Recognizer

    data = checkpoint_data(path)
    if data.get("source", "bundled") != source:
        raise ValueError(
            f"{path} was trained on digit source {data.get('source', 'bundled')!r}, the checkpoint to "
            f"calibrate on {source!r}: fit_on wants folds of the same recipe"
        )
    if data.get("folds") is None or data.get("train_on_val"):
        raise ValueError(
            f"{path} is not a cross-validation fold with held-out val digits (data.folds="
            f"{data.get('folds')!r}, data.train_on_val={data.get('train_on_val')!r}); fit_on wants checkpoints "
            "written by benchmarks/bench_cv.py"
        )
    pool = load_digits(source, "val", root, data["folds"], data["fold"])
    keep = ~np.isin(pool.ids, held_out)
    pool = dataclasses.replace(pool, images=pool.images[keep], labels=pool.labels[keep], ids=pool.ids[keep])
    rec = Recognizer.from_checkpoint(path, optimize=False)
    return rec, _strips_like(data, rec, n, seed, pool=pool)


def check_same_reader(target, fold_rec, path) -> None:
    """A fold's logits stand in for the target's only when both decode the same way at the same size."""
    same = type(fold_rec.codec) is type(target.codec) and fold_rec.codec.max_len == target.codec.max_len
    if not same or fold_rec.image_size != target.image_size:
        raise ValueError(
            f"{path} reads {fold_rec.head} at {fold_rec.image_size}, the checkpoint to calibrate reads "
            f"{target.head} at {target.image_size}: fit_on wants folds of the same recipe"
        )
