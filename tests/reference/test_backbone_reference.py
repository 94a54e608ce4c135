#!/usr/bin/env python3
"""Self-test of the image-path PyTorch reference (tests/reference/image_backbone_reference.py), written from spec §3.1,
§3.2, §2.1 and §1.5.

Run: /usr/bin/python3 tests/reference/test_backbone_reference.py   (exit code 0 = all pass)

Checks
- preprocessing = the original's `np.array(img, float32) / 255.0`, top-left crop, torchvision ToTensor + Normalize,
  bit for bit; images smaller than the crop are rejected;
- state-dict keys, order and shapes at the official widths = torchvision's resnet50 without layer4 and fc, under
  `img_backbone.`, plus the four `img_neck.` keys of spec §1.5; parameter counts; the file form (F32,
  num_batches_tracked I64 shape [], the layer4 sample where a checkpoint has layer4) and the loader (skips layer4/fc,
  reads widths and block counts, rejects unknown keys);
- torchvision's resnet50 loaded with the same state dict gives the same stem, pool, layer1..3 (the reference is the
  real ResNet-50: torchvision names, strides on the 3×3 convs); the width-8 network equals a stack of torchvision
  Bottleneck blocks of the same widths;
- every convolution and every BatchNorm (eval) of the width-8 network = float64 direct loops on a tiny input, the loop
  convolution itself checked element by element; the max-pool = a loop (and = zero padding after the ReLU); the whole
  forward = an independent float64 NumPy forward from the state dict (spec §3.1 step 2–3);
- stage shapes: 370×1220 at the official widths → stem 185×610, pool 93×305, layer1 93×305×256, layer2 47×153×512,
  layer3 24×77×1024, features (K, 128, 24, 77); odd sizes follow ⌊(n − 1)/2⌋ + 1;
- the BatchNorm calibration (running statistics far from (0, 1), deterministic, activations of unseen images O(1))
  and the synthetic images (deterministic, structured);
- the temporal matrices (spec §3.2) with the sequence-08 calibration and poses: offset 0 = K4·Tr = the test vector
  rows of spec §8.10; frame 5's offsets −12, −9, −6 (< 0) replaced by the current frame; offsets past the end
  replaced; = K4·Pcam_t⁻¹·Pcam_r·Tr; the ego motion has the right sign and length; the committed fixture reproduces
  (the poses tests are skipped when no poses.txt is found);
- the committed small fixtures reproduce with the loader (weights file → stage outputs, images → input).
"""
import itertools
import json
import os
import pathlib
import sys
import tempfile
import unittest

# Idle OpenMP threads sleep instead of spinning (set before torch loads libgomp): on a machine shared with other
# jobs, spinning threads made this file's many small 2-thread forwards ≈ 15× slower (56 s instead of 3.5 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import generate_backbone_fixtures as gen  # noqa: E402
import image_backbone_reference as ib  # noqa: E402
import safetensors_io as st  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "backbone"
CALIB = ROOT / "examples" / "data" / "semantickitti_08_001000" / "calib.txt"
POSES = next((p for p in gen.POSES_CANDIDATES if p.exists()), None)
# spec §8.10: rows of K4·Tr for sequence 08 (6 decimals)
SPEC_K4_TR = np.array([[600.560052, -708.153849, -9.594978, -204.411181],
                       [178.523258, 5.362788, -708.242970, -113.040607],
                       [0.999977, -0.001806, -0.006496, -0.333997]])


def f64(t):
    return t.detach().double().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, np.float64)


def assert_close(got, want, tol, msg=""):
    """max |got − want| ≤ tol · max(1, max |want|)."""
    got, want = f64(got), f64(want)
    assert got.shape == want.shape, f"{msg}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.abs(want).max()) if want.size else 1.0)
    err = float(np.abs(got - want).max()) if want.size else 0.0
    assert err <= tol * scale, f"{msg}: max error {err:.3e} > {tol:.1e} · {scale:.3g}"


def calibrated(base_width, neck, seed, shape=(29, 45), count=6):
    """Width-`base_width` ImageBackbone with BatchNorm calibrated on `count` synthetic images of `shape`."""
    calibration = ib.preprocess(ib.synthetic_images(count, *shape, seed=7000 + seed), shape)
    return ib.init_random_(ib.ImageBackbone(base_width, ib.OFFICIAL_BLOCKS, neck), seed, calibration)


