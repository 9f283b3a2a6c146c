"""Graph convolution (as message passing, as a matrix product, sparse) and graph attention.

Taught in notebook 21 (seed 003, section 3: "Graph Neural Networks", after the UvA DL1 starter
``assignment2/part3/graph_cnn.py``).

**Edges.** A graph with N nodes is given by ``edge_index``, an int64 tensor of shape (2, E):
column e is the directed edge ``edge_index[0, e] → edge_index[1, e]`` (source j → destination
i). A message travels along the edge, so **an edge j → i feeds i, not j**; an undirected edge is
stored as both directions. The adjacency matrix is therefore A[i, j] = number of edges j → i,
and the neighbourhood of i is N(i) = {j : j → i}.

Defined behaviour for the awkward cases (the same in all three graph-convolution forms):

* **duplicate edges** count with their multiplicity (A[i, j] = 2 for a doubled edge: j's
  message is counted twice and the degree is 2); :func:`coalesce` removes them first if a
  simple graph is wanted;
* a **self-loop** i → i makes i one of its own neighbours (A[i, i] = 1), added to the separate
  self term B h_i; :func:`remove_self_loops` drops them;
* an **isolated node** (no incoming edge) gets degree 1 in D⁻¹ (so no division by zero): its
  neighbour mean is 0 and only the self term remains;
* indices outside [0, N), a wrong shape or a non-integer dtype raise ``ValueError``/``TypeError``.

**Graph convolution** (eq. 6 of the assignment):

    h_i' = W · (1/|N(i)|) Σ_{j∈N(i)} h_j + B · h_i          (no activation inside the layer)

* ``MessageGraphConvolution``: ``message`` = mean of the source features at each destination
  (``index_add_``), ``update`` = W·m + B·h (Gilmer et al., 2017, eq. 7 with a mean);
* ``MatrixGraphConvolution``: H' = D⁻¹ A H Wᵀ + H Bᵀ with dense ``make_adjacency_matrix`` and
  ``make_inverted_degree_matrix`` (N × N; O(N² d), fine for a few thousand nodes);
* ``SparseGraphConvolution``: the same product with a ``torch.sparse`` D⁻¹A (the reference of
  ``bench/bench_gnn.py``).

``self_term=False`` drops B (question 3.2 a).

**Graph attention** (Veličković et al., 2018, eqs. 1–6): per head k,

    e_ij = LeakyReLU_0.2( a_kᵀ [W_k h_i ‖ W_k h_j] ),   α_ij = softmax_{j ∈ N(i) ∪ {i}} e_ij,
    h_i' = ‖_k Σ_j α_ij W_k h_j      (heads concatenated; averaged with ``concat=False``)

The softmax runs over each destination's incoming edges plus one self-loop: existing
self-loops are removed and exactly one is added per node. Duplicate edges each get their own
softmax term. ``GraphAttention(..., return_attention=True)`` also returns the edges (with the
self-loops) and α (E', heads).
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import nn


# --- edges ---------------------------------------------------------------------------------

def check_edge_index(edge_index, num_nodes: int) -> torch.Tensor:
    """Validate ``edge_index`` (2, E) against ``num_nodes``; returns it as int64."""
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        raise ValueError(f"num_nodes must be a positive int, got {num_nodes!r}")
    if not isinstance(edge_index, torch.Tensor):
        raise TypeError(f"edge_index must be a torch.Tensor of shape (2, E), got "
                        f"{type(edge_index).__name__}")
    if edge_index.is_floating_point() or edge_index.is_complex() or edge_index.dtype == torch.bool:
        raise TypeError(f"edge_index must hold integer node indices, got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E) (row 0 sources, row 1 "
                         f"destinations), got {tuple(edge_index.shape)}")
    edge_index = edge_index.long()
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            bad = edge_index[:, ((edge_index < 0) | (edge_index >= num_nodes)).any(0)]
            raise ValueError(f"edge_index holds node indices outside [0, {num_nodes - 1}] "
                             f"(num_nodes={num_nodes}): e.g. edge {bad[:, 0].tolist()}")
    return edge_index


def check_features(x, num_features: int | None = None, who: str = "the layer") -> int:
    """Validate node features (N, F); returns N."""
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        raise ValueError(f"{who} expects float node features of shape (N, F), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if num_features is not None and x.shape[1] != num_features:
        raise ValueError(f"{who} expects {num_features} features per node, got {x.shape[1]}")
    return x.shape[0]


def remove_self_loops(edge_index: torch.Tensor) -> torch.Tensor:
    return edge_index[:, edge_index[0] != edge_index[1]]


def add_self_loops(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Append one edge i → i per node (after any existing ones)."""
    loops = torch.arange(num_nodes, device=edge_index.device).expand(2, num_nodes)
    return torch.cat([edge_index, loops], dim=1)


