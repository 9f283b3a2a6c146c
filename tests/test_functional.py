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
