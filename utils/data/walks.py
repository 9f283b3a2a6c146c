"""Random walks on graphs: a next-token task whose best possible loss is known exactly.

Taught in notebook 33 (seed 000, question 4: weight tying). A walk on a weighted graph is a
Markov chain on the V nodes with transition matrix

    P_ij = w_ij / Σ_k w_ik                       (V, V), each row sums to 1,

so a language model that reads a walk and predicts the next node can do no better than
P(x_{t+1} | x_t). Averaged over the chain's stationary distribution π (πP = π, Σ π_i = 1) the
smallest achievable cross-entropy per token is the **entropy rate** (Cover and Thomas, 2006,
Theorem 4.2.4)

    H = − Σ_i π_i Σ_j P_ij log P_ij              (nats per token),

and a model q is scored by its **excess loss** CE(q) − H = Σ_i π_i KL(P_i· ‖ q_i·) ≥ 0.

The graphs (networkx generators, all offline):

* :func:`directed_cycle`: 0 → 1 → … → V−1 → 0, deterministic (H = 0) and as asymmetric as a
  chain can be: the theorem case of notebook 33;
* :func:`random_directed_graph`: every node has ``out_degree`` random out-neighbours
  (``networkx.random_k_out_graph``), redrawn until strongly connected and aperiodic, with
  random positive edge weights; few edges are reciprocated, so P is far from symmetric;
* :func:`random_undirected_graph`: a random ``degree``-regular graph
  (``networkx.random_regular_graph``) with symmetric random weights w_ij = w_ji. Its walk is
  *reversible* (π_i P_ij = π_j P_ji), so log P_ij = log w_ij − log Σ_k w_ik is a symmetric
  matrix plus a constant per row: the control where a symmetric logit matrix suffices.

:func:`random_walks` samples walks that start from π (so every position of a walk is a draw
from the stationary chain); :func:`excess_log_loss` scores a model's log-probabilities on them
per token, without the noise of subtracting a Monte-Carlo entropy. :func:`best_symmetric_logits`
solves the convex problem min over symmetric S of Σ_i π_i CE(P_i·, softmax(S_i·)): the best any
symmetric bigram logit matrix can do (the bound of notebook 33's derivation).
"""

from __future__ import annotations

import numpy as np

GRAPH_KINDS = ("cycle", "directed", "undirected")


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------
# graphs -> transition matrices


def directed_cycle(num_nodes: int):
    """The directed cycle 0 → 1 → … → V−1 → 0 (``networkx.DiGraph``, unit weights)."""
    import networkx as nx

    _check_int("num_nodes", num_nodes, 2)
    g = nx.cycle_graph(num_nodes, create_using=nx.DiGraph)
    nx.set_edge_attributes(g, 1.0, "weight")
    return g


def random_directed_graph(num_nodes: int, out_degree: int, seed: int, max_tries: int = 100):
    """A strongly connected, aperiodic digraph with ``out_degree`` distinct out-neighbours per
    node (no self-loops) and edge weights ~ Uniform(0.5, 2); redrawn until both hold."""
    import networkx as nx

    _check_int("num_nodes", num_nodes, 3)
    _check_int("out_degree", out_degree, 1)
    if out_degree >= num_nodes:
        raise ValueError(f"out_degree must be < num_nodes ({num_nodes}), got {out_degree}")
    rng = np.random.default_rng(seed)
    for _ in range(max_tries):
        g = nx.DiGraph()
        g.add_nodes_from(range(num_nodes))
        for i in range(num_nodes):
            others = np.delete(np.arange(num_nodes), i)
            for j in rng.choice(others, size=out_degree, replace=False):
                g.add_edge(i, int(j), weight=float(rng.uniform(0.5, 2.0)))
        if nx.is_strongly_connected(g) and nx.is_aperiodic(g):
            return g
    raise RuntimeError(f"no strongly connected aperiodic graph in {max_tries} draws "
                       f"(num_nodes={num_nodes}, out_degree={out_degree}); raise out_degree")


