"""The from-scratch LSTM against torch.nn.LSTM, and its parameter-count formula (seed 001, P1)."""

import itertools

import pytest
import torch
import torch.nn as nn

from utils.nn.lstm import (LSTM, LSTMCell, LSTMLM, lstm_lm_parameter_count,
                           lstm_parameter_count)

torch.set_num_threads(1)
DT = torch.float64


def copy_into_torch(ours: LSTM, ref: nn.LSTM) -> None:
    """nn.LSTM keeps W_ih (4H, in), W_hh (4H, H) in gate order i, f, g, o and two biases."""
    with torch.no_grad():
        for k, cell in enumerate(ours.layers):
            weight, bias = cell.fused_parameters()                      # (4H, in + H)
            getattr(ref, f"weight_ih_l{k}").copy_(weight[:, :cell.input_size])
            getattr(ref, f"weight_hh_l{k}").copy_(weight[:, cell.input_size:])
            if cell.bias:
                getattr(ref, f"bias_ih_l{k}").copy_(bias)
                getattr(ref, f"bias_hh_l{k}").zero_()


@pytest.mark.parametrize("num_layers, bias, fused", list(itertools.product([1, 3], [True, False],
                                                                           [True, False])))
def test_lstm_matches_torch_outputs_states_and_gradients(num_layers, bias, fused):
    torch.manual_seed(0)
    ours = LSTM(5, 7, num_layers, bias=bias, fused=fused).to(DT)
    if bias:                                      # non-zero biases, so they are really tested
        with torch.no_grad():
            for cell in ours.layers:
                for g in cell.gates():
                    g.bias.normal_()
    ref = nn.LSTM(5, 7, num_layers, bias=bias, batch_first=True).to(DT)
    copy_into_torch(ours, ref)
    x = torch.randn(4, 6, 5, dtype=DT, requires_grad=True)
    h0 = torch.randn(num_layers, 4, 7, dtype=DT)
    c0 = torch.randn(num_layers, 4, 7, dtype=DT)
    for hx in (None, (h0, c0)):
        out, (h, c) = ours(x, hx)
        out_r, (h_r, c_r) = ref(x, hx)
        for a, b in ((out, out_r), (h, h_r), (c, c_r)):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
        w = torch.randn_like(out)
        g_ours = torch.autograd.grad((out * w).sum() + h.sum() + 2 * c.sum(),
                                     [x, *ours.parameters()])
        g_ref = torch.autograd.grad((out_r * w).sum() + h_r.sum() + 2 * c_r.sum(),
                                    [x, *ref.parameters()])
        torch.testing.assert_close(g_ours[0], g_ref[0], rtol=0, atol=1e-10)     # input grad
        grads = dict(zip([n for n, _ in ours.named_parameters()], g_ours[1:]))
        grads_r = dict(zip([n for n, _ in ref.named_parameters()], g_ref[1:]))
        for k, cell in enumerate(ours.layers):
            names = ["input_gate", "forget_gate", "candidate_cell", "output_gate"]
            gw = torch.cat([grads[f"layers.{k}.{n}.weight"] for n in names])
            torch.testing.assert_close(gw[:, :cell.input_size], grads_r[f"weight_ih_l{k}"],
                                       rtol=0, atol=1e-10)
            torch.testing.assert_close(gw[:, cell.input_size:], grads_r[f"weight_hh_l{k}"],
                                       rtol=0, atol=1e-10)
            if bias:
                gb = torch.cat([grads[f"layers.{k}.{n}.bias"] for n in names])
                torch.testing.assert_close(gb, grads_r[f"bias_ih_l{k}"], rtol=0, atol=1e-10)


def test_float32_matches_torch_within_1e_5():
    torch.manual_seed(1)
    ours, ref = LSTM(16, 32, 2), nn.LSTM(16, 32, 2, batch_first=True)
    copy_into_torch(ours, ref)
    x = torch.randn(8, 9, 16)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], rtol=0, atol=1e-5)


