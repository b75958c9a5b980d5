"""Old import path of the baselines (``seqrec.baselines.SplitNet`` ...), kept so checkpoints and
configs written before the nets moved to ``seqrec.models.digits`` and the systems to
``seqrec.systems.baselines`` load unchanged."""

from .models.digits import (
    DigitClassifier,
    SegmentNet,
    SplitNet,
    crop_digits,
    ink_extent,
    segment_strip,
)
from .systems.baselines import SegmentSystem, SplitSystem

__all__ = [
    "DigitClassifier",
    "SegmentNet",
    "SegmentSystem",
    "SplitNet",
    "SplitSystem",
    "crop_digits",
    "ink_extent",
    "segment_strip",
]
