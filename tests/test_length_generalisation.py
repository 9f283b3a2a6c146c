"""The run functions of notebook 30 (utils/train/length_generalisation.py): models and tests."""

import math

import numpy as np
import pytest
import torch

from utils.nn.lstm import LSTMLM
from utils.nn.transformer_lm import TransformerLM
from utils.train import length_generalisation as lg


def test_lstm_matches_the_transformer_parameter_count():
    for V, d in ((2, 32), (80, 32), (79, 64)):
        tf = lg.build_model("none", V, d, 2, 4, 40, 256)
        lstm = lg.build_model("lstm", V, d, 2, 4, 40, 256)
        assert isinstance(lstm, LSTMLM) and isinstance(tf, TransformerLM)
        n_tf, n_lstm = tf.num_parameters(), sum(p.numel() for p in lstm.parameters())
        assert abs(n_lstm - n_tf) / n_tf < 0.01


def test_context_lengths_and_learned_table_not_defined_past_training():
    assert lg.build_model("sinusoidal", 5, 16, 1, 2, 40, 256).config.context_length == 256
    learned = lg.build_model("learned", 5, 16, 1, 2, 40, 256)
    assert learned.config.context_length == 40 and lg.max_defined_length(learned) == 40
    r = lg.task_accuracy(learned, "parity", 64, 4, 0, 256)
    assert math.isnan(r["acc"]) and np.isnan(r["acc_by_pos"]).all()
    r = lg.task_accuracy(learned, "parity", 40, 4, 0, 256)
    assert 0 <= r["acc"] <= 1 and not np.isnan(r["acc_by_pos"]).any()
    with pytest.raises(ValueError, match="unknown model"):
        lg.build_model("t5", 5, 16, 1, 2, 40, 256)


def test_accuracy_of_a_perfect_predictor_is_one():
    class Oracle(torch.nn.Module):      # reads the answer from the brute-force rule
        def forward(self, x):
            y = torch.remainder(torch.cumsum(x, 1), 2)
            return torch.nn.functional.one_hot(y, 2).float()
    r = lg.task_accuracy(Oracle(), "parity", 50, 8, 0, 256)
    assert r["acc"] == 1.0 and (r["acc_by_pos"] == 1.0).all()


def test_per_position_bits_nan_past_a_learned_table_and_uniform_model_cost():
    val = np.random.default_rng(0).integers(0, 7, 5000).astype(np.uint16)
    learned = lg.build_model("learned", 7, 16, 1, 2, 16, 64).eval()
    bits = lg.per_position_bits(learned, val, 64, 4)
    assert np.isfinite(bits[:16]).all() and np.isnan(bits[16:]).all()

    class Uniform(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(*x.shape, 7)
    u = lg.per_position_bits(Uniform(), val, 64, 4)
    assert np.allclose(u, math.log2(7))
    assert lg.sliding_window_bits(Uniform(), val, 64, 4, 16) == pytest.approx(math.log2(7))
