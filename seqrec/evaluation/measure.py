"""Measuring a Recognizer: sequence metrics with intervals, predict throughput, accuracy by gap."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import numpy as np

from ..data.strips import STRIP_SETTINGS, StripConfig, make_strips
from .strips import strips_at_gap

log = logging.getLogger(__name__)

GAPS = tuple(range(-8, 9))


def evaluate(rec, strips, batch_size: int = 256, n_boot: int = 1000) -> dict[str, float]:
    """Read the strips with a Recognizer; the shared sequence metrics as floats, plus 95% intervals
    of exact match and per-digit accuracy from a bootstrap over the strips' distinct digits
    (``exact_match_lo``/``_hi``, ``digit_acc_lo``/``_hi``) and their number (``n_digits``)."""
    import torch

    from ..metrics import SequenceMetrics, match_digits, texts_to_digits
    from .intervals import outcome_accuracy

    preds = rec.predict(strips.images, batch_size=batch_size)
    guess = texts_to_digits(preds)  # a Recognizer reads text; back to ints once, at the boundary
    truth = torch.as_tensor(strips.digits).long(), torch.as_tensor(strips.lengths).long()
    metrics = SequenceMetrics(max(int(strips.lengths.max()), rec.max_len))
    metrics.update(*guess, *truth)
    out = {k: float(v) for k, v in metrics.compute().items() if not k.startswith(("precision_", "recall_", "f1_"))}
    exact, correct, _, _ = match_digits(*guess, *truth, strips.digit_index.shape[1])
    bounds = outcome_accuracy(exact.numpy(), correct.numpy(), strips.digit_index, n_boot=n_boot)
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
) -> None:
    """Parameters, predict strips/s and accuracy by gap (with its 95% interval), from the run's
    best checkpoint. ``optimize``: the Recognizer's default frozen TorchScript copy (False: the eager net)."""
    if run.checkpoint is None:
        return
    from ..data.sources import load_digits
    from ..recognizer import Recognizer

    rec = Recognizer.from_checkpoint(run.checkpoint, optimize=optimize)
    model = rec.model
    run.params = float(sum(p.numel() for p in model.parameters())) if hasattr(model, "parameters") else math.nan
    data = run.data
    pool = load_digits(source or data.get("source", "bundled"), "test", data.get("root"))
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
