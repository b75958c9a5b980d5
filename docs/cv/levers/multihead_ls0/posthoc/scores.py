"""Rank the strips of dumped fold logits (dump.py) by other sequence confidences than the product
of slot probabilities, and print the coverage at 99.5% and 99% accuracy and the AURC of each.

    python docs/cv/levers/multihead_ls0/posthoc/scores.py /tmp/probe/mhr [--sigmoid]

Only the order of the strips matters for coverage, so each score is turned into its rank.
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

from seqrec.evaluation.intervals import coverage_at_accuracy

SLOTS, CLASSES, EMPTY = 5, 11, 10


def load(prefix: str, suite: str) -> tuple[torch.Tensor, list[str]]:
    logits, labels = [], []
    for k in range(5):
        d = np.load(f"{prefix}_f{k}_{suite}.npz")
        logits.append(d["logits"])
        labels += list(d["labels"])
    return torch.tensor(np.concatenate(logits)).view(-1, SLOTS, CLASSES), labels


def decode(z: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """The multihead codec's decoding: digits up to the first EMPTY slot, EMPTY after."""
    cls = z.argmax(-1)
    empty = cls == EMPTY
    n = torch.where(empty.any(1), empty.float().argmax(1), torch.full_like(cls[:, 0], SLOTS))
    pattern = torch.where(torch.arange(SLOTS) < n[:, None], cls, EMPTY)
    return pattern, ["".join(map(str, row[:k])) for row, k in zip(cls.tolist(), n.tolist())]


def scores(z: torch.Tensor, sigmoid: bool) -> tuple[list[str], dict]:
    pattern, texts = decode(z)
    out = {}
    for t in (1.0, 0.655, 2.0, 4.0):
        lp = F.logsigmoid(z / t) if sigmoid else (z / t).log_softmax(-1)
        slot = lp.gather(2, pattern[..., None]).squeeze(2)
        out[f"product T={t}"], out[f"smallest slot T={t}"] = slot.sum(1).exp(), slot.min(1).values.exp()
    top2 = z.topk(2, -1).values
    out["smallest margin"] = (top2[..., 0] - top2[..., 1]).min(1).values
    centred = z - z.mean(-1, keepdim=True)
    for p in (1, 2, 3, 4, 8):
        ratio = centred.max(-1).values / centred.norm(p=p, dim=-1)
        out[f"smallest maxlogit/pnorm p={p}"] = ratio.min(1).values
        out[f"sum log maxlogit/pnorm p={p}"] = ratio.log().sum(1)
    out["smallest max logit"] = z.max(-1).values.min(1).values
    entropy = -(z.softmax(-1) * z.log_softmax(-1)).sum(-1)
    out["minus summed entropy"], out["minus largest entropy"] = -entropy.sum(1), -entropy.max(1).values
    return texts, out


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks in (0, 1], ties sharing the lowest rank (so tied strips stay tied)."""
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    first = np.searchsorted(sorted_values, sorted_values, side="left")
    out = np.empty(len(values))
    out[order] = (first + 1) / len(values)
    return out


def aurc(conf: np.ndarray, right: np.ndarray) -> float:
    errors = 1 - right[np.argsort(-conf, kind="stable")]
    return float(np.mean(np.cumsum(errors) / np.arange(1, len(errors) + 1)))


def main(prefix: str, sigmoid: bool) -> None:
    for suite in ("fixed", "variable"):
        z, labels = load(prefix, suite)
        texts, out = scores(z, sigmoid)
        right = np.array([t == y for t, y in zip(texts, labels)], float)
        print(f"== {prefix} {suite}: exact {right.mean():.4f}, {len(right)} strips")
        for name, score in out.items():
            conf = ranks(score.numpy().astype(np.float64))
            kept, kept_99 = coverage_at_accuracy(conf, right)[0], coverage_at_accuracy(conf, right, 0.99)[0]
            area = 1e3 * aurc(conf, right)
            print(f"  {name:32s} coverage at 99.5% {kept:.3f}, at 99% {kept_99:.3f}, AURC x 1e3 {area:.2f}")


if __name__ == "__main__":
    main(sys.argv[1], "--sigmoid" in sys.argv[2:])
