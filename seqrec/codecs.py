"""Label codecs: each head's mapping between digit strings and its targets/outputs."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

NUM_DIGITS = 10


@dataclass
class Decoded:
    """Decoded batch: text per strip, sequence confidence, and one confidence per emitted digit."""

    texts: list[str]
    confidence: torch.Tensor  # (B,)
    digit_confidences: list[list[float]] = field(default_factory=list)


class Codec:
    """Encodes padded digit targets for a head and decodes its raw outputs."""

    name = "base"

    def __init__(self, max_len: int):
        if int(max_len) < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.max_len = int(max_len)

    def encode(self, digits: torch.Tensor, lengths: torch.Tensor):
        raise NotImplementedError

    def decode(self, outputs: torch.Tensor) -> Decoded:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {"name": self.name, "max_len": self.max_len}

    @staticmethod
    def from_dict(d: dict) -> "Codec":
        kinds = {c.name: c for c in (CTCCodec, MultiHeadCodec, MultiLabelCodec)}
        if d.get("name") not in kinds:
            raise ValueError(f"unknown codec {d.get('name')!r}; allowed: {', '.join(kinds)}")
        return kinds[d["name"]](d["max_len"])


class MultiHeadCodec(Codec):
    """One 11-way slot per position; digits right-padded with EMPTY; decoding stops at the first EMPTY."""

    name = "multihead"
    EMPTY = NUM_DIGITS
    num_classes = NUM_DIGITS + 1

    def encode(self, digits, lengths):
        """(B, L) int64 class per slot; -1 padding becomes EMPTY."""
        slots = torch.full((len(digits), self.max_len), self.EMPTY, dtype=torch.long, device=digits.device)
        d = digits[:, : self.max_len]
        slots[:, : d.shape[1]] = torch.where(d >= 0, d, torch.full_like(d, self.EMPTY))
        return slots

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().view(len(outputs), self.max_len, self.num_classes).softmax(-1)

    def decode(self, outputs):
        probs = self.probabilities(outputs)
        conf, cls = probs.max(-1)  # argmax within each 11-slot group
        is_empty = cls == self.EMPTY
        # Number of digits = slots before the first EMPTY.
        n = torch.where(is_empty.any(1), is_empty.float().argmax(1), torch.full_like(cls[:, 0], self.max_len))
        texts, digit_conf = [], []
        for row, c, k in zip(cls.tolist(), conf.tolist(), n.tolist()):
            texts.append("".join(str(x) for x in row[:k]))
            digit_conf.append(c[:k])
        return Decoded(texts, conf.prod(1), digit_conf)


class MultiLabelCodec(MultiHeadCodec):
    """55-way sigmoid output (positions x 11). Decoded by argmax within each 11-slot
    group, never by a 0.5 threshold."""

    name = "multilabel"

    def encode(self, digits, lengths):
        slots = super().encode(digits, lengths)
        return torch.nn.functional.one_hot(slots, self.num_classes).flatten(1).float()

    def probabilities(self, outputs):
        return outputs.float().view(len(outputs), self.max_len, self.num_classes).sigmoid()


class CTCCodec(Codec):
    """CTC over 11 classes: blank=0, digit d -> class d+1."""

    name = "ctc"
    BLANK = 0
    num_classes = NUM_DIGITS + 1

    def min_frames(self) -> int:
        """Frames needed for any label of max_len digits: repeats need a blank between them."""
        return 2 * self.max_len + 1

    def encode(self, digits, lengths):
        """(targets (B, L) with classes 1..10, zero-padded, and target lengths (B,))."""
        targets = torch.where(digits >= 0, digits + 1, torch.zeros_like(digits))
        return targets, lengths.long()

    def decode(self, outputs, beam_width: int = 1):
        """Greedy (beam_width=1) or prefix beam search over (B, T, 11) logits."""
        probs = outputs.float().softmax(-1)
        if beam_width > 1:
            return self._beam_decode(probs, beam_width)
        conf, cls = probs.max(-1)
        texts, digit_conf = [], []
        for row, c in zip(cls.tolist(), conf.tolist()):
            chars, confs, prev = [], [], self.BLANK
            for k, p in zip(row, c):
                if k != self.BLANK and k != prev:
                    chars.append(str(k - 1))
                    confs.append(p)
                prev = k
            texts.append("".join(chars))
            digit_conf.append(confs)
        return Decoded(texts, conf.prod(1), digit_conf)

    def _beam_decode(self, probs, beam_width):
        texts, seq_conf, digit_conf = [], [], []
        for p in probs.cpu().numpy():
            text, score = ctc_prefix_beam_search(p, beam_width, self.BLANK)
            texts.append("".join(str(k - 1) for k in text))
            seq_conf.append(score)
            # Per-digit confidence: the best frame probability of that class (a cheap proxy).
            digit_conf.append([float(p[:, k].max()) for k in text])
        return Decoded(texts, torch.tensor(seq_conf), digit_conf)


def ctc_prefix_beam_search(probs, beam_width: int, blank: int = 0):
    """Prefix beam search over one (T, C) probability matrix; returns (best label tuple, its probability)."""
    beams = {(): (1.0, 0.0)}  # prefix -> (p ending in blank, p ending in non-blank)
    for frame in probs:
        nxt: dict[tuple, list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = pb + pnb
            entry = nxt.setdefault(prefix, [0.0, 0.0])
            entry[0] += total * frame[blank]
            if prefix:
                entry[1] += pnb * frame[prefix[-1]]  # repeat collapses into the same prefix
            for c in range(len(frame)):
                if c == blank:
                    continue
                ext = prefix + (c,)
                e = nxt.setdefault(ext, [0.0, 0.0])
                e[1] += (pb if prefix and prefix[-1] == c else total) * frame[c]
        beams = dict(sorted(nxt.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:beam_width])
    best, (pb, pnb) = max(beams.items(), key=lambda kv: kv[1][0] + kv[1][1])
    return best, float(pb + pnb)
