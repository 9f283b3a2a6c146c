"""An LSTM language model written from scratch (seed 001, problem 1; taught in notebook 03).

One cell (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000), with
[x_t; h_{t−1}] the concatenation of the input and the previous hidden state:

    i_t = σ([W_i U_i] [x_t; h_{t−1}] + b_i)          input gate
    f_t = σ([W_f U_f] [x_t; h_{t−1}] + b_f)          forget gate
    o_t = σ([W_o U_o] [x_t; h_{t−1}] + b_o)          output gate
    c̃_t = tanh([W_c U_c] [x_t; h_{t−1}] + b_c)       candidate cell (tanh: the seed's second
                                                     form writes σ, a typo)
    c_t = f_t ⊙ c_{t−1} + i_t ⊙ c̃_t                  cell state
    h_t = o_t ⊙ tanh(c_t)                             hidden state

:class:`LSTMCell` keeps one ``nn.Linear(d_x + d_h, d_h)`` per gate, as the starter code does.
:class:`LSTM` stacks L cells over a batch-first sequence (zero initial states on the input's
device and dtype unless given; dropout between layers, never after the last) and returns the
last layer's outputs (B, S, d_h) with the final states (h_n, c_n), each (L, B, d_h).
:class:`LSTMLM` is embedding → LSTM → linear classifier and returns logits (B, S, V) and (h, c).

Speed: ``LSTM(fused=True)`` (the default) runs the same equations with the four gate weights
concatenated into one (4 d_h, d_x + d_h) matrix, so each time step is one matrix product instead
of four; ``tests/test_lstm.py`` checks both paths against each other and against
``torch.nn.LSTM``. Parameter counts (question 3) are :func:`lstm_parameter_count` and
:func:`lstm_lm_parameter_count`.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class LSTMCell(nn.Module):
    """One LSTM step: (x_t, (h_{t−1}, c_{t−1})) → (h_t, c_t)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        combined = input_size + hidden_size
        self.input_gate = nn.Linear(combined, hidden_size, bias=bias)       # [W_i U_i], b_i
        self.forget_gate = nn.Linear(combined, hidden_size, bias=bias)      # [W_f U_f], b_f
        self.output_gate = nn.Linear(combined, hidden_size, bias=bias)      # [W_o U_o], b_o
        self.candidate_cell = nn.Linear(combined, hidden_size, bias=bias)   # [W_c U_c], b_c
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform weights and zero biases (the starter's initialisation)."""
        for layer in self.gates():
            nn.init.xavier_uniform_(layer.weight)
            if self.bias:
                nn.init.zeros_(layer.bias)

    def gates(self) -> list[nn.Linear]:
        """The four gate layers in the order i, f, c̃, o (torch.nn.LSTM's order i, f, g, o)."""
        return [self.input_gate, self.forget_gate, self.candidate_cell, self.output_gate]

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor]):
        # >>> exercise: lstm_cell
        # hint: concatenate [x_t; h_{t-1}] (dim 1); sigmoid of input_gate, forget_gate and
        # hint: output_gate, tanh of candidate_cell; c_t = f*c + i*c~, h_t = o*tanh(c_t).
        h, c = hx                                               # (B, d_h), (B, d_h)
        combined = torch.cat([x, h], dim=1)                     # (B, d_x + d_h)
        i_t = torch.sigmoid(self.input_gate(combined))          # (B, d_h)
        f_t = torch.sigmoid(self.forget_gate(combined))
        o_t = torch.sigmoid(self.output_gate(combined))
        c_tilde = torch.tanh(self.candidate_cell(combined))
        c_t = f_t * c + i_t * c_tilde
        h_t = o_t * torch.tanh(c_t)
        return h_t, c_t
        # <<< exercise

    def fused_parameters(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The four gates as one linear map: weight (4 d_h, d_x + d_h), bias (4 d_h,) or None."""
        weight = torch.cat([g.weight for g in self.gates()], dim=0)
        bias = torch.cat([g.bias for g in self.gates()], dim=0) if self.bias else None
        return weight, bias


def fused_step(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight: torch.Tensor,
               bias: torch.Tensor | None):
    """The cell's equations with the gates stacked: one matrix product per time step."""
    # >>> exercise: lstm_cell
    # hint: the same cell with the four gates stacked (order i, f, g, o as in torch.nn.LSTM):
    # hint: one product [x; h] @ weight.t() (+ bias, e.g. torch.addmm), then z.chunk(4, dim=1).
    combined = torch.cat([x, h], dim=1)                                  # (B, d_x + d_h)
    z = combined @ weight.t() if bias is None else torch.addmm(bias, combined, weight.t())
    i, f, g, o = z.chunk(4, dim=1)                                       # 4 × (B, d_h)
    c_t = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_t = torch.sigmoid(o) * torch.tanh(c_t)
    return h_t, c_t
    # <<< exercise


class LSTM(nn.Module):
    """L stacked cells over a batch-first sequence (B, S, d_x)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 dropout: float = 0.0, fused: bool = True):
        super().__init__()
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_layers!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.dropout, self.fused = bias, dropout, fused
        self.layers = nn.ModuleList([
            LSTMCell(input_size if layer == 0 else hidden_size, hidden_size, bias)
            for layer in range(num_layers)])
        self.dropout_layer = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor, hx: tuple[torch.Tensor, torch.Tensor] | None = None):
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must have shape (batch, seq_len, {self.input_size}), got "
                             f"{tuple(x.shape)}")
        B, S, _ = x.shape
        # >>> exercise: lstm_stack
        # hint: no hx: zero states (L, B, d_h) on x's device and dtype (x.new_zeros); else check
        # hint: that h0, c0 have that shape (ValueError naming it). Per layer, loop over time
        # hint: (x.unbind(dim=1)) with the cell, or fused_step(..., *cell.fused_parameters()) if
        # hint: self.fused; stack the h_t into (B, S, d_h) as the next layer's input; dropout
        # hint: between layers only. Return output (B, S, d_h), (h_n, c_n) each (L, B, d_h).
        if hx is None:                                   # zero states, same device and dtype
            h0 = x.new_zeros(self.num_layers, B, self.hidden_size)
            c0 = x.new_zeros(self.num_layers, B, self.hidden_size)
        else:
            h0, c0 = hx                                  # (L, B, d_h) each
            expected = (self.num_layers, B, self.hidden_size)
            if tuple(h0.shape) != expected or tuple(c0.shape) != expected:
                raise ValueError(f"hx must be two tensors of shape (num_layers, batch, "
                                 f"hidden_size) = {expected}, got {tuple(h0.shape)} and "
                                 f"{tuple(c0.shape)}")
        output = x                                        # (B, S, d_x) into layer 0
        h_n, c_n = [], []
        for layer_idx, cell in enumerate(self.layers):
            h_t, c_t = h0[layer_idx], c0[layer_idx]       # (B, d_h)
            if self.fused:
                weight, bias = cell.fused_parameters()
            layer_outputs = []
            for x_t in output.unbind(dim=1):              # S × (B, d_in)
                if self.fused:
                    h_t, c_t = fused_step(x_t, h_t, c_t, weight, bias)
                else:
                    h_t, c_t = cell(x_t, (h_t, c_t))
                layer_outputs.append(h_t)
            output = torch.stack(layer_outputs, dim=1)    # (B, S, d_h)
            h_n.append(h_t)
            c_n.append(c_t)
            if self.dropout_layer is not None and layer_idx < self.num_layers - 1:
                output = self.dropout_layer(output)       # between layers, not after the last
        return output, (torch.stack(h_n), torch.stack(c_n))
        # <<< exercise


class LSTMLM(nn.Module):
    """Embedding → LSTM → classifier: logits of the next token at every position."""

    def __init__(self, vocabulary_size: int, embedding_size: int, hidden_size: int,
                 num_layers: int, dropout: float = 0.0, padding_index: int | None = None,
                 bias_lstm: bool = True, bias_classifier: bool = True,
                 share_embeddings: bool = False, fused: bool = True):
        super().__init__()
        if share_embeddings and embedding_size != hidden_size:
            raise ValueError(f"share_embeddings needs embedding_size == hidden_size, got "
                             f"{embedding_size} and {hidden_size}")
        self.vocabulary_size, self.embedding_size = vocabulary_size, embedding_size
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.embedding = nn.Embedding(vocabulary_size, embedding_size, padding_idx=padding_index)
        self.lstm = LSTM(embedding_size, hidden_size, num_layers, bias=bias_lstm,
                         dropout=dropout, fused=fused)
        self.classifier = nn.Linear(hidden_size, vocabulary_size, bias=bias_classifier)
        if share_embeddings:                              # tie the classifier to the embedding
            self.classifier.weight = self.embedding.weight

    def forward(self, x: torch.Tensor, hidden_states=None, from_position: int = 0):
        """x (B, S) token ids → logits (B, S, V), (h, c) each (L, B, d_h).

        ``from_position``: logits only for positions ≥ from_position (the recurrence still runs
        over every position), as for the GPT.
        """
        # >>> exercise: lstm_lm
        # hint: embedding -> self.lstm (with hidden_states) -> classifier on the positions
        # hint: from `from_position` on; return logits (not probabilities) and the LSTM's (h, c).
        embeddings = self.embedding(x)                               # (B, S, d_e)
        outputs, (h, c) = self.lstm(embeddings, hidden_states)       # (B, S, d_h)
        logits = self.classifier(outputs[:, from_position:])         # (B, S', V)
        return logits, (h, c)
        # <<< exercise


def lstm_parameter_count(d_x: int, d_h: int, num_layers: int, bias: bool = True) -> int:
    """Question 3: P = 4 d_h (d_x + d_h + b) + (L − 1) · 4 d_h (2 d_h + b), b = 1 with bias.

    Each layer has four gates, each a linear map from [x; h] (d_in + d_h inputs) to d_h outputs
    with one bias vector; layer 1 reads d_x inputs, the others read d_h.
    """
    b = 1 if bias else 0
    return 4 * d_h * (d_x + d_h + b) + (num_layers - 1) * 4 * d_h * (2 * d_h + b)


def lstm_lm_parameter_count(vocabulary_size: int, d_e: int, d_h: int, num_layers: int,
                            bias_lstm: bool = True, bias_classifier: bool = True) -> int:
    """The whole LSTMLM: embedding V·d_e + LSTM + classifier V·d_h (+ V with its bias)."""
    V = vocabulary_size
    return V * d_e + lstm_parameter_count(d_e, d_h, num_layers, bias_lstm) + V * d_h \
        + (V if bias_classifier else 0)