# ------------------------------------------------------------------------------------------------------------
# Float64 direct loops and an independent NumPy forward (spec §3.1 steps 2–3)
# ------------------------------------------------------------------------------------------------------------

def conv_element(x, w, stride, pad, n, o, i, j):
    """One output element of a convolution by its definition: Σ_c Σ_ky Σ_kx x[n, c, i·s − p + ky, j·s − p + kx] ·
    w[o, c, ky, kx] over the taps inside the image (zero padding)."""
    _, c_in, h, wd = x.shape
    k = w.shape[2]
    acc = 0.0
    for c, ky, kx in itertools.product(range(c_in), range(k), range(k)):
        y, xx = i * stride - pad + ky, j * stride - pad + kx
        if 0 <= y < h and 0 <= xx < wd:
            acc += x[n, c, y, xx] * w[o, c, ky, kx]
    return acc


def np_conv2d(x, w, stride, pad, bias=None):
    """x (N, C, H, W), w (O, C, k, k), zero padding: a sum over the k² taps of strided slices of the padded input."""
    n, _, h, wd = x.shape
    o, _, k, _ = w.shape
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((n, o, ho, wo))
    for ky, kx in itertools.product(range(k), range(k)):
        patch = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
        out += np.einsum("oc,nchw->nohw", w[:, :, ky, kx], patch)
    return out if bias is None else out + bias[None, :, None, None]


def np_bn(x, state, prefix, eps=1e-5):
    """Eval-mode BatchNorm: γ·(x − μ)/sqrt(σ² + eps) + β per channel (axis 1)."""
    g, b, m, v = (state[f"{prefix}.{p}"][None, :, None, None] for p in ("weight", "bias", "running_mean",
                                                                           "running_var"))
    return (x - m) / np.sqrt(v + eps) * g + b


def np_maxpool(x):
    """3×3, stride 2, padding 1 with −inf (PyTorch's max-pool padding), floor output size, by a loop."""
    n, c, h, w = x.shape
    ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    out = np.full((n, c, ho, wo), -np.inf)
    for i, j, ky, kx in itertools.product(range(ho), range(wo), range(3), range(3)):
        y, xx = 2 * i - 1 + ky, 2 * j - 1 + kx
        if 0 <= y < h and 0 <= xx < w:
            out[:, :, i, j] = np.maximum(out[:, :, i, j], x[:, :, y, xx])
    return out


def np_forward(state, x, blocks=ib.OFFICIAL_BLOCKS):
    """float64 stage outputs {stem, pool, layer1..3, lateral, features} from a state dict (official keys) and
    normalised images x (K, 3, h, w): spec §3.1 step 2 (stride on the 3×3 conv, block-0 shortcut = 1×1 conv with the
    layer's stride + BN, ReLU after the sum) and step 3 (two convolutions with bias, nothing else)."""
    relu = lambda a: np.maximum(a, 0.0)  # noqa: E731
    bb = "img_backbone."
    out = {}
    out["stem"] = x = relu(np_bn(np_conv2d(x, state[bb + "conv1.weight"], 2, 3), state, bb + "bn1"))
    out["pool"] = x = np_maxpool(x)
    for li, count in enumerate(blocks, start=1):
        for bi in range(count):
            p = f"{bb}layer{li}.{bi}."
            stride = 2 if (li > 1 and bi == 0) else 1
            y = relu(np_bn(np_conv2d(x, state[p + "conv1.weight"], 1, 0), state, p + "bn1"))
            y = relu(np_bn(np_conv2d(y, state[p + "conv2.weight"], stride, 1), state, p + "bn2"))
            y = np_bn(np_conv2d(y, state[p + "conv3.weight"], 1, 0), state, p + "bn3")
            shortcut = x
            if bi == 0:
                shortcut = np_bn(np_conv2d(x, state[p + "downsample.0.weight"], stride, 0), state, p + "downsample.1")
            x = relu(y + shortcut)
        out[f"layer{li}"] = x
    n = "img_neck."
    out["lateral"] = np_conv2d(x, state[n + "lateral_convs.0.conv.weight"], 1, 0,
                               state[n + "lateral_convs.0.conv.bias"])
    out["features"] = np_conv2d(out["lateral"], state[n + "fpn_convs.0.conv.weight"], 1, 1,
                                state[n + "fpn_convs.0.conv.bias"])
    return out


