"""Label codecs: each head's mapping between padded int digits and its targets/outputs.

Confidences are the model's probability of the decoded string, computed from the logits divided
by the codec's ``temperature`` (fitted on validation strips by ``seqrec.evaluation``); the decoded
text never depends on the temperature.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

NUM_DIGITS = 10


class Decoded:
    """Decoded batch: digits (B, W) int64 padded with -1 and lengths (B,), sequence confidence (B,),
    and one confidence per emitted digit; ``texts`` are the digits as strings, for people.

    Confidences may be given as ``compute``, a function returning (confidence, digit_confidences)
    that runs on first access: reading digits alone (``predict`` without ``return_confidence``,
    validation) never pays for them."""

    def __init__(
        self,
        digits: torch.Tensor,
        lengths: torch.Tensor,
        confidence: torch.Tensor | None = None,
        digit_confidences: list[list[float]] | None = None,
        compute: Callable[[], tuple[torch.Tensor, list[list[float]]]] | None = None,
    ):
        self.digits, self.lengths = digits, lengths
        self._texts: list[str] | None = None
        self._confidence = confidence
        self._digit_confidences = digit_confidences if digit_confidences is not None else []
        self._compute = compute

    @property
    def texts(self) -> list[str]:
        if self._texts is None:
            self._texts = digits_to_texts(self.digits, self.lengths)
        return self._texts

    def _resolve(self) -> None:
        if self._compute is not None:
            self._confidence, self._digit_confidences = self._compute()
            self._compute = None

    @property
    def confidence(self) -> torch.Tensor:
        self._resolve()
        return self._confidence

    @property
    def digit_confidences(self) -> list[list[float]]:
        self._resolve()
        return self._digit_confidences


def digits_to_texts(digits: torch.Tensor, lengths: torch.Tensor) -> list[str]:
    """Digit strings, for people (and string APIs): the first ``length`` digits of each row ("?" for a -1)."""
    return ["".join(str(d) if d >= 0 else "?" for d in row[:k]) for row, k in zip(digits.tolist(), lengths.tolist())]


def log_softmax(x: torch.Tensor) -> torch.Tensor:
    """log_softmax over the last dim; x - logsumexp is ~6x faster than torch's kernel for 11 classes on CPU."""
    return x - x.logsumexp(-1, keepdim=True)


def check_temperature(value) -> float:
    try:
        t = float(value)
    except (TypeError, ValueError):
        t = math.nan
    if isinstance(value, bool) or not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {value!r}")
    return t


