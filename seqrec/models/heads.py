"""Heads over frame features (B, T, C)."""

from __future__ import annotations

import torch
from torch import nn

from .attention import column_encoding


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


class SlotPoolHead(nn.Module):
    """Slot classifier by attention pooling: one learned query per position picks its frames.
    Same output as FlatHead (``positions x num_classes`` logits), but the weights that read a
    digit are shared by every column, so the head need not learn each (slot, column) pair apart."""

    def __init__(
        self,
        in_features: int,
        seq_len: int,
        positions: int = 5,
        num_classes: int = 11,
        hidden: int = 64,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.positions, self.num_classes, self.fixed_width = positions, num_classes, True
        self.keys, self.values = nn.Linear(in_features, hidden), nn.Linear(in_features, hidden)
        self.queries = nn.Parameter(torch.randn(positions, hidden) * hidden**-0.5)
        self.register_buffer("columns", column_encoding(seq_len, hidden), persistent=False)
        self.fc = nn.Sequential(nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def forward(self, x):
        keys = self.keys(x) + self.columns
        weights = torch.softmax(self.queries @ keys.transpose(1, 2) / keys.shape[-1] ** 0.5, dim=-1)
        return self.fc(weights @ self.values(x)).flatten(1)
