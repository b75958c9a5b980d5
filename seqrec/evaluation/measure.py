"""Measuring a Recognizer: sequence metrics with intervals, predict throughput, accuracy by gap."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import numpy as np

from ..data.strips import STRIP_SETTINGS, StripConfig, make_strips
from .strips import benchmark_strips, strips_at_gap

log = logging.getLogger(__name__)

GAPS = tuple(range(-8, 9))
LONG = (6, 7, 8)  # digits per strip for length generalisation (training strips hold 1..max_len = 5)


def evaluate(rec, strips, batch_size: int = 256, n_boot: int = 1000) -> dict[str, float]:
    """Read the strips with a Recognizer; the shared sequence metrics as floats, plus 95% intervals
    of exact match and per-digit accuracy from a bootstrap over the strips' distinct digits
    (``exact_match_lo``/``_hi``, ``digit_acc_lo``/``_hi``) and their number (``n_digits``)."""
    return evaluate_pooled([(rec, strips)], batch_size, n_boot)


def evaluate_pooled(pairs, batch_size: int = 256, n_boot: int = 1000) -> dict[str, float]:
    """:func:`evaluate` of several (Recognizer, strips) pairs read as one test set, e.g. each
    cross-validation fold's model on strips of its own test digits: the metrics pool every strip,
    and the intervals resample the pooled digits (folds hold disjoint digits)."""
    import torch

    from ..metrics import SequenceMetrics, match_digits, texts_to_digits
    from .intervals import outcome_accuracy

    if not pairs:
        raise ValueError("evaluate_pooled needs at least one (Recognizer, strips) pair")
    max_len = max(max(int(s.lengths.max()), rec.max_len) for rec, s in pairs)
    width = max(s.digit_index.shape[1] for _, s in pairs)
    metrics, exact, correct, index = SequenceMetrics(max_len), [], [], []
    for rec, strips in pairs:
        guess = texts_to_digits(rec.predict(strips.images, batch_size=batch_size))  # text back to ints, once
        truth = torch.as_tensor(strips.digits).long(), torch.as_tensor(strips.lengths).long()
        metrics.update(*guess, *truth)
        e, c, _, _ = match_digits(*guess, *truth, width)
        exact.append(e.numpy())
        correct.append(c.numpy())
        pad = width - strips.digit_index.shape[1]
        index.append(np.pad(strips.digit_index, ((0, 0), (0, pad)), constant_values=-1))
    out = {k: float(v) for k, v in metrics.compute().items() if not k.startswith(("precision_", "recall_", "f1_"))}
    bounds = outcome_accuracy(np.concatenate(exact), np.concatenate(correct), np.concatenate(index), n_boot=n_boot)
    out.update({k: v for k, v in bounds.items() if k not in out})
    return out


def predict_rate(rec, images: np.ndarray, repeats: int = 3, batch_size: int = 256) -> float:
    """Strips/s of ``rec.predict`` on uint8 strips: best of ``repeats`` after a warm-up."""
    rec.predict(images[: min(len(images), batch_size)], batch_size=batch_size)
    best = math.inf
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        rec.predict(images, batch_size=batch_size)
        best = min(best, time.perf_counter() - t0)
    return len(images) / best


def measure(
    run,
    gaps: Sequence[int] = GAPS,
    n_gap: int = 200,
    n_speed: int = 256,
    source: str | None = None,
    seed: int = 0,
    repeats: int = 3,
    optimize: bool = True,
    n_long: int = 300,
    long_lengths: Sequence[int] = LONG,
) -> None:
    """Parameters, predict strips/s, accuracy by gap and on strips longer than training's (each with
    its 95% interval), from the run's best checkpoint. ``optimize``: the Recognizer's default frozen
    TorchScript copy (False: the eager net). ``n_long``: strips per length of ``long_lengths``; 0 skips."""
    if run.checkpoint is None:
        return
    from ..data.sources import load_digits
    from ..recognizer import Recognizer

    rec = Recognizer.from_checkpoint(run.checkpoint, optimize=optimize)
    model = rec.model
    run.params = float(sum(p.numel() for p in model.parameters())) if hasattr(model, "parameters") else math.nan
    data = run.data
    # The run's own test digits: with folds, the fixed test split overlaps its training digits.
    fold = {"folds": data.get("folds"), "fold": data.get("fold")}
    pool = load_digits(source or data.get("source", "bundled"), "test", data.get("root"), **fold)
    height, width = int(data.get("height", rec.image_size[0])), int(data.get("width", rec.image_size[1]))
    if n_speed:  # strips composed like the run's training data, at the model's size
        config = StripConfig.from_dict(
            {**{k: data[k] for k in STRIP_SETTINGS if k in data}, "height": height, "width": width}
        )
        strips = make_strips(int(n_speed), seed=[seed, 0x5BED], config=config, pool=pool)
        run.predict_sps = predict_rate(rec, strips.images, repeats=repeats)
    length = int(data.get("max_len", rec.max_len))
    for g in gaps if n_gap else ():
        try:
            strips = strips_at_gap(int(n_gap), int(g), length=length, width=width, height=height, pool=pool, seed=seed)
        except ValueError as err:  # e.g. the canvas is too narrow for this gap
            log.warning("seqrec: gap %+d skipped for %s: %s", g, run.name, err)
            continue
        m = evaluate(rec, strips)
        run.gap_acc[int(g)] = m["exact_match"]
        run.gap_ci[int(g)] = (m["exact_match_lo"], m["exact_match_hi"])
    if n_long and long_lengths:
        measure_long(run, rec, pool, int(n_long), long_lengths, seed)


def positions_at(rec, height: int, width: int) -> int:
    """Output positions (dim 1 of the logits) of the net on a (height, width) input."""
    import torch

    return int(rec.logits(torch.zeros(1, 1, height, width)).shape[1])


def measure_long(run, rec, pool, n: int, lengths: Sequence[int], seed: int = 0) -> None:
    """Exact match (95% digit-bootstrap interval) on ``n`` strips of k held-out test digits for each
    k in ``lengths``, on a canvas of max(lengths) digit widths, composed like the run's training
    strips otherwise. A fixed-width head cannot take the wider canvas: ``run.long_note`` says so. A
    head whose output positions do not grow with the width (slots) reads at most ``rec.max_len``
    digits: measured all the same (0% is the honest number) and noted."""
    if rec.fixed_width:
        run.long_note = "n/a (fixed width)"
        return
    data = run.data
    height = int(data.get("height", rec.image_size[0]))
    width = max(max(lengths) * pool.images.shape[2], rec.image_size[1])
    settings = {k: data[k] for k in STRIP_SETTINGS if k in data and k not in ("min_len", "max_len")}
    config = StripConfig.from_dict({**settings, "height": height, "width": width})
    if positions_at(rec, height, width) == positions_at(rec, height, rec.image_size[1]) and max(lengths) > rec.max_len:
        run.long_note = (
            f"reads at most {rec.max_len} digits: its output slots do not grow with the width, "
            f"so strips of more than {rec.max_len} digits cannot be read whole"
        )
    for k in lengths:
        strips = benchmark_strips(int(n), config=config, min_len=int(k), max_len=int(k), pool=pool, seed=seed)
        m = evaluate(rec, strips)
        run.long_acc[int(k)] = m["exact_match"]
        run.long_ci[int(k)] = (m["exact_match_lo"], m["exact_match_hi"])
