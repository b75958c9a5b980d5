"""Optional sequence models over the width axis: (B, T, C) -> (B, T, C')."""

from __future__ import annotations

from torch import nn


class BiRNN(nn.Module):
    """Bidirectional LSTM or GRU over frames."""

    def __init__(
        self, input_size: int, hidden_size: int = 128, num_layers: int = 2, cell: str = "lstm", dropout: float = 0.1
    ):
        super().__init__()
        cells = {"lstm": nn.LSTM, "gru": nn.GRU}
        if cell not in cells:
            raise ValueError(f"unknown RNN cell {cell!r}; allowed: {', '.join(cells)}")
        self.rnn = cells[cell](
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=True,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_size = 2 * hidden_size

    def forward(self, x):
        return self.rnn(x)[0]
