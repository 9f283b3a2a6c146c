"""Graphs for notebook 21: a contextual SBM, Zachary's karate club, a Planetoid reader, bots.

Every graph is a :class:`GraphData`: node features ``x`` (N, F), ``edge_index`` (2, E) with the
convention of :mod:`utils.nn.gnn` (row 0 source j, row 1 destination i; undirected graphs store
both directions), labels ``y`` (N,) and boolean train/validation/test masks.

* :func:`contextual_sbm` — a **contextual stochastic block model** (Deshpande et al., 2018;
  Baranwal et al., 2021), the project's Cora-sized stand-in for Cora (the assignment's data
  set, which needs a download): N = 2,708 nodes in 7 classes, features x_v = μ_{y_v} + ε with
  ε ~ N(0, I) and class means μ_c of length ``feature_signal``, and about N·d/2 undirected edges
  (d = 3.9, Cora's average degree), each joining two nodes of the same class with probability
  ``homophily`` and of different classes otherwise. The split has Planetoid's sizes: 20
  labelled nodes per class, 500 validation and 1,000 test nodes.
* :func:`karate_club` — Zachary's karate club (networkx; a real social network: 34 members,
  78 friendships, label = the club each member joined after the split), one-hot features.
* :func:`load_planetoid` — reads the Planetoid files ``ind.<name>.{x,tx,allx,y,ty,ally,graph,
  test.index}`` (Yang et al., 2016; the format of Cora, CiteSeer and PubMed) from a folder the
  user supplies. The files are Python pickles; they are read with an unpickler that only
  accepts NumPy arrays, SciPy sparse matrices and plain containers, so a foreign file cannot
  run code.
* :func:`inject_bots` — adds "bot" nodes with random features and random edges (question 3.4 b).
* :func:`edge_homophily` — the fraction of edges that join two nodes of the same class.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch


@dataclass
class GraphData:
    """A node-classification data set (see the module docstring for the conventions)."""

    x: torch.Tensor                 # (N, F) float32
    edge_index: torch.Tensor        # (2, E) int64
    y: torch.Tensor                 # (N,) int64
    train_mask: torch.Tensor        # (N,) bool
    val_mask: torch.Tensor          # (N,) bool
    test_mask: torch.Tensor         # (N,) bool
    num_classes: int
    name: str = ""
    info: dict = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return self.x.shape[0]

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]

    def __repr__(self):
        return (f"GraphData({self.name!r}: {self.num_nodes} nodes, {self.num_edges} directed "
                f"edges, {self.x.shape[1]} features, {self.num_classes} classes, "
                f"train/val/test {int(self.train_mask.sum())}/{int(self.val_mask.sum())}/"
                f"{int(self.test_mask.sum())})")


def _positive_int(name, v, minimum=1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {v!r}")
    return int(v)


def _undirected(pairs: np.ndarray) -> torch.Tensor:
    """(M, 2) node pairs → (2, E) both directions, without self-loops or duplicates."""
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    both = np.concatenate([pairs, pairs[:, ::-1]])
    both = np.unique(both, axis=0)
    return torch.from_numpy(np.ascontiguousarray(both.T)).long()


def edge_homophily(edge_index: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of edges whose two ends share a label (edges to unlabelled nodes, y < 0, skipped)."""
    src, dst = edge_index
    keep = (y[src] >= 0) & (y[dst] >= 0)
    if not bool(keep.any()):
        raise ValueError("edge_homophily needs at least one edge between labelled nodes")
    return float((y[src] == y[dst])[keep].float().mean())


def split_masks(y: np.ndarray, num_classes: int, train_per_class: int, num_val: int,
                num_test: int | None, rng: np.random.Generator):
    """Planetoid-style split: ``train_per_class`` random nodes per class, then ``num_val`` and
    ``num_test`` (None: all the rest) random nodes from the remainder."""
    n = len(y)
    train = np.zeros(n, bool)
    for c in range(num_classes):
        members = np.flatnonzero(y == c)
        if len(members) < train_per_class:
            raise ValueError(f"class {c} has {len(members)} nodes, fewer than "
                             f"train_per_class={train_per_class}")
        train[rng.choice(members, train_per_class, replace=False)] = True
    rest = rng.permutation(np.flatnonzero(~train))
    num_test = len(rest) - num_val if num_test is None else num_test
    if num_val + num_test > len(rest):
        raise ValueError(f"{num_val} validation + {num_test} test nodes do not fit in the "
                         f"{len(rest)} nodes left after the training nodes")
    val, test = np.zeros(n, bool), np.zeros(n, bool)
    val[rest[:num_val]] = True
    test[rest[num_val:num_val + num_test]] = True
    return tuple(torch.from_numpy(m) for m in (train, val, test))


