"""Small CNNs for the "properties of CNNs" questions: padding types, pooling, rotation.

Taught in notebook 20 (seed 003, section 1: "Properties of CNNs", after the UvA DL1 starter
code ``assignment2/part1``). Convolution with a kernel h (here 3×3, cross-correlation as in
``torch.nn.Conv2d``) maps an n×n map with padding p and stride s to

    n' = ⌊(n + 2p − k) / s⌋ + 1                                          (output size)

The six ``conv_type`` values of the original code differ only in how the border is padded
(same padding in all four convolutions, kernel k = 3, strides 1, 2, 2, 2, no bias):

======== =========== ===== ==================================================== =============
type      padding    p     meaning                                               sizes (n=32)
======== =========== ===== ==================================================== =============
valid     none       0     only windows fully inside the image                   32→30→14→6→2
sconv     zeros      1     "same" convolution: p = (k − 1)/2                     32→32→16→8→4
fconv     zeros      2     "full" convolution: p = k − 1, every pixel is seen     32→34→18→10→6
                           by all k² kernel positions
circular  circular   2     the image wraps around (a torus)                      32→34→18→10→6
reflect   reflect    2     mirror without repeating the edge (… c b | a b c …)   32→34→18→10→6
replicate replicate  2     repeat the edge pixel (… a a | a b c …)               32→34→18→10→6
======== =========== ===== ==================================================== =============

* ``Net1``: conv stack → global max pool → Linear(64, 2). Global pooling forgets *where* a
  feature fired, so position can only reach the classifier through border effects.
* ``Net2``: conv stack → flatten → Linear(64·n·n, 64) → Linear(64, 2): every position has its
  own weights, so the net can (and does) learn "where", not only "what".
* ``RotationCNN``: the three-block CNN of the original ``exercise1.2`` notebook, for 1-channel
  28×28 digits (question 1.2). ``rotate`` turns images about their centre (bilinear, zeros
  outside), the test-time transform and the augmentation.
* ``coverage_map``: how many paths lead from each input pixel to the final feature map (a
  linear, all-ones version of the conv stack, differentiated): the picture of what the net can
  see near the border.

Images are float tensors of shape (B, C, H, W).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

KERNEL = 3
STRIDES = (1, 2, 2, 2)
WIDTHS = (32, 32, 64, 64)

#: conv_type -> (padding, padding_mode of torch.nn.Conv2d)
CONV_TYPES: dict[str, tuple[int, str]] = {
    "valid": (0, "zeros"),
    "replicate": (2, "replicate"),
    "reflect": (2, "reflect"),
    "circular": (2, "circular"),
    "sconv": (1, "zeros"),
    "fconv": (2, "zeros"),
}
NET_TYPES = ("Net1", "Net2")


def check_conv_type(conv_type: str) -> tuple[int, str]:
    """(padding, padding_mode) of ``conv_type``; a clear error for an unknown name."""
    if conv_type not in CONV_TYPES:
        raise ValueError(f"unknown conv_type {conv_type!r}; allowed: {', '.join(CONV_TYPES)}")
    return CONV_TYPES[conv_type]


def conv_output_size(n: int, kernel: int = KERNEL, stride: int = 1, padding: int = 0) -> int:
    """n' = ⌊(n + 2p − k) / s⌋ + 1 (raises if the window does not fit)."""
    if n + 2 * padding < kernel:
        raise ValueError(f"a {kernel}×{kernel} kernel does not fit a {n}×{n} map with padding "
                         f"{padding}")
    # >>> exercise: cnn_padding
    # hint: n' = floor((n + 2p - k) / s) + 1.
    return (n + 2 * padding - kernel) // stride + 1
    # <<< exercise


def feature_map_sizes(conv_type: str, image_size: int = 32) -> list[int]:
    """Spatial size after each layer, input first: e.g. [32, 30, 14, 6, 2] for 'valid'."""
    padding, _ = check_conv_type(conv_type)
    # >>> exercise: cnn_padding
    # hint: the padding of conv_type (check_conv_type), then conv_output_size layer after layer
    # hint: with the STRIDES; input size first.
    sizes = [image_size]
    for s in STRIDES:
        sizes.append(conv_output_size(sizes[-1], KERNEL, s, padding))
    return sizes
    # <<< exercise


