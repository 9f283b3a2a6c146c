"""Tests of utils.nn.gnn and utils.data.graphs (notebook 21).

References: hand-computed matrices for a small graph, walk counts by enumeration, a dense
masked-softmax implementation of graph attention, and the three graph-convolution forms
against each other; a Planetoid folder written here with pickle/scipy.
"""

import itertools
import pickle
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from utils.data import graphs
from utils.nn import gnn

torch.set_num_threads(1)

# The "bull" graph: a triangle 0-1-2 with horns 1-3 and 2-4 (undirected).
BULL = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 4)]


def undirected(pairs):
    e = torch.tensor(pairs).T
    return torch.cat([e, e.flip(0)], 1)


def random_directed_graph(n, e, seed, isolated=2):
    """Random directed edges among the first n − isolated nodes (the rest are isolated)."""
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n - isolated, (2, e), generator=g)
    return ei


def three_layers(cin, cout, self_term=True, seed=0):
    torch.manual_seed(seed)
    m = gnn.MessageGraphConvolution(cin, cout, self_term).double()
    with torch.no_grad():
        if m.B is not None:
            m.B.normal_()
    mx = gnn.MatrixGraphConvolution(cin, cout, self_term).double()
    s = gnn.SparseGraphConvolution(cin, cout, self_term).double()
    mx.load_state_dict(m.state_dict())
    s.load_state_dict(m.state_dict())
    return m, mx, s


# --- matrices of a small graph --------------------------------------------------------------

def test_adjacency_square_and_laplacian_of_bull_graph_by_hand():
    ei = undirected(BULL)
    A = gnn.make_adjacency_matrix(ei, 5)
    A_hand = torch.tensor([[0, 1, 1, 0, 0],
                           [1, 0, 1, 1, 0],
                           [1, 1, 0, 0, 1],
                           [0, 1, 0, 0, 0],
                           [0, 0, 1, 0, 0]], dtype=torch.float32)
    assert torch.equal(A, A_hand)
    # A²: diagonal = degree, (0,3) = one walk 0-1-3, (1,2) = one walk 1-0-2, (3,4) = none
    A2_hand = torch.tensor([[2, 1, 1, 1, 1],
                            [1, 3, 1, 0, 1],
                            [1, 1, 3, 1, 0],
                            [1, 0, 1, 1, 0],
                            [1, 1, 0, 0, 1]], dtype=torch.float32)
    assert torch.equal(A @ A, A2_hand)
    L_hand = torch.tensor([[2, -1, -1, 0, 0],
                           [-1, 3, -1, -1, 0],
                           [-1, -1, 3, 0, -1],
                           [0, -1, 0, 1, 0],
                           [0, 0, -1, 0, 1]], dtype=torch.float32)
    assert torch.equal(gnn.laplacian(ei, 5), L_hand)
    D_inv = gnn.make_inverted_degree_matrix(ei, 5)
    assert torch.allclose(D_inv, torch.diag(torch.tensor([1 / 2, 1 / 3, 1 / 3, 1.0, 1.0])))


@pytest.mark.parametrize("power", [1, 2, 3, 4])
def test_matrix_power_counts_walks(power):
    ei = undirected(BULL)
    A = gnn.make_adjacency_matrix(ei, 5).long()
    edges = set(map(tuple, ei.T.tolist()))
    counts = torch.zeros(5, 5, dtype=torch.long)
    for walk in itertools.product(range(5), repeat=power + 1):
        if all((walk[k], walk[k + 1]) in edges for k in range(power)):
            counts[walk[0], walk[-1]] += 1
    assert torch.equal(torch.linalg.matrix_power(A, power), counts)


def test_adjacency_direction_and_duplicates():
    ei = torch.tensor([[0, 0, 2], [1, 1, 0]])          # 0→1 twice, 2→0
    A = gnn.make_adjacency_matrix(ei, 3)
    assert torch.equal(A, torch.tensor([[0, 0, 1], [2, 0, 0], [0, 0, 0.]]))
    assert torch.equal(gnn.in_degree(ei, 3), torch.tensor([1., 2., 0.]))
    assert torch.equal(gnn.coalesce(ei), torch.tensor([[2, 0], [0, 1]]))


