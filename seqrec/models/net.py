"""SeqRecNet: backbone -> optional sequence model -> head, a plain exportable nn.Module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import nn


def normalize_input(x: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] (white ink = 1) to [-1, 1], as every backbone reads them."""
    return (x - 0.5) / 0.5


@runtime_checkable
class SequenceNet(Protocol):
    """What a system (and Recognizer) reads of a net, the same on every net: input size, frames
    (``seq_len``: CTC frames, or slots), ``positions`` (digit slots of a slot net, None for frame
    or attention heads) and whether the input width is fixed."""

    image_height: int
    image_width: int
    seq_len: int

    @property
    def positions(self) -> int | None: ...

    @property
    def fixed_width(self) -> bool: ...

    def forward(self, x: torch.Tensor) -> torch.Tensor: ...


class SeqRecNet(nn.Module):
    """Input: (B, 1, H, W) float in [0, 1], white ink on black. Output: raw head logits.

    ``sequence`` and ``head`` are factories (Hydra partials) so their input sizes are
    derived from the backbone's output on a dummy strip instead of being configured twice.
    """

    def __init__(
        self,
        backbone: nn.Module,
        head: Callable[..., nn.Module],
        sequence: Callable[..., nn.Module] | None = None,
        image_height: int = 28,
        image_width: int = 140,
    ):
        super().__init__()
        self.image_height, self.image_width = int(image_height), int(image_width)
        # NHWC feature maps: on the CPU, training steps 15-20% shorter, eager inference 1.6x faster (BENCHMARKS.md)
        self.backbone = backbone.to(memory_format=torch.channels_last)
        with torch.no_grad():
            was_training = backbone.training
            feats = backbone.eval()(torch.zeros(1, 1, self.image_height, self.image_width))
            backbone.train(was_training)
        if feats.ndim != 4 or feats.shape[-1] < 1:
            raise ValueError(
                f"backbone output {tuple(feats.shape)} for a {image_height}x{image_width} strip is not a feature map"
            )
        channels, self.seq_len = feats.shape[1], feats.shape[-1]
        self.sequence = sequence(input_size=channels) if sequence is not None else nn.Identity()
        features = getattr(self.sequence, "output_size", channels)
        self.head = head(in_features=features, seq_len=self.seq_len)

    @property
    def fixed_width(self) -> bool:
        return bool(getattr(self.head, "fixed_width", True))

    @property
    def positions(self) -> int | None:
        """Digit slots of a slot head (SlotDecoder, FlatHead); None for frame (CTC) and attention heads."""
        return getattr(self.head, "positions", None)

    def frames(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) frame features: mean over the remaining height."""
        return self.backbone(normalize_input(x)).mean(dim=2).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.sequence(self.frames(x)))
