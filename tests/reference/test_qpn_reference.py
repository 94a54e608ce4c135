#!/usr/bin/env python3
"""Self-test of the stage-1 PyTorch reference (tests/reference/qpn_reference.py), written from spec §2.5.

Run: /usr/bin/python3 tests/reference/test_qpn_reference.py   (exit code 0 = all pass)

Checks
- state_dict keys, order and shapes = the official stage-1 inventory of spec §1.5, written out literally for
  f = 32 (transposed-conv weights (in_ch, out_ch, kh, kw)); the file form (F32, num_batches_tracked I64 shape [])
  and its round trip through safetensors;
- every transposed convolution = a brute-force loop of PyTorch's scatter rule (input pixel i adds x·W[in][out]
  at output i·stride − pad + k, no kernel flip; out = (in − 1)·stride − 2·pad + k); a flipped kernel differs;
- each dilated 3-D conv + BatchNorm (eval) of the segmentation head = a brute-force loop;
- the whole forward, intermediates included, = an independent float64 NumPy recomputation of the table of
  spec §2.5; any other concatenation order changes the logits; input values are used as given;
- the official size: 256×256×32 → logits (2, 128, 128, 16) on the bundled frame (16 150 voxels, MSB first);
- the axis convention: rows = x and columns = y (a single voxel's influence stays near (x/2, y/2)), input
  channel = z, output z = o2 channel;
- the proposal tie rule (logit1 > logit0, ties → 0) and the random initialisation (deterministic, BatchNorm far
  from the identity, an empty grid not proposed).
"""
import itertools
import os
import pathlib
import sys
import tempfile
import unittest

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import qpn_reference as qr  # noqa: E402
import safetensors_io as st  # noqa: E402

VOXELS = ROOT / "examples" / "data" / "semantickitti_08_001000" / "voxels.bin"


# ------------------------------------------------------------------------------------------------------------
# The official inventory for f = 32 (spec §1.5 names, spec §2.5 channel counts), written out
# ------------------------------------------------------------------------------------------------------------

def _conv(name, cout, cin, k=3):
    return [(f"{name}.weight", (cout, cin, k, k)), (f"{name}.bias", (cout,))]


def _deconv(name, cin, cout, k):
    return [(f"{name}.weight", (cin, cout, k, k)), (f"{name}.bias", (cout,))]


def _bn(name):
    return [(f"{name}.{p}", (8,)) for p in ("weight", "bias", "running_mean", "running_var")] + \
        [(f"{name}.num_batches_tracked", ())]


OFFICIAL_KEYS = (
    _conv("Encoder_block1.0", 32, 32) + _conv("Encoder_block1.2", 32, 32)
    + _conv("Encoder_block2.1", 48, 32) + _conv("Encoder_block2.3", 48, 48)
    + _conv("Encoder_block3.1", 64, 48) + _conv("Encoder_block3.3", 64, 64)
    + _conv("Encoder_block4.1", 80, 64) + _conv("Encoder_block4.3", 80, 80)
    + _conv("conv_out_scale_1_8", 4, 80)
    + _deconv("deconv_1_8__1_2", 4, 4, 4) + _deconv("deconv_1_8__1_1", 4, 4, 8) + _deconv("deconv1_8", 4, 4, 6)
    + _conv("conv1_4", 64, 68) + _conv("conv_out_scale_1_4", 8, 64)
    + _deconv("deconv_1_4__1_1", 8, 8, 4) + _deconv("deconv1_4", 8, 8, 6)
    + _conv("conv1_2", 48, 60) + _conv("conv_out_scale_1_2", 16, 48)
    + [("seg_head_1_2.conv0.weight", (8, 1, 3, 3, 3)), ("seg_head_1_2.conv0.bias", (8,))]
    + [(f"seg_head_1_2.conv1.{i}.weight", (8, 8, 3, 3, 3)) for i in range(3)]
    + sum((_bn(f"seg_head_1_2.bn1.{i}") for i in range(3)), [])
    + [(f"seg_head_1_2.conv2.{i}.weight", (8, 8, 3, 3, 3)) for i in range(3)]
    + sum((_bn(f"seg_head_1_2.bn2.{i}") for i in range(3)), [])
    + [("seg_head_1_2.conv_classes.weight", (2, 8, 3, 3, 3)), ("seg_head_1_2.conv_classes.bias", (2,))]
)