def check_images(x: torch.Tensor, channels: int, size: int | None = None,
                 min_size: int = 1, who: str = "the network") -> None:
    """Raise a clear error unless ``x`` is a float (B, channels, H, W) batch of the right size."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{who} expects a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{who} expects images of shape (B, {channels}, H, W), got "
                         f"{tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{who} expects float images, got dtype {x.dtype}")
    h, w = x.shape[-2:]
    if size is not None and (h, w) != (size, size):
        raise ValueError(f"{who} was built for {size}×{size} images, got {h}×{w}")
    if min(h, w) < min_size:
        raise ValueError(f"{who} needs images of at least {min_size}×{min_size}, got {h}×{w}")


def _min_image_size(conv_type: str) -> int:
    """Smallest square input for which every layer of the stack still has an output."""
    n = 1
    while True:
        try:
            if feature_map_sizes(conv_type, n)[-1] >= 1 and _padding_fits(conv_type, n):
                return n
        except ValueError:
            pass
        n += 1


def _padding_fits(conv_type: str, n: int) -> bool:
    """torch's rules: 'reflect' needs padding < map size, 'circular' padding <= map size."""
    padding, mode = CONV_TYPES[conv_type]
    sizes = feature_map_sizes(conv_type, n)[:-1]
    if mode == "reflect":
        return all(m > padding for m in sizes)
    if mode == "circular":
        return all(m >= padding for m in sizes)
    return True


class ConvStack(nn.Module):
    """Four 3×3 convolutions (strides 1, 2, 2, 2, no bias), each followed by ReLU."""

    def __init__(self, conv_type: str, in_channels: int = 3, widths=WIDTHS):
        super().__init__()
        padding, mode = check_conv_type(conv_type)
        if len(widths) != len(STRIDES) or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be {len(STRIDES)} positive ints, got {widths}")
        self.conv_type, self.in_channels, self.widths = conv_type, in_channels, tuple(widths)
        chans = (in_channels, *widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], KERNEL, stride=s, padding=padding,
                      padding_mode=mode, bias=False) for i, s in enumerate(STRIDES))
        self.min_size = _min_image_size(conv_type)

    def forward(self, x):                                   # (B, C, H, W)
        for conv in self.convs:
            x = F.relu(conv(x))
        return x                                            # (B, widths[-1], h, w)


class Net1(nn.Module):
    """Conv stack → global max pool → Linear(widths[-1], 2): translation-invariant pooling."""

    def __init__(self, conv_type: str, widths=WIDTHS, num_classes: int = 2):
        super().__init__()
        self.features = ConvStack(conv_type, 3, widths)
        self.fc = nn.Linear(self.features.widths[-1], num_classes)

    def feature_map(self, x):
        check_images(x, 3, min_size=self.features.min_size, who="Net1")
        return self.features(x)                             # (B, 64, h, w)

    def forward(self, x):
        f = self.feature_map(x)
        pooled = f.amax(dim=(-2, -1))                       # (B, 64): AdaptiveMaxPool2d(1)
        return self.fc(pooled)                              # (B, 2)