def float64_state(model):
    return {k: f64(v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}


def torchvision_keys():
    """(key, shape) of torchvision's resnet50 without layer4 and fc, under `img_backbone.`, in its order."""
    sd = torchvision.models.resnet50().state_dict()
    return [("img_backbone." + k, tuple(v.shape)) for k, v in sd.items() if not k.startswith(("layer4.", "fc."))]


# ------------------------------------------------------------------------------------------------------------

class TestPreprocess(unittest.TestCase):
    def test_matches_the_original_bit_for_bit(self):
        from torchvision import transforms
        rng = np.random.default_rng(0)
        images = np.concatenate([ib.synthetic_images(2, 40, 52, 3), rng.integers(0, 256, (1, 40, 52, 3), np.uint8)])
        images[0, 0, 0] = (0, 255, 128)
        for crop, mean, std in (((36, 50), ib.IMAGE_MEAN, ib.IMAGE_STD), ((40, 52), (0.5, 0.4, 0.3), (0.25, 0.2, 0.3))):
            normalize = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean=mean, std=std)])
            want = []
            for img in images:  # the original's get_input_info
                x = np.array(img, dtype=np.float32, copy=False) / 255.0
                x = x[:crop[0], :crop[1], :]
                want.append(normalize(x))
            got = ib.preprocess(images, crop, mean, std)
            self.assertEqual(got.dtype, torch.float32)
            self.assertTrue(torch.equal(got, torch.stack(want)), f"crop {crop}")

    def test_top_left_crop_and_channel_order(self):
        images = np.zeros((1, 40, 52, 3), np.uint8)
        images[0, 35, 49] = (255, 0, 0)  # inside the 36×50 crop
        images[0, 36:, :] = images[0, :, 50:] = 255  # outside
        x = ib.preprocess(images, (36, 50))
        self.assertEqual(tuple(x.shape), (1, 3, 36, 50))
        self.assertAlmostEqual(float(x[0, 0, 35, 49]), (1 - 0.485) / 0.229, places=5)
        self.assertAlmostEqual(float(x[0, 1, 35, 49]), -0.456 / 0.224, places=5)
        self.assertAlmostEqual(float(x[0, 2, 0, 0]), -0.406 / 0.225, places=5)
        background = ib.preprocess(np.zeros((1, 36, 50, 3), np.uint8), (36, 50))
        self.assertEqual(torch.nonzero((x != background).any(1)[0]).tolist(), [[35, 49]])  # nothing from outside

    def test_rejects_small_or_malformed_images(self):
        ok = np.zeros((2, 370, 1220, 3), np.uint8)
        self.assertEqual(tuple(ib.preprocess(ok).shape), (2, 3, 370, 1220))
        for bad in (np.zeros((1, 369, 1241, 3), np.uint8), np.zeros((1, 376, 1219, 3), np.uint8),
                    np.zeros((1, 376, 1241, 3), np.float32), np.zeros((376, 1241, 3), np.uint8),
                    np.zeros((1, 376, 1241, 4), np.uint8)):
            with self.assertRaises(ValueError, msg=str((bad.dtype, bad.shape))):
                ib.preprocess(bad)