# ------------------------------------------------------------------------------------------------------------
# Brute-force loops (tiny inputs)
# ------------------------------------------------------------------------------------------------------------

def loop_conv_transpose2d(x, w, b, stride, pad):
    """x (Cin, H, W), w (Cin, Cout, k, k): every input pixel scatters x·W[in][out] onto i·stride − pad + k."""
    cin, h, wd = x.shape
    cout, k = w.shape[1], w.shape[2]
    ho, wo = (h - 1) * stride - 2 * pad + k, (wd - 1) * stride - 2 * pad + k
    out = np.zeros((cout, ho, wo))
    out += b[:, None, None]
    for ci, i, j, co, ky, kx in itertools.product(range(cin), range(h), range(wd), range(cout), range(k), range(k)):
        oy, ox = i * stride - pad + ky, j * stride - pad + kx
        if 0 <= oy < ho and 0 <= ox < wo:
            out[co, oy, ox] += x[ci, i, j] * w[ci, co, ky, kx]
    return out


def loop_conv3d_bn(x, w, dilation, gamma, beta, mean, var, eps=1e-5):
    """x (C, D, H, W), w (O, C, 3, 3, 3), padding = dilation, no bias; then BatchNorm in eval mode."""
    c, d, h, wd = x.shape
    o = w.shape[0]
    out = np.zeros((o, d, h, wd))
    for oc, z, i, j in itertools.product(range(o), range(d), range(h), range(wd)):
        acc = 0.0
        for ic, kz, ky, kx in itertools.product(range(c), range(3), range(3), range(3)):
            zz, yy, xx = z + (kz - 1) * dilation, i + (ky - 1) * dilation, j + (kx - 1) * dilation
            if 0 <= zz < d and 0 <= yy < h and 0 <= xx < wd:
                acc += x[ic, zz, yy, xx] * w[oc, ic, kz, ky, kx]
        out[oc, z, i, j] = (acc - mean[oc]) / np.sqrt(var[oc] + eps) * gamma[oc] + beta[oc]
    return out


# ------------------------------------------------------------------------------------------------------------
# Independent float64 NumPy forward of spec §2.5 (shifted-slice sums, no torch)
# ------------------------------------------------------------------------------------------------------------

def np_conv2d(x, w, b):
    """3×3, stride 1, zero padding 1. x (C, H, W), w (O, C, 3, 3)."""
    _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    out = np.broadcast_to(b[:, None, None], (w.shape[0], h, wd)).copy()
    for ky, kx in itertools.product(range(3), range(3)):
        out += np.einsum("oc,chw->ohw", w[:, :, ky, kx], xp[:, ky:ky + h, kx:kx + wd])
    return out


def np_conv_transpose2d(x, w, b, stride, pad):
    """Scatter form: tap (ky, kx) of input pixel (i, j) lands on (i·stride + ky, j·stride + kx) of the uncropped
    output, which is then cropped by `pad` on each side."""
    _, h, wd = x.shape
    cout, k = w.shape[1], w.shape[2]
    full = np.zeros((cout, (h - 1) * stride + k, (wd - 1) * stride + k))
    for ky, kx in itertools.product(range(k), range(k)):
        full[:, ky:ky + (h - 1) * stride + 1:stride, kx:kx + (wd - 1) * stride + 1:stride] += \
            np.einsum("io,ihw->ohw", w[:, :, ky, kx], x)
    ho, wo = full.shape[1] - 2 * pad, full.shape[2] - 2 * pad
    return full[:, pad:pad + ho, pad:pad + wo] + b[:, None, None]


def np_conv3d(x, w, b, dilation):
    """Kernel 3, padding = dilation. x (C, D, H, W), w (O, C, 3, 3, 3)."""
    _, d, h, wd = x.shape
    p = dilation
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (p, p)))
    out = np.zeros((w.shape[0], d, h, wd))
    if b is not None:
        out += b[:, None, None, None]
    for kz, ky, kx in itertools.product(range(3), range(3), range(3)):
        z0, y0, x0 = kz * p, ky * p, kx * p
        out += np.einsum("oc,cdhw->odhw", w[:, :, kz, ky, kx], xp[:, z0:z0 + d, y0:y0 + h, x0:x0 + wd])
    return out