class Net2(nn.Module):
    """Conv stack → flatten → Linear(64·n·n, 64) → Linear(64, 2) (no nonlinearity between, as
    in the original): one weight per position, so absolute position is available."""

    def __init__(self, conv_type: str, image_size: int = 32, widths=WIDTHS, num_classes: int = 2):
        super().__init__()
        self.features = ConvStack(conv_type, 3, widths)
        self.image_size = image_size
        n = feature_map_sizes(conv_type, image_size)[-1]
        self.fc1 = nn.Linear(self.features.widths[-1] * n * n, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def feature_map(self, x):
        check_images(x, 3, size=self.image_size, who="Net2")
        return self.features(x)

    def forward(self, x):
        f = self.feature_map(x).flatten(1)                  # (B, 64·n·n)
        return self.fc2(self.fc1(f))                        # (B, 2)


def make_net(net_type: str, conv_type: str, image_size: int = 32, widths=WIDTHS) -> nn.Module:
    """``Net1`` or ``Net2`` with the given ``conv_type`` (clear errors for unknown names)."""
    check_conv_type(conv_type)
    if net_type == "Net1":
        return Net1(conv_type, widths)
    if net_type == "Net2":
        return Net2(conv_type, image_size, widths)
    raise ValueError(f"unknown net_type {net_type!r}; allowed: {', '.join(NET_TYPES)}")


def coverage_map(conv_type: str, image_size: int = 32) -> torch.Tensor:
    """(H, W) number of paths from each input pixel to the final feature map.

    The conv stack with one channel, all-ones 3×3 kernels and no ReLU is linear; the gradient
    of the sum of its final map with respect to the input counts, for every pixel, how many
    (window, layer) paths read it. Copies made by reflect/replicate/circular padding are
    credited to the pixel they copy; zero padding reads nothing.
    """
    padding, mode = check_conv_type(conv_type)
    x = torch.ones(1, 1, image_size, image_size, dtype=torch.float64, requires_grad=True)
    h = x
    for s in STRIDES:
        conv = nn.Conv2d(1, 1, KERNEL, stride=s, padding=padding, padding_mode=mode, bias=False)
        conv = conv.double()
        with torch.no_grad():
            conv.weight.fill_(1.0)
        h = conv(h)
    h.sum().backward()
    return x.grad[0, 0].detach()


# --- question 1.2: rotation ---------------------------------------------------------------

class RotationCNN(nn.Module):
    """The CNN of ``exercise1.2``: three (conv 3×3, pad 1 → ReLU → max-pool 2) blocks with 32,
    64, 64 channels, flatten, Linear(·, 64) → ReLU → Linear(64, classes). For 28×28 digits the
    maps go 28 → 14 → 7 → 3 (CIFAR's 32×32 gave 4)."""

    def __init__(self, in_channels: int = 1, image_size: int = 28, num_classes: int = 10):
        super().__init__()
        self.in_channels, self.image_size = in_channels, image_size
        chans = (in_channels, 32, 64, 64)
        self.convs = nn.ModuleList(nn.Conv2d(chans[i], chans[i + 1], 3, padding=1)
                                   for i in range(3))
        n = image_size
        for _ in range(3):
            n //= 2
        if n < 1:
            raise ValueError(f"image_size must be at least 8, got {image_size}")
        self.fc1 = nn.Linear(64 * n * n, 64)
        self.fc2 = nn.Linear(64, num_classes)

    def forward(self, x):                                   # (B, C, 28, 28)
        check_images(x, self.in_channels, size=self.image_size, who="RotationCNN")
        for conv in self.convs:
            x = F.max_pool2d(F.relu(conv(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))     # (B, classes)


def rotate(images: torch.Tensor, angle) -> torch.Tensor:
    """Rotate (B, C, H, W) images counter-clockwise by ``angle`` degrees about their centre.

    ``angle`` is a number (all images) or a (B,) tensor (one angle per image). Bilinear
    interpolation; pixels that come from outside the image are 0 (black corners). A multiple of
    90° on a square image moves pixel centres onto pixel centres, so it equals ``torch.rot90``.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or not images.is_floating_point():
        raise ValueError("rotate() expects a float tensor of shape (B, C, H, W), got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    B, _, H, W = images.shape
    a = torch.as_tensor(angle, dtype=images.dtype, device=images.device)
    if a.dim() == 0:
        a = a.expand(B)
    if a.shape != (B,):
        raise ValueError(f"angle must be a number or a tensor of shape ({B},), got {tuple(a.shape)}")
    if not torch.isfinite(a).all():
        raise ValueError("angle must be finite")
    t = a * (math.pi / 180.0)
    c, s = torch.cos(t), torch.sin(t)
    # affine_grid maps each *output* pixel (normalised x right, y down) to the input point it
    # samples. A counter-clockwise turn on screen (y down) samples the input at R(+t)·(x, y).
    # The aspect ratio W/H keeps the turn a rotation for non-square images.
    r = W / H
    theta = torch.stack([torch.stack([c, -s / r, torch.zeros_like(c)], -1),
                         torch.stack([s * r, c, torch.zeros_like(c)], -1)], 1)   # (B, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_rotate(images: torch.Tensor, generator: torch.Generator | None = None,
                  max_degrees: float = 360.0) -> torch.Tensor:
    """Rotational augmentation: each image turned by its own angle ~ U(0, max_degrees)."""
    angles = torch.rand(images.shape[0], generator=generator) * max_degrees
    return rotate(images, angles.to(images.dtype))