# --- graph convolution ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("self_term", [True, False])
def test_message_matrix_sparse_agree_on_random_directed_graphs(seed, self_term):
    n, e = 20, 45
    ei = random_directed_graph(n, e, seed)              # nodes 18, 19 isolated; duplicates and
    x = torch.randn(n, 5, dtype=torch.float64)          # self-loops occur at random
    m, mx, s = three_layers(5, 3, self_term, seed)
    a, b, c = m(x, ei), mx(x, ei), s(x, ei)
    assert torch.allclose(a, b, atol=1e-12) and torch.allclose(a, c, atol=1e-12)
    # isolated nodes keep only the self term
    expect = x[-2:] @ m.B.T if self_term else torch.zeros(2, 3, dtype=torch.float64)
    assert torch.allclose(a[-2:], expect, atol=1e-12)


def test_message_is_the_mean_over_incoming_edges_by_hand():
    # path 0 → 1 → 2 and 3 → 1: node 1 averages nodes 0 and 3, node 2 gets node 1, 0 and 3 nothing
    ei = torch.tensor([[0, 1, 3], [1, 2, 1]])
    x = torch.tensor([[1., 10.], [2., 20.], [3., 30.], [5., 50.]])
    m = gnn.MessageGraphConvolution.message(x, ei)
    assert torch.equal(m, torch.tensor([[0., 0.], [3., 30.], [2., 20.], [0., 0.]]))


def test_edge_direction_matters():
    ei = torch.tensor([[0, 0, 1, 3], [1, 2, 2, 2]])     # not symmetric
    x = torch.randn(4, 3, dtype=torch.float64)
    for layer in three_layers(3, 2):
        forward, reverse = layer(x, ei), layer(x, ei.flip(0))
        assert not torch.allclose(forward, reverse)
        # node 0 has no incoming edge: only its self term; reversed, it averages 1 and 2
        assert torch.allclose(forward[0], x[0] @ layer.B.T)
        assert torch.allclose(reverse[0], (x[1] + x[2]) / 2 @ layer.W.T + x[0] @ layer.B.T)


def test_duplicate_edges_and_self_loops_have_the_documented_meaning():
    x = torch.randn(3, 2, dtype=torch.float64)
    m, mx, s = three_layers(2, 2)
    dup = torch.tensor([[0, 0, 1], [2, 2, 2]])          # 0→2 twice, 1→2 once
    want = (2 * x[0] + x[1]) / 3 @ m.W.T + x[2] @ m.B.T
    loop = torch.tensor([[2, 1], [2, 2]])               # self-loop 2→2 and 1→2
    want_loop = (x[2] + x[1]) / 2 @ m.W.T + x[2] @ m.B.T
    for layer in (m, mx, s):
        assert torch.allclose(layer(x, dup)[2], want)
        assert torch.allclose(layer(x, loop)[2], want_loop)


@pytest.mark.parametrize("kind", ["gcn", "matrix-gcn", "sparse-gcn", "gcn-noself", "gat"])
def test_gradients_reach_every_parameter_and_a_step_changes_them(kind):
    torch.manual_seed(0)
    ei = random_directed_graph(12, 30, 1, isolated=1)
    x = torch.randn(12, 6)
    y = torch.randint(0, 3, (12,))
    net = gnn.GraphNet(kind, 6, 8, 3, heads=2, dropout=0.0)
    before = {k: v.detach().clone() for k, v in net.named_parameters()}
    loss = torch.nn.functional.cross_entropy(net(x, ei), y)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{name} got a zero gradient"
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    for name, p in net.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} did not change"
    has_b = any(n.endswith(".B") for n, _ in net.named_parameters())
    assert has_b == (kind in ("gcn", "matrix-gcn", "sparse-gcn"))


# --- graph attention ------------------------------------------------------------------------

def dense_gat(layer, x, edge_index):
    """Reference: masked softmax over a dense score matrix (one edge per (j, i) pair)."""
    n = x.shape[0]
    mask = torch.zeros(n, n, dtype=torch.bool)
    mask[edge_index[1], edge_index[0]] = True
    mask |= torch.eye(n, dtype=torch.bool)
    z = (x @ layer.W.T).view(n, layer.heads, layer.out_features)           # (N, H, F)
    outs = []
    for k in range(layer.heads):
        zk = z[:, k]                                                        # (N, F)
        a = torch.cat([layer.a_dst[k], layer.a_src[k]])                     # (2F,)
        pair = torch.cat([zk[:, None].expand(n, n, -1), zk[None].expand(n, n, -1)], -1)
        e = torch.nn.functional.leaky_relu(pair @ a, 0.2)                   # e[i, j]
        alpha = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1)
        outs.append(alpha @ zk)
    out = torch.stack(outs, 1)
    return out.reshape(n, -1) if layer.concat else out.mean(1)


