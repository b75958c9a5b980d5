"""Sequence metrics shared by every head, on int digit tensors. Torchmetrics states sum correctly across DDP ranks."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchmetrics import Metric, MetricCollection
from torchmetrics.classification import MulticlassF1Score, MulticlassPrecision, MulticlassRecall
from torchmetrics.functional.text import char_error_rate

from .codecs import digits_to_texts

MISSING = 10  # confusion-matrix class for "no digit at this position"


class SequenceMetrics(Metric):
    """Exact match, per-digit accuracy, CER, accuracy per position and per length, a
    position-aligned 11x11 confusion matrix (class 10 = missing) and per-class P/R/F1 (torchmetrics)."""

    full_state_update = False

    def __init__(self, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.max_len = int(max_len)
        L = self.max_len
        for name, shape in [
            ("exact", ()),
            ("total", ()),
            ("edits", ()),
            ("ref_chars", ()),
            ("pos_correct", (L,)),
            ("pos_total", (L,)),
            ("len_correct", (L + 1,)),
            ("len_total", (L + 1,)),
            ("confusion", (MISSING + 1, MISSING + 1)),
        ]:
            self.add_state(name, default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")
        kinds = {"precision": MulticlassPrecision, "recall": MulticlassRecall, "f1": MulticlassF1Score}
        self.per_class = MetricCollection({k: cls(num_classes=MISSING + 1, average=None) for k, cls in kinds.items()})

    def update(self, pred_digits, pred_lengths, target_digits, target_lengths) -> None:
        """Predictions and targets as (n, width) int digits (-1 or anything past the length is ignored)
        and (n,) lengths. Predictions may be wider than ``max_len``: extra digits make a strip wrong."""
        dev = self.exact.device
        pd, pl, td, tl = (
            torch.as_tensor(x, device=dev).long() for x in (pred_digits, pred_lengths, target_digits, target_lengths)
        )
        if pd.ndim != 2 or td.ndim != 2 or not len(pd) == len(pl) == len(td) == len(tl):
            raise ValueError(
                f"got {len(pd)} predictions for {len(td)} targets, or digits that are not (n, width): "
                f"predictions {tuple(pd.shape)}, targets {tuple(td.shape)}"
            )
        L = self.max_len
        exact, correct, truth, guess = match_digits(pd, pl, td, tl, L)
        exact = exact.to(torch.float64)
        present = truth != MISSING
        lengths = tl.clamp(max=L)
        self.exact += exact.sum()
        self.total += len(tl)
        self.pos_correct += correct.sum(0)
        self.pos_total += present.sum(0)
        self.len_correct.index_add_(0, lengths, exact)
        self.len_total.index_add_(0, lengths, torch.ones_like(exact))
        n_chars = int(tl.sum())
        if n_chars:  # torchmetrics' CER compares strings: digits become characters only here
            self.edits += float(char_error_rate(digits_to_texts(pd, pl), digits_to_texts(td, tl))) * n_chars
            self.ref_chars += n_chars
        idx = (truth * (MISSING + 1) + guess).flatten()
        counts = torch.bincount(idx, minlength=(MISSING + 1) ** 2).view(MISSING + 1, MISSING + 1)
        self.confusion += counts.to(self.confusion)
        self.per_class.update(guess.flatten(), truth.flatten())

    def compute(self) -> dict[str, torch.Tensor]:
        out = {
            "exact_match": self.exact / self.total.clamp(min=1),
            "digit_acc": self.pos_correct.sum() / self.pos_total.sum().clamp(min=1),
            "cer": self.edits / self.ref_chars.clamp(min=1),
        }
        for i in range(self.max_len):
            if self.pos_total[i] > 0:
                out[f"acc_pos{i + 1}"] = self.pos_correct[i] / self.pos_total[i]
        for k in range(1, self.max_len + 1):
            if self.len_total[k] > 0:
                out[f"acc_len{k}"] = self.len_correct[k] / self.len_total[k]
        if self.total > 0:
            per_class = self.per_class.compute()
        else:  # nothing seen yet: zeros, without torchmetrics' warning
            per_class = {kind: torch.zeros(MISSING + 1) for kind in self.per_class}
        for kind, values in per_class.items():
            out.update({f"{kind}_{d}": values[d] for d in range(MISSING)})
        return {k: v.float() for k, v in out.items()}

    def reset(self) -> None:
        super().reset()
        self.per_class.reset()


def match_digits(pred_digits, pred_lengths, target_digits, target_lengths, width: int):
    """(exact (n,) bool: the whole reading is right, correct (n, width) bool: the digit at each position of the
    target is read right (False past the target), truth and guess (n, width) padded with MISSING)."""
    full = max(pred_digits.shape[1], target_digits.shape[1], 1)
    same = padded(pred_digits, pred_lengths, full) == padded(target_digits, target_lengths, full)
    exact = (pred_lengths == target_lengths) & same.all(1)
    truth, guess = padded(target_digits, target_lengths, width), padded(pred_digits, pred_lengths, width)
    return exact, (truth == guess) & (truth != MISSING), truth, guess


def padded(digits: torch.Tensor, lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(n, width) digit classes, MISSING past each length (and where a digit is negative)."""
    out = torch.full((len(digits), width), MISSING, dtype=torch.long, device=digits.device)
    k = min(width, digits.shape[1])
    keep = (torch.arange(k, device=digits.device) < lengths[:, None]) & (digits[:, :k] >= 0)
    out[:, :k] = torch.where(keep, digits[:, :k], MISSING)
    return out


def texts_to_digits(texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(digits (n, longest) int64 padded with -1, lengths (n,)) of digit strings, e.g. a Recognizer's
    readings (empty strings allowed; a character that is not a digit becomes -1, counted as wrong)."""
    width = max((len(t) for t in texts), default=0)
    digits = torch.full((len(texts), width), -1, dtype=torch.long)
    for i, t in enumerate(texts):
        digits[i, : len(t)] = torch.tensor([int(c) if c.isdigit() else -1 for c in t], dtype=torch.long)
    return digits, torch.tensor([len(t) for t in texts], dtype=torch.long)