class TestStateDict(unittest.TestCase):
    def test_official_keys_order_and_shapes(self):
        sd = ib.ImageBackbone().state_dict()
        want = torchvision_keys() + [("img_neck.lateral_convs.0.conv.weight", (128, 1024, 1, 1)),
                                     ("img_neck.lateral_convs.0.conv.bias", (128,)),
                                     ("img_neck.fpn_convs.0.conv.weight", (128, 128, 3, 3)),
                                     ("img_neck.fpn_convs.0.conv.bias", (128,))]
        self.assertEqual([(k, tuple(v.shape)) for k, v in sd.items()], want)
        for key, shape in (("img_backbone.conv1.weight", (64, 3, 7, 7)),
                           ("img_backbone.layer1.0.downsample.0.weight", (256, 64, 1, 1)),
                           ("img_backbone.layer2.0.conv2.weight", (128, 128, 3, 3)),
                           ("img_backbone.layer3.5.conv3.weight", (1024, 256, 1, 1)),
                           ("img_backbone.layer3.0.downsample.1.running_var", (1024,))):
            self.assertEqual(tuple(sd[key].shape), shape, key)
        model = ib.ImageBackbone()
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        self.assertEqual(count(model.img_backbone), 8_543_296)
        self.assertEqual(count(model.img_neck), 278_784)
        tv = torchvision.models.resnet50()
        self.assertEqual(count(model.img_backbone), count(tv) - count(tv.layer4) - count(tv.fc))

    def test_reduced_widths(self):
        sd = ib.ImageBackbone(8, (3, 4, 6), 16).state_dict()
        neck = [k for k in sd if k.startswith("img_neck.")]
        self.assertEqual(list(sd), [k for k, _ in torchvision_keys()] + neck)
        self.assertEqual(len(neck), 4)
        self.assertEqual(tuple(sd["img_backbone.conv1.weight"].shape), (8, 3, 7, 7))
        self.assertEqual(tuple(sd["img_backbone.layer3.0.conv2.weight"].shape), (32, 32, 3, 3))
        self.assertEqual(tuple(sd["img_neck.lateral_convs.0.conv.weight"].shape), (16, 128, 1, 1))

        def conv_weights(model):  # every convolution but the stem (3 input channels whatever the width)
            return sum(v.numel() for k, v in model.state_dict().items()
                       if v.dim() == 4 and k != "img_backbone.conv1.weight")
        small, full = ib.ImageBackbone(8, (3, 4, 6), 16), ib.ImageBackbone()
        self.assertEqual(conv_weights(small) * 64, conv_weights(full))
        self.assertEqual(sum(p.numel() for p in small.parameters()), 142_248)

    def test_file_form_and_loader(self):
        model = calibrated(4, 8, 1)
        state = ib.state_dict_for_file(model, layer4_seed=5)
        keys = list(state)
        first_neck = keys.index("img_neck.lateral_convs.0.conv.weight")
        self.assertTrue(keys[first_neck - 1].startswith("img_backbone.layer4.0.bn1."))
        self.assertTrue(keys[first_neck - 7].startswith("img_backbone.layer3.5."))
        self.assertEqual(tuple(state["img_backbone.layer4.0.conv1.weight"].shape), (32, 64, 1, 1))
        for k, v in state.items():
            if k.endswith("num_batches_tracked"):
                self.assertEqual((v.dtype, tuple(v.shape)), (torch.int64, ()), k)
            else:
                self.assertEqual(v.dtype, torch.float32, k)
        self.assertEqual(int(state["img_backbone.layer2.1.bn2.num_batches_tracked"]), 1)
        x = ib.preprocess(ib.synthetic_images(1, 29, 45, 9), (29, 45))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.safetensors")
            st.write_safetensors(path, dict(state, **{"img_backbone.fc.weight": torch.zeros(10, 64)}))
            header, _, _ = st.read_header(path)
            counter = header["img_backbone.bn1.num_batches_tracked"]
            self.assertEqual((counter["dtype"], counter["shape"]), ("I64", []))
            loaded = ib.load_model(path)
        self.assertFalse(loaded.training)
        self.assertEqual((loaded.base_width, loaded.blocks, loaded.neck_channels), (4, (3, 4, 6), 8))
        with torch.no_grad():
            self.assertTrue(torch.equal(loaded(x), model(x)))
        other = ib.model_from_state_dict({k: v for k, v in state.items() if not k.endswith("num_batches_tracked")})
        self.assertEqual(int(other.img_backbone.bn1.num_batches_tracked), 0)  # old checkpoints: counters missing
        with self.assertRaises(KeyError):
            ib.model_from_state_dict(dict(state, **{"img_backbone.layer3.0.extra": torch.zeros(1)}))
        short = {k: v for k, v in state.items() if not k.startswith("img_backbone.layer3.5.")}
        self.assertEqual(ib.model_from_state_dict(short).blocks, (3, 4, 5))


