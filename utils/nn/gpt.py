"""A small GPT written from scratch (seed 001, problem 2; taught in notebook 04).

* :class:`LayerNorm` (Ba et al., 2016): (x − E[x]) / sqrt(Var[x] + ε) · weight + bias over the
  last dimension, with the **biased** variance (1/n Σ (x_i − x̄)², not torch.var's 1/(n − 1)).
* :class:`MultiHeadedAttention` (Vaswani et al., 2017): with m heads of size d,
  [q_1 … q_m] = Q W_Q + b_Q (likewise K, V), A_i = softmax(q_i k_iᵀ / √d + M) with the causal
  mask M (0 where key ≤ query, −∞ after), h_i = A_i v_i, output = concat(h_1 … h_m) W_O + b_O.
  ``split_heads`` maps (B, S, m·d) → (B, m, S, d) with y[b, j, s, l] = x[b, s, d·j + l] and
  ``merge_heads`` is its exact inverse. (The seed prints the index as ``num_heads * j + l``; that
  is a bijection only when m = d, so the head size d is the right stride.)
* :func:`create_sinusoidal_embeddings`: PE(pos, 2k) = sin(pos / 10000^(k/d)),
  PE(pos, 2k+1) = cos(pos / 10000^(k/d)), the seed's and the starter's formula (Vaswani et al.
  use the exponent 2k/d); :class:`GPTEmbedding` adds it, as a buffer, to the token embedding.
* :class:`Block` is the starter's **post-LN** block: x ← LN(x + Attn(x)), then
  x ← LN(x + Dropout(FFN(x))) with a bias-free FFN d → multiplier·d → d (GELU or ReLU);
  :class:`Decoder` stacks L blocks; :class:`GPT` = embedding → decoder → linear classifier
  (no final LayerNorm). ``GPT.forward`` returns ``logits, (hidden_states, attentions)`` with
  hidden_states (B, L, S, d) (each block's output, as the seed specifies; the starter also
  stacks the embedding as entry 0) and attentions (B, L, m, S, S), detached. Training needs
  only the right-hand side of each equation: ``forward(x, from_position=p)`` computes the last
  block and the classifier for positions ≥ p only (the causal mask makes this exact).

Speed (``make bench``): ``fast=True`` keeps the same equations but runs LayerNorm through
:class:`LayerNormFunction`, whose backward is derived by hand (fewer passes over memory than
autograd's graph of the readable version), and the softmax through torch's kernel; tests check
it against the readable path (and ``gradcheck`` the hand-derived backward). Parameter counts (questions 6 and 10): :func:`mha_parameter_count`,
:func:`decoder_parameter_count`, :func:`gpt_parameter_count`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable

from .functional import causal_mask, softmax

NON_LINEARITIES = {"relu": nn.ReLU, "gelu": nn.GELU}


class LayerNormFunction(torch.autograd.Function):
    """LayerNorm with its gradient derived by hand (the fast path of :class:`LayerNorm`).

    With x̂ = (x − x̄)·r, r = 1/sqrt(Var[x] + ε), y = x̂ ⊙ γ + β and g = ∂L/∂y ⊙ γ:

        ∂L/∂x = r · (g − mean(g) − x̂ · mean(g ⊙ x̂)),   ∂L/∂γ = Σ ∂L/∂y ⊙ x̂,   ∂L/∂β = Σ ∂L/∂y

    (means over the normalised dimension, sums over all the others).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        # >>> exercise: layer_norm_fast
        # hint: flatten to (N, n); x_hat = (x - mean) * rsqrt(biased var + eps); save what the
        # hint: backward below needs (x_hat, rstd, weight); return x_hat * weight + bias, x's
        # hint: shape.
        n = x.shape[-1]
        x2 = x.reshape(-1, n)                                          # (N, n)
        centered = x2 - x2.mean(dim=-1, keepdim=True)
        var = (centered * centered).mean(dim=-1, keepdim=True)         # biased
        rstd = torch.rsqrt(var + eps)                                  # (N, 1)
        x_hat = centered.mul_(rstd)
        ctx.save_for_backward(x_hat, rstd, weight)
        return torch.addcmul(bias, x_hat, weight).view(x.shape)
        # <<< exercise

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        # >>> exercise: layer_norm_fast
        # hint: the class docstring has the gradient: dx = r (g - mean(g) - x_hat mean(g x_hat)), g
        # hint: = dy * weight; return (dx, d weight, d bias, None for eps).
        x_hat, rstd, weight = ctx.saved_tensors
        n = x_hat.shape[-1]
        dy = grad_out.reshape(x_hat.shape)                             # (N, n)
        dy_x_hat = dy * x_hat                                          # also gives ∂L/∂γ
        mean_g = torch.mv(dy, weight).div_(n).unsqueeze(1)             # mean(g),     g = dy ⊙ γ
        mean_gx = torch.mv(dy_x_hat, weight).div_(n).unsqueeze(1)      # mean(g ⊙ x̂)
        dx = torch.addcmul(-mean_g, dy, weight)                        # g − mean(g)
        dx.addcmul_(x_hat, mean_gx, value=-1).mul_(rstd)
        return dx.view(grad_out.shape), dy_x_hat.sum(0), dy.sum(0), None
        # <<< exercise


