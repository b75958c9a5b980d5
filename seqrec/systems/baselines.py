"""The baselines' systems (model=split, model=segment): multihead's codec, loss and metrics over
the nets of ``seqrec.models.digits``, so they go through train(cfg), the checkpoints and
``Recognizer`` unchanged."""

from __future__ import annotations

from torch import nn

from .heads import MultiHeadSystem


class BaselineSystem(MultiHeadSystem):
    """A baseline net reads exactly ``positions`` digit slots: they must be ``max_len``."""

    def check_net(self):
        if self.net.positions != self.codec.max_len:
            raise ValueError(
                f"the {self.head_name} net has {self.net.positions} positions but max_len="
                f"{self.codec.max_len}; set model.net.positions to max_len"
            )


class SplitSystem(BaselineSystem):
    """Baseline: equal slices, one digit CNN. Same codec, loss and metrics as multihead."""

    head_name = "split"


class SegmentSystem(BaselineSystem):
    """Baseline: segment, then one digit CNN per segment. Segments are paired with the label's
    digits in order; with ``ignore_miscounted`` (training only) strips whose segment count
    differs from their length are left out of the loss, so the digit CNN is not taught from
    mispaired crops. Evaluation always scores every strip."""

    head_name = "segment"

    def __init__(self, net: nn.Module, *args, ignore_miscounted: bool = True, **kwargs):
        super().__init__(net, *args, **kwargs)
        self.ignore_miscounted = bool(ignore_miscounted)

    def training_loss(self, batch):
        if not self.ignore_miscounted:
            return super().training_loss(batch)
        logits, counts = self.net.classify(self.to_input(batch["image"]))
        return self.loss(logits, batch, keep=counts.to(logits.device) == batch["length"].to(logits.device))
