from .net import SeqRecNet
from .backbones import ResNetBackbone, SmallCNN
from .heads import FlatHead, FrameHead
from .sequence import BiRNN

__all__ = ["SeqRecNet", "SmallCNN", "ResNetBackbone", "BiRNN", "FlatHead", "FrameHead"]
