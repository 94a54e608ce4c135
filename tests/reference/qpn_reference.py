"""Independent PyTorch reference of VoxFormer stage 1, the query proposal network (LMSCNet_SS, out_scale "1_2").

Written from the specification (shared/docs/voxformer-spec.md, "spec §x.y" below), not from the C++ of this
repository. It is the numerical reference of the C++ QPN and its speed baseline:

- module structure and attribute names of the original, so `state_dict()` keys are the official stage-1 keys of
  spec §1.5 (no prefix, registration order as listed there); the parameter-free `pool` attribute of the original
  and the second run of its parent constructor are left out, they add no key and no computation;
- the occupancy grid (X, Y, Z) = [x][y][z] seen as a 2-D image (1, f, X, Y): channels = z, rows = x,
  columns = y (spec §2.5), with f = Z height slices;
- the 2-D encoder/decoder of the table in spec §2.5, exact concatenation orders, PyTorch's `conv_transpose2d`
  (scatter, no kernel flip) for the three used transposed convolutions;
- the 3-D segmentation head on o2 viewed as (1, 1, f/2, X/2, Y/2) = (ch, D = z, H = x, W = y), BatchNorm3d in
  eval mode (eps 1e-5, running statistics), logits permuted to (2, X/2, Y/2, f/2) = [class][x][y][z];
- the proposal rule logit1 > logit0 (ties → empty) (spec §2.5).

Geometry generalised from the official f = 32, 256×256×32: any f divisible by 8 (channel counts int(f·1.5),
2f, int(f·2.5), f/8, f/4, f/2 as in LMSCNet) and any X, Y divisible by 8.
Input values are used as given (the original casts the unpacked grid to float32, it does not binarise).
"""
import statistics
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import safetensors_io as st

CLASSES = 2
SEG_PLANES = 8
SEG_DILATIONS = (1, 2, 3)
BN_EPS = 1e-5
OFFICIAL_GRID = (256, 256, 32)

# Intermediates returned by `LMSCNet_SS.forward(..., return_intermediates=True)`, in computation order.
INTERMEDIATES = ("skip_1_1", "skip_1_2", "skip_1_4", "skip_1_8", "out_1_8", "out_1_4", "out_1_2",
                 "seg_input", "seg_a", "seg_h")


def _conv2d(cin, cout):
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1, stride=1)


class SegmentationHead(nn.Module):
    """3-D head of spec §2.5: a = ReLU(conv0(x)); b_d = bn2_d(conv2_d(ReLU(bn1_d(conv1_d(a))))) for each dilation
    d (kernel 3, pad d, no bias); h = ReLU(a + Σ_d b_d); logits = conv_classes(h)."""

    def __init__(self, inplanes, planes, nbr_classes, dilations_conv_list):
        super().__init__()
        self.conv0 = nn.Conv3d(inplanes, planes, kernel_size=3, padding=1, stride=1)
        self.conv_list = list(dilations_conv_list)
        self.conv1 = nn.ModuleList([nn.Conv3d(planes, planes, kernel_size=3, padding=d, dilation=d, bias=False)
                                    for d in self.conv_list])
        self.bn1 = nn.ModuleList([nn.BatchNorm3d(planes, eps=BN_EPS) for _ in self.conv_list])
        self.conv2 = nn.ModuleList([nn.Conv3d(planes, planes, kernel_size=3, padding=d, dilation=d, bias=False)
                                    for d in self.conv_list])
        self.bn2 = nn.ModuleList([nn.BatchNorm3d(planes, eps=BN_EPS) for _ in self.conv_list])
        self.conv_classes = nn.Conv3d(planes, nbr_classes, kernel_size=3, padding=1, stride=1)

    def forward(self, x_in, collect=None):
        """x_in (1, inplanes, D, H, W) → (1, classes, D, H, W); `collect` (a dict) receives seg_a and seg_h."""
        a = F.relu(self.conv0(x_in))
        h = a
        for conv1, bn1, conv2, bn2 in zip(self.conv1, self.bn1, self.conv2, self.bn2):
            h = h + bn2(conv2(F.relu(bn1(conv1(a)))))
        h = F.relu(h)
        if collect is not None:
            collect["seg_a"], collect["seg_h"] = a, h
        return self.conv_classes(h)


