"""Notebook 34 (one head vs many): the k-look-up task, image patches and the peak-memory probe."""

import pytest
import torch
import torch.nn.functional as F

from utils.data.images import image_patches
from utils.data.lookups import LookupTask
from utils.nn.attention import peak_memory_bytes
from utils.nn.transformer_lm import CausalSelfAttention, TransformerConfig


# ----------------------------------------------------------------- the k-look-up task
def notebook_01_two_lookup_batch(n, g):
    """Notebook 01's two-look-up generator (section 5), copied verbatim as the reference."""
    N_TAGS, C_DIM, D_ML = 8, 4, 32
    tags = torch.argsort(torch.rand(n, N_TAGS, generator=g), dim=1)
    c = torch.randn(n, N_TAGS, C_DIM, generator=g)
    x = torch.zeros(n, N_TAGS + 1, D_ML)
    x[:, :N_TAGS, :N_TAGS] = F.one_hot(tags, N_TAGS).float()
    x[:, :N_TAGS, N_TAGS:N_TAGS + C_DIM] = c
    pick = torch.argsort(torch.rand(n, N_TAGS, generator=g), dim=1)[:, :2]
    rows = torch.arange(n)
    u, w = tags[rows, pick[:, 0]], tags[rows, pick[:, 1]]
    x[rows, N_TAGS, N_TAGS + C_DIM + u] = 1.0
    x[rows, N_TAGS, 2 * N_TAGS + C_DIM + w] = 1.0
    y = torch.cat([c[rows, pick[:, 0]], c[rows, pick[:, 1]]], dim=1)
    return x, y


def test_k2_is_notebook_01s_two_lookup_task():
    x, y = LookupTask(k=2, n_tags=8, c_dim=4, width=32).batch(64, torch.Generator().manual_seed(5))
    x_ref, y_ref = notebook_01_two_lookup_batch(64, torch.Generator().manual_seed(5))
    assert torch.equal(x, x_ref) and torch.equal(y, y_ref)


@pytest.mark.parametrize("k,n_tags,c_dim,width", [(1, 5, 3, None), (3, 6, 2, None),
                                                   (4, 8, 4, 64), (5, 5, 1, None)])
def test_targets_follow_the_rule_brute_force(k, n_tags, c_dim, width):
    task = LookupTask(k=k, n_tags=n_tags, c_dim=c_dim, width=width)
    x, y = task.batch(40, torch.Generator().manual_seed(k))
    assert x.shape == (40, n_tags + 1, task.d_in) and y.shape == (40, k * c_dim)
    assert task.d_in == (width or n_tags + c_dim + k * n_tags)
    for b in range(40):
        tags = []
        for j in range(n_tags):                         # each item: exactly one tag bit set
            bits = [t for t in range(n_tags) if x[b, j, t] == 1.0]
            assert len(bits) == 1 and x[b, j, :n_tags].sum() == 1.0
            tags.append(bits[0])
        assert sorted(tags) == list(range(n_tags))     # distinct tags
        assert x[b, :n_tags, n_tags + c_dim:].abs().sum() == 0     # items: no query bits
        assert x[b, n_tags, :n_tags + c_dim].abs().sum() == 0     # query: no tag, no content
        named = []
        for i in range(k):                              # query slot i names one tag
            start = n_tags + c_dim + i * n_tags
            bits = [t for t in range(n_tags) if x[b, n_tags, start + t] == 1.0]
            assert len(bits) == 1
            j = tags.index(bits[0])                     # the item carrying that tag
            named.append(j)
            assert torch.equal(y[b, i * c_dim:(i + 1) * c_dim], x[b, j, n_tags:n_tags + c_dim])
        assert len(set(named)) == k                     # k distinct items
        assert x[b, n_tags, n_tags + c_dim + k * n_tags:].abs().sum() == 0   # padding
        assert named == task.named_items(x[b:b + 1])[0].tolist()


def test_retrieval_accuracy_brute_force():
    task = LookupTask(k=3, n_tags=6, c_dim=2)
    x, y = task.batch(50, torch.Generator().manual_seed(0))
    assert task.accuracy(y, x) == 1.0
    pred = y + 0.7 * torch.randn(y.shape, generator=torch.Generator().manual_seed(1))
    correct = task.retrieval_correct(pred, x)
    contents, named = task.contents(x), task.named_items(x)
    for b in range(50):
        for i in range(3):
            p = pred[b, 2 * i:2 * i + 2]
            d = [float(((p - contents[b, j]) ** 2).sum()) for j in range(6)]
            assert bool(correct[b, i]) == (min(range(6), key=d.__getitem__) == int(named[b, i]))
    assert 0 < correct.float().mean() < 1                # the noise makes some look-ups fail
    wrong = torch.roll(task.contents(x), 1, dims=1)      # every item's neighbour's content
    other = torch.stack([wrong[b, named[b]] for b in range(50)]).reshape(50, -1)
    assert task.accuracy(other, x) == 0.0