class LayerNorm(nn.Module):
    """Layer normalisation over the last dimension, biased variance, learnable affine."""

    def __init__(self, hidden_size: int, eps: float = 1e-5, fast: bool = False):
        super().__init__()
        self.hidden_size, self.eps, self.fast = hidden_size, eps, fast
        self.weight = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if inputs.shape[-1] != self.hidden_size:
            raise ValueError(f"the last dimension must be hidden_size={self.hidden_size}, got "
                             f"shape {tuple(inputs.shape)}")
        if self.fast:
            return LayerNormFunction.apply(inputs, self.weight, self.bias, self.eps)
        # >>> exercise: layer_norm
        # hint: mean and *biased* variance over the last dim (not torch.var's default, not
        # hint: torch.layer_norm); (x - mean) / sqrt(var + eps) * weight + bias.
        mean = inputs.mean(dim=-1, keepdim=True)                          # E[x]   (..., 1)
        centered = inputs - mean
        var = (centered * centered).mean(dim=-1, keepdim=True)            # biased (..., 1)
        return centered * torch.rsqrt(var + self.eps) * self.weight + self.bias
        # <<< exercise


class MultiHeadedAttention(nn.Module):
    """Causal multi-head attention with biases; ``forward`` returns (output, attn_weights)."""

    def __init__(self, d_model: int, num_heads: int, bias: bool = True, fast: bool = False):
        super().__init__()
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
        if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1 \
                or d_model % num_heads:
            raise ValueError(f"d_model must be a positive multiple of num_heads={num_heads} "
                             f"(each head gets d_model / num_heads dimensions); got "
                             f"d_model={d_model!r}")
        self.num_heads = num_heads
        self.head_size = d_model // num_heads
        self.fast = fast
        self.W_Q = nn.Linear(d_model, d_model, bias=bias)
        self.W_K = nn.Linear(d_model, d_model, bias=bias)
        self.W_V = nn.Linear(d_model, d_model, bias=bias)
        self.W_O = nn.Linear(d_model, d_model, bias=bias)

    def split_heads(self, tensor: torch.Tensor) -> torch.Tensor:
        """(B, S, m·dim) → (B, m, S, dim): y[b, j, s, l] = x[b, s, dim·j + l]."""
        B, S, D = tensor.shape
        if D % self.num_heads:
            raise ValueError(f"the last dimension ({D}) must be a multiple of num_heads="
                             f"{self.num_heads}")
        # >>> exercise: split_merge_heads
        # hint: (B, S, m*d) -> (B, m, S, d), y[b, j, s, l] = x[b, s, d*j + l]: a view, then a
        # hint: transpose.
        return tensor.view(B, S, self.num_heads, D // self.num_heads).transpose(1, 2)
        # <<< exercise

    def merge_heads(self, tensor: torch.Tensor) -> torch.Tensor:
        """(B, m, S, dim) → (B, S, m·dim), the inverse of :meth:`split_heads`."""
        # >>> exercise: split_merge_heads
        # hint: the exact inverse of split_heads: transpose back, then reshape.
        B, H, S, dim = tensor.shape
        return tensor.transpose(1, 2).reshape(B, S, H * dim)
        # <<< exercise

    def get_attention_weights(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """softmax(q kᵀ / √d) with the causal mask, for every head: (B, m, S, S)."""
        # >>> exercise: causal_attention
        # hint: scores q k^T / sqrt(head_size) (B, m, S, S); -inf where the key is after the query
        # hint: (utils.nn.functional.causal_mask); softmax over the keys (torch.softmax if
        # hint: self.fast).
        S = queries.shape[-2]
        scores = queries @ keys.transpose(-2, -1) / math.sqrt(self.head_size)   # (B, m, S, S)
        allowed = causal_mask(S, keys.shape[-2], device=scores.device)          # (S, S)
        scores = scores.masked_fill(~allowed, float("-inf"))                    # future → −∞
        if self.fast:
            return torch.softmax(scores, dim=-1)
        return softmax(scores, dim=-1)
        # <<< exercise

    def apply_attention(self, queries: torch.Tensor, keys: torch.Tensor,
                        values: torch.Tensor):
        """concat(A_1 v_1, …, A_m v_m): outputs (B, S, m·d) and the weights (B, m, S, S)."""
        # >>> exercise: causal_attention
        # hint: weights from get_attention_weights, times the values, heads merged: (B, S, m*d).
        attn_weights = self.get_attention_weights(queries, keys)    # (B, m, S, S)
        attended = attn_weights @ values                             # (B, m, S, d)
        return self.merge_heads(attended), attn_weights
        # <<< exercise

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor):
        """(B, S, d_model) inputs → output (B, S, d_model), attn_weights (B, m, S, S) detached."""
        # >>> exercise: mha_forward
        # hint: project with W_Q, W_K, W_V (biases included), split the heads, apply_attention,
        # hint: then W_O; return the output and the attention weights detached.
        q = self.split_heads(self.W_Q(queries))                      # (B, m, S, d)
        k = self.split_heads(self.W_K(keys))
        v = self.split_heads(self.W_V(values))
        context, attn_weights = self.apply_attention(q, k, v)       # (B, S, m·d)
        outputs = self.W_O(context)                                  # (B, S, d_model)
        return outputs, attn_weights.detach()
        # <<< exercise


class Block(nn.Module):
    """Post-LN Transformer block: LN(x + Attn(x)), then LN(x + Dropout(FFN(x)))."""

    def __init__(self, d_model: int, num_heads: int, multiplier: float, dropout: float,
                 non_linearity: str = "gelu", bias: bool = True, fast: bool = False):
        super().__init__()
        if non_linearity not in NON_LINEARITIES:
            raise ValueError(f"non_linearity must be one of {', '.join(NON_LINEARITIES)}; got "
                             f"{non_linearity!r}")
        self.self_attn = MultiHeadedAttention(d_model, num_heads, bias=bias, fast=fast)
        self.self_attn_norm = LayerNorm(d_model, fast=fast)
        d_ff = int(multiplier * d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_ff, bias=False),
                                 NON_LINEARITIES[non_linearity](),
                                 nn.Linear(d_ff, d_model, bias=False))
        self.ffn_drop = nn.Dropout(p=dropout)
        self.ffn_norm = LayerNorm(d_model, fast=fast)

    def forward(self, x: torch.Tensor, from_position: int = 0):
        """x (B, S, d) → (B, S', d), attention (B, m, S', S) with S' = S − from_position: only
        the queries from ``from_position`` on (keys and values still use every position)."""
        q = x[:, from_position:] if from_position else x
        a1, attn = self.self_attn(q, x, x)                  # (B, S', d), (B, m, S', S)
        a1 = self.self_attn_norm(q + a1)
        a2 = self.ffn_drop(self.ffn(a1))
        a2 = self.ffn_norm(a1 + a2)
        return a2, attn


