"""Parallel attention decoder over frame features (B, T, C): one learned query per output slot."""

from __future__ import annotations

import math

import torch
from torch import nn


def column_encoding(n: int, dim: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(n, dim) sinusoidal encoding of the column index. Computed from the width, not a table,
    so it exists for any width (and an ONNX export keeps the width dynamic)."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    angles = pos * freq
    return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)[:, :dim].to(dtype)


class DecoderLayer(nn.Module):
    """Pre-norm transformer decoder layer. Unlike nn.TransformerDecoderLayer, the column encoding
    goes into the cross-attention keys only (as in DETR): values carry content, keys say where.
    (It also keeps key and value distinct tensors: nn.MultiheadAttention's packed projection for
    key-is-value is exported to ONNX with the column count fixed.)"""

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(
            nn.Linear(d_model, dim_feedforward),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(dim_feedforward, d_model),
        )
        self.norms = nn.ModuleList(nn.LayerNorm(d_model) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        h = self.norms[0](q)
        q = q + self.dropout(self.self_attn(h, h, h, need_weights=False)[0])
        h = self.norms[1](q)
        q = q + self.dropout(self.cross_attn(h, keys, values, need_weights=False)[0])
        return q + self.dropout(self.ff(self.norms[2](q)))


class QueryDecoder(nn.Module):
    """(B, T, C) -> (B, slots, num_classes): one learned query per output slot, decoded in parallel.

    The slot queries self-attend, so each slot knows what its neighbours read, and cross-attend
    to the projected columns, keyed by a sinusoidal column encoding (any width)."""

    def __init__(
        self,
        in_features: int,
        slots: int,
        num_classes: int = 11,
        d_model: int = 64,
        nhead: int = 4,
        num_layers: int = 2,
        dim_feedforward: int = 128,
        dropout: float = 0.1,
    ):
        super().__init__()
        if int(num_layers) < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if d_model % nhead:
            raise ValueError(f"d_model={d_model} must be divisible by nhead={nhead}")
        self.slots, self.num_classes = int(slots), num_classes
        self.proj = nn.Linear(in_features, d_model)
        self.queries = nn.Parameter(torch.randn(self.slots, d_model) * 0.02)
        layers = (DecoderLayer(d_model, nhead, dim_feedforward, dropout) for _ in range(int(num_layers)))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.proj(x)
        keys = values + column_encoding(x.shape[1], values.shape[-1], values.device, values.dtype)
        q = self.queries.unsqueeze(0).expand(x.shape[0], -1, -1)
        for layer in self.layers:
            q = layer(q, keys, values)
        return self.fc(self.norm(q))


class AttentionDecoder(QueryDecoder):
    """(B, T, C) -> (B, max_len + 1, num_classes) logits (the attention head).

    Slot k reads the k-th digit; the slot after the last digit reads END (class 10, the same index
    as multihead's EMPTY), later slots are don't-care. Works at any width: ``fixed_width`` is
    False, as for CTC.
    """

    def __init__(self, in_features: int, seq_len: int, max_len: int = 5, num_classes: int = 11, **decoder):
        if int(max_len) < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        super().__init__(in_features, int(max_len) + 1, num_classes, **decoder)
        self.max_len, self.fixed_width = int(max_len), False


class SlotDecoder(QueryDecoder):
    """The attention head's decoder as a slot head for the flat systems: one query per digit
    position, ``positions x num_classes`` logits flattened like FlatHead's (multihead reshapes
    them, multilabel keeps 55). A slot head, so the system keeps its fixed input width."""

    def __init__(self, in_features: int, seq_len: int, positions: int = 5, num_classes: int = 11, **decoder):
        if int(positions) < 1:
            raise ValueError(f"positions must be >= 1, got {positions}")
        super().__init__(in_features, int(positions), num_classes, **decoder)
        self.positions, self.fixed_width = int(positions), True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).flatten(1)