def contextual_sbm(num_nodes: int = 2708, num_classes: int = 7, homophily: float = 0.8,
                   avg_degree: float = 3.9, num_features: int = 64,
                   feature_signal: float = 1.0, train_per_class: int = 20, num_val: int = 500,
                   num_test: int = 1000, seed: int = 0) -> GraphData:
    """A contextual SBM (see the module docstring); ``info`` holds the measured homophily."""
    num_nodes = _positive_int("num_nodes", num_nodes, 2)
    num_classes = _positive_int("num_classes", num_classes, 2)
    num_features = _positive_int("num_features", num_features)
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily must be in [0, 1], got {homophily}")
    if not 0.0 < avg_degree < num_nodes - 1:
        raise ValueError(f"avg_degree must be in (0, num_nodes − 1), got {avg_degree}")
    if feature_signal < 0:
        raise ValueError(f"feature_signal must be >= 0, got {feature_signal}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(num_nodes) % num_classes)          # balanced classes
    members = [np.flatnonzero(y == c) for c in range(num_classes)]
    if min(len(m) for m in members) < 2:
        raise ValueError("every class needs at least two nodes")
    # edges: pick u, then v from u's class (prob. homophily) or from another class
    m = int(round(num_nodes * avg_degree / 2))
    u = rng.integers(0, num_nodes, m)
    same = rng.random(m) < homophily
    cls_v = np.where(same, y[u], (y[u] + rng.integers(1, num_classes, m)) % num_classes)
    v = np.array([members[c][rng.integers(len(members[c]))] for c in cls_v])
    edge_index = _undirected(np.stack([u, v], 1))
    # features: class mean of norm feature_signal plus standard normal noise
    means = rng.standard_normal((num_classes, num_features))
    means *= feature_signal / np.linalg.norm(means, axis=1, keepdims=True)
    x = means[y] + rng.standard_normal((num_nodes, num_features))
    masks = split_masks(y, num_classes, train_per_class, num_val, num_test, rng)
    yt = torch.from_numpy(y.astype(np.int64))
    info = {"homophily_target": homophily, "homophily": edge_homophily(edge_index, yt),
            "avg_degree": edge_index.shape[1] / num_nodes, "seed": seed}
    return GraphData(torch.from_numpy(x.astype(np.float32)), edge_index, yt, *masks,
                     num_classes=num_classes, name=f"CSBM(h={homophily:g})", info=info)


def karate_club(train_per_class: int = 3, num_val: int = 10, seed: int = 0) -> GraphData:
    """Zachary's karate club: 34 nodes, 2 classes (the club joined), identity features."""
    import networkx as nx

    G = nx.karate_club_graph()
    n = G.number_of_nodes()
    y = np.array([0 if G.nodes[i]["club"] == "Mr. Hi" else 1 for i in range(n)])
    edge_index = _undirected(np.array(G.edges()))
    rng = np.random.default_rng(seed)
    masks = split_masks(y, 2, train_per_class, num_val, None, rng)
    yt = torch.from_numpy(y.astype(np.int64))
    return GraphData(torch.eye(n), edge_index, yt, *masks, num_classes=2,
                     name="karate club", info={"homophily": edge_homophily(edge_index, yt)})


# --- Planetoid files -------------------------------------------------------------------------

_SPARSE = {"csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "dok_matrix",
           "csr_array", "csc_array", "coo_array", "lil_array", "dok_array"}
_NUMPY = {"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"}
_BUILTINS = {"object", "list", "dict", "set", "tuple", "int", "float", "bool", "complex",
             "bytes", "bytearray", "str", "frozenset"}


class _SafeUnpickler(pickle.Unpickler):
    """Accept only the classes Planetoid files are made of."""

    def find_class(self, module, name):
        import numpy
        import scipy.sparse

        if module.split(".")[0] == "numpy" and name in _NUMPY:
            if name in ("_reconstruct", "scalar"):
                from numpy._core import multiarray
                return getattr(multiarray, name)
            return getattr(numpy, name) if hasattr(numpy, name) else \
                getattr(numpy.lib.format, name)
        if module.startswith("scipy.sparse") and name in _SPARSE:
            return getattr(scipy.sparse, name)
        if module == "collections" and name in ("defaultdict", "OrderedDict"):
            import collections
            return getattr(collections, name)
        if module in ("copyreg", "copy_reg") and name == "_reconstructor":
            import copyreg
            return copyreg._reconstructor
        if module in ("builtins", "__builtin__") and name in _BUILTINS:
            import builtins
            return getattr(builtins, name)
        raise pickle.UnpicklingError(f"Planetoid files may hold only arrays, sparse matrices "
                                     f"and containers; refusing {module}.{name}")


def _read_pickle(path: Path):
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        return _SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path} is not a readable Planetoid file: {exc}") from None