def coalesce(edge_index: torch.Tensor) -> torch.Tensor:
    """Drop duplicate edges (sorted by destination, then source)."""
    if edge_index.numel() == 0:
        return edge_index
    n = int(edge_index.max()) + 1
    key = torch.unique(edge_index[1] * n + edge_index[0])
    return torch.stack([key % n, key // n])


def to_undirected(edge_index: torch.Tensor) -> torch.Tensor:
    """Both directions of every edge, duplicates removed."""
    return coalesce(torch.cat([edge_index, edge_index.flip(0)], dim=1))


def in_degree(edge_index: torch.Tensor, num_nodes: int, dtype=torch.float32) -> torch.Tensor:
    """|N(i)| = number of edges j → i (with multiplicity), shape (N,)."""
    deg = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device)
    return deg.index_add_(0, edge_index[1], torch.ones_like(edge_index[1], dtype=deg.dtype))


def make_adjacency_matrix(edge_index, num_nodes: int, dtype=torch.float32) -> torch.Tensor:
    """Dense A (N, N) with A[i, j] = number of edges j → i (message from j to i)."""
    edge_index = check_edge_index(edge_index, num_nodes)
    # >>> exercise: gcn_matrix
    # hint: dense (N, N), A[i, j] = number of edges j -> i (duplicates count; accumulate).
    A = torch.zeros(num_nodes, num_nodes, dtype=dtype, device=edge_index.device)
    ones = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    return A.index_put_((edge_index[1], edge_index[0]), ones, accumulate=True)
    # <<< exercise


def make_inverted_degree_matrix(edge_index, num_nodes: int, dtype=torch.float32) -> torch.Tensor:
    """Dense diagonal D⁻¹ (N, N), D_ii = |N(i)|; a node without incoming edges gets 1."""
    edge_index = check_edge_index(edge_index, num_nodes)
    # >>> exercise: gcn_matrix
    # hint: diagonal 1/|N(i)| (in-degree, in_degree helper); a node without in-edges gets 1.
    deg = in_degree(edge_index, num_nodes, dtype).clamp(min=1.0)
    return torch.diag(1.0 / deg)
    # <<< exercise


def laplacian(edge_index, num_nodes: int) -> torch.Tensor:
    """L = D − A for an undirected graph (degree = row sums of A)."""
    A = make_adjacency_matrix(edge_index, num_nodes)
    return torch.diag(A.sum(1)) - A


# --- graph convolution ---------------------------------------------------------------------

class _GraphConvolution(nn.Module):
    """W and B (out, in), both Xavier-uniform. (The starter code set B = 0; then a node without
    neighbours, or a net whose neighbour means vanish, starts with zero output and zero
    gradient in a two-layer net, and the self path never trains.)"""

    def __init__(self, in_features: int, out_features: int, self_term: bool = True):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.in_features, self.out_features = in_features, out_features
        self.W = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.xavier_uniform_(self.W)
        self.B = None
        if self_term:
            self.B = nn.Parameter(torch.empty(out_features, in_features))
            nn.init.xavier_uniform_(self.B)

    def _check(self, x, edge_index):
        n = check_features(x, self.in_features, type(self).__name__)
        return n, check_edge_index(edge_index, n)

    def self_part(self, x):                                 # (N, out): H Bᵀ, or 0
        return x @ self.B.T if self.B is not None else 0.0

    def extra_repr(self):
        return f"{self.in_features}, {self.out_features}, self_term={self.B is not None}"


class MessageGraphConvolution(_GraphConvolution):
    """Eq. 6 as message passing: ``update(x, message(x, edge_index))``."""

    @staticmethod
    def message(x: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """m_i = (1/|N(i)|) Σ_{j→i} h_j, shape (N, F); 0 for a node without incoming edges."""
        # >>> exercise: gcn_message
        # hint: gather x at the sources, sum at the destinations (index_add_), divide by the in-
        # hint: degree (at least 1): the mean of the incoming neighbours, (N, F).
        src, dst = edge_index                               # (E,), (E,)
        messages = x[src]                                   # (E, F): h_j travels along j → i
        summed = torch.zeros_like(x).index_add_(0, dst, messages)        # (N, F)
        deg = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        deg.index_add_(0, dst, torch.ones_like(dst, dtype=x.dtype))
        return summed / deg.clamp(min=1.0)[:, None]
        # <<< exercise

    def update(self, x: torch.Tensor, messages: torch.Tensor) -> torch.Tensor:
        """h_i' = W m_i + B h_i, shape (N, out)."""
        # >>> exercise: gcn_message
        # hint: h_i' = W m_i + B h_i: messages @ W^T plus self.self_part(x).
        return messages @ self.W.T + self.self_part(x)
        # <<< exercise

    def forward(self, x, edge_index):
        _, edge_index = self._check(x, edge_index)
        return self.update(x, self.message(x, edge_index))


class MatrixGraphConvolution(_GraphConvolution):
    """Eq. 6 as a matrix product: H' = D⁻¹ A H Wᵀ + H Bᵀ (dense N × N matrices)."""

    make_adjacency_matrix = staticmethod(make_adjacency_matrix)
    make_inverted_degree_matrix = staticmethod(make_inverted_degree_matrix)

    def forward(self, x, edge_index):
        n, edge_index = self._check(x, edge_index)
        # >>> exercise: gcn_matrix
        # hint: H' = D^-1 A H W^T + H B^T (self.self_part); multiply right to left: O(N^2 out).
        A = self.make_adjacency_matrix(edge_index, n, x.dtype)                 # (N, N)
        D_inv = self.make_inverted_degree_matrix(edge_index, n, x.dtype)       # (N, N)
        # D⁻¹ (A (H Wᵀ)): right to left keeps every product at O(N² · out), never O(N³)
        return D_inv @ (A @ (x @ self.W.T)) + self.self_part(x)
        # <<< exercise


def normalized_sparse_adjacency(edge_index: torch.Tensor, num_nodes: int,
                                dtype=torch.float32) -> torch.Tensor:
    """D⁻¹A as a sparse (N, N) CSR tensor: entry (i, j) = 1/|N(i)| per edge j → i."""
    deg = in_degree(edge_index, num_nodes, dtype).clamp(min=1.0)
    values = 1.0 / deg[edge_index[1]]
    A = torch.sparse_coo_tensor(edge_index.flip(0), values, (num_nodes, num_nodes),
                                check_invariants=False)
    with warnings.catch_warnings():                     # "CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return A.coalesce().to_sparse_csr()             # duplicates are summed by coalesce


class SparseGraphConvolution(_GraphConvolution):
    """Eq. 6 with a ``torch.sparse`` D⁻¹A: O(E · out) like message passing (bench reference)."""

    def forward(self, x, edge_index):
        n, edge_index = self._check(x, edge_index)
        A_hat = normalized_sparse_adjacency(edge_index, n, x.dtype)
        return torch.sparse.mm(A_hat, x @ self.W.T) + self.self_part(x)


# --- graph attention -----------------------------------------------------------------------

def segment_softmax(scores: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of ``scores`` (E, H) over the entries that share ``index`` (E,) (a node's incoming
    edges). The per-segment maximum is subtracted first, so nothing overflows."""
    # >>> exercise: gat
    # hint: softmax of scores (E, H) over edges with the same destination: subtract each segment's
    # hint: max (scatter_reduce amax), exp, divide by the segment sums (index_add_).
    idx = index[:, None].expand_as(scores)
    m = torch.full((num_segments, scores.shape[1]), -math.inf, dtype=scores.dtype,
                   device=scores.device)
    m = m.scatter_reduce(0, idx, scores, reduce="amax", include_self=True)      # (N, H)
    ex = torch.exp(scores - m[index].detach())                                   # (E, H)
    denom = torch.zeros_like(m).index_add_(0, index, ex)                          # (N, H)
    return ex / denom[index]
    # <<< exercise


class GraphAttention(nn.Module):
    """Multi-head graph attention (GAT), Veličković et al. (2018); see the module docstring.

    Parameters: W (heads·out, in) and the attention vector split as a_dst, a_src (heads, out)
    so that aᵀ[W h_i ‖ W h_j] = a_dst · W h_i + a_src · W h_j; no bias (as in the paper's
    equations). ``attn_dropout`` drops attention weights in training (the paper used 0.6).
    """

    def __init__(self, in_features: int, out_features: int, heads: int = 1, concat: bool = True,
                 negative_slope: float = 0.2, attn_dropout: float = 0.0):
        super().__init__()
        for name, v in (("in_features", in_features), ("out_features", out_features),
                        ("heads", heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0.0 <= attn_dropout < 1.0:
            raise ValueError(f"attn_dropout must be in [0, 1), got {attn_dropout}")
        self.in_features, self.out_features, self.heads = in_features, out_features, heads
        self.concat, self.negative_slope, self.attn_dropout = concat, negative_slope, attn_dropout
        self.W = nn.Parameter(torch.empty(heads * out_features, in_features))
        self.a_dst = nn.Parameter(torch.empty(heads, out_features))
        self.a_src = nn.Parameter(torch.empty(heads, out_features))
        nn.init.xavier_uniform_(self.W)
        bound = math.sqrt(6.0 / (2 * out_features + 1))          # Xavier for a (2·out, 1)
        nn.init.uniform_(self.a_dst, -bound, bound)
        nn.init.uniform_(self.a_src, -bound, bound)

    @property
    def output_features(self) -> int:
        return self.heads * self.out_features if self.concat else self.out_features

    def forward(self, x, edge_index, return_attention: bool = False):
        n = check_features(x, self.in_features, "GraphAttention")
        edge_index = check_edge_index(edge_index, n)
        edge_index = add_self_loops(remove_self_loops(edge_index), n)          # (2, E')
        # >>> exercise: gat
        # hint: z = x W^T as (N, H, F); e_ij = LeakyReLU(a_dst . z_i + a_src . z_j) per edge j ->
        # hint: i; alpha = segment_softmax over each node's in-edges; dropout on alpha; out_i =
        # hint: sum_j alpha_ij z_j; concat heads (N, H*F) or average them (N, F).
        src, dst = edge_index
        z = (x @ self.W.T).view(n, self.heads, self.out_features)              # (N, H, F)
        s_dst = (z * self.a_dst).sum(-1)                                       # (N, H)
        s_src = (z * self.a_src).sum(-1)                                       # (N, H)
        e = F.leaky_relu(s_dst[dst] + s_src[src], self.negative_slope)         # (E', H)
        alpha = segment_softmax(e, dst, n)                                     # (E', H)
        a = F.dropout(alpha, self.attn_dropout, self.training)
        out = torch.zeros_like(z).index_add_(0, dst, a[..., None] * z[src])    # (N, H, F)
        out = out.reshape(n, -1) if self.concat else out.mean(1)
        return (out, (edge_index, alpha)) if return_attention else out
        # <<< exercise

    def extra_repr(self):
        return (f"{self.in_features}, {self.out_features}, heads={self.heads}, "
                f"concat={self.concat}")


# --- a two-layer node classifier -----------------------------------------------------------

LAYERS = {"gcn": MessageGraphConvolution, "matrix-gcn": MatrixGraphConvolution,
          "sparse-gcn": SparseGraphConvolution}
MODELS = (*LAYERS, "gcn-noself", "gat")


class GraphNet(nn.Module):
    """layer(in → hidden) → activation → dropout → layer(hidden → classes).

    ``kind``: "gcn" (message passing), "matrix-gcn", "sparse-gcn", "gcn-noself" (message
    passing without B) with ReLU; "gat" with ELU, ``heads`` concatenated heads in the first
    layer and one head in the output layer, as in Veličković et al. (2018).
    """

    def __init__(self, kind: str, in_features: int, hidden: int, num_classes: int,
                 heads: int = 4, dropout: float = 0.5):
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"unknown model kind {kind!r}; allowed: {', '.join(MODELS)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.kind, self.dropout = kind, dropout
        if kind == "gat":
            self.layer1 = GraphAttention(in_features, hidden, heads=heads)
            self.layer2 = GraphAttention(hidden * heads, num_classes, heads=1)
            self.act = F.elu
        else:
            layer = LAYERS.get(kind, MessageGraphConvolution)
            self_term = kind != "gcn-noself"
            self.layer1 = layer(in_features, hidden, self_term=self_term)
            self.layer2 = layer(hidden, num_classes, self_term=self_term)
            self.act = F.relu

    def forward(self, x, edge_index):
        x = F.dropout(x, self.dropout, self.training)
        h = self.act(self.layer1(x, edge_index))
        h = F.dropout(h, self.dropout, self.training)
        return self.layer2(h, edge_index)
