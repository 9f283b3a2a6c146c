"""Edge lists typed by a user for notebook 21's question 3.1 (utils.data.graphs.parse_edge_list)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from utils.data.graphs import parse_edge_list


def test_separators_and_renumbering():
    G = parse_edge_list("1-2, 1-3; 2 3\n3 - 5")
    assert sorted(G.nodes) == [0, 1, 2, 3]                 # labels 1, 2, 3, 5 -> 0..3, in order
    assert [G.nodes[i]["label"] for i in range(4)] == [1, 2, 3, 5]
    A = nx.to_numpy_array(G, nodelist=range(4))
    expected = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]])
    assert np.array_equal(A, expected)                      # by hand: a triangle with a tail


def test_same_graph_as_networkx_bull():
    G = parse_edge_list("0-1, 0-2, 1-2, 1-3, 2-4")
    assert nx.is_isomorphic(G, nx.bull_graph())
    assert np.array_equal(nx.to_numpy_array(G, nodelist=range(5)),
                          nx.to_numpy_array(nx.bull_graph(), nodelist=range(5)))


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("1-2, 2", "item 2 .*is not an edge"),
    ("1-2, a-b", "item 2 .*is not an edge"),
    ("1-2, -1-3", "item 2 .*is not an edge"),
    ("1-2, 3-3", "item 2 .*self-loop"),
    ("1-2, 2-1", "item 2 .*repeats the edge 2-1"),
    ("1-2-3", "item 1 .*is not an edge"),
])
def test_bad_input_names_the_item(text, message):
    with pytest.raises(ValueError, match=message):
        parse_edge_list(text, "graph_a_edges")