class Codec:
    """Encodes padded digit targets for a head and decodes its raw outputs."""

    name = "base"

    def __init__(self, max_len: int, temperature: float = 1.0):
        if int(max_len) < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.max_len = int(max_len)
        self.temperature = check_temperature(temperature)

    def encode(self, digits: torch.Tensor, lengths: torch.Tensor):
        raise NotImplementedError

    def decode(self, outputs: torch.Tensor) -> Decoded:
        raise NotImplementedError

    def sequence_nll(
        self, outputs: torch.Tensor, digits: torch.Tensor, lengths: torch.Tensor, temperature: float | None = None
    ) -> torch.Tensor:
        """(B,) -log P(label | image) at ``temperature`` (default: the codec's), for fitting it."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        d = {"name": self.name, "max_len": self.max_len}
        if self.temperature != 1.0:  # the default is left out: uncalibrated codecs serialise as before
            d["temperature"] = self.temperature
        return d

    @staticmethod
    def from_dict(d: dict) -> Codec:
        kinds = {c.name: c for c in (CTCCodec, MultiHeadCodec, MultiLabelCodec, AttentionCodec)}
        if not isinstance(d, dict) or d.get("name") not in kinds:
            name = d.get("name") if isinstance(d, dict) else d
            raise ValueError(f"unknown codec {name!r}; allowed: {', '.join(kinds)}")
        return kinds[d["name"]](d["max_len"], d.get("temperature", 1.0))


class MultiHeadCodec(Codec):
    """One 11-way slot per position; digits right-padded with EMPTY; decoding stops at the first EMPTY.

    Sequence confidence: the probability of the decoded text's own slot pattern (its digits, then
    EMPTY in every later slot), i.e. the product over all slots, EMPTY slots included."""

    name = "multihead"
    EMPTY = NUM_DIGITS
    num_classes = NUM_DIGITS + 1

    def encode(self, digits, lengths):
        """(B, L) int64 class per slot; -1 padding becomes EMPTY."""
        slots = torch.full((len(digits), self.max_len), self.EMPTY, dtype=torch.long, device=digits.device)
        d = digits[:, : self.max_len]
        slots[:, : d.shape[1]] = torch.where(d >= 0, d, torch.full_like(d, self.EMPTY))
        return slots

    def slot_logits(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float().view(len(outputs), self.max_len, self.num_classes)

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.slot_logits(outputs).softmax(-1)

    def log_probs(self, outputs: torch.Tensor, temperature: float | None = None) -> torch.Tensor:
        """(B, L, 11) per-slot log-probabilities at the temperature, for confidences."""
        t = self.temperature if temperature is None else check_temperature(temperature)
        return log_softmax(self.slot_logits(outputs) / t)

    def decode(self, outputs):
        cls = self.slot_logits(outputs).argmax(-1)  # argmax within each 11-slot group
        is_empty = cls == self.EMPTY
        # Number of digits = slots before the first EMPTY; every later slot counts as EMPTY.
        n = torch.where(is_empty.any(1), is_empty.float().argmax(1), torch.full_like(cls[:, 0], self.max_len))
        counts, t = n.tolist(), self.temperature  # the temperature now, even if confidences are read later
        emitted = torch.arange(self.max_len, device=cls.device) < n[:, None]

        def confidences():
            pattern = torch.where(emitted, cls, self.EMPTY)
            slot_lp = self.log_probs(outputs, t).gather(2, pattern[..., None]).squeeze(2)
            return slot_lp.sum(1).exp(), [c[:k] for c, k in zip(slot_lp.exp().tolist(), counts)]

        return Decoded(torch.where(emitted, cls, -1), n, compute=confidences)

    def sequence_nll(self, outputs, digits, lengths, temperature=None):
        target = self.encode(digits, lengths)
        return -self.log_probs(outputs, temperature).gather(2, target[..., None]).squeeze(2).sum(1)


class MultiLabelCodec(MultiHeadCodec):
    """55-way sigmoid output (positions x 11). Decoded by argmax within each 11-slot
    group, never by a 0.5 threshold. Confidences normalise each slot's 11 one-vs-rest logits
    with a softmax (so competing classes lower a slot's confidence), as for multihead."""

    name = "multilabel"

    def encode(self, digits, lengths):
        slots = super().encode(digits, lengths)
        return torch.nn.functional.one_hot(slots, self.num_classes).flatten(1).float()

    def probabilities(self, outputs):
        return self.slot_logits(outputs).sigmoid()

    def sequence_nll(self, outputs, digits, lengths, temperature=None):
        target = MultiHeadCodec.encode(self, digits, lengths)
        return -self.log_probs(outputs, temperature).gather(2, target[..., None]).squeeze(2).sum(1)


class CTCCodec(Codec):
    """CTC over 11 classes: blank=0, digit d -> class d+1.

    Sequence confidence: P(text | image), summed over every frame alignment of the text
    (``exp(-ctc_loss)``), so blank frames do not drag it down; digit confidence: the highest
    frame probability of that character over the frames of its run."""

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

    def sequence_nll(self, outputs, digits, lengths, temperature=None):
        targets, target_lengths = self.encode(digits, lengths)
        return self._nll(self._log_probs(outputs, temperature), targets, target_lengths)

    def _log_probs(self, outputs, temperature=None) -> torch.Tensor:
        t = self.temperature if temperature is None else check_temperature(temperature)
        return log_softmax(outputs.float() / t)

    def _nll(self, log_probs, targets, target_lengths) -> torch.Tensor:
        """(B,) CTC negative log-likelihood of padded class targets, from (B, T, C) log-probabilities."""
        B, T = log_probs.shape[0], log_probs.shape[1]
        input_lengths = torch.full((B,), T, dtype=torch.long, device=log_probs.device)
        if targets.shape[1] == 0:  # every text empty: ctc_loss needs a non-empty target tensor
            targets = torch.zeros((B, 1), dtype=torch.long, device=log_probs.device)
        return F.ctc_loss(
            log_probs.transpose(0, 1), targets, input_lengths, target_lengths, blank=self.BLANK, reduction="none"
        )

    def decode(self, outputs, beam_width: int = 1):
        """Greedy (beam_width=1) or prefix beam search over (B, T, 11) logits."""
        outputs = outputs.float()
        if beam_width > 1:
            return self._beam_decode(outputs, beam_width)
        cls = outputs.argmax(-1)  # (B, T)
        prev = torch.nn.functional.pad(cls[:, :-1], (1, 0), value=self.BLANK)
        emit = (cls != self.BLANK) & (cls != prev)
        lengths = emit.sum(1)
        targets = cls.new_zeros((len(cls), int(lengths.max()) if len(cls) else 0))
        slots = torch.cumsum(emit, 1) - 1
        rows = torch.nonzero(emit, as_tuple=True)[0]
        targets[rows, slots[emit]] = cls[emit]
        counts, t = lengths.tolist(), self.temperature  # the temperature now, even if confidences are read later

        def confidences():
            # Frames of one run share an id; per-digit confidence = the run's best frame probability.
            log_probs = self._log_probs(outputs, t)
            frame_p = log_probs.gather(2, cls[..., None]).squeeze(2).exp()
            run = torch.cumsum(cls != prev, 1)
            run_max = frame_p.new_zeros((cls.shape[0], cls.shape[1] + 1))
            run_max = run_max.scatter_reduce(1, run, frame_p, "amax", include_self=False)
            digit_p = frame_p.new_zeros(targets.shape)
            digit_p[rows, slots[emit]] = run_max.gather(1, run)[emit]
            digit_conf = [row[:n] for row, n in zip(digit_p.tolist(), counts)]
            return torch.exp(-self._nll(log_probs, targets, lengths)), digit_conf

        return Decoded(targets - 1, lengths, compute=confidences)  # class d + 1 -> digit d; padding 0 -> -1

    def _beam_decode(self, outputs, beam_width):
        probs = outputs.softmax(-1)  # beam search at temperature 1: the text must not depend on it
        log_scaled = self._log_probs(outputs)
        scaled = log_scaled.exp()
        labels, digit_conf = [], []
        for p, q in zip(probs.cpu().numpy(), scaled.cpu().numpy()):
            text, _ = ctc_prefix_beam_search(p, beam_width, self.BLANK)
            labels.append(list(text))
            # Per-digit confidence: the best frame probability of that class (a cheap proxy).
            digit_conf.append([float(q[:, k].max()) for k in text])
        lengths = torch.tensor([len(t) for t in labels], dtype=torch.long, device=outputs.device)
        targets = lengths.new_zeros((len(labels), int(lengths.max()) if labels else 0))
        for i, t in enumerate(labels):
            targets[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        return Decoded(targets - 1, lengths, torch.exp(-self._nll(log_scaled, targets, lengths)), digit_conf)


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


class AttentionCodec(MultiHeadCodec):
    """Parallel attention decoder: ``max_len + 1`` slots of 11 classes, logits (B, max_len + 1, 11).
    Slot k holds the k-th digit, the slot after the last digit holds END (class 10, multihead's
    EMPTY index), later slots are ignored (loss target ``IGNORE``) and never decoded. The last slot
    can only be END, so at most ``max_len`` digits are read.

    Sequence confidence: the product of the emitted slots' probabilities, END included."""

    name = "attention"
    END = MultiHeadCodec.EMPTY
    IGNORE = -100  # F.cross_entropy's default ignore_index

    @property
    def slots(self) -> int:
        return self.max_len + 1

    def slot_logits(self, outputs: torch.Tensor) -> torch.Tensor:
        if outputs.ndim != 3 or tuple(outputs.shape[1:]) != (self.slots, self.num_classes):
            raise ValueError(
                f"attention logits must be (batch, {self.slots}, {self.num_classes}) for max_len="
                f"{self.max_len}, got {tuple(outputs.shape)}"
            )
        return outputs.float()

    def encode(self, digits, lengths):
        """(B, max_len + 1) int64: the digits, END after the last one, IGNORE after that."""
        lengths = lengths.long().to(digits.device)[:, None]
        if len(lengths) and (int(lengths.min()) < 0 or int(lengths.max()) > self.max_len):
            raise ValueError(f"label lengths must be in 0..max_len={self.max_len}, got {lengths.flatten().tolist()}")
        slots = torch.zeros((len(digits), self.slots), dtype=torch.long, device=digits.device)
        d = digits[:, : self.slots].long()
        slots[:, : d.shape[1]] = d.clamp(min=0)
        pos = torch.arange(self.slots, device=digits.device)
        return torch.where(pos < lengths, slots, torch.where(pos == lengths, self.END, self.IGNORE))

    def decode(self, outputs):
        cls = self.slot_logits(outputs).argmax(-1)
        is_end = cls == self.END
        is_end[:, -1] = True
        n = is_end.float().argmax(1)[:, None]  # slot of the first END = number of digits
        counts, t = n.flatten().tolist(), self.temperature  # the temperature now, even if confidences are read later
        pos = torch.arange(self.slots, device=cls.device)

        def confidences():
            pattern = torch.where(pos < n, cls, self.END)
            slot_lp = self.log_probs(outputs, t).gather(2, pattern[..., None]).squeeze(2).masked_fill(pos > n, 0.0)
            return slot_lp.sum(1).exp(), [c[:k] for c, k in zip(slot_lp.exp().tolist(), counts)]

        return Decoded(torch.where(pos < n, cls, -1)[:, : self.max_len], n.flatten(), compute=confidences)

    def sequence_nll(self, outputs, digits, lengths, temperature=None):
        target = self.encode(digits, lengths)
        slot_lp = self.log_probs(outputs, temperature).gather(2, target.clamp(min=0)[..., None]).squeeze(2)
        return -(slot_lp * (target != self.IGNORE)).sum(1)
