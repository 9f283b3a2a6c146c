"""Tests of utils.nn.cnn and utils.data.images (notebook 20).

References: the output-size formula and torch's own Conv2d/pad, hand-built images, torch.rot90
for the rotation helper, and the generator's documented rule checked on the pixels.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from utils.data import images
from utils.nn import cnn

torch.set_num_threads(1)

# documented sizes (module docstring of utils.nn.cnn), input first
SIZES = {"valid": [32, 30, 14, 6, 2], "sconv": [32, 32, 16, 8, 4], "fconv": [32, 34, 18, 10, 6],
         "circular": [32, 34, 18, 10, 6], "reflect": [32, 34, 18, 10, 6],
         "replicate": [32, 34, 18, 10, 6]}


@pytest.mark.parametrize("conv_type", list(SIZES))
def test_conv_types_give_the_documented_sizes(conv_type):
    assert cnn.feature_map_sizes(conv_type) == SIZES[conv_type]
    stack = cnn.ConvStack(conv_type, widths=(4, 4, 4, 4))
    x = torch.randn(2, 3, 32, 32)
    for conv, n in zip(stack.convs, SIZES[conv_type][1:]):
        x = conv(x)
        assert x.shape[-2:] == (n, n)
    n = SIZES[conv_type][-1]
    assert cnn.Net1(conv_type, widths=(4, 4, 4, 4))(torch.randn(2, 3, 32, 32)).shape == (2, 2)
    net2 = cnn.Net2(conv_type)
    assert net2.fc1.in_features == 64 * n * n                 # 256, 1024 or 2304
    assert net2(torch.randn(2, 3, 32, 32)).shape == (2, 2)


def test_padding_modes_are_the_ones_named():
    x = torch.arange(16.).reshape(1, 1, 4, 4)
    for conv_type, mode in (("reflect", "reflect"), ("replicate", "replicate"),
                            ("circular", "circular"), ("fconv", "constant")):
        stack = cnn.ConvStack(conv_type, in_channels=1, widths=(1, 1, 1, 1))
        conv = stack.convs[0]
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[0, 0, 0, 0] = 1.0                     # picks the top-left of each window
        padded = F.pad(x, (2, 2, 2, 2), mode=mode)
        assert torch.equal(conv(x), padded[..., :-2, :-2])


def test_net1_is_invariant_to_circular_shifts_with_circular_padding_and_stride_one():
    # global max pooling after a shift-equivariant map: a property, not a number
    torch.manual_seed(0)
    stack = torch.nn.Conv2d(3, 8, 3, padding=1, padding_mode="circular", bias=False)
    x = torch.randn(1, 3, 16, 16)
    pooled = lambda t: stack(t).amax(dim=(-2, -1))             # noqa: E731
    assert torch.allclose(pooled(x), pooled(torch.roll(x, (3, 5), (-2, -1))), atol=1e-6)


def test_unknown_types_and_wrong_shapes_are_rejected():
    with pytest.raises(ValueError, match="unknown conv_type 'same'.*valid, replicate"):
        cnn.Net1("same")
    with pytest.raises(ValueError, match="unknown net_type"):
        cnn.make_net("Net3", "valid")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        cnn.Net1("fconv")(torch.randn(3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        cnn.Net1("fconv")(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="32×32"):
        cnn.Net2("fconv")(torch.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match="at least 17×17"):
        cnn.Net1("valid")(torch.randn(2, 3, 16, 16))
    with pytest.raises(TypeError, match="float"):
        cnn.Net1("sconv")(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="28×28"):
        cnn.RotationCNN()(torch.randn(2, 1, 32, 32))


def test_coverage_map_counts_paths():
    # valid: the final 2×2 map reads input rows 0..24 only (receptive field 17, jump 8),
    # so the bottom and right 7 rows/columns are never seen
    cov = cnn.coverage_map("valid")
    assert (cov[25:] == 0).all() and (cov[:, 25:] == 0).all() and (cov[:25, :25] > 0).all()
    # fconv: every pixel is seen, and the count repeats with the total stride 8 (so the train
    # band and the test band, 16 rows apart, are read alike); sconv reads the bottom less
    cov = cnn.coverage_map("fconv")
    assert (cov > 0).all() and torch.equal(cov[:-8], cov[8:]) and torch.equal(cov, cov.T)
    cov = cnn.coverage_map("sconv")
    assert (cov > 0).all() and not torch.equal(cov[:-8], cov[8:])
    assert cov[19:30].sum() < cov[3:14].sum()
    # one layer: every interior pixel of a 'same' 3×3 conv is read 9 times
    one = torch.ones(1, 1, 8, 8, requires_grad=True)
    F.conv2d(one, torch.ones(1, 1, 3, 3), padding=1).sum().backward()
    assert one.grad[0, 0, 1:-1, 1:-1].eq(9).all() and one.grad[0, 0, 0, 0] == 4


# --- the two-box data -----------------------------------------------------------------------

def boxes_of(img):
    """(top row, left col) of the red and green box, found from the pixels."""
    out = []
    for ch in (0, 1):
        rows, cols = np.nonzero(img[ch].numpy())
        assert len(rows) == 16 and rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
        out.append((rows.min(), cols.min()))
    return out


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_two_box_label_rule_and_position_shift(split):
    x, y, info = images.two_box_images(400, split, seed=3)
    assert x.shape == (400, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(y, torch.arange(400) % 2)            # balanced, alternating
    assert x[:, 2].abs().sum() == 0                         # blue is empty
    for i in range(0, 400, 7):
        (rr, rc), (gr, gc) = boxes_of(x[i])
        assert (rr, rc, gr, gc) == (info["red_row"][i], info["red_col"][i],
                                    info["green_row"][i], info["green_col"][i])
        left, right = (rc, gc) if y[i] == 0 else (gc, rc)   # class 0: red left of green
        assert 0 <= left < 10 and right >= left + 5 and right <= 28
        upper = (y[i] == 0) if split != "test" else (y[i] == 1)
        band = range(3, 11) if upper else range(19, 27)
        assert rr in band and gr in band
    # the shift: test class-0 boxes sit 16 rows lower than train class-0 boxes on average
    _, _, tr = images.two_box_images(2000, "train", seed=1)
    _, _, te = images.two_box_images(2000, "test", seed=2)
    c0 = np.arange(2000) % 2 == 0
    shift = te["red_row"][c0].mean() - tr["red_row"][c0].mean()
    assert abs(shift - 16) < 0.5
    shift1 = te["red_row"][~c0].mean() - tr["red_row"][~c0].mean()
    assert abs(shift1 + 16) < 0.5


def test_two_box_seeds_and_bad_input():
    a, _, _ = images.two_box_images(10, "train", seed=0)
    b, _, _ = images.two_box_images(10, "train", seed=0)
    c, _, _ = images.two_box_images(10, "train", seed=1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="split must be one of train, val, test"):
        images.two_box_images(10, "dev")
    with pytest.raises(ValueError, match="positive int"):
        images.two_box_images(0)


# --- rotation -------------------------------------------------------------------------------

def test_rotate_matches_rot90_and_identity():
    torch.manual_seed(0)
    x = torch.randn(3, 2, 9, 9, dtype=torch.float64)
    assert torch.allclose(cnn.rotate(x, 0.0), x, atol=1e-12)
    assert torch.allclose(cnn.rotate(x, 360.0), x, atol=1e-12)
    for k in (1, 2, 3):
        assert torch.allclose(cnn.rotate(x, 90.0 * k), torch.rot90(x, k, (-2, -1)), atol=1e-12)
    assert torch.allclose(cnn.rotate(x, -90.0), torch.rot90(x, -1, (-2, -1)), atol=1e-12)
    # per-image angles
    out = cnn.rotate(x, torch.tensor([0.0, 90.0, 180.0], dtype=torch.float64))
    assert torch.allclose(out[1], torch.rot90(x[1], 1, (-2, -1)), atol=1e-12)
    assert torch.allclose(out[2], torch.rot90(x[2], 2, (-2, -1)), atol=1e-12)


def test_rotate_turns_counter_clockwise_and_keeps_the_centre():
    img = torch.zeros(1, 1, 11, 11)
    img[0, 0, 5, 8] = 1.0                                   # right of the centre
    up = cnn.rotate(img, 90.0)
    assert up[0, 0].argmax().item() == 2 * 11 + 5           # now above the centre (row 2)
    centre = torch.zeros(1, 1, 11, 11)
    centre[0, 0, 5, 5] = 1.0
    assert torch.allclose(cnn.rotate(centre, 37.0)[0, 0, 5, 5], torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        cnn.rotate(torch.zeros(11, 11), 10.0)
    with pytest.raises(ValueError, match="shape"):
        cnn.rotate(torch.zeros(2, 1, 5, 5), torch.zeros(3))


def test_random_rotation_is_seeded():
    x = torch.randn(4, 1, 8, 8)
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(cnn.random_rotate(x, g1), cnn.random_rotate(x, g2))


def test_mnist_loader():
    x_tr, y_tr, x_te, y_te = images.load_mnist_5k(n_test=1000)
    assert x_tr.shape == (4000, 1, 28, 28) and x_te.shape == (1000, 1, 28, 28)
    assert 0.0 <= float(x_tr.min()) and float(x_tr.max()) <= 1.0
    assert torch.equal(torch.bincount(y_te), torch.full((10,), 100))
    assert torch.equal(torch.bincount(y_tr), torch.full((10,), 400))
    # no digit in both sets
    tr = {t.numpy().tobytes() for t in x_tr}
    assert not any(t.numpy().tobytes() in tr for t in x_te)
    assert cnn.RotationCNN()(x_te[:5]).shape == (5, 10)
    with pytest.raises(ValueError, match="multiple of 10"):
        images.load_mnist_5k(n_test=15)