def test_readable_cell_equals_fused_path_and_cell_equations():
    torch.manual_seed(2)
    cell = LSTMCell(3, 4).to(DT)
    with torch.no_grad():
        for g in cell.gates():
            g.bias.normal_()
    x, h, c = (torch.randn(5, n, dtype=DT) for n in (3, 4, 4))
    h1, c1 = cell(x, (h, c))
    from utils.nn.lstm import fused_step
    h2, c2 = fused_step(x, h, c, *cell.fused_parameters())
    torch.testing.assert_close((h1, c1), (h2, c2), rtol=0, atol=1e-12)
    # the equations by hand, candidate with tanh (not σ)
    z = torch.cat([x, h], 1)
    lin = lambda g: z @ g.weight.T + g.bias  # noqa: E731
    i, f, o = (torch.sigmoid(lin(g)) for g in (cell.input_gate, cell.forget_gate, cell.output_gate))
    c_exp = f * c + i * torch.tanh(lin(cell.candidate_cell))
    torch.testing.assert_close(c1, c_exp, rtol=0, atol=1e-12)
    torch.testing.assert_close(h1, o * torch.tanh(c_exp), rtol=0, atol=1e-12)


def test_zero_states_follow_device_and_dtype_and_dropout_between_layers_only():
    lstm = LSTM(3, 4, 2, dropout=0.5).to(DT)
    out, (h, c) = lstm(torch.randn(2, 5, 3, dtype=DT))
    assert out.dtype == h.dtype == c.dtype == DT and h.shape == c.shape == (2, 2, 4)
    lstm.eval()
    a, _ = lstm(torch.ones(2, 5, 3, dtype=DT))
    b, _ = lstm(torch.ones(2, 5, 3, dtype=DT))
    assert torch.equal(a, b)                              # eval: no dropout anywhere
    one = LSTM(3, 4, 1, dropout=0.5).train()              # one layer: dropout never applies
    x = torch.randn(2, 5, 3)
    assert torch.equal(one(x)[0], one(x)[0])


def test_lm_shapes_and_causality():
    torch.manual_seed(3)
    lm = LSTMLM(11, 8, 6, 2)
    x = torch.randint(0, 11, (3, 7))
    logits, (h, c) = lm(x)
    assert logits.shape == (3, 7, 11) and h.shape == c.shape == (2, 3, 6)
    for t in range(7):
        y = x.clone()
        y[:, t + 1:] = torch.randint(0, 11, (3, 7 - t - 1))
        torch.testing.assert_close(lm(y)[0][:, :t + 1], logits[:, :t + 1], rtol=0, atol=0)


@pytest.mark.parametrize("d_x, d_h, L, bias", list(itertools.product(
    [1, 7, 128], [1, 5, 128, 256], [1, 2, 3], [True, False])))
def test_parameter_count_formula(d_x, d_h, L, bias):
    lstm = LSTM(d_x, d_h, L, bias=bias)
    assert sum(p.numel() for p in lstm.parameters()) == lstm_parameter_count(d_x, d_h, L, bias)


def test_lm_parameter_count_and_the_default_model():
    for V, de, dh, L, bl, bc in itertools.product([36, 16], [8, 24], [16, 40], [1, 2, 3],
                                                  [True, False], [True, False]):
        lm = LSTMLM(V, de, dh, L, bias_lstm=bl, bias_classifier=bc)
        assert sum(p.numel() for p in lm.parameters()) == lstm_lm_parameter_count(V, de, dh, L,
                                                                                  bl, bc)
    assert lstm_lm_parameter_count(36, 128, 128, 2) == 272_420      # research note's count


def test_bad_shapes():
    with pytest.raises(ValueError, match="hidden_size must be a positive int"):
        LSTMCell(3, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, seq_len, 3\)"):
        LSTM(3, 4)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="hx must be two tensors of shape"):
        LSTM(3, 4, 2)(torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)))
    with pytest.raises(ValueError, match="share_embeddings needs embedding_size == hidden_size"):
        LSTMLM(10, 4, 5, 1, share_embeddings=True)


def test_lm_from_position_gives_the_same_logits():
    torch.manual_seed(4)
    lm = LSTMLM(11, 8, 6, 2).double()
    x = torch.randint(0, 11, (3, 7))
    full, (h, c) = lm(x)
    part, (h2, c2) = lm(x, from_position=4)
    torch.testing.assert_close(part, full[:, 4:], rtol=0, atol=0)
    assert torch.equal(h, h2) and torch.equal(c, c2)
