"""Old import path of the heads' systems (``seqrec.system.CTCSystem`` ...), kept so checkpoints and
configs written before ``seqrec.systems`` load unchanged."""

from .systems.base import MIN_SCHEDULE_STEPS, BaseSystem
from .systems.heads import AttentionSystem, CTCSystem, MultiHeadSystem, MultiLabelSystem, SlotSystem

__all__ = [
    "MIN_SCHEDULE_STEPS",
    "AttentionSystem",
    "BaseSystem",
    "CTCSystem",
    "MultiHeadSystem",
    "MultiLabelSystem",
    "SlotSystem",
]