class TestTorchvision(unittest.TestCase):
    def test_resnet50_gives_the_same_layer3(self):
        model = calibrated(64, 128, 2, shape=(64, 96), count=2)
        tv = torchvision.models.resnet50().eval()
        missing, unexpected = tv.load_state_dict(
            {k[len("img_backbone."):]: v for k, v in model.state_dict().items() if k.startswith("img_backbone.")},
            strict=False)
        self.assertEqual(unexpected, [])
        self.assertTrue(missing and all(k.startswith(("layer4.", "fc.")) for k in missing), missing)
        x = ib.preprocess(ib.synthetic_images(2, 67, 101, 4), (67, 101))
        with torch.no_grad():
            stages = model(x, return_stages=True)
            y = tv.relu(tv.bn1(tv.conv1(x)))
            assert_close(stages["stem"], y, 1e-6, "stem")
            y = tv.maxpool(y)
            assert_close(stages["pool"], y, 1e-6, "pool")
            for name in ("layer1", "layer2", "layer3"):
                y = getattr(tv, name)(y)
                assert_close(stages[name], y, 1e-5, name)
        self.assertEqual(tuple(stages["layer3"].shape), (2, 1024, 5, 7))
        self.assertGreater(float(stages["layer3"].std()), 0.3)

    def test_reduced_width_equals_torchvision_blocks(self):
        from torchvision.models.resnet import Bottleneck
        model = calibrated(8, 16, 3)
        layers, inplanes = [], 8
        for i, count in enumerate(ib.OFFICIAL_BLOCKS):
            planes, stride = 8 * 2 ** i, (1 if i == 0 else 2)
            down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
            blocks = [Bottleneck(inplanes, planes, stride, down)] + [Bottleneck(planes * 4, planes)
                                                                     for _ in range(count - 1)]
            inplanes = planes * 4
            layers.append(nn.Sequential(*blocks))
        tv = nn.Sequential(nn.Conv2d(3, 8, 7, 2, 3, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1),
                           *layers).eval()
        names = ["conv1", "bn1", None, None, "layer1", "layer2", "layer3"]
        own = {k[len("img_backbone."):]: v for k, v in model.state_dict().items() if k.startswith("img_backbone.")}
        renamed = {}
        for k, v in own.items():
            head, _, rest = k.partition(".")
            renamed[f"{names.index(head)}.{rest}"] = v
        tv.load_state_dict(renamed, strict=True)
        x = ib.preprocess(ib.synthetic_images(2, 33, 57, 5), (33, 57))
        with torch.no_grad():
            assert_close(model(x, return_stages=True)["layer3"], tv(x), 1e-6, "layer3")


