"""The heads' systems: each adds its codec, its loss and what it needs of the net."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..codecs import AttentionCodec, CTCCodec, MultiHeadCodec, MultiLabelCodec
from .base import BaseSystem


class SlotSystem(BaseSystem):
    """Heads with one output slot per position: the net needs at least max_len positions."""

    def check_net(self):
        positions = self.net.positions
        if positions is not None and positions < self.codec.max_len:
            raise ValueError(
                f"max_len={self.codec.max_len} is above the head's {positions} positions; "
                "set the head's positions >= max_len"
            )


class MultiHeadSystem(SlotSystem):
    """One 11-way softmax per position (10 digits + EMPTY)."""

    codec_cls, head_name = MultiHeadCodec, "multihead"

    def loss(self, outputs, batch, keep: torch.Tensor | None = None):
        """Mean cross-entropy over slots (focal with ``focal_gamma`` > 0); ``keep`` (B,) bool: only
        those strips count."""
        target = self.codec.encode(batch["digits"], batch["length"])
        logits = outputs.view(len(outputs), self.codec.max_len, -1).flatten(0, 1).float()
        ce = F.cross_entropy(logits, target.flatten(), label_smoothing=self.hparams.label_smoothing, reduction="none")
        if self.hparams.focal_gamma > 0:  # down-weight slots the model already gets right
            p_true = logits.softmax(-1).gather(1, target.flatten()[:, None]).squeeze(1)
            ce = (1 - p_true).pow(self.hparams.focal_gamma) * ce
        if keep is None:
            return ce.mean()
        weight = keep.to(ce.dtype)[:, None].expand_as(target).flatten()
        return (ce * weight).sum() / weight.sum().clamp(min=1.0)


class MultiLabelSystem(SlotSystem):
    """55-way sigmoid (positions x 11), BCE; decoded by argmax within each 11-slot group."""

    codec_cls, head_name = MultiLabelCodec, "multilabel"

    def init_head(self):
        """Output biases at the prior log-odds of one class in 11 (RetinaNet's prior init): BCE then
        starts from the class frequencies instead of spending its first steps learning them."""
        last = [m for m in self.net.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.bias.fill_(-math.log(self.codec.num_classes - 1))

    def loss(self, outputs, batch):
        target = self.codec.encode(batch["digits"], batch["length"])
        eps = self.hparams.label_smoothing
        target = target * (1 - eps) + eps / self.codec.num_classes
        if self.hparams.focal_gamma > 0:
            from torchvision.ops import sigmoid_focal_loss

            return sigmoid_focal_loss(outputs.float(), target, gamma=self.hparams.focal_gamma, reduction="mean")
        return F.binary_cross_entropy_with_logits(outputs.float(), target)


class CTCSystem(BaseSystem):
    """CRNN + CTC. The frame count must cover the label plus blanks between repeats."""

    codec_cls, head_name = CTCCodec, "ctc"

    def check_net(self):
        need = self.codec.min_frames()
        if self.net.seq_len < need:
            raise ValueError(
                f"image width {self.net.image_width} gives {self.net.seq_len} CTC frames, but max_len="
                f"{self.codec.max_len} needs >= {need} (2*max_len+1); widen the image or lower max_len"
            )
        if self.hparams.focal_gamma:  # CTC sums over alignments: no per-slot probability to focus on
            raise ValueError(f"focal_gamma={self.hparams.focal_gamma}: the ctc head supports only focal_gamma=0")

    def loss(self, outputs, batch):
        targets, target_lengths = self.codec.encode(batch["digits"], batch["length"])
        # CTC and its log_softmax stay in fp32 under AMP.
        with torch.autocast(device_type=outputs.device.type, enabled=False):
            log_probs = outputs.float().log_softmax(-1).transpose(0, 1)  # (T, B, C)
            input_lengths = torch.full((outputs.shape[0],), outputs.shape[1], dtype=torch.long, device=outputs.device)
            ctc = F.ctc_loss(
                log_probs, targets, input_lengths, target_lengths, blank=CTCCodec.BLANK, zero_infinity=True
            )
            if self.hparams.label_smoothing > 0:  # smooth towards uniform frame posteriors
                ctc = (1 - self.hparams.label_smoothing) * ctc - self.hparams.label_smoothing * log_probs.mean()
        return ctc


class AttentionSystem(BaseSystem):
    """Parallel attention decoder: cross-entropy per slot up to and including the first END;
    the slots after it are ignored, so the decoder is never taught to predict padding."""

    codec_cls, head_name = AttentionCodec, "attention"

    def check_net(self):
        slots = getattr(self.net.head, "slots", None)
        if slots != self.codec.slots:
            raise ValueError(
                f"the attention head has {slots} slots but max_len={self.codec.max_len} needs "
                f"{self.codec.slots} (digits + END); set the head's max_len to the model's max_len"
            )
        if self.hparams.focal_gamma:
            raise ValueError(f"focal_gamma={self.hparams.focal_gamma}: the attention head supports only focal_gamma=0")

    def loss(self, outputs, batch):
        target = self.codec.encode(batch["digits"], batch["length"])
        return F.cross_entropy(
            self.codec.slot_logits(outputs).flatten(0, 1),
            target.flatten(),
            ignore_index=self.codec.IGNORE,
            label_smoothing=self.hparams.label_smoothing,
        )
