"""Notebook 33 (weight tying): random-walk data, the depth-0 model's logits, embedding geometry."""

import math

import networkx as nx
import numpy as np
import pytest
import torch

from utils.data import walks as W
from utils.nn import geometry as G
from utils.nn.transformer_lm import TransformerLM

# --------------------------------------------------------------------------------------------
# random walks


@pytest.mark.parametrize("kind", W.GRAPH_KINDS)
def test_walks_follow_edges_and_entropy_rate_matches_monte_carlo(kind):
    g = W.make_graph(kind, 12, seed=3)
    P = W.transition_matrix(g)
    pi = W.stationary_distribution(P)
    H = W.entropy_rate(P, pi)
    walk = W.random_walks(P, 1, 60_000, np.random.default_rng(0))[0]
    # every step is an edge of the graph
    steps = set(zip(walk[:-1].tolist(), walk[1:].tolist()))
    assert all(g.has_edge(u, v) for u, v in steps)
    # entropy rate = the long-run mean of -log P(x_{t+1} | x_t) (ergodic theorem); the Monte
    # Carlo standard error at 60,000 steps is below 0.01 nats for these chains
    mc = -np.log(P[walk[:-1], walk[1:]]).mean()
    assert mc == pytest.approx(H, abs=0.03)
    # the visit frequencies approach π
    freq = np.bincount(walk, minlength=12) / len(walk)
    assert np.abs(freq - pi).max() < 0.02


def test_stationary_distribution_against_power_iteration():
    P = W.transition_matrix(W.random_directed_graph(15, 3, seed=1))
    pi = W.stationary_distribution(P)
    q = np.full(15, 1 / 15)
    for _ in range(5000):
        q = q @ P
    np.testing.assert_allclose(pi, q, atol=1e-10)
    assert pi.sum() == pytest.approx(1.0)


