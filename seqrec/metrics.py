"""Sequence metrics shared by every head. Torchmetrics states sum correctly across DDP ranks."""
from __future__ import annotations

import torch
from torchmetrics import Metric
from torchmetrics.functional.text import char_error_rate

MISSING = 10  # confusion-matrix class for "no digit at this position"


class SequenceMetrics(Metric):
    """Exact match, per-digit accuracy, CER, accuracy per position and per length, and a
    position-aligned 11x11 confusion matrix (class 10 = missing) for per-class P/R/F1."""

    full_state_update = False

    def __init__(self, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.max_len = int(max_len)
        L = self.max_len
        for name, shape in [
            ("exact", ()), ("total", ()), ("edits", ()), ("ref_chars", ()),
            ("pos_correct", (L,)), ("pos_total", (L,)), ("len_correct", (L + 1,)), ("len_total", (L + 1,)),
            ("confusion", (MISSING + 1, MISSING + 1)),
        ]:
            self.add_state(name, default=torch.zeros(shape, dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, preds: list[str], targets: list[str]) -> None:
        if len(preds) != len(targets):
            raise ValueError(f"got {len(preds)} predictions for {len(targets)} targets")
        L = self.max_len
        dev = self.exact.device
        exact = torch.tensor([p == t for p, t in zip(preds, targets)], dtype=torch.float64, device=dev)
        lengths = torch.tensor([min(len(t), L) for t in targets], device=dev)
        truth, guess = _padded(targets, L, dev), _padded(preds, L, dev)
        present = truth != MISSING
        self.exact += exact.sum()
        self.total += len(targets)
        self.pos_correct += ((truth == guess) & present).sum(0)
        self.pos_total += present.sum(0)
        self.len_correct.index_add_(0, lengths, exact)
        self.len_total.index_add_(0, lengths, torch.ones_like(exact))
        n_chars = sum(len(t) for t in targets)
        if n_chars:
            self.edits += float(char_error_rate(preds, targets)) * n_chars
            self.ref_chars += n_chars
        idx = (truth * (MISSING + 1) + guess).flatten()
        self.confusion += torch.bincount(idx, minlength=(MISSING + 1) ** 2).view(MISSING + 1, MISSING + 1).to(self.confusion)

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
        cm = self.confusion[:MISSING, :]
        tp = self.confusion.diagonal()[:MISSING]
        precision = tp / self.confusion[:, :MISSING].sum(0).clamp(min=1)
        recall = tp / cm.sum(1).clamp(min=1)
        f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
        for d in range(MISSING):
            out[f"precision_{d}"], out[f"recall_{d}"], out[f"f1_{d}"] = precision[d], recall[d], f1[d]
        return {k: v.float() for k, v in out.items()}


def _padded(texts: list[str], max_len: int, device) -> torch.Tensor:
    """(B, max_len) digit classes, MISSING where the string has no character (or a non-digit)."""
    out = torch.full((len(texts), max_len), MISSING, dtype=torch.long)
    for i, t in enumerate(texts):
        digits = [int(c) if c.isdigit() else MISSING for c in t[:max_len]]
        out[i, : len(digits)] = torch.tensor(digits, dtype=torch.long)
    return out.to(device)
