"""Heads over frame features (B, T, C)."""

from __future__ import annotations

from torch import nn


class FrameHead(nn.Module):
    """Per-frame classifier (CTC): (B, T, C) -> (B, T, num_classes). Works at any width."""

    def __init__(self, in_features: int, seq_len: int, num_classes: int = 11, dropout: float = 0.1):
        super().__init__()
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))
        self.fixed_width = False

    def forward(self, x):
        return self.fc(x)


class FlatHead(nn.Module):
    """Whole-strip classifier: flattens all frames, so the input width is fixed.
    Emits ``positions x num_classes`` logits (multihead reshapes them; multilabel keeps 55)."""

    def __init__(
        self,
        in_features: int,
        seq_len: int,
        positions: int = 5,
        num_classes: int = 11,
        hidden: int = 256,
        reduce: int = 32,
        dropout: float = 0.3,
    ):
        super().__init__()
        self.positions, self.num_classes, self.fixed_width = positions, num_classes, True
        self.fc = nn.Sequential(
            nn.Linear(in_features, reduce),  # per frame: keeps the flattened layer small
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(reduce * seq_len, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, positions * num_classes),
        )

    def forward(self, x):
        return self.fc(x)