class LMSCNet_SS(nn.Module):  # noqa: N801 (official class name)
    """The QPN (spec §2.5) for f = `height` slices. Built in eval mode: BatchNorm uses its running statistics."""

    def __init__(self, height=OFFICIAL_GRID[2], class_num=CLASSES):
        super().__init__()
        if height <= 0 or height % 8:
            raise ValueError(f"height (f) must be a positive multiple of 8, got {height}")
        f = height
        self.height = f
        c2, c3, c4 = int(f * 1.5), int(f * 2), int(f * 2.5)
        o8, o4, o2 = int(f / 8), int(f / 4), int(f / 2)
        self.Encoder_block1 = nn.Sequential(_conv2d(f, f), nn.ReLU(), _conv2d(f, f), nn.ReLU())
        self.Encoder_block2 = nn.Sequential(nn.MaxPool2d(2), _conv2d(f, c2), nn.ReLU(), _conv2d(c2, c2), nn.ReLU())
        self.Encoder_block3 = nn.Sequential(nn.MaxPool2d(2), _conv2d(c2, c3), nn.ReLU(), _conv2d(c3, c3), nn.ReLU())
        self.Encoder_block4 = nn.Sequential(nn.MaxPool2d(2), _conv2d(c3, c4), nn.ReLU(), _conv2d(c4, c4), nn.ReLU())
        self.conv_out_scale_1_8 = _conv2d(c4, o8)
        self.deconv_1_8__1_2 = nn.ConvTranspose2d(o8, o8, kernel_size=4, padding=0, stride=4)
        self.deconv_1_8__1_1 = nn.ConvTranspose2d(o8, o8, kernel_size=8, padding=0, stride=8)  # unused (spec §2.5)
        self.deconv1_8 = nn.ConvTranspose2d(o8, o8, kernel_size=6, padding=2, stride=2)
        self.conv1_4 = _conv2d(c3 + o8, c3)
        self.conv_out_scale_1_4 = _conv2d(c3, o4)
        self.deconv_1_4__1_1 = nn.ConvTranspose2d(o4, o4, kernel_size=4, padding=0, stride=4)  # unused (spec §2.5)
        self.deconv1_4 = nn.ConvTranspose2d(o4, o4, kernel_size=6, padding=2, stride=2)
        self.conv1_2 = _conv2d(c2 + o4 + o8, c2)
        self.conv_out_scale_1_2 = _conv2d(c2, o2)
        self.seg_head_1_2 = SegmentationHead(1, SEG_PLANES, class_num, SEG_DILATIONS)
        self.eval()

    def forward(self, occupancy, return_intermediates=False):
        """occupancy (X, Y, f) = [x][y][z], any real values → logits (classes, X/2, Y/2, f/2) = [class][x][y][z].

        With return_intermediates=True returns (logits, dict) with the tensors of `INTERMEDIATES` in their native
        layouts: skip_* and out_* (1, C, rows = x, cols = y), seg_input (1, 1, f/2, X/2, Y/2), seg_a / seg_h
        (1, 8, f/2, X/2, Y/2) = (batch, ch, z, x, y); `channels_last` converts them to the fixture layout."""
        grid = torch.as_tensor(occupancy, dtype=self.Encoder_block1[0].weight.dtype)
        if grid.dim() != 3 or grid.shape[2] != self.height or grid.shape[0] % 8 or grid.shape[1] % 8:
            raise ValueError(f"occupancy must be (X, Y, {self.height}) with X, Y multiples of 8, got "
                             f"{tuple(grid.shape)}")
        image = grid.permute(2, 0, 1).unsqueeze(0)  # (1, f = z, X, Y)
        skip_1_1 = self.Encoder_block1(image)
        skip_1_2 = self.Encoder_block2(skip_1_1)
        skip_1_4 = self.Encoder_block3(skip_1_2)
        skip_1_8 = self.Encoder_block4(skip_1_4)
        out_1_8 = self.conv_out_scale_1_8(skip_1_8)
        x = torch.cat([self.deconv1_8(out_1_8), skip_1_4], 1)
        out_1_4 = self.conv_out_scale_1_4(F.relu(self.conv1_4(x)))
        x = torch.cat([self.deconv1_4(out_1_4), skip_1_2, self.deconv_1_8__1_2(out_1_8)], 1)
        out_1_2 = self.conv_out_scale_1_2(F.relu(self.conv1_2(x)))
        seg_input = out_1_2.unsqueeze(1)  # (1, 1, D = z, H = x, W = y)
        collect = {} if return_intermediates else None
        logits = self.seg_head_1_2(seg_input, collect)[0].permute(0, 2, 3, 1)  # (classes, x, y, z)
        if not return_intermediates:
            return logits
        collect.update(skip_1_1=skip_1_1, skip_1_2=skip_1_2, skip_1_4=skip_1_4, skip_1_8=skip_1_8,
                       out_1_8=out_1_8, out_1_4=out_1_4, out_1_2=out_1_2, seg_input=seg_input)
        return logits, {name: collect[name] for name in INTERMEDIATES}