def test_one_layer_floor_is_the_best_linear_read_out_of_one_mixture():
    """The floor 1 − 1/k: the best read-out of the targets from one fixed convex mixture of the
    k named contents (least squares on many samples) has exactly this relative error."""
    task = LookupTask(k=4, n_tags=8, c_dim=4)
    x, y = task.batch(40_000, torch.Generator().manual_seed(0))
    alpha = torch.tensor([0.4, 0.3, 0.2, 0.1])
    mix = (y.reshape(-1, 4, 4) * alpha[:, None]).sum(1)                 # (n, c_dim)
    coef = torch.linalg.lstsq(mix, y).solution
    rel = ((mix @ coef - y) ** 2).mean() / y.var()
    assert abs(rel.item() - task.one_layer_floor(1)) < 0.01
    assert [task.one_layer_floor(h) for h in (1, 2, 4, 8)] == [0.75, 0.5, 0.0, 0.0]


def test_lookup_task_rejects_bad_settings():
    with pytest.raises(ValueError, match="distinct items"):
        LookupTask(k=9, n_tags=8)
    with pytest.raises(ValueError, match="too small"):
        LookupTask(k=2, n_tags=8, c_dim=4, width=20)
    with pytest.raises(ValueError, match="positive int"):
        LookupTask(k=0)
    task = LookupTask(k=2)
    with pytest.raises(ValueError, match="positive int"):
        task.batch(0)
    with pytest.raises(ValueError, match="x must be"):
        task.contents(torch.zeros(2, 3, 4))
    x, _ = task.batch(3)
    with pytest.raises(ValueError, match="pred must be"):
        task.accuracy(torch.zeros(3, 5), x)
    with pytest.raises(ValueError, match="heads"):
        task.one_layer_floor(0)


# ----------------------------------------------------------------- image patches
def test_image_patches_brute_force_and_errors():
    img = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    p = image_patches(img, 2)                                           # (2, 2·3, 3·4)
    assert p.shape == (2, 6, 12)
    for n in range(2):
        for gi in range(2):
            for gj in range(3):
                ref = img[n, :, 2 * gi:2 * gi + 2, 2 * gj:2 * gj + 2].reshape(-1)
                assert torch.equal(p[n, gi * 3 + gj], ref)
    with pytest.raises(ValueError, match="multiple"):
        image_patches(img, 4)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        image_patches(img[0], 2)
    with pytest.raises(ValueError, match="patch"):
        image_patches(img, 0)


# ----------------------------------------------------------------- the peak-memory probe
def test_peak_memory_of_a_matmul_is_its_output():
    """(m×k)·(k×n) allocates exactly the m×n float32 result (inputs exist before the call)."""
    a, b = torch.randn(300, 200), torch.randn(200, 500)
    peak = peak_memory_bytes(lambda: a @ b)
    assert 4 * 300 * 500 <= peak <= 4 * 300 * 500 + 4096
    n = 123_457                                                         # not a round size
    assert 4 * n <= peak_memory_bytes(lambda: torch.empty(n)) <= 4 * n + 4096


def _attention_step_peak(attention: str, heads: int, B=2, S=128, d=32) -> int:
    cfg = TransformerConfig(vocab_size=1, context_length=S, d_model=d, num_layers=1,
                            num_heads=heads, positions="none", causal=False, attention=attention)
    torch.manual_seed(0)
    layer = CausalSelfAttention(cfg)
    x, pos = torch.randn(B, S, d), torch.arange(S)

    def step():                                    # forward + backward of one attention layer
        layer.zero_grad(set_to_none=True)
        layer(x, pos).square().mean().backward()

    step()
    return peak_memory_bytes(step)


def test_peak_memory_sees_the_score_matrices_of_the_scratch_path_only():
    B, S = 2, 128
    score = B * S * S * 4                          # one float32 (B, S, S) score matrix per head
    scratch = _attention_step_peak("scratch", 4) - _attention_step_peak("scratch", 1)
    flash = _attention_step_peak("flash", 4) - _attention_step_peak("flash", 1)
    # scratch: autograd keeps at least 3 score-sized tensors per head (exp, softmax output, the
    # reshaped copy the second matmul saves), all alive at the peak of the backward pass
    assert scratch >= 3 * 3 * score
    # fused kernel: no S×S tensor, only a log-sum-exp row per head and query
    assert abs(flash) < score
