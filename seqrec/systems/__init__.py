"""Lightning systems: ``base`` (the loop shared by every head), ``heads`` (one system per head)
and ``baselines`` (split and segment)."""

from .base import MIN_SCHEDULE_STEPS, BaseSystem
from .baselines import BaselineSystem, SegmentSystem, SplitSystem
from .heads import AttentionSystem, CTCSystem, MultiHeadSystem, MultiLabelSystem, SlotSystem

__all__ = [
    "MIN_SCHEDULE_STEPS",
    "AttentionSystem",
    "BaseSystem",
    "BaselineSystem",
    "CTCSystem",
    "MultiHeadSystem",
    "MultiLabelSystem",
    "SegmentSystem",
    "SlotSystem",
    "SplitSystem",
]
