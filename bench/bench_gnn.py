"""Graph-convolution speed: message passing and the dense matrix form against torch.sparse.

One forward + backward (gradients for the weights and the input features) of a graph
convolution, eq. 6 of seed 003 §3.2, 64 → 64 features, on a random directed graph with
N = 10,000 nodes and E = 100,000 edges (``--quick``: the same N = 10,000 nodes with
E = 50,000 edges and 3 rounds instead of 7):

* ``message``: ``utils.nn.gnn.MessageGraphConvolution`` (gather + ``index_add_``), the layer
  notebook 21 trains with;
* ``matrix``: ``MatrixGraphConvolution``, dense D⁻¹ A H Wᵀ, O(N² d) whatever E is;
* ``sparse``: ``SparseGraphConvolution``, D⁻¹A as a ``torch.sparse`` CSR matrix (reference).

Target: the training layer (``message``) within 1.5× of the fastest (median per-round ratio).
Also reported: each time in ms, the message and dense forms' ratios to sparse (no target) and
one GAT layer (4 heads × 16) for scale. How the times grow with E is plotted in notebook 21.
"""

from __future__ import annotations

import torch

from bench.common import Result, compare, ratio_result
from utils.data.graphs import random_graph
from utils.nn import gnn

FEATURES = 64


def _step(layer, x, edge_index, grad_out):
    def fn():
        layer.zero_grad(set_to_none=True)
        x.grad = None
        (layer(x, edge_index) * grad_out).sum().backward()
    return fn


def run(quick: bool = False) -> list[Result]:
    n, e = (10_000, 50_000) if quick else (10_000, 100_000)
    rounds = 3 if quick else 7
    torch.manual_seed(0)
    edge_index = random_graph(n, e, seed=0)
    x = torch.randn(n, FEATURES, requires_grad=True)
    grad_out = torch.randn(n, FEATURES)
    layers = {"message": gnn.MessageGraphConvolution(FEATURES, FEATURES),
              "matrix": gnn.MatrixGraphConvolution(FEATURES, FEATURES),
              "sparse": gnn.SparseGraphConvolution(FEATURES, FEATURES)}
    state = layers["message"].state_dict()
    for layer in layers.values():
        layer.load_state_dict(state)
    with torch.no_grad():                                   # the three forms agree
        ref = layers["sparse"](x, edge_index)
        for name, layer in layers.items():
            err = (layer(x, edge_index) - ref).abs().max().item()
            if err > 1e-4:
                raise AssertionError(f"{name} differs from sparse by {err:.2e}")
    stats = compare({k: _step(v, x, edge_index, grad_out) for k, v in layers.items()},
                    reference="sparse", rounds=rounds)
    where = f"N={n:,}, E={e:,}, {FEATURES}→{FEATURES} features, forward+backward"
    out = [Result(f"gnn {name}: time per step", s["median_s"] * 1e3, "ms", detail=where)
           for name, s in stats.items()]
    fastest = min(stats, key=lambda k: stats[k]["median_s"])
    scale = stats[fastest]["ratio_median"]                  # fastest / sparse
    train = {k: (v / scale if k.startswith("ratio") else v) for k, v in stats["message"].items()}
    out.append(ratio_result(f"gnn message / fastest ({fastest})", train, target_max=1.5,
                            detail="the layer notebook 21 trains with"))
    out.append(ratio_result("gnn message / sparse", stats["message"],
                            detail="gather + index_add_ against torch.sparse.mm"))
    out.append(ratio_result("gnn matrix (dense) / sparse", stats["matrix"],
                            detail="O(N²·d) whatever the number of edges"))
    gat = gnn.GraphAttention(FEATURES, 16, heads=4)
    g_out = torch.randn(n, 64)
    g = compare({"gat": _step(gat, x, edge_index, g_out),
                 "sparse": _step(layers["sparse"], x, edge_index, grad_out)},
                reference="sparse", rounds=rounds)
    out.append(ratio_result("gnn GAT (4 heads × 16) / sparse GCN", g["gat"],
                            detail=f"{g['gat']['median_s'] * 1e3:.1f} ms per step"))
    return out