def random_undirected_graph(num_nodes: int, degree: int, seed: int, max_tries: int = 100):
    """A connected, non-bipartite random ``degree``-regular graph with symmetric weights
    ~ Uniform(0.5, 2) (``networkx.Graph``; its walk is reversible)."""
    import networkx as nx

    _check_int("num_nodes", num_nodes, 3)
    _check_int("degree", degree, 2)
    if (num_nodes * degree) % 2 or degree >= num_nodes:
        raise ValueError(f"a {degree}-regular graph on {num_nodes} nodes needs degree < "
                         f"num_nodes and num_nodes·degree even")
    rng = np.random.default_rng(seed)
    for t in range(max_tries):
        g = nx.random_regular_graph(degree, num_nodes, seed=int(rng.integers(2**31)))
        if nx.is_connected(g) and not nx.is_bipartite(g):
            for u, v in g.edges:
                g.edges[u, v]["weight"] = float(rng.uniform(0.5, 2.0))
            return g
    raise RuntimeError(f"no connected non-bipartite {degree}-regular graph on {num_nodes} nodes "
                       f"in {max_tries} draws")


def make_graph(kind: str, num_nodes: int, seed: int, degree: int = 3):
    """One of :data:`GRAPH_KINDS` by name (``degree``: out-degree or regular degree)."""
    if kind == "cycle":
        return directed_cycle(num_nodes)
    if kind == "directed":
        return random_directed_graph(num_nodes, degree, seed)
    if kind == "undirected":
        return random_undirected_graph(num_nodes, degree + (num_nodes * degree) % 2, seed)
    raise ValueError(f"unknown graph kind {kind!r}; allowed: {', '.join(GRAPH_KINDS)}")


def transition_matrix(graph, weight: str = "weight") -> np.ndarray:
    """P_ij = w_ij / Σ_k w_ik over the nodes 0..V−1 (an undirected edge counts both ways)."""
    import networkx as nx

    V = graph.number_of_nodes()
    if sorted(graph.nodes) != list(range(V)):
        raise ValueError("the graph's nodes must be the integers 0..V-1")
    W = nx.to_numpy_array(graph, nodelist=range(V), weight=weight, dtype=float)   # (V, V)
    if np.any(W < 0):
        raise ValueError("edge weights must be >= 0")
    out = W.sum(axis=1)
    if np.any(out <= 0):
        dead = np.flatnonzero(out <= 0)[:5].tolist()
        raise ValueError(f"nodes {dead} have no outgoing edge: a walk would stop there")
    return W / out[:, None]


def check_transition_matrix(P) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    if P.ndim != 2 or P.shape[0] != P.shape[1] or P.shape[0] < 1:
        raise ValueError(f"a transition matrix must be square (V, V), got shape {P.shape}")
    if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError("a transition matrix needs entries >= 0 and rows that sum to 1")
    return P


# --------------------------------------------------------------------------------------------
# stationary distribution and entropy rate


def stationary_distribution(P) -> np.ndarray:
    """π with πP = π and Σ π = 1 (least squares on the stacked system; irreducible P)."""
    P = check_transition_matrix(P)
    V = P.shape[0]
    A = np.vstack([P.T - np.eye(V), np.ones((1, V))])              # (V+1, V)
    b = np.zeros(V + 1)
    b[-1] = 1.0
    pi, *_ = np.linalg.lstsq(A, b, rcond=None)
    if np.any(pi < -1e-9) or not np.allclose(pi @ P, pi, atol=1e-8):
        raise ValueError("no unique stationary distribution: is the chain irreducible?")
    return np.clip(pi, 0.0, None) / np.clip(pi, 0.0, None).sum()