@pytest.mark.parametrize("heads,concat", [(1, True), (3, True), (3, False)])
def test_attention_matches_dense_reference(heads, concat):
    torch.manual_seed(heads)
    ei = gnn.coalesce(random_directed_graph(10, 25, heads, isolated=2))
    ei = gnn.remove_self_loops(ei)
    x = torch.randn(10, 4, dtype=torch.float64)
    layer = gnn.GraphAttention(4, 5, heads=heads, concat=concat).double()
    assert torch.allclose(layer(x, ei), dense_gat(layer, x, ei), atol=1e-12)


def test_attention_weights_sum_to_one_over_each_neighbourhood():
    torch.manual_seed(0)
    ei = random_directed_graph(15, 40, 3, isolated=3)   # with duplicates and self-loops
    layer = gnn.GraphAttention(4, 3, heads=2)
    out, (edges, alpha) = layer(torch.randn(15, 4), ei, return_attention=True)
    assert out.shape == (15, 6) and alpha.shape == (edges.shape[1], 2)
    sums = torch.zeros(15, 2).index_add_(0, edges[1], alpha)
    assert torch.allclose(sums, torch.ones(15, 2), atol=1e-6)
    assert (alpha > 0).all()
    # exactly one self-loop per node, whatever the input held
    loops = edges[:, edges[0] == edges[1]]
    assert sorted(loops[0].tolist()) == list(range(15))
    # an isolated node attends only to itself: output = its own W h
    x = torch.randn(15, 4)
    assert torch.allclose(layer(x, ei)[-1], x[-1] @ layer.W.T, atol=1e-6)


def test_attention_is_stable_for_large_scores():
    layer = gnn.GraphAttention(2, 2)
    x = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [3e4, 0.]])
    out = layer(x, torch.tensor([[0, 1, 2], [2, 2, 0]]))
    assert torch.isfinite(out).all()


# --- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("edge_index,match", [
    (torch.tensor([[0, 5], [1, 2]]), "outside"),
    (torch.tensor([[0, -1], [1, 2]]), "outside"),
    (torch.tensor([0, 1, 2]), "shape"),
    (torch.tensor([[0., 1.], [1., 2.]]), "integer"),
    ([[0, 1], [1, 2]], "torch.Tensor"),
])
def test_bad_edge_index_is_rejected(edge_index, match):
    x = torch.randn(4, 3)
    for layer in (gnn.MessageGraphConvolution(3, 2), gnn.MatrixGraphConvolution(3, 2),
                  gnn.SparseGraphConvolution(3, 2), gnn.GraphAttention(3, 2)):
        with pytest.raises((ValueError, TypeError), match=match):
            layer(x, edge_index)


def test_bad_features_and_names_are_rejected():
    ei = torch.tensor([[0], [1]])
    with pytest.raises(ValueError, match="3 features"):
        gnn.MessageGraphConvolution(3, 2)(torch.randn(2, 4), ei)
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        gnn.GraphAttention(3, 2)(torch.randn(2, 3, 1), ei)
    with pytest.raises(ValueError, match="unknown model kind"):
        gnn.GraphNet("gin", 3, 4, 2)
    with pytest.raises(ValueError, match="positive int"):
        gnn.GraphAttention(3, 2, heads=0)


# --- data -----------------------------------------------------------------------------------

@pytest.mark.parametrize("h", [0.1, 0.5, 0.9])
def test_csbm_has_the_requested_homophily_size_and_split(h):
    d = graphs.contextual_sbm(homophily=h, seed=1)
    assert d.num_nodes == 2708 and d.num_classes == 7
    assert abs(d.info["homophily"] - h) < 0.03
    assert abs(d.info["avg_degree"] - 3.9) < 0.1
    assert gnn.coalesce(d.edge_index).shape == d.edge_index.shape          # no duplicates
    assert torch.equal(gnn.make_adjacency_matrix(d.edge_index, d.num_nodes),
                       gnn.make_adjacency_matrix(d.edge_index, d.num_nodes).T)  # undirected
    assert int(d.train_mask.sum()) == 140 and int(d.val_mask.sum()) == 500
    assert int(d.test_mask.sum()) == 1000
    assert not (d.train_mask & d.val_mask).any() and not (d.val_mask & d.test_mask).any()
    assert torch.equal(torch.bincount(d.y[d.train_mask]), torch.full((7,), 20))
    # features carry the class: the nearest class mean beats chance by far
    means = torch.stack([d.x[d.y == c].mean(0) for c in range(7)])
    acc = ((torch.cdist(d.x, means).argmin(1) == d.y).float().mean())
    assert acc > 0.4