def channels_last(intermediates):
    """The fixture layout of the intermediates (numpy float32, what the C++ keeps): skip_* / out_* (rows, cols, C)
    = [x][y][channel]; seg_a / seg_h (X/2, Y/2, f/2, 8) = [x][y][z][channel]. seg_input (= out_1_2) is skipped."""
    out = {}
    for name, t in intermediates.items():
        if name.startswith(("skip_", "out_")):
            out[name] = t[0].permute(1, 2, 0)
        elif name in ("seg_a", "seg_h"):
            out[name] = t[0].permute(2, 3, 1, 0)
        else:
            continue
        out[name] = np.ascontiguousarray(out[name].detach().float().numpy())
    return out


def proposal_from_logits(logits):
    """uint8 (X/2, Y/2, Z/2): 1 where logit1 > logit0, ties → 0 (spec §2.5). `logits` (2, ...) tensor or array."""
    logits = np.asarray(logits.detach().numpy() if isinstance(logits, torch.Tensor) else logits)
    return (logits[1] > logits[0]).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------------------

def _fan_in(module):
    """Inputs summed into one output element. A transposed convolution (weight (in, out, kh, kw)) reaches each
    output pixel with (k/stride)² taps per input channel."""
    w = module.weight
    if isinstance(module, nn.ConvTranspose2d):
        return w.shape[0] * (w.shape[2] // module.stride[0]) * (w.shape[3] // module.stride[1])
    return w[0].numel()


# Gain of the first convolution: the input is a sparse 0/1 grid (the bundled frame occupies 0.8 % of its
# voxels), so a unit-gain layer would start the network at activations around 0.1.
_INPUT_GAIN = 6.0
# Logit margin by which an empty grid stays unproposed after the class-bias calibration of init_random_.
_EMPTY_MARGIN = 0.5
_EMPTY_CALIBRATION_GRID = (64, 64)


def init_random_(model, seed):
    """Fills `model` with non-trivial random weights, deterministic for a seed (same torch generator order):
    conv weights N(0, g²/fan_in) with g = √2 (He, activations stay O(1) through the ReLU stack; the first
    layer g = _INPUT_GAIN for the sparse input), conv biases N(0, 0.1²); BatchNorm weight U(0.5, 1.5),
    bias N(0, 0.2²), running_mean N(0, 0.2²), running_var U(0.5, 2) — far from the identity so that a
    folding of BN into the convolutions is really exercised — and num_batches_tracked a random count (unused at
    inference).

    Then conv_classes' class-1 bias is lowered so that an all-empty (64, 64, f) grid has logit1 − logit0 ≤ −0.5
    everywhere: empty space is never proposed, as with a trained QPN, and what gets proposed is decided by the
    occupied voxels' neighbourhoods. A fixed offset would leave the proposed fraction to the random biases
    (2 %–95 % of the bundled frame over seeds 0–5 with −0.5); calibrated, it is 0.8 %–47 % over seeds 0–9
    (median 17 %)."""
    gen = torch.Generator().manual_seed(int(seed))
    first = model.Encoder_block1[0]
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
                gain = _INPUT_GAIN if module is first else 2 ** 0.5
                std = gain / _fan_in(module) ** 0.5
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, nn.BatchNorm3d):
                n = module.num_features
                module.weight.copy_(0.5 + torch.rand(n, generator=gen))
                module.bias.copy_(0.2 * torch.randn(n, generator=gen))
                module.running_mean.copy_(0.2 * torch.randn(n, generator=gen))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                module.num_batches_tracked.fill_(int(torch.randint(1, 1 << 20, (), generator=gen)))
        empty = model(torch.zeros(*_EMPTY_CALIBRATION_GRID, model.height))
        model.seg_head_1_2.conv_classes.bias[1] -= float((empty[1] - empty[0]).max()) + _EMPTY_MARGIN
    return model