def np_maxpool2(x):
    c, h, w = x.shape
    return x.reshape(c, h // 2, 2, w // 2, 2).max(axis=(2, 4))


def relu(x):
    return np.maximum(x, 0.0)


def np_forward(sd, grid, order_1_4=("up", "skip"), order_1_2=("up", "skip", "up8")):
    """The table of spec §2.5 in float64. sd: name → float64 array. Returns (logits (2, X/2, Y/2, Z/2), dict of
    native-layout intermediates as in qpn_reference). The orders name the concatenated pieces (default = spec)."""
    def conv(name, x):
        return np_conv2d(x, sd[name + ".weight"], sd[name + ".bias"])

    def deconv(name, x, stride, pad):
        return np_conv_transpose2d(x, sd[name + ".weight"], sd[name + ".bias"], stride, pad)

    def bn(name, x):
        scale = sd[name + ".weight"] / np.sqrt(sd[name + ".running_var"] + 1e-5)
        return (x - sd[name + ".running_mean"][:, None, None, None]) * scale[:, None, None, None] + \
            sd[name + ".bias"][:, None, None, None]

    image = np.transpose(grid, (2, 0, 1))  # image[c = z][row = x][col = y] = grid[x][y][z]
    s1 = relu(conv("Encoder_block1.2", relu(conv("Encoder_block1.0", image))))
    s2 = relu(conv("Encoder_block2.3", relu(conv("Encoder_block2.1", np_maxpool2(s1)))))
    s4 = relu(conv("Encoder_block3.3", relu(conv("Encoder_block3.1", np_maxpool2(s2)))))
    s8 = relu(conv("Encoder_block4.3", relu(conv("Encoder_block4.1", np_maxpool2(s4)))))
    o8 = conv("conv_out_scale_1_8", s8)
    pieces = {"up": deconv("deconv1_8", o8, 2, 2), "skip": s4}
    o4 = conv("conv_out_scale_1_4", relu(conv("conv1_4", np.concatenate([pieces[p] for p in order_1_4]))))
    pieces = {"up": deconv("deconv1_4", o4, 2, 2), "skip": s2, "up8": deconv("deconv_1_8__1_2", o8, 4, 0)}
    o2 = conv("conv_out_scale_1_2", relu(conv("conv1_2", np.concatenate([pieces[p] for p in order_1_2]))))
    head = "seg_head_1_2."
    a = relu(np_conv3d(o2[None], sd[head + "conv0.weight"], sd[head + "conv0.bias"], 1))  # (8, D = z, x, y)
    h = a.copy()
    for i, d in enumerate(qr.SEG_DILATIONS):
        t = relu(bn(f"{head}bn1.{i}", np_conv3d(a, sd[f"{head}conv1.{i}.weight"], None, d)))
        h += bn(f"{head}bn2.{i}", np_conv3d(t, sd[f"{head}conv2.{i}.weight"], None, d))
    h = relu(h)
    seg = np_conv3d(h, sd[head + "conv_classes.weight"], sd[head + "conv_classes.bias"], 1)  # (2, z, x, y)
    logits = np.transpose(seg, (0, 2, 3, 1))  # logits[c][x][y][z] = seg[c][z][x][y]
    inter = {"skip_1_1": s1, "skip_1_2": s2, "skip_1_4": s4, "skip_1_8": s8, "out_1_8": o8, "out_1_4": o4,
             "out_1_2": o2, "seg_a": a, "seg_h": h}
    return logits, inter


def f64(tensor):
    return tensor.detach().double().numpy()


def float64_state(model):
    return {k: f64(v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def random_grid(shape, seed, fraction=0.1):
    return (np.random.default_rng(seed).random(shape) < fraction).astype(np.uint8)


def forward(model, grid):
    with torch.no_grad():
        return model(torch.as_tensor(grid)).numpy()


# ------------------------------------------------------------------------------------------------------------

class TestStateDict(unittest.TestCase):
    def test_official_keys_order_and_shapes(self):
        sd = qr.LMSCNet_SS(32).state_dict()
        self.assertEqual([(k, tuple(v.shape)) for k, v in sd.items()], OFFICIAL_KEYS)
        self.assertEqual(len(sd), 76)

    def test_other_heights_scale_the_channels(self):
        for f in (8, 16, 64):
            got = {k: tuple(v.shape) for k, v in qr.LMSCNet_SS(f).state_dict().items()}
            self.assertEqual(list(got), [k for k, _ in OFFICIAL_KEYS])
            self.assertEqual(got["Encoder_block4.3.weight"], (f * 5 // 2, f * 5 // 2, 3, 3))
            self.assertEqual(got["conv1_4.weight"], (2 * f, 2 * f + f // 8, 3, 3))
            self.assertEqual(got["conv1_2.weight"], (f * 3 // 2, f * 3 // 2 + f // 4 + f // 8, 3, 3))
            self.assertEqual(got["deconv1_4.weight"], (f // 4, f // 4, 6, 6))
            self.assertEqual(got["conv_out_scale_1_2.weight"], (f // 2, f * 3 // 2, 3, 3))
            self.assertEqual(got["seg_head_1_2.conv0.weight"], (8, 1, 3, 3, 3))

    def test_rejects_bad_sizes(self):
        with self.assertRaises(ValueError):
            qr.LMSCNet_SS(12)
        model = qr.LMSCNet_SS(8)
        for shape in ((16, 16, 16), (12, 16, 8), (16, 20, 8), (16, 16)):
            with self.assertRaises(ValueError, msg=str(shape)):
                model(torch.zeros(shape))

    def test_file_form_and_round_trip(self):
        model = qr.init_random_(qr.LMSCNet_SS(16), 3)
        state = qr.state_dict_for_file(model)
        self.assertEqual(list(state), list(model.state_dict()))
        for k, v in state.items():
            if k.endswith("num_batches_tracked"):
                self.assertEqual((v.dtype, tuple(v.shape)), (torch.int64, ()), k)
                self.assertGreater(int(v), 0, k)
            else:
                self.assertEqual(v.dtype, torch.float32, k)
        grid = random_grid((16, 24, 16), 1)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.safetensors")
            st.write_safetensors(path, state)
            header, _, _ = st.read_header(path)
            self.assertEqual(header["seg_head_1_2.bn1.0.num_batches_tracked"]["dtype"], "I64")
            self.assertEqual(header["seg_head_1_2.bn1.0.num_batches_tracked"]["shape"], [])
            self.assertEqual(header["deconv1_4.weight"]["shape"], [4, 4, 6, 6])
            loaded = qr.load_model(path)
        self.assertFalse(loaded.training)
        for k, v in loaded.state_dict().items():
            self.assertTrue(torch.equal(v, state[k]), k)
        np.testing.assert_array_equal(forward(loaded, grid), forward(model, grid))


class TestTransposedConvolution(unittest.TestCase):
    def test_every_deconv_matches_the_scatter_loop(self):
        model = qr.init_random_(qr.LMSCNet_SS(16), 2)
        gen = torch.Generator().manual_seed(0)
        layers = {"deconv1_8": (2, 2, 6), "deconv1_4": (2, 2, 6), "deconv_1_8__1_2": (4, 0, 4),
                  "deconv_1_8__1_1": (8, 0, 8), "deconv_1_4__1_1": (4, 0, 4)}
        for name, (stride, pad, k) in layers.items():
            layer = getattr(model, name)
            self.assertEqual((layer.stride, layer.padding, layer.kernel_size), ((stride,) * 2, (pad,) * 2, (k,) * 2))
            x = torch.randn(1, layer.in_channels, 3, 5, generator=gen)
            with torch.no_grad():
                got = layer(x)[0].double().numpy()
            x0, w, b = f64(x[0]), f64(layer.weight), f64(layer.bias)
            want = loop_conv_transpose2d(x0, w, b, stride, pad)
            self.assertEqual(got.shape[1:], ((3 - 1) * stride - 2 * pad + k, (5 - 1) * stride - 2 * pad + k))
            self.assertEqual(got.shape[1:], (3 * stride, 5 * stride), name)  # all of them scale exactly
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=name)
            np.testing.assert_allclose(np_conv_transpose2d(x0, w, b, stride, pad), want, rtol=1e-12, atol=1e-12,
                                       err_msg=name)
            flipped = loop_conv_transpose2d(x0, w[:, :, ::-1, ::-1], b, stride, pad)
            self.assertGreater(np.abs(flipped - want).max(), 1e-2, f"{name}: a flipped kernel must differ")


class TestSegmentationHead(unittest.TestCase):
    def test_dilated_conv_with_batchnorm_matches_the_loop(self):
        model = qr.init_random_(qr.LMSCNet_SS(8), 4)
        head = model.seg_head_1_2
        x = torch.randn(1, 8, 5, 4, 6, generator=torch.Generator().manual_seed(1))
        x0 = f64(x[0])
        identity_bn = (np.ones(8), np.zeros(8), np.zeros(8), np.full(8, 1 - 1e-5))  # sqrt(var + eps) = 1
        for i, d in enumerate(qr.SEG_DILATIONS):
            for conv, bn in ((head.conv1[i], head.bn1[i]), (head.conv2[i], head.bn2[i])):
                self.assertEqual((conv.dilation, conv.padding, conv.bias), ((d,) * 3, (d,) * 3, None))
                self.assertEqual(bn.eps, 1e-5)
                with torch.no_grad():
                    got = bn(conv(x))[0].double().numpy()
                w = f64(conv.weight)
                want = loop_conv3d_bn(x0, w, d, *map(f64, (bn.weight, bn.bias, bn.running_mean, bn.running_var)))
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=f"dilation {d}")
                np.testing.assert_allclose(np_conv3d(x0, w, None, d), loop_conv3d_bn(x0, w, d, *identity_bn),
                                           rtol=1e-9, atol=1e-9, err_msg=f"dilation {d}")


class TestForward(unittest.TestCase):
    """The module against the independent NumPy forward (f = 8 and 16, non-square grids)."""

    def check(self, f, shape, seed, grid):
        model = qr.init_random_(qr.LMSCNet_SS(f), seed)
        want, want_inter = np_forward(float64_state(model), grid.astype(np.float64))
        with torch.no_grad():
            got64, inter64 = model.double()(torch.from_numpy(grid.astype(np.float64)), return_intermediates=True)
        np.testing.assert_allclose(got64.numpy(), want, rtol=1e-10, atol=1e-10)
        for name, array in want_inter.items():
            np.testing.assert_allclose(inter64[name][0].numpy(), array, rtol=1e-10, atol=1e-10, err_msg=name)
        model.float()
        with torch.no_grad():
            got, inter = model(torch.from_numpy(grid), return_intermediates=True)
        X, Y, _ = shape
        self.assertEqual(tuple(got.shape), (2, X // 2, Y // 2, f // 2))
        self.assertEqual(got.dtype, torch.float32)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)
        self.assertEqual(list(inter), list(qr.INTERMEDIATES))
        self.assertTrue(torch.equal(inter["seg_input"][0, 0], inter["out_1_2"][0]))
        return model, want, inter

    def test_matches_numpy_forward(self):
        shape = (16, 24, 8)
        self.check(8, shape, 5, random_grid(shape, 0, 0.15))
        shape = (24, 16, 16)
        self.check(16, shape, 6, random_grid(shape, 1, 0.08))

    def test_channels_last_layout(self):
        shape = (16, 24, 16)
        _, _, inter = self.check(16, shape, 7, random_grid(shape, 2))
        last = qr.channels_last(inter)
        expected = {"skip_1_1": (16, 24, 16), "skip_1_2": (8, 12, 24), "skip_1_4": (4, 6, 32),
                    "skip_1_8": (2, 3, 40), "out_1_8": (2, 3, 2), "out_1_4": (4, 6, 4), "out_1_2": (8, 12, 8),
                    "seg_a": (8, 12, 8, 8), "seg_h": (8, 12, 8, 8)}
        self.assertEqual({k: v.shape for k, v in last.items()}, expected)
        rng = np.random.default_rng(0)
        for _ in range(20):
            x, y, z, c = (int(rng.integers(n)) for n in (8, 12, 8, 8))
            self.assertEqual(last["seg_a"][x, y, z, c], float(inter["seg_a"][0, c, z, x, y]))
            self.assertEqual(last["skip_1_2"][x, y, 3 * c], float(inter["skip_1_2"][0, 3 * c, x, y]))
        for v in last.values():
            self.assertEqual(v.dtype, np.float32)
            self.assertTrue(v.flags.c_contiguous)

    def test_concatenation_orders_matter(self):
        shape = (16, 24, 8)
        grid = random_grid(shape, 3, 0.15)
        model = qr.init_random_(qr.LMSCNet_SS(8), 8)
        sd = float64_state(model)
        got = forward(model, grid)
        proposal = qr.proposal_from_logits(got)
        orders = [(o4, o2) for o4 in itertools.permutations(("up", "skip"))
                  for o2 in itertools.permutations(("up", "skip", "up8"))]
        self.assertEqual(len(orders), 12)
        for o4, o2 in orders:
            other, _ = np_forward(sd, grid.astype(np.float64), o4, o2)
            if (o4, o2) == (("up", "skip"), ("up", "skip", "up8")):
                np.testing.assert_allclose(got, other, rtol=1e-4, atol=1e-4)
                continue
            self.assertGreater(np.abs(other - got).max(), 0.05, (o4, o2))
            self.assertGreater(int((qr.proposal_from_logits(other) != proposal).sum()), 0, (o4, o2))

    def test_values_are_used_as_given(self):
        shape = (16, 24, 8)
        occupied = random_grid(shape, 4, 0.2).astype(bool)
        values = np.where(occupied, np.random.default_rng(5).uniform(0.05, 1.5, shape), 0.0).astype(np.float32)
        model = qr.init_random_(qr.LMSCNet_SS(8), 9)
        got = forward(model, values)
        want, _ = np_forward(float64_state(model), values.astype(np.float64))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        self.assertGreater(np.abs(got - forward(model, occupied.astype(np.uint8))).max(), 0.05)

    def test_official_size_on_the_bundled_frame(self):
        packed = np.fromfile(VOXELS, dtype=np.uint8)
        self.assertEqual(packed.size, 262144)
        grid = qr.read_packed_grid(VOXELS)
        self.assertEqual((grid.shape, grid.dtype, int(grid.sum())), ((256, 256, 32), np.uint8, 16150))
        byte = int(np.flatnonzero(packed)[0])
        bits = [j for j in range(8) if packed[byte] >> (7 - j) & 1]  # MSB first: voxel 8b + j is bit 7 − j
        flat = grid.reshape(-1)
        self.assertEqual(np.flatnonzero(flat[8 * byte:8 * byte + 8]).tolist(), bits)
        model = qr.init_random_(qr.LMSCNet_SS(32), 0)
        with torch.no_grad():
            logits, inter = model(torch.from_numpy(grid), return_intermediates=True)
        self.assertEqual(tuple(logits.shape), (2, 128, 128, 16))
        shapes = {k: tuple(v.shape) for k, v in inter.items()}
        self.assertEqual(shapes, {"skip_1_1": (1, 32, 256, 256), "skip_1_2": (1, 48, 128, 128),
                                  "skip_1_4": (1, 64, 64, 64), "skip_1_8": (1, 80, 32, 32),
                                  "out_1_8": (1, 4, 32, 32), "out_1_4": (1, 8, 64, 64), "out_1_2": (1, 16, 128, 128),
                                  "seg_input": (1, 1, 16, 128, 128), "seg_a": (1, 8, 16, 128, 128),
                                  "seg_h": (1, 8, 16, 128, 128)})
        proposal = qr.proposal_from_logits(logits)
        self.assertEqual((proposal.shape, proposal.dtype), ((128, 128, 16), np.uint8))
        self.assertTrue(0.05 < proposal.mean() < 0.4, proposal.mean())

    def test_packed_grid_bit_order(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "g.bin")
            np.array([0x80, 0x01, 0x00, 0x20], np.uint8).tofile(path)
            grid = qr.read_packed_grid(path, (2, 4, 4))
            self.assertEqual(np.argwhere(grid).tolist(), [[0, 0, 0], [0, 3, 3], [1, 2, 2]])
            with self.assertRaises(ValueError):
                qr.read_packed_grid(path, (4, 4, 4))


class TestAxes(unittest.TestCase):
    """rows = x, columns = y, input channel = z, output z = channel of o2 (spec §2.5)."""

    def test_single_voxel_influence_stays_near_x_y(self):
        # Receptive field at the 1:2 output, in 1:2 cells: encoder + decoder ≈ 75 input pixels ≈ 38 cells, seg
        # head ±8 cells → ≤ 48. On a 192×192 grid, a voxel at (16, 170) reaches rows ≤ 8 + 48 and columns
        # ≥ 85 − 48 only; with x and y swapped it would reach rows ≥ 37 and columns ≤ 56.
        model = qr.init_random_(qr.LMSCNet_SS(8), 10)
        empty = np.zeros((192, 192, 8), np.uint8)
        base = forward(model, empty)
        for x, y, z in ((16, 170, 3), (170, 16, 6)):
            grid = empty.copy()
            grid[x, y, z] = 1
            changed = np.argwhere(np.abs(forward(model, grid) - base).max(axis=0) > 0)
            rows, cols = changed[:, 0], changed[:, 1]
            self.assertTrue(np.all(np.abs(rows - x // 2) <= 48) and np.all(np.abs(cols - y // 2) <= 48), (x, y))
            self.assertIn(x // 2, rows)
            self.assertIn(y // 2, cols[rows == x // 2])

    def test_input_z_is_the_channel(self):
        model = qr.init_random_(qr.LMSCNet_SS(8), 11)
        with torch.no_grad():
            model.Encoder_block1[0].weight[:, [c for c in range(8) if c != 5]] = 0  # only channel 5 is read
        grid = random_grid((16, 16, 8), 6, 0.1)
        base = forward(model, grid)
        for z, visible in ((5, True), (4, False), (6, False)):
            moved = grid.copy()
            moved[3, 9, z] ^= 1
            self.assertEqual(bool(np.abs(forward(model, moved) - base).max() > 0), visible, z)

    def test_output_z_is_the_o2_channel(self):
        # Keep only o2 channel 1 (z = 1) and switch the ASPP branches off (bn2 weight = bias = 0): the head then
        # reaches z ± 2 (conv0, conv_classes), so logits at z ≥ 4 do not depend on the grid.
        model = qr.init_random_(qr.LMSCNet_SS(16), 12)
        with torch.no_grad():
            keep = model.conv_out_scale_1_2
            keep.weight[[c for c in range(8) if c != 1]] = 0
            keep.bias[[c for c in range(8) if c != 1]] = 0
            for bn in model.seg_head_1_2.bn2:
                bn.weight.zero_()
                bn.bias.zero_()
        a = forward(model, random_grid((16, 16, 16), 7, 0.2))
        b = forward(model, random_grid((16, 16, 16), 8, 0.2))
        np.testing.assert_array_equal(a[..., 4:], b[..., 4:])
        self.assertGreater(np.abs(a[..., :4] - b[..., :4]).max(), 1e-3)


class TestProposalAndInit(unittest.TestCase):
    def test_tie_rule(self):
        logits = np.array([[[0.5, 1.0, 0.0, -0.0, 2.0, -1.0]], [[0.5, 1.0, -0.0, 0.0, 2.0000002, -1.0000001]]],
                          np.float32)
        proposal = qr.proposal_from_logits(logits)
        self.assertEqual(proposal.dtype, np.uint8)
        self.assertEqual(proposal.tolist(), [[0, 0, 0, 0, 1, 0]])
        self.assertEqual(qr.proposal_from_logits(torch.from_numpy(logits)).tolist(), proposal.tolist())

    def test_random_init(self):
        a = qr.state_dict_for_file(qr.init_random_(qr.LMSCNet_SS(16), 1))
        b = qr.state_dict_for_file(qr.init_random_(qr.LMSCNet_SS(16), 1))
        c = qr.state_dict_for_file(qr.init_random_(qr.LMSCNet_SS(16), 2))
        self.assertTrue(all(torch.equal(a[k], b[k]) for k in a))
        self.assertTrue(all(not torch.equal(a[k], c[k]) for k in a))
        for i, n in itertools.product(range(3), (1, 2)):
            bn = f"seg_head_1_2.bn{n}.{i}."
            var, mean, w = a[bn + "running_var"], a[bn + "running_mean"], a[bn + "weight"]
            self.assertTrue(bool(((var >= 0.5) & (var <= 2)).all()) and float((var - 1).abs().max()) > 0.1)
            self.assertGreater(float(mean.abs().max()), 0.05)
            self.assertTrue(bool(((w >= 0.5) & (w <= 1.5)).all()) and float((w - 1).abs().max()) > 0.1)
        model = qr.init_random_(qr.LMSCNet_SS(16), 3)
        empty = forward(model, np.zeros((64, 64, 16), np.float32))
        self.assertLessEqual(float((empty[1] - empty[0]).max()), -0.5 + 1e-6)

    def test_time_forward(self):
        sd = qr.state_dict_for_file(qr.init_random_(qr.LMSCNet_SS(8), 1))
        threads = torch.get_num_threads()
        try:
            seconds = qr.time_forward(random_grid((32, 32, 8), 0), sd, threads=1, repeat=2)
            self.assertEqual(torch.get_num_threads(), 1)
        finally:
            torch.set_num_threads(threads)
        self.assertGreater(seconds, 0.0)
        self.assertTrue(torch.is_grad_enabled())


if __name__ == "__main__":
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
