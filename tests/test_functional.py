"""softmax and scaled dot-product attention against torch's built-ins."""

import pytest
import torch
import torch.nn.functional as F

from utils.nn.functional import causal_mask, scaled_dot_product_attention, softmax


def test_softmax_matches_torch_including_large_inputs():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 7, generator=g, dtype=torch.float64)
    torch.testing.assert_close(softmax(x), torch.softmax(x, -1), rtol=0, atol=1e-12)
    big = x * 1e4
    torch.testing.assert_close(softmax(big), torch.softmax(big, -1), rtol=0, atol=1e-12)
    assert torch.isfinite(softmax(torch.tensor([1000.0, 1000.0]))).all()


def test_causal_mask():
    m = causal_mask(3)
    assert m.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]


@pytest.mark.parametrize("use_mask", [False, True])
def test_sdpa_matches_torch(use_mask):
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 5, 8, generator=g, dtype=torch.float64) for _ in range(3))
    mask = causal_mask(5) if use_mask else None
    ours = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)


def test_sdpa_bad_input():
    with pytest.raises(ValueError, match="d_k"):
        scaled_dot_product_attention(torch.ones(1, 2, 3), torch.ones(1, 2, 4), torch.ones(1, 2, 4))
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(torch.ones(2, 3), torch.ones(2, 3), torch.ones(2, 3),
                                     mask=torch.ones(2, 2))


def test_fully_masked_query_gives_zero_like_torch_sdpa_and_finite_gradients():
    """A query whose keys are all masked (left padding) gives 0, as
    torch.nn.functional.scaled_dot_product_attention does, and no NaN anywhere in the backward
    pass; the other rows are unchanged."""
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 2, 5, 4, generator=g, dtype=torch.float64, requires_grad=True)
               for _ in range(3))
    pad = torch.tensor([2, 0])                          # sequence 0 has 2 left-padding tokens
    key_ok = torch.arange(5)[None, :] >= pad[:, None]   # (B, S_k): padding keys are masked
    mask = causal_mask(5)[None, None] & key_ok[:, None, None, :]      # (B, 1, S, S)
    assert not mask[0, 0, :2].any()                    # the padded queries see no key at all
    ours = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-12)
    assert torch.equal(ours[0, :, :2], torch.zeros_like(ours[0, :, :2]))
    grads = torch.autograd.grad((ours ** 2).sum(), (q, k, v))
    ref_grads = torch.autograd.grad((ref ** 2).sum(), (q, k, v))
    for a, b in zip(grads, ref_grads):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    # softmax itself: an all -inf row gives zeros (torch.softmax gives NaN there)
    x = torch.tensor([[0.5, float("-inf")], [float("-inf"), float("-inf")]])
    assert softmax(x).tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert torch.isnan(torch.softmax(x, -1)[1]).all()