def state_dict_for_file(model):
    """OrderedDict of every state-dict entry with the official keys: float32 tensors, num_batches_tracked as int64
    scalars of shape [] (as in a checkpoint, spec §2.5)."""
    out = OrderedDict()
    for key, value in model.state_dict().items():
        value = value.detach().cpu().contiguous()
        out[key] = value.to(torch.int64).reshape(()) if key.endswith("num_batches_tracked") else value.float()
    return out


def model_from_state_dict(state_dict):
    """LMSCNet_SS with f read from Encoder_block1.0.weight, loaded strictly (every official key, nothing else)."""
    height = int(state_dict["Encoder_block1.0.weight"].shape[0])
    classes = int(state_dict["seg_head_1_2.conv_classes.weight"].shape[0])
    model = LMSCNet_SS(height, classes)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state_dict.items()}, strict=True)
    return model


def load_model(path):
    """LMSCNet_SS from a safetensors file holding the official keys without prefix."""
    return model_from_state_dict(st.read_safetensors(path))


# ------------------------------------------------------------------------------------------------------------
# Inputs and timing
# ------------------------------------------------------------------------------------------------------------

def read_packed_grid(path, shape=OFFICIAL_GRID):
    """uint8 grid from a bit-packed voxel file (.bin / .pseudo): C order, most significant bit first (spec §2.1)."""
    count = int(np.prod(shape))
    packed = np.fromfile(path, dtype=np.uint8)
    if packed.size * 8 != count:
        raise ValueError(f"{path}: {packed.size} bytes, expected {count // 8} for a {shape} grid")
    return np.unpackbits(packed, bitorder="big").reshape(shape)


def time_forward(grid, state_dict, threads, repeat=5):
    """Median wall-clock seconds of `repeat` forwards (after one untimed warm-up) on `threads` CPU threads.

    grid: (X, Y, f) array or tensor; state_dict: official keys (a mapping, or a safetensors path).
    The forwards run with the model in eval mode under torch.no_grad(); torch.set_num_threads(threads) stays set
    afterwards, gradient mode is restored."""
    if not isinstance(state_dict, dict):
        state_dict = st.read_safetensors(state_dict)
    torch.set_num_threads(int(threads))
    model = model_from_state_dict(state_dict).eval()
    grid = torch.as_tensor(np.asarray(grid), dtype=torch.float32)
    times = []
    with torch.no_grad():
        model(grid)
        for _ in range(int(repeat)):
            t0 = time.perf_counter()
            model(grid)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)