class Decoder(nn.Module):
    """L blocks; returns x and (hidden_states (B, L, S, d), attentions (B, L, m, S, S))."""

    def __init__(self, d_model: int, num_heads: int, num_blocks: int, multiplier: float,
                 dropout: float, non_linearity: str = "gelu", bias: bool = True,
                 fast: bool = False):
        super().__init__()
        if isinstance(num_blocks, bool) or not isinstance(num_blocks, int) or num_blocks < 1:
            raise ValueError(f"num_layers must be a positive int, got {num_blocks!r}")
        self.blocks = nn.ModuleList([
            Block(d_model, num_heads, multiplier, dropout, non_linearity, bias, fast)
            for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor, from_position: int = 0):
        """With ``from_position`` > 0 the last block computes only the positions from there on
        (a causal model's earlier outputs never affect them) and no hidden states or attention
        maps are returned: (x (B, S − from_position, d), (None, None))."""
        if from_position:
            for block in self.blocks[:-1]:
                x, _ = block(x)
            return self.blocks[-1](x, from_position)[0], (None, None)
        hidden_states, attentions = [], []
        for block in self.blocks:
            x, attn = block(x)
            hidden_states.append(x.detach())
            attentions.append(attn)
        return x, (torch.stack(hidden_states, dim=1), torch.stack(attentions, dim=1))


def create_sinusoidal_embeddings(n_positions: int, dimension: int) -> torch.Tensor:
    """(n_positions, dimension): sin(pos / 10000^(k/d)) at i = 2k, cos(…) at i = 2k + 1."""
    # >>> exercise: sinusoidal_embeddings
    # hint: angle(pos, i) = pos / 10000^(k/d) with k = i // 2 (the seed's formula, computed in
    # hint: float64); sin at even i, cos at odd i; return float32 (n_positions, dimension).
    pos = torch.arange(n_positions, dtype=torch.float64)[:, None]          # (P, 1)
    k = torch.arange(dimension, dtype=torch.float64)[None, :] // 2         # (1, d): i // 2
    angles = pos / torch.pow(10000.0, k / dimension)                       # (P, d)
    even = (torch.arange(dimension) % 2 == 0)[None, :]
    return torch.where(even, torch.sin(angles), torch.cos(angles)).float()
    # <<< exercise


class GPTEmbedding(nn.Module):
    """Token embedding + fixed sinusoidal position encoding (a buffer, not a parameter)."""

    def __init__(self, vocabulary_size: int, embedding_size: int, n_max_positions: int,
                 padding_index: int | None = None):
        super().__init__()
        self.tokens = nn.Embedding(vocabulary_size, embedding_size, padding_idx=padding_index)
        self.register_buffer("position_encoding",
                             self.create_sinusoidal_embeddings(n_max_positions, embedding_size))

    create_sinusoidal_embeddings = staticmethod(create_sinusoidal_embeddings)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, S) → embeddings (B, S, d)."""
        S = tokens.shape[1]
        if S > self.position_encoding.shape[0]:
            raise ValueError(f"sequence length {S} exceeds n_max_positions="
                             f"{self.position_encoding.shape[0]}")
        # >>> exercise: gpt_forward
        # hint: token embedding plus the first S rows of the position_encoding buffer.
        return self.tokens(tokens) + self.position_encoding[:S]            # (B, S, d)
        # <<< exercise


class GPT(nn.Module):
    """Decoder-only Transformer language model (the starter's constructor)."""

    def __init__(self, num_heads: int, num_layers: int, embedding_size: int,
                 vocabulary_size: int, sequence_length: int, multiplier: float = 4,
                 dropout: float = 0.0, non_linearity: str = "gelu",
                 padding_index: int | None = None, bias_attention: bool = True,
                 bias_classifier: bool = True, share_embeddings: bool = False,
                 fast: bool = False):
        super().__init__()
        self.num_heads, self.num_layers = num_heads, num_layers
        self.embedding_size, self.vocabulary_size = embedding_size, vocabulary_size
        self.sequence_length, self.non_linearity = sequence_length, non_linearity
        self.embedding = GPTEmbedding(vocabulary_size, embedding_size, sequence_length,
                                      padding_index)
        self.decoder = Decoder(embedding_size, num_heads, num_layers, multiplier, dropout,
                               non_linearity, bias_attention, fast)
        self.classifier = nn.Linear(embedding_size, vocabulary_size, bias=bias_classifier)
        if share_embeddings:
            self.classifier.weight = self.embedding.tokens.weight

    def forward(self, x: torch.Tensor, from_position: int = 0):
        """x (B, S) → logits (B, S, V), (hidden_states (B, L, S, d), attentions (B, L, m, S, S)).

        ``from_position`` (training shortcut): logits only for positions ≥ from_position,
        (B, S − from_position, V), with the last block restricted to them, and (None, None);
        the loss on those positions and its gradients are unchanged.
        """
        if x.dim() != 2:
            raise ValueError(f"x must be token ids of shape (batch, seq_len), got {tuple(x.shape)}")
        if not 0 <= from_position < x.shape[1]:
            raise ValueError(f"from_position must be in [0, {x.shape[1]}), got {from_position}")
        # >>> exercise: gpt_forward
        # hint: embedding -> decoder (pass from_position) -> classifier; return the logits and the
        # hint: decoder's (hidden_states, attentions).
        h = self.embedding(x)                                   # (B, S, d)
        h, (hidden_states, attentions) = self.decoder(h, from_position)
        logits = self.classifier(h)                             # (B, S, V)
        return logits, (hidden_states, attentions)
        # <<< exercise


def mha_parameter_count(num_heads: int, head_size: int, bias: bool = True) -> int:
    """Question 6: four (d × d) projections, d = m · head_size, each + d with bias: 4(d² + b·d)."""
    d = num_heads * head_size
    return 4 * (d * d + (d if bias else 0))


def decoder_parameter_count(d_model: int, num_heads: int, multiplier: float, num_layers: int,
                            bias: bool = True) -> int:
    """Question 10: L · [4(d² + b·d) + 2·m·d² + 4d].

    Per block: the attention (question 6), the bias-free FFN (d·md + md·d) and **two LayerNorms
    with a weight and a bias each (4d)**; the seed's printed answer forgets the LayerNorms.
    """
    d_ff = int(multiplier * d_model)
    return num_layers * (mha_parameter_count(num_heads, d_model // num_heads, bias)
                         + 2 * d_model * d_ff + 4 * d_model)


def gpt_parameter_count(vocabulary_size: int, d_model: int, num_heads: int, num_layers: int,
                        multiplier: float = 4, bias_attention: bool = True,
                        bias_classifier: bool = True) -> int:
    """The whole GPT: token embedding V·d + decoder + classifier V·d (+ V)."""
    V = vocabulary_size
    return V * d_model + decoder_parameter_count(d_model, num_heads, multiplier, num_layers,
                                                 bias_attention) \
        + V * d_model + (V if bias_classifier else 0)