class TestLoops(unittest.TestCase):
    """Width-8 network, calibrated BatchNorm, tiny input (2, 3, 21, 27)."""

    @classmethod
    def setUpClass(cls):
        cls.model = calibrated(8, 16, 4)
        cls.x = ib.preprocess(ib.synthetic_images(2, 21, 27, 6), (21, 27))

    def test_every_conv_and_batchnorm_matches_the_loop(self):
        captured = {}
        hooks = [m.register_forward_hook(lambda mod, inp, out, n=name: captured.__setitem__(n, (inp[0], out)))
                 for name, m in self.model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
        try:
            with torch.no_grad():
                self.model(self.x)
        finally:
            for h in hooks:
                h.remove()
        state = float64_state(self.model)
        convs = [n for n, m in self.model.named_modules() if isinstance(m, nn.Conv2d)]
        bns = [n for n, m in self.model.named_modules() if isinstance(m, nn.BatchNorm2d)]
        self.assertEqual((len(convs), len(bns)), (1 + 3 * 13 + 3 + 2, 1 + 3 * 13 + 3))
        for name in convs:
            conv = dict(self.model.named_modules())[name]
            x, y = (f64(t) for t in captured[name])
            w = state[name + ".weight"]
            bias = state.get(name + ".bias")
            stride, pad = conv.stride[0], conv.padding[0]
            want = np_conv2d(x, w, stride, pad, bias)
            assert_close(y, want, 2e-6, name)
            ho, wo = want.shape[2:]
            for n, o, i, j in ((0, 0, 0, 0), (1, w.shape[0] - 1, ho - 1, wo - 1), (1, w.shape[0] // 2, ho // 2, 0),
                               (0, 1, 0, wo - 1)):
                ref = conv_element(x, w, stride, pad, n, o, i, j) + (0.0 if bias is None else bias[o])
                self.assertAlmostEqual(want[n, o, i, j], ref, delta=1e-12 * max(1.0, abs(ref)), msg=name)
        for name in bns:
            x, y = (f64(t) for t in captured[name])
            assert_close(y, np_bn(x, state, name), 2e-6, name)
            self.assertEqual(dict(self.model.named_modules())[name].eps, 1e-5)
        strides = {n: dict(self.model.named_modules())[n].stride[0] for n in convs}
        self.assertEqual([n for n in convs if strides[n] == 2],
                         ["img_backbone.conv1", "img_backbone.layer2.0.conv2", "img_backbone.layer2.0.downsample.0",
                          "img_backbone.layer3.0.conv2", "img_backbone.layer3.0.downsample.0"])

    def test_maxpool_matches_the_loop(self):
        with torch.no_grad():
            stages = self.model(self.x, return_stages=True)
        stem = f64(stages["stem"])
        assert_close(stages["pool"], np_maxpool(stem), 0.0, "pool")
        # after the ReLU every value is ≥ 0 and every window holds a real pixel: zero padding is the same
        ho, wo = (ib.halve(n) for n in stem.shape[2:])
        zero_padded = np.pad(stem, ((0, 0), (0, 0), (1, 1), (1, 1)))
        windows = [zero_padded[:, :, ky:ky + 2 * ho - 1:2, kx:kx + 2 * wo - 1:2]
                   for ky, kx in itertools.product(range(3), range(3))]
        assert_close(np.max(windows, axis=0), np_maxpool(stem), 0.0, "zero padding")

    def test_forward_matches_the_numpy_forward(self):
        want = np_forward(float64_state(self.model), f64(self.x))
        with torch.no_grad():
            got = self.model(self.x, return_stages=True)
            got64 = self.model.double()(self.x.double(), return_stages=True)
        self.model.float()
        self.assertEqual(list(got), list(ib.STAGES))
        for name in ib.STAGES:
            assert_close(got64[name], want[name], 1e-10, name + " (float64)")
            assert_close(got[name], want[name], 2e-5, name)
            self.assertEqual(got[name].dtype, torch.float32)
        self.assertEqual(tuple(got["features"].shape), (2, 16, 2, 2))


class TestShapes(unittest.TestCase):
    def test_official_size(self):
        """Official widths on the meta device (PyTorch's shape inference, no arithmetic), then a real forward at the
        official size with base width 8 and the official neck (the 370×1220 pixels computed, 1/64 of the work)."""
        want = {"stem": (64, 185, 610), "pool": (64, 93, 305), "layer1": (256, 93, 305), "layer2": (512, 47, 153),
                "layer3": (1024, 24, 77), "lateral": (128, 24, 77), "features": (128, 24, 77)}
        self.assertEqual(dict(ib.stage_shapes(ib.OFFICIAL_CROP)), want)
        with torch.no_grad():
            meta = ib.ImageBackbone().to("meta")(torch.empty(5, 3, 370, 1220, device="meta"), return_stages=True)
        self.assertEqual({k: tuple(v.shape) for k, v in meta.items()}, {k: (5,) + v for k, v in want.items()})
        model = calibrated(8, 128, 0)
        with torch.no_grad():
            stages = model(ib.preprocess(ib.synthetic_images(1, 376, 1241, 1)), return_stages=True)
        self.assertEqual({k: tuple(v.shape) for k, v in stages.items()},
                         {k: (1,) + tuple(v) for k, v in ib.stage_shapes(ib.OFFICIAL_CROP, 8, 128).items()})
        self.assertEqual(tuple(stages["features"].shape), (1, 128, 24, 77))
        self.assertTrue(all(bool(torch.isfinite(v).all()) for v in stages.values()))

    def test_odd_sizes(self):
        model = ib.ImageBackbone(4, (1, 1, 1), 8)
        for h, w in ((1, 1), (2, 3), (33, 57), (36, 50), (17, 16)):
            with torch.no_grad():
                stages = model(torch.zeros(1, 3, h, w), return_stages=True)
            got = {k: tuple(v.shape[1:]) for k, v in stages.items()}
            self.assertEqual(got, dict(ib.stage_shapes((h, w), 4, 8)), (h, w))
        self.assertEqual([ib.halve(n) for n in (1, 2, 3, 4, 5, 370, 185, 93, 47, 1220, 610, 305, 153)],
                         [1, 1, 2, 2, 3, 185, 93, 47, 24, 610, 305, 153, 77])


class TestCalibrationAndImages(unittest.TestCase):
    def test_batchnorm_calibration(self):
        model = calibrated(8, 16, 5, count=8)
        bn = model.img_backbone.layer3[2].bn1
        self.assertGreater(float((bn.running_mean.abs()).mean()), 0.05)
        self.assertGreater(float((bn.running_var - 1).abs().mean()), 0.05)
        self.assertEqual(int(bn.num_batches_tracked), 1)
        self.assertIsNotNone(bn.momentum)
        self.assertFalse(any(m.training for m in model.modules()))
        again = calibrated(8, 16, 5, count=8)
        for k, v in model.state_dict().items():
            self.assertTrue(torch.allclose(v.double(), again.state_dict()[k].double(), rtol=1e-6, atol=1e-6), k)
        with torch.no_grad():
            stages = model(ib.preprocess(ib.synthetic_images(4, 29, 45, 77), (29, 45)), return_stages=True)
        for name, t in stages.items():
            self.assertTrue(0.2 < float(t.std()) < 6.0, f"{name}: std {float(t.std()):.3f}")

    def test_synthetic_images(self):
        a = ib.synthetic_image(60, 200, 3)
        self.assertEqual((a.dtype, a.shape), (np.uint8, (60, 200, 3)))
        self.assertTrue(np.array_equal(a, ib.synthetic_image(60, 200, 3)))
        self.assertFalse(np.array_equal(a, ib.synthetic_image(60, 200, 4)))
        self.assertGreater(a.std(), 20.0)
        self.assertLess(a[:10].astype(float).mean(axis=(0, 1))[0], a[:10].astype(float).mean(axis=(0, 1))[2])  # sky
        steps = np.abs(np.diff(a.astype(int), axis=1)).max(axis=2)
        self.assertGreater((steps > 40).mean(), 0.002)  # hard edges
        self.assertGreater(np.median(steps), 0)  # noise and texture everywhere


@unittest.skipUnless(POSES is not None, "no poses.txt for sequence 08")
class TestTemporal(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.p2, cls.tr = ib.read_calib(CALIB)
        cls.poses = ib.read_lidar_poses(POSES, cls.tr)
        cls.k4 = np.eye(4)
        cls.k4[:3, :3] = cls.p2[:, :3]

    def test_current_frame_is_k4_tr(self):
        for frame in (1000, 5, 0):
            mats, ids = ib.temporal_lidar2img(self.p2, self.tr, self.poses, frame)
            self.assertEqual(mats.shape, (5, 4, 4))
            self.assertEqual(ids[0], frame)
            self.assertTrue(np.array_equal(mats[0], self.k4 @ self.tr))
            np.testing.assert_allclose(mats[0][:3], SPEC_K4_TR, rtol=0, atol=6e-7)
            np.testing.assert_array_equal(mats[0][3], [0, 0, 0, 1])
        s, _ = ib.temporal_lidar2img(self.p2, self.tr, self.poses, 1000, ib.TEMPORAL_OFFSETS["S"])
        self.assertTrue(np.array_equal(s, self.k4 @ self.tr[None]))

    def test_out_of_range_frames_are_replaced(self):
        self.assertEqual(len(self.poses), 4071)
        self.assertEqual(ib.temporal_frame_ids(5, ib.TEMPORAL_OFFSETS["T"], 4071), [5, 5, 5, 5, 2])
        self.assertEqual(ib.temporal_frame_ids(12, ib.TEMPORAL_OFFSETS["T"], 4071), [12, 0, 3, 6, 9])
        self.assertEqual(ib.temporal_frame_ids(4069, (0, 1, 2, -1), 4071), [4069, 4070, 4069, 4068])
        mats, _ = ib.temporal_lidar2img(self.p2, self.tr, self.poses, 5)
        for k in (1, 2, 3):
            np.testing.assert_allclose(mats[k], mats[0], rtol=0, atol=1e-9)
        self.assertGreater(np.abs(mats[4] - mats[0]).max(), 1.0)
        end, ids = ib.temporal_lidar2img(self.p2, self.tr, self.poses, 4070, (0, 3, -3))
        self.assertEqual(ids.tolist(), [4070, 4070, 4067])
        np.testing.assert_allclose(end[1], end[0], rtol=0, atol=1e-9)

    def test_equals_the_camera_pose_form(self):
        cam = np.loadtxt(POSES).reshape(-1, 3, 4)
        pcam = lambda i: np.vstack([cam[i], [0, 0, 0, 1]])  # noqa: E731
        mats, ids = ib.temporal_lidar2img(self.p2, self.tr, self.poses, 1000)
        self.assertEqual(ids.tolist(), [1000, 988, 991, 994, 997])
        for m, t in zip(mats[1:], ids[1:]):
            want = self.k4 @ np.linalg.inv(pcam(t)) @ pcam(1000) @ self.tr
            np.testing.assert_allclose(m, want, rtol=0, atol=1e-9 * np.abs(want).max())

    def test_ego_motion(self):
        """Between frames 988 and 1000 the car drives forward: a point of the current lidar frame lies further
        ahead (larger lidar x) in the earlier frame, by the distance the camera centre moved."""
        cam = np.loadtxt(POSES).reshape(-1, 3, 4)
        for offset in (-12, -3):
            ref2target = np.linalg.inv(self.poses[1000 + offset]) @ self.poses[1000]
            moved = np.linalg.norm(cam[1000, :, 3] - cam[1000 + offset, :, 3])
            self.assertAlmostEqual(np.linalg.norm(ref2target[:3, 3]), moved, delta=0.05)
            self.assertGreater(ref2target[0, 3], 0.9 * moved)
            self.assertTrue(0.5 < moved < 2.5 * abs(offset), moved)  # 10 Hz, < 25 m/s
        mats, _ = ib.temporal_lidar2img(self.p2, self.tr, self.poses, 1000)
        ahead = np.array([20.0, 0.0, 0.0, 1.0])
        depths = [(m @ ahead)[2] for m in mats]  # depth of a point 20 m ahead in each camera
        self.assertTrue(all(d > depths[0] for d in depths[1:]), depths)
        self.assertTrue(np.all(np.diff(depths[1:]) < 0), depths)  # −12 farthest, −3 closest to the current

    def test_committed_fixture(self):
        folder = FIXTURES / "temporal"
        if not (folder / "config.json").exists():
            self.skipTest("no committed temporal fixture")
        with open(folder / "config.json") as f:
            config = json.load(f)
        self.assertEqual(config["poses_sha256"], ib.file_sha256(POSES))
        self.assertEqual(config["sequence_length"], len(self.poses))
        for frame in config["frames"]:
            mats, ids = ib.temporal_lidar2img(self.p2, self.tr, self.poses, frame, config["offsets"])
            stored = np.load(folder / f"lidar2img_{frame}.npy")
            self.assertEqual((stored.dtype, stored.shape), (np.float64, (5, 4, 4)))
            np.testing.assert_allclose(stored, mats, rtol=0, atol=1e-9)
            self.assertEqual(config["frame_ids"][str(frame)], ids.tolist())


class TestCommittedFixtures(unittest.TestCase):
    def test_cases_reproduce(self):
        cases = sorted(p for p in FIXTURES.glob("*/config.json") if p.parent.name in gen.SMALL_CASES)
        if not cases:
            self.skipTest("no committed backbone fixtures")
        self.assertEqual(len(cases), len(gen.SMALL_CASES))
        for path in cases:
            folder = path.parent
            with open(path) as f:
                config = json.load(f)
            net_input = torch.from_numpy(np.load(folder / "input.npy"))
            if config["input"] == "uint8":
                images = np.load(folder / "images.npy")
                self.assertEqual(images.shape, (config["images"], *config["image_shape"], 3))
                self.assertTrue(torch.equal(ib.preprocess(images, config["crop"], config["mean"], config["std"]),
                                            net_input), folder.name)
            else:
                self.assertFalse((folder / "images.npy").exists())
            weights = st.read_safetensors(folder / "weights.safetensors")
            self.assertIn("img_backbone.layer4.0.conv1.weight", weights)
            self.assertEqual(weights["img_backbone.layer1.0.bn1.num_batches_tracked"].dtype, torch.int64)
            model = ib.model_from_state_dict(weights)
            self.assertEqual((model.base_width, list(model.blocks), model.neck_channels),
                             (config["base_width"], config["blocks"], config["neck_channels"]))
            got = ib.stage_outputs(model, net_input)
            for name in ib.STAGES:
                stored = np.load(folder / f"{name}.npy")
                self.assertEqual(list(stored.shape), config["stages"][name], f"{folder.name}/{name}")
                assert_close(got[name], stored, 1e-5, f"{folder.name}/{name}")
            self.assertLess(sum(p.stat().st_size for p in folder.iterdir()), 1_000_000, folder.name)

    def test_generator_is_deterministic(self):
        if not (FIXTURES / "w4_custom_norm" / "config.json").exists():
            self.skipTest("no committed backbone fixtures")
        with tempfile.TemporaryDirectory() as d:
            gen.small_case(pathlib.Path(d), "w4_custom_norm")
            fresh = st.read_safetensors(os.path.join(d, "weights.safetensors"))
            for name in ("images", "input", "features"):
                assert_close(np.load(os.path.join(d, f"{name}.npy")),
                             np.load(FIXTURES / "w4_custom_norm" / f"{name}.npy"), 1e-5, name)
        stored = st.read_safetensors(FIXTURES / "w4_custom_norm" / "weights.safetensors")
        self.assertEqual(list(fresh), list(stored))
        for k, v in stored.items():
            assert_close(fresh[k], v, 1e-5, k)


if __name__ == "__main__":
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