def test_csbm_rejects_bad_parameters():
    with pytest.raises(ValueError, match="homophily"):
        graphs.contextual_sbm(homophily=1.5)
    with pytest.raises(ValueError, match="num_classes"):
        graphs.contextual_sbm(num_classes=1)


def test_karate_club():
    d = graphs.karate_club(seed=0)
    assert d.num_nodes == 34 and d.num_edges == 156 and d.num_classes == 2
    assert int((d.y == 0).sum()) == 17
    assert torch.equal(d.x, torch.eye(34))


def test_inject_bots():
    d = graphs.contextual_sbm(num_nodes=200, homophily=0.8, train_per_class=5, num_val=40,
                                num_test=60)
    b = graphs.inject_bots(d, num_bots=10, edges_per_bot=5, seed=0)
    assert b.num_nodes == 210 and b.info["is_bot"].sum() == 10
    assert b.num_edges == d.num_edges + 2 * 10 * 5
    bot_edges = b.edge_index[:, b.info["is_bot"][b.edge_index[0]]]
    assert not b.info["is_bot"][bot_edges[1]].any()     # bots link only to real nodes
    assert (b.y[200:] == -1).all() and not b.train_mask[200:].any()


def write_planetoid(folder, name):
    """A 7-node Planetoid data set: 2 training nodes (y), allx rows 0-3, test nodes 6, 4
    (given out of order in test.index), node 5 missing from tx (an isolated CiteSeer-style
    test index gap)."""
    allx = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], float))
    ally = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
    x, y = allx[:2], ally[:2]
    tx = sp.csr_matrix(np.array([[9, 9, 9], [4, 4, 4]], float))          # rows of nodes 6, 4
    ty = np.array([[0, 1], [1, 0]])
    graph = defaultdict(list, {0: [1, 2], 1: [0], 2: [0, 6], 3: [4], 4: [3], 6: [2]})
    for part, obj in (("x", x), ("y", y), ("tx", tx), ("ty", ty), ("allx", allx),
                      ("ally", ally), ("graph", graph)):
        with open(folder / f"ind.{name}.{part}", "wb") as fh:
            pickle.dump(obj, fh)
    (folder / f"ind.{name}.test.index").write_text("6\n4\n")


def test_planetoid_loader_reads_a_small_folder(tmp_path):
    write_planetoid(tmp_path, "tiny")
    d = graphs.load_planetoid(tmp_path, "tiny", num_val=1)
    assert d.num_nodes == 7 and d.num_classes == 2
    assert torch.equal(d.x[6], torch.tensor([9., 9., 9.]))
    assert torch.equal(d.x[4], torch.tensor([4., 4., 4.]))
    assert torch.equal(d.x[5], torch.zeros(3))
    assert d.y.tolist() == [0, 1, 0, 1, 0, -1, 1]
    assert d.train_mask.tolist() == [True, True] + [False] * 5
    assert d.val_mask.tolist() == [False, False, True] + [False] * 4
    assert d.test_mask.nonzero().flatten().tolist() == [4, 6]
    pairs = set(map(tuple, d.edge_index.T.tolist()))
    assert pairs == {(0, 1), (1, 0), (0, 2), (2, 0), (2, 6), (6, 2), (3, 4), (4, 3)}


def test_planetoid_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        graphs.load_planetoid(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="ind.cora.x"):
        graphs.load_planetoid(tmp_path, "cora")
    write_planetoid(tmp_path, "evil")

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(tmp_path / "ind.evil.graph", "wb") as fh:
        pickle.dump(Boom(), fh)
    with pytest.raises(ValueError, match="refusing builtins.print"):
        graphs.load_planetoid(tmp_path, "evil")