def load_planetoid(folder, name: str = "cora", num_val: int = 500) -> GraphData:
    """Read a Planetoid data set (``ind.<name>.*`` files) from ``folder``.

    The split is the standard public one: training nodes = the rows of ``y``, validation =
    the next ``num_val`` nodes, test = the nodes in ``test.index``. Features and labels of the
    test nodes are put in their ``test.index`` order; test indices missing from ``tx`` (CiteSeer
    has isolated test nodes) get zero features and no label.
    """
    import scipy.sparse as sp

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Planetoid folder {folder} does not exist")
    name = name.lower()
    parts = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
    paths = {p: folder / f"ind.{name}.{p}" for p in parts}
    missing = [str(p.name) for p in paths.values() if not p.exists()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks the Planetoid file(s) {', '.join(missing)} "
                                f"(expected ind.{name}.{{{','.join(parts)}}})")
    x, y, tx, ty, allx, ally, graph = (_read_pickle(paths[p]) for p in parts[:-1])
    try:
        test_idx = np.array([int(line) for line in paths["test.index"].read_text().split()])
    except ValueError as exc:
        raise ValueError(f"{paths['test.index']} must hold one node index per line: {exc}") \
            from None
    allx, tx = sp.csr_matrix(allx), sp.csr_matrix(tx)
    ally, ty = np.asarray(ally), np.asarray(ty)
    if allx.shape[0] != ally.shape[0] or tx.shape[0] != ty.shape[0] or \
            len(test_idx) != tx.shape[0]:
        raise ValueError(f"inconsistent Planetoid files: allx {allx.shape}, ally {ally.shape}, "
                         f"tx {tx.shape}, ty {ty.shape}, {len(test_idx)} test indices")
    test_sorted = np.sort(test_idx)
    n_all = allx.shape[0]
    full_range = np.arange(test_sorted.min(), test_sorted.max() + 1)
    if test_sorted.min() < n_all:
        raise ValueError(f"test indices must come after the {n_all} rows of allx, got "
                         f"{test_sorted.min()}")
    # tx rows belong to test_idx in file order; place them at their node ids
    tx_full = sp.lil_matrix((len(full_range), tx.shape[1]))
    ty_full = np.zeros((len(full_range), ty.shape[1]))
    tx_full[test_idx - full_range[0], :] = tx
    ty_full[test_idx - full_range[0], :] = ty
    feats = sp.vstack([allx, sp.csr_matrix(tx_full)]).toarray().astype(np.float32)
    onehot = np.vstack([ally, ty_full])
    n = feats.shape[0]
    labels = np.where(onehot.sum(1) > 0, onehot.argmax(1), -1)
    pairs = [(int(j), int(i)) for i, nbrs in dict(graph).items() for j in nbrs]
    pairs = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    if len(pairs) and (pairs.min() < 0 or pairs.max() >= n):
        raise ValueError(f"the graph file names nodes outside [0, {n - 1}]")
    edge_index = _undirected(pairs)
    train = np.zeros(n, bool)
    train[:np.asarray(y).shape[0]] = True
    val = np.zeros(n, bool)
    val[np.asarray(y).shape[0]:min(np.asarray(y).shape[0] + num_val, n_all)] = True
    test = np.zeros(n, bool)
    test[test_idx] = True
    yt = torch.from_numpy(labels.astype(np.int64))
    return GraphData(torch.from_numpy(feats), edge_index, yt, torch.from_numpy(train),
                     torch.from_numpy(val), torch.from_numpy(test),
                     num_classes=onehot.shape[1], name=name,
                     info={"homophily": edge_homophily(edge_index, yt)})


# --- bots ------------------------------------------------------------------------------------

