from .attention import AttentionDecoder, SlotDecoder
from .backbones import ResNetBackbone, SmallCNN
from .digits import SegmentNet, SplitNet
from .heads import FlatHead, FrameHead, SlotPoolHead
from .net import SeqRecNet, SequenceNet
from .sequence import BiRNN

__all__ = [
    "SeqRecNet",
    "SequenceNet",
    "SplitNet",
    "SegmentNet",
    "SmallCNN",
    "ResNetBackbone",
    "BiRNN",
    "FlatHead",
    "FrameHead",
    "SlotPoolHead",
    "AttentionDecoder",
    "SlotDecoder",
]