def entropy_rate(P, pi=None) -> float:
    """H = − Σ_i π_i Σ_j P_ij log P_ij in nats per step (0 log 0 = 0)."""
    P = check_transition_matrix(P)
    pi = stationary_distribution(P) if pi is None else np.asarray(pi, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(P > 0, P * np.log(P), 0.0)
    return float(-(pi * plogp.sum(axis=1)).sum())


# --------------------------------------------------------------------------------------------
# sampling and scoring


def random_walks(P, num_walks: int, length: int, rng: np.random.Generator,
                 start: np.ndarray | None = None) -> np.ndarray:
    """``num_walks`` walks of ``length`` nodes, (num_walks, length) int64; the first node is
    drawn from π unless ``start`` gives it. Each step samples by inverting the row's CDF."""
    P = check_transition_matrix(P)
    _check_int("num_walks", num_walks, 1)
    _check_int("length", length, 1)
    V = P.shape[0]
    cdf = np.cumsum(P, axis=1)                                      # (V, V)
    cdf[:, -1] = 1.0                                               # guard rounding
    walks = np.empty((num_walks, length), dtype=np.int64)
    if start is None:
        walks[:, 0] = rng.choice(V, size=num_walks, p=stationary_distribution(P))
    else:
        walks[:, 0] = np.broadcast_to(np.asarray(start, dtype=np.int64), (num_walks,))
    for t in range(1, length):
        u = rng.random(num_walks)[:, None]                          # (N, 1)
        walks[:, t] = (u > cdf[walks[:, t - 1]]).sum(axis=1)       # first j with cdf >= u
    return walks


def excess_log_loss(log_q, walks, P) -> float:
    """Mean over the predicted tokens of log P(x_{t+1} | x_t) − log q(x_{t+1} | x_≤t).

    ``log_q``: (N, S, V) log-probabilities a model gave after reading ``walks[:, :S]``
    (S = walk length − 1); its expectation is Σ_i π_i KL(P_i· ‖ q_i·) = CE(q) − H ≥ 0.
    """
    P = check_transition_matrix(P)
    log_q = np.asarray(log_q, dtype=float)
    walks = np.asarray(walks)
    N, S, V = log_q.shape
    if walks.shape != (N, S + 1) or V != P.shape[0]:
        raise ValueError(f"log_q (N, S, V) = {log_q.shape} needs walks of shape (N, S+1) and "
                         f"V = {P.shape[0]}; got walks {walks.shape}")
    cur, nxt = walks[:, :-1], walks[:, 1:]
    with np.errstate(divide="ignore"):
        log_p = np.log(P[cur, nxt])                                 # (N, S)
    log_q_next = np.take_along_axis(log_q, nxt[..., None], axis=-1)[..., 0]
    return float((log_p - log_q_next).mean())


def bigram_cross_entropy(logits, P, pi=None) -> float:
    """Σ_i π_i CE(P_i·, softmax(S_i·)) for a bigram logit matrix S (V, V), in nats."""
    P = check_transition_matrix(P)
    pi = stationary_distribution(P) if pi is None else np.asarray(pi, dtype=float)
    S = np.asarray(logits, dtype=float)
    m = S.max(axis=1, keepdims=True)
    log_q = S - m - np.log(np.exp(S - m).sum(axis=1, keepdims=True))
    return float(-(pi[:, None] * np.where(P > 0, P * log_q, 0.0)).sum())


def best_symmetric_logits(P, pi=None, steps: int = 500, tol: float = 1e-10):
    """The best symmetric logit matrix S = Sᵀ for predicting the chain, by L-BFGS.

    min_S Σ_i π_i CE(P_i·, softmax(S_i·)) over symmetric S (parametrised as (A + Aᵀ)/2) is a
    convex problem (log-sum-exp is convex, the rest linear), so the value found is the bound
    for every model whose bigram logits are symmetric, up to the optimiser's tolerance. The
    infimum may need infinite logits (a forbidden transition has P_ij = 0); L-BFGS then
    approaches it. Returns (S, cross-entropy) as (np.ndarray (V, V), float).
    """
    import torch

    P = check_transition_matrix(P)
    pi = stationary_distribution(P) if pi is None else np.asarray(pi, dtype=float)
    Pt = torch.tensor(P, dtype=torch.float64)
    w = torch.tensor(pi, dtype=torch.float64)[:, None] * Pt          # (V, V) joint π_i P_ij
    A = torch.zeros_like(Pt, requires_grad=True)
    opt = torch.optim.LBFGS([A], lr=1.0, max_iter=steps, tolerance_grad=tol,
                            tolerance_change=tol, history_size=50,
                            line_search_fn="strong_wolfe")

    def loss_fn():
        S = (A + A.T) / 2
        return -(w * torch.log_softmax(S, dim=1)).sum()

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        S = ((A + A.T) / 2).numpy().copy()
    return S, bigram_cross_entropy(S, P, pi)