def inject_bots(data: GraphData, num_bots: int, edges_per_bot: int, seed: int = 0,
                feature_scale: float | None = None) -> GraphData:
    """Add ``num_bots`` nodes with random features, each linked (both directions) to
    ``edges_per_bot`` random real nodes. Bots have label −1 and are in no mask.

    Bot features are N(0, s²) with s = ``feature_scale`` or, by default, the standard
    deviation of the real features, so bots are not told apart by their scale alone.
    ``info["is_bot"]`` marks them.
    """
    num_bots = _positive_int("num_bots", num_bots, 0)
    edges_per_bot = _positive_int("edges_per_bot", edges_per_bot)
    n = data.num_nodes
    if edges_per_bot > n:
        raise ValueError(f"edges_per_bot={edges_per_bot} exceeds the {n} real nodes")
    rng = np.random.default_rng(seed)
    s = float(data.x.std()) if feature_scale is None else float(feature_scale)
    bot_x = torch.from_numpy(rng.normal(0.0, s, (num_bots, data.x.shape[1])).astype(np.float32))
    bots = n + np.arange(num_bots)
    targets = np.stack([rng.choice(n, edges_per_bot, replace=False) for _ in range(num_bots)]) \
        if num_bots else np.zeros((0, edges_per_bot), int)
    pairs = np.stack([np.repeat(bots, edges_per_bot), targets.ravel()], 1)
    new_edges = _undirected(pairs) if num_bots else torch.zeros(2, 0, dtype=torch.long)
    pad = torch.zeros(num_bots, dtype=torch.bool)
    is_bot = torch.cat([torch.zeros(n, dtype=torch.bool), torch.ones(num_bots, dtype=torch.bool)])
    info = {**data.info, "is_bot": is_bot, "num_bots": num_bots, "edges_per_bot": edges_per_bot}
    return replace(data, x=torch.cat([data.x, bot_x]),
                   edge_index=torch.cat([data.edge_index, new_edges], 1),
                   y=torch.cat([data.y, torch.full((num_bots,), -1, dtype=torch.long)]),
                   train_mask=torch.cat([data.train_mask, pad]),
                   val_mask=torch.cat([data.val_mask, pad]),
                   test_mask=torch.cat([data.test_mask, pad]),
                   name=f"{data.name} + {num_bots} bots", info=info)


def random_graph(num_nodes: int, num_edges: int, seed: int = 0) -> torch.Tensor:
    """(2, num_edges) uniformly random directed edges (duplicates and self-loops allowed), for
    timing the layers (``bench/bench_gnn.py``, notebook 21)."""
    num_nodes = _positive_int("num_nodes", num_nodes)
    num_edges = _positive_int("num_edges", num_edges, 0)
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, num_nodes, (2, num_edges), generator=g)


def parse_edge_list(text: str, what: str = "edge list"):
    """An undirected simple graph (``networkx.Graph``) from a typed edge list, for question 3.1
    when the user enters the assignment's figure graphs (notebook 21's ``graph_*_edges``).

    Edges are separated by commas, semicolons or new lines; an edge is two node labels joined
    by ``-`` or a space: ``"1-2, 1-3, 2-3, 3-4"`` or ``"0 1; 1 2"``. Labels are non-negative
    integers. Nodes are renumbered 0..N-1 in increasing label order (the order of the rows of
    the matrices); each node's original label is kept in its ``"label"`` attribute. Self-loops,
    repeated edges and anything that is not a pair of integers are errors that name the item.
    """
    import re

    import networkx as nx

    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what}: empty; give edges like '1-2, 1-3, 2-3' (labels are "
                         f"non-negative integers)")
    items = [t.strip() for t in re.split(r"[,;\n]", text) if t.strip()]
    G = nx.Graph()
    for k, item in enumerate(items, 1):
        parts = re.split(r"\s*-\s*|\s+", item)           # "-1-3" gives an empty part
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{what}: item {k} ({item!r}) is not an edge; write two "
                             f"non-negative integer node labels joined by '-' or a space, e.g. "
                             f"'1-2'")
        u, v = int(parts[0]), int(parts[1])
        if u == v:
            raise ValueError(f"{what}: item {k} ({item!r}) is a self-loop; question 3.1's "
                             f"graphs are simple (no node is its own neighbour)")
        if G.has_edge(u, v):
            raise ValueError(f"{what}: item {k} ({item!r}) repeats the edge {u}-{v} "
                             f"(edges are undirected: {u}-{v} and {v}-{u} are the same)")
        G.add_edge(u, v)
    return nx.convert_node_labels_to_integers(G, ordering="sorted", label_attribute="label")
