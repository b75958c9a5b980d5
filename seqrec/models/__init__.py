from .attention import AttentionDecoder
from .backbones import ResNetBackbone, SmallCNN
from .heads import FlatHead, FrameHead
from .net import SeqRecNet
from .sequence import BiRNN

__all__ = ["SeqRecNet", "SmallCNN", "ResNetBackbone", "BiRNN", "FlatHead", "FrameHead", "AttentionDecoder"]