def test_graph_generators():
    cyc = W.transition_matrix(W.directed_cycle(7))
    np.testing.assert_array_equal(cyc, np.roll(np.eye(7), 1, axis=1))   # i -> i+1 mod 7
    assert W.entropy_rate(cyc) == 0.0
    np.testing.assert_allclose(W.stationary_distribution(cyc), np.full(7, 1 / 7))
    g = W.random_directed_graph(20, 3, seed=0)
    assert all(d == 3 for _, d in g.out_degree) and nx.is_strongly_connected(g)
    assert not any(g.has_edge(i, i) for i in g.nodes)
    # the undirected walk is reversible: π_i P_ij = π_j P_ji
    P = W.transition_matrix(W.random_undirected_graph(20, 4, seed=0))
    pi = W.stationary_distribution(P)
    flow = pi[:, None] * P
    np.testing.assert_allclose(flow, flow.T, atol=1e-12)
    # a hand-computed entropy rate: two states, P = [[0.5, 0.5], [1, 0]] -> π = (2/3, 1/3),
    # H = 2/3 · log 2
    P2 = np.array([[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(W.stationary_distribution(P2), [2 / 3, 1 / 3])
    assert W.entropy_rate(P2) == pytest.approx(2 / 3 * math.log(2))


def test_walk_start_and_bad_inputs():
    P = W.transition_matrix(W.directed_cycle(5))
    walks = W.random_walks(P, 4, 6, np.random.default_rng(0), start=2)
    np.testing.assert_array_equal(walks[0], [2, 3, 4, 0, 1, 2])
    with pytest.raises(ValueError, match="square"):
        W.stationary_distribution(np.ones((2, 3)) / 3)
    with pytest.raises(ValueError, match="rows that sum to 1"):
        W.entropy_rate(np.array([[0.5, 0.2], [0.5, 0.5]]))
    dead = nx.DiGraph([(0, 1)])
    with pytest.raises(ValueError, match="no outgoing edge"):
        W.transition_matrix(dead)
    with pytest.raises(ValueError, match="graph kind"):
        W.make_graph("tree", 5, 0)
    with pytest.raises(ValueError, match="out_degree"):
        W.random_directed_graph(4, 4, seed=0)


def test_excess_log_loss_and_bigram_cross_entropy():
    P = W.transition_matrix(W.random_directed_graph(10, 3, seed=2))
    pi = W.stationary_distribution(P)
    walks = W.random_walks(P, 400, 41, np.random.default_rng(1))
    with np.errstate(divide="ignore"):
        exact = np.log(P)[walks[:, :-1]]                                 # the true model
    assert W.excess_log_loss(exact, walks, P) == pytest.approx(0.0, abs=1e-12)
    # the uniform model: excess = Σ π_i KL(P_i || uniform) = log V − H (up to sampling noise)
    uniform = np.full((400, 40, 10), -math.log(10))
    H = W.entropy_rate(P, pi)
    assert W.excess_log_loss(uniform, walks, P) == pytest.approx(math.log(10) - H, abs=0.03)
    assert W.bigram_cross_entropy(np.zeros((10, 10)), P, pi) == pytest.approx(math.log(10))
    with np.errstate(divide="ignore"):
        assert W.bigram_cross_entropy(np.where(P > 0, np.log(P), -1e9), P, pi) == \
            pytest.approx(H, abs=1e-9)


def test_best_symmetric_logits():
    # reversible chain with full support: log P = symmetric + row constant -> reaches H
    rng = np.random.default_rng(0)
    A = rng.uniform(0.5, 2.0, (6, 6))
    Wsym = A + A.T
    P = Wsym / Wsym.sum(axis=1, keepdims=True)
    S, ce = W.best_symmetric_logits(P)
    np.testing.assert_allclose(S, S.T)
    assert ce == pytest.approx(W.entropy_rate(P), abs=1e-6)
    # the directed cycle: the best symmetric model gives each of i-1 and i+1 probability 1/2
    _, ce_cycle = W.best_symmetric_logits(W.transition_matrix(W.directed_cycle(5)), steps=20)
    assert math.log(2) - 1e-9 <= ce_cycle <= math.log(2) + 1e-3


# --------------------------------------------------------------------------------------------
# the depth-0 TransformerLM: what its logits are (the derivation of notebook 33)


def _depth0(norm_position="pre", norm_type="rmsnorm", tie=True, V=7, d=6):
    torch.manual_seed(0)
    m = TransformerLM(dict(vocab_size=V, context_length=1, d_model=d, num_layers=0,
                           num_heads=1, tie_weights=tie, norm_position=norm_position,
                           norm_type=norm_type))
    with torch.no_grad():
        for p in m.parameters():              # non-trivial gains and biases
            p.add_(0.3 * torch.randn_like(p))
    with torch.no_grad():
        S = m(torch.arange(V)[:, None])[:, 0].double()                   # (V, V): row = input
    return m, S


def test_depth0_tied_without_norm_is_E_Et():
    m, S = _depth0(norm_position="none")
    E = m.token_embeddings.weight.detach().double()
    np.testing.assert_allclose(S, E @ E.T, atol=1e-5)
    np.testing.assert_allclose(S, S.T, atol=1e-5)                        # symmetric, PSD
    assert torch.linalg.eigvalsh((S + S.T) / 2).min() > -1e-5


def test_depth0_tied_rmsnorm_is_row_scaled_symmetric():
    m, S = _depth0()
    E = m.token_embeddings.weight.detach().double()
    g = m.ln_final.weight.detach().double()
    rho = torch.sqrt(E.pow(2).mean(dim=1) + m.ln_final.eps)              # (V,)
    B = E @ torch.diag(g) @ E.T                                           # symmetric
    np.testing.assert_allclose(S, B / rho[:, None], atol=1e-5)
    assert not torch.allclose(S, S.T, atol=1e-3)                          # S itself is not


def test_depth0_tied_layernorm_adds_a_rank_one_asymmetric_term():
    m, S = _depth0(norm_type="layernorm")
    E = m.token_embeddings.weight.detach().double()
    g, b = m.ln_final.weight.detach().double(), m.ln_final.bias.detach().double()
    mu, sigma = E.mean(dim=1), torch.sqrt(E.var(dim=1, unbiased=False) + m.ln_final.eps)
    expected = (E @ torch.diag(g) @ E.T - torch.outer(mu, E @ g)) / sigma[:, None] + (E @ b)[None]
    np.testing.assert_allclose(S, expected, atol=1e-5)


def test_depth0_untied_uses_the_head():
    m, S = _depth0(tie=False)
    E, U = m.token_embeddings.weight.detach().double(), m.lm_head.weight.detach().double()
    g = m.ln_final.weight.detach().double()
    rho = torch.sqrt(E.pow(2).mean(dim=1) + m.ln_final.eps)
    np.testing.assert_allclose(S, (E * g) @ U.T / rho[:, None], atol=1e-5)


# --------------------------------------------------------------------------------------------
# embedding geometry on constructed matrices with known answers


def test_effective_rank_known_values():
    assert G.effective_rank(torch.eye(6)[:, :4] @ torch.eye(4) * 3.0) == pytest.approx(4.0)
    assert G.effective_rank(torch.outer(torch.arange(1.0, 6), torch.ones(3))) == pytest.approx(1.0)
    # singular values (2, 1, 1): p = (1/2, 1/4, 1/4) -> exp(1.5 log 2) = 2^1.5
    X = torch.diag(torch.tensor([2.0, 1.0, 1.0]))
    assert G.effective_rank(X) == pytest.approx(2 ** 1.5)
    # invariant to an orthogonal rotation of the rows' space
    Q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
    assert G.effective_rank(X @ Q) == pytest.approx(2 ** 1.5)
    with pytest.raises(ValueError, match="zero"):
        G.effective_rank(torch.zeros(3, 2))


def test_mean_cosine_similarity_known_values():
    assert G.mean_cosine_similarity(torch.eye(5)) == pytest.approx(0.0)
    assert G.mean_cosine_similarity(torch.ones(4, 3) * torch.arange(1.0, 5)[:, None]) == \
        pytest.approx(1.0)
    assert G.mean_cosine_similarity(torch.tensor([[1.0, 2.0], [-1.0, -2.0]])) == pytest.approx(-1.0)
    X = torch.randn(30, 4, generator=torch.Generator().manual_seed(1))
    U = X / X.norm(dim=1, keepdim=True)
    C = U @ U.T
    brute = (C.sum() - C.diagonal().sum()) / (30 * 29)
    assert G.mean_cosine_similarity(X) == pytest.approx(float(brute))
    # a narrow cone: a common direction plus small noise -> close to 1
    cone = torch.tensor([5.0, 0, 0, 0]) + 0.1 * X
    assert G.mean_cosine_similarity(cone) > 0.99
    with pytest.raises(ValueError, match="zero vectors"):
        G.mean_cosine_similarity(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))


def test_explained_variance_ratio_known_values():
    t = torch.linspace(-1, 1, 20)[:, None]
    line = t * torch.tensor([[1.0, 2.0, -1.0]]) + torch.tensor([[3.0, 0.0, 1.0]])
    assert G.explained_variance_ratio(line) == pytest.approx(1.0)
    # axis-aligned variances 4, 1, 1 (exactly, by construction) -> top share 4/6
    X = torch.tensor([[2.0, 0, 0], [-2.0, 0, 0], [0, 1.0, 0], [0, -1.0, 0], [0, 0, 1.0],
                      [0, 0, -1.0]])
    X = torch.cat([X, -X])
    assert G.explained_variance_ratio(X) == pytest.approx(8 / 12)
    assert G.explained_variance_ratio(X, k=3) == pytest.approx(1.0)


def test_nearest_neighbours_against_brute_force():
    X = torch.randn(25, 6, generator=torch.Generator().manual_seed(2))
    ids = [0, 7, 24]
    got = G.nearest_neighbours(X, ids, k=4)
    for row, i in zip(got.tolist(), ids):
        cos = [float(X[i] @ X[j] / (X[i].norm() * X[j].norm())) if j != i else -2.0
               for j in range(25)]
        assert row == sorted(range(25), key=lambda j: -cos[j])[:4]
    with pytest.raises(ValueError, match="k must be"):
        G.nearest_neighbours(X, [0], k=25)
    with pytest.raises(IndexError):
        G.nearest_neighbours(X, [25], k=2)
