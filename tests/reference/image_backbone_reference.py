"""Independent PyTorch reference of VoxFormer's image path: preprocessing, ResNet-50 to layer3, FPN neck, and the
temporal projection matrices of VoxFormer-T.

Written from the specification (shared/docs/voxformer-spec.md, "spec §x.y" below), not from the C++ of this
repository. It is the numerical reference of the C++ image backbone:

- preprocessing of spec §3.1 step 1 with the original's float32 operation order (`preprocess`);
- ResNet-50 in the torchvision layout (spec §1.5: stride on the 3×3 conv, "pytorch" style), BatchNorm in eval mode
  with eps 1e-5, run up to layer3 only (spec §3.1 step 2); layer4 is neither built nor computed: the original
  computes it and throws it away, `model_from_state_dict` ignores `img_backbone.layer4.*` (and `img_backbone.fc.*`,
  which a torchvision checkpoint has and mmdet's ResNet, the original's backbone class, does not);
- the single-level FPN of spec §3.1 step 3: lateral 1×1 conv (+bias), then a 3×3 conv pad 1 (+bias), no norm, no
  activation;
- module attribute names of the original, so `ImageBackbone.state_dict()` has the official keys of spec §1.5
  (`img_backbone.conv1.weight`, `img_backbone.layer1.0.downsample.0.weight`, `img_neck.lateral_convs.0.conv.bias`,
  … including the BatchNorm `num_batches_tracked` counters);
- random weights with realistic BatchNorm statistics (`init_random_`, `calibrate_batchnorm_`) and synthetic road-scene
  images (`synthetic_image`);
- the per-frame lidar2img matrices of spec §3.2 from KITTI's calib.txt and poses.txt (`temporal_lidar2img`).

Widths generalised from the official network: `base_width` b (64 in ResNet-50) gives the stem b channels and layer i
(i = 1, 2, 3) planes b·2^(i−1) with expansion 4, i.e. outputs 4b, 8b, 16b channels; b = 8 is the same graph at 1/64 of
the parameters. `blocks` = bottlenecks per layer ((3, 4, 6) in ResNet-50), `neck_channels` = FPN width (128).
Every tensor is NCHW: images (K, 3, h, w), stage outputs (K, C, h', w').
"""
import hashlib
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn

import safetensors_io as st

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
OFFICIAL_CROP = (370, 1220)
# (H, W) of KITTI odometry image_2 in sequences 00–02; 04–12 (08 among them) have 370×1226 (KITTI's documentation,
# not checked here: no image is bundled). The official crop 370×1220 fits both.
KITTI_IMAGE_SIZE = (376, 1241)
OFFICIAL_BASE_WIDTH = 64
OFFICIAL_BLOCKS = (3, 4, 6)
OFFICIAL_NECK_CHANNELS = 128
EXPANSION = 4
BN_EPS = 1e-5
TEMPORAL_OFFSETS = {"T": (0, -12, -9, -6, -3), "S": (0,)}

# Stage outputs returned by `ImageBackbone.forward(..., return_stages=True)`, in computation order.
STAGES = ("stem", "pool", "layer1", "layer2", "layer3", "lateral", "features")
# Prefixes of checkpoint entries that the image path does not use (spec §3.1 step 2, quirk 9 of spec §7).
IGNORED_PREFIXES = ("img_backbone.layer4.", "img_backbone.fc.")


# ------------------------------------------------------------------------------------------------------------
# Preprocessing (spec §3.1 step 1)
# ------------------------------------------------------------------------------------------------------------

def preprocess(images, crop=OFFICIAL_CROP, mean=IMAGE_MEAN, std=IMAGE_STD):
    """uint8 RGB images (K, H, W, 3) → float32 (K, 3, crop_h, crop_w), spec §3.1 step 1.

    Rows [0, crop_h) and columns [0, crop_w) are kept (top-left crop: intrinsics unchanged), then per element in
    float32, in the original's order: x = u / 255 (numpy float32 division of the PIL array), then (x − mean[c]) /
    std[c] (torchvision's Normalize: subtract, then divide, with mean and std rounded to float32). Checked bit for bit
    against torchvision's ToTensor + Normalize on the original's `np.array(img, float32) / 255.0` (test).

    An image smaller than the crop in either axis raises ValueError. The original does not stop there: numpy slicing
    silently returns the smaller image, its features get fewer rows/columns, while sampling positions are still
    normalised by the hard-coded img_shape (370, 1220) (spec §3.2) — a silently wrong result, so it is an error here.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 (K, H, W, 3), got {images.dtype} {images.shape}")
    crop_h, crop_w = (int(v) for v in crop)
    if images.shape[1] < crop_h or images.shape[2] < crop_w:
        raise ValueError(f"images of {images.shape[1]}×{images.shape[2]} are smaller than the crop {crop_h}×{crop_w}")
    x = images[:, :crop_h, :crop_w, :].astype(np.float32) / np.float32(255.0)
    x = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - m) / s


def halve(size):
    """Output size of every stride-2 step of the backbone (7×7/2 pad 3, max-pool 3×3/2 pad 1, 3×3/2 pad 1):
    ⌊(in − 1)/2⌋ + 1 (spec §3.1 step 2)."""
    return (int(size) - 1) // 2 + 1


def stage_shapes(crop, base_width=OFFICIAL_BASE_WIDTH, neck_channels=OFFICIAL_NECK_CHANNELS):
    """{stage: (C, h, w)} for one image of `crop` = (h, w); 370×1220 at the official widths gives stem (64, 185, 610),
    pool (64, 93, 305), layer1 (256, 93, 305), layer2 (512, 47, 153), layer3 (1024, 24, 77), lateral and features
    (128, 24, 77) (spec §3.1; checked against the module in the test)."""
    h, w = (int(v) for v in crop)
    shapes = OrderedDict()
    h, w = halve(h), halve(w)
    shapes["stem"] = (base_width, h, w)
    h, w = halve(h), halve(w)
    shapes["pool"] = (base_width, h, w)
    shapes["layer1"] = (EXPANSION * base_width, h, w)
    for i in (2, 3):
        h, w = halve(h), halve(w)
        shapes[f"layer{i}"] = (EXPANSION * base_width * 2 ** (i - 1), h, w)
    shapes["lateral"] = shapes["features"] = (neck_channels, h, w)
    return shapes


# ------------------------------------------------------------------------------------------------------------
# Modules (official attribute names, spec §1.5)
# ------------------------------------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """ResNet bottleneck, "pytorch" style (stride on the 3×3 conv): out = ReLU(bn3(conv3(ReLU(bn2(conv2(ReLU(bn1(
    conv1(x))))))) + shortcut), shortcut = downsample(x) (1×1 conv with the block's stride + BN) in block 0 of a
    layer, x otherwise (spec §3.1 step 2). Convolutions have no bias."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, eps=BN_EPS)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=BN_EPS)
        self.conv3 = nn.Conv2d(planes, planes * EXPANSION, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * EXPANSION, eps=BN_EPS)
        self.relu = nn.ReLU()
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """`img_backbone`: stem conv 7×7/2 pad 3 (no bias) + bn1 + ReLU, max-pool 3×3/2 pad 1, then layer1..layer3 with
    `blocks` bottlenecks each, planes b, 2b, 4b, strides 1, 2, 2 (spec §3.1 step 2). No layer4, no fc."""

    def __init__(self, base_width=OFFICIAL_BASE_WIDTH, blocks=OFFICIAL_BLOCKS):
        super().__init__()
        if len(blocks) != 3 or min(blocks) < 1 or base_width < 1:
            raise ValueError(f"need 3 positive block counts and a positive base width, got {blocks}, {base_width}")
        self.conv1 = nn.Conv2d(3, base_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width, eps=BN_EPS)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        inplanes = base_width
        for i, count in enumerate(blocks):
            planes, stride = base_width * 2 ** i, (1 if i == 0 else 2)
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * EXPANSION, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * EXPANSION, eps=BN_EPS))
            layer = [Bottleneck(inplanes, planes, stride, downsample)]
            inplanes = planes * EXPANSION
            layer += [Bottleneck(inplanes, planes) for _ in range(count - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))

    def forward(self, x, collect=None):
        """x (K, 3, h, w) → layer3 output (K, 16b, h', w'), h' = `halve` applied 4 times to h (w' likewise);
        `collect` (a dict) receives stem, pool, layer1, layer2, layer3."""
        stages = OrderedDict()
        stages["stem"] = x = self.relu(self.bn1(self.conv1(x)))
        stages["pool"] = x = self.maxpool(x)
        for name in ("layer1", "layer2", "layer3"):
            stages[name] = x = getattr(self, name)(x)
        if collect is not None:
            collect.update(stages)
        return x


class ConvModule(nn.Module):
    """mmcv ConvModule as the FPN builds it (norm_cfg None, act_cfg None): just `conv`, with bias."""

    def __init__(self, cin, cout, kernel_size, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size=kernel_size, padding=padding, bias=True)

    def forward(self, x):
        return self.conv(x)


class FPN(nn.Module):
    """`img_neck`, one input level, one output (spec §3.1 step 3): features = fpn_convs[0](lateral_convs[0](x)),
    lateral 1×1 (16b → C), output 3×3 pad 1 (C → C). With a single level there is no top-down addition."""

    def __init__(self, in_channels, out_channels=OFFICIAL_NECK_CHANNELS):
        super().__init__()
        self.lateral_convs = nn.ModuleList([ConvModule(in_channels, out_channels, 1)])
        self.fpn_convs = nn.ModuleList([ConvModule(out_channels, out_channels, 3, padding=1)])

    def forward(self, x, collect=None):
        lateral = self.lateral_convs[0](x)
        features = self.fpn_convs[0](lateral)
        if collect is not None:
            collect["lateral"], collect["features"] = lateral, features
        return features


class ImageBackbone(nn.Module):
    """`img_backbone` + `img_neck` of the VoxFormer detector, built in eval mode (BatchNorm uses running statistics).

    The detector folds (B = 1, K) into the backbone batch and returns mlvl_feats[0] = features.view(1, K, C, h, w)
    (spec §3.1); this module works on the (K, ...) batch."""

    def __init__(self, base_width=OFFICIAL_BASE_WIDTH, blocks=OFFICIAL_BLOCKS, neck_channels=OFFICIAL_NECK_CHANNELS):
        super().__init__()
        self.base_width, self.blocks, self.neck_channels = int(base_width), tuple(int(b) for b in blocks), neck_channels
        self.img_backbone = ResNet(self.base_width, self.blocks)
        self.img_neck = FPN(16 * self.base_width, neck_channels)
        self.eval()

    def forward(self, images, return_stages=False):
        """images: float32 (K, 3, h, w), already normalised (see `preprocess`) → features (K, C, h', w').
        With return_stages=True returns an OrderedDict of the `STAGES` tensors instead (features last)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be (K, 3, h, w), got {tuple(images.shape)}")
        collect = OrderedDict() if return_stages else None
        features = self.img_neck(self.img_backbone(images, collect), collect)
        return collect if return_stages else features


def stage_outputs(model, images):
    """{stage: float32 numpy (K, C, h, w)} of one forward under no_grad (`images` float32 (K, 3, h, w))."""
    with torch.no_grad():
        stages = model(images, return_stages=True)
    return OrderedDict((k, np.ascontiguousarray(v.numpy().astype(np.float32))) for k, v in stages.items())


# ------------------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------------------

def init_random_(model, seed, calibration=None):
    """Fills `model` with random weights, deterministic for a seed: convolutions N(0, g²/fan_in) with g = √2 in the
    backbone (He, the layers feed ReLUs) and g = 1 in the neck (no activation), neck biases N(0, 0.1²), BatchNorm
    weight 1 + N(0, 0.1²), bias N(0, 0.1²). Then, when `calibration` (float32 (N, 3, h, w), normalised images) is
    given, `calibrate_batchnorm_` sets realistic running statistics; without it they stay (0, 1) and
    num_batches_tracked 0. Returns the model, in eval mode."""
    gen = torch.Generator().manual_seed(int(seed))
    neck = set(model.img_neck.modules())
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                gain = 1.0 if module in neck else 2 ** 0.5
                std = gain / module.weight[0].numel() ** 0.5
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * std)
                if module.bias is not None:
                    module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.num_features, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=gen))
                module.reset_running_stats()
    if calibration is not None:
        calibrate_batchnorm_(model, calibration)
    return model.eval()


def calibrate_batchnorm_(model, images, batch_size=None):
    """Running statistics as a trained network has them: every BatchNorm gets momentum None (cumulative average) and
    reset statistics, then the backbone runs in train mode under no_grad on `images` (float32 (N, 3, h, w),
    normalised) in batches of `batch_size` (default: all N in one batch). running_mean / running_var become the
    average over the batches of the batch's channel mean / unbiased variance (each layer normalised with batch
    statistics during the pass), num_batches_tracked the number of batches. One pooled batch includes the variation
    between images, which matters on small images: the width-8 network's layer3 on 12 unseen 33×57 synthetic images
    had a standard deviation of 4.1 when calibrated on 8 images one at a time, 2.3 on the same 8 in one batch and 1.5
    on 32 in one batch (measured). Momentum is restored to 0.1 and the model left in eval mode. Returns the model."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    step = len(images) if batch_size is None else int(batch_size)
    with torch.no_grad():
        for begin in range(0, len(images), step):
            model.img_backbone(images[begin:begin + step])
    for bn in bns:
        bn.momentum = 0.1
    return model.eval()


def _layer4_sample(model, seed):
    """A few `img_backbone.layer4.*` tensors of the right shapes (layer4.0.conv1 and bn1 of a full ResNet-50 with
    these widths, random values): what a full checkpoint also holds and a loader must skip."""
    gen = torch.Generator().manual_seed(int(seed))
    cin, planes = 16 * model.base_width, 8 * model.base_width
    sample = OrderedDict()
    sample["img_backbone.layer4.0.conv1.weight"] = torch.randn(planes, cin, 1, 1, generator=gen) * (2 / cin) ** 0.5
    sample["img_backbone.layer4.0.bn1.weight"] = 1.0 + 0.1 * torch.randn(planes, generator=gen)
    sample["img_backbone.layer4.0.bn1.bias"] = 0.1 * torch.randn(planes, generator=gen)
    sample["img_backbone.layer4.0.bn1.running_mean"] = 0.1 * torch.randn(planes, generator=gen)
    sample["img_backbone.layer4.0.bn1.running_var"] = 0.5 + torch.rand(planes, generator=gen)
    sample["img_backbone.layer4.0.bn1.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
    return sample


def state_dict_for_file(model, layer4_seed=None):
    """OrderedDict with the official keys in checkpoint order: float32 tensors, num_batches_tracked as int64 scalars
    of shape [] (as in a checkpoint). With `layer4_seed`, the tensors of `_layer4_sample` are inserted after layer3
    (where a full checkpoint has layer4), before `img_neck.*`."""
    out = OrderedDict()
    for key, value in model.state_dict().items():
        if key == "img_neck.lateral_convs.0.conv.weight" and layer4_seed is not None:
            out.update(_layer4_sample(model, layer4_seed))
        value = value.detach().cpu().contiguous()
        out[key] = value.to(torch.int64).reshape(()) if key.endswith("num_batches_tracked") else value.float()
    return out


def model_from_state_dict(state_dict):
    """ImageBackbone with base width, block counts and neck width read from the shapes and keys, loaded strictly
    except that `IGNORED_PREFIXES` entries are skipped and missing num_batches_tracked counters (checkpoints of
    PyTorch < 0.4.1, unused at inference) are allowed."""
    state = {k: torch.as_tensor(v) for k, v in state_dict.items() if not k.startswith(IGNORED_PREFIXES)}
    base_width = int(state["img_backbone.conv1.weight"].shape[0])
    blocks = tuple(len({k.split(".")[2] for k in state if k.startswith(f"img_backbone.layer{i}.")}) for i in (1, 2, 3))
    neck_channels = int(state["img_neck.lateral_convs.0.conv.weight"].shape[0])
    model = ImageBackbone(base_width, blocks, neck_channels)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise KeyError(f"state dict: missing {missing}, unexpected {unexpected}")
    return model.eval()


def load_model(path):
    """ImageBackbone from a safetensors file with the official keys (prefixes `img_backbone.`, `img_neck.`)."""
    return model_from_state_dict(st.read_safetensors(path))


# ------------------------------------------------------------------------------------------------------------
# Synthetic road-scene images
# ------------------------------------------------------------------------------------------------------------

def _smooth_noise(rng, height, width, cells):
    """(height, width) float64 in about [−1, 1]: uniform noise on a (cells+1)² lattice, bilinearly interpolated."""
    lattice = rng.uniform(-1.0, 1.0, (cells + 1, cells + 1))
    ys, xs = np.linspace(0, cells, height), np.linspace(0, cells, width)
    rows = np.stack([np.interp(xs, np.arange(cells + 1), lattice[i]) for i in range(cells + 1)])  # (cells+1, W)
    return np.stack([np.interp(ys, np.arange(cells + 1), rows[:, j]) for j in range(width)], axis=1)


def synthetic_image(height, width, seed):
    """uint8 RGB (height, width, 3), a road scene with the statistics of a real photo, deterministic for a seed:
    sky with a vertical gradient and soft clouds above a horizon at 35–50 % of the height; ground of textured
    terrain/vegetation (coarse and fine texture); a perspective road (trapezoid to a vanishing point on the horizon)
    with dashed lane marks; buildings along the horizon (flat colours with window grids, hard edges); thin dark poles;
    a few cars (boxes with a lighter cabin and a dark shadow line); global exposure; Gaussian sensor noise σ = 2.5;
    rounded and clipped to 8 bit."""
    rng = np.random.default_rng(seed)
    h, w = int(height), int(width)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    horizon = h * rng.uniform(0.35, 0.5)
    vx = w * rng.uniform(0.35, 0.65)
    # sky
    t = np.clip(yy / max(horizon, 1.0), 0.0, 1.0)[..., None]
    top, low = np.array([95.0, 140.0, 205.0]), np.array([195.0, 210.0, 228.0])
    sky = top + (low - top) * t + 25.0 * np.clip(_smooth_noise(rng, h, w, 6), 0.0, 1.0)[..., None]
    # ground: terrain / vegetation texture
    texture = (_smooth_noise(rng, h, w, 5) * 0.4 + _smooth_noise(rng, h, w, 24) * 0.4
               + _smooth_noise(rng, h, w, max(24, w // 10)) * 0.3)
    ground = np.array([85.0, 105.0, 60.0]) + np.array([35.0, 40.0, 25.0]) * texture[..., None]
    img[:] = np.where((yy < horizon)[..., None], sky, ground)
    # road: between two lines from the vanishing point to the bottom corners
    below = np.maximum(yy - horizon, 0.0) / max(h - horizon, 1.0)
    left, right = vx - below * (vx - w * rng.uniform(-0.2, 0.15)), vx + below * (w * rng.uniform(0.85, 1.2) - vx)
    road = (yy > horizon) & (xx > left) & (xx < right)
    road_colour = np.array([92.0, 92.0, 97.0]) * (0.8 + 0.4 * below)[..., None] + 8.0 * texture[..., None]
    img[road] = road_colour[road]
    centre = 0.5 * (left + right)
    dash = (np.floor(np.sqrt(below + 1e-9) * 14.0) % 2) == 0
    marks = road & dash & (np.abs(xx - centre) < 0.5 + 0.012 * w * below)
    img[marks] = [225.0, 225.0, 215.0]
    # buildings standing on the horizon
    for _ in range(rng.integers(3, 7)):
        bw, bh = w * rng.uniform(0.06, 0.2), h * rng.uniform(0.1, 0.35)
        x0, base = rng.uniform(-0.05, 0.95) * w, horizon + h * rng.uniform(0.0, 0.08)
        box = (xx >= x0) & (xx < x0 + bw) & (yy >= base - bh) & (yy < base)
        img[box] = rng.uniform(60.0, 200.0, 3) * rng.uniform(0.7, 1.0)
        pitch = max(3.0, bw / rng.integers(3, 8))
        windows = box & ((xx - x0) % pitch < 0.55 * pitch) & ((yy - base) % pitch < 0.5 * pitch) & (yy < base - pitch)
        img[windows] *= 0.45
    # poles
    for _ in range(rng.integers(2, 6)):
        px, top_y = rng.uniform(0.0, 1.0) * w, horizon - h * rng.uniform(0.1, 0.3)
        pole = (np.abs(xx - px) < max(0.6, 0.004 * w)) & (yy >= top_y) & (yy < horizon + h * rng.uniform(0.05, 0.3))
        img[pole] = rng.uniform(30.0, 80.0)
    # cars on the road, nearer ones drawn last
    for depth in np.sort(rng.uniform(0.15, 0.9, rng.integers(1, 4))):
        cy = horizon + depth * (h - horizon)
        row = min(int(cy), h - 1)
        car_w = 0.25 * w * depth + 2.0
        car_h = 0.55 * car_w
        cx = vx + rng.uniform(-0.4, 0.4) * (right[row, 0] - left[row, 0])
        body = (np.abs(xx - cx) < car_w / 2) & (yy < cy) & (yy >= cy - 0.6 * car_h)
        img[body] = rng.uniform(10.0, 170.0, 3)
        cabin = (np.abs(xx - cx) < 0.35 * car_w) & (yy < cy - 0.6 * car_h) & (yy >= cy - car_h)
        img[cabin] = np.minimum(img[body][0] * 0.5 + 70.0, 255.0)
        shadow = (np.abs(xx - cx) < car_w / 2) & (yy >= cy) & (yy < cy + 0.06 * car_h + 1.0)
        img[shadow] = 20.0
    img *= rng.uniform(0.75, 1.15)
    img += rng.normal(0.0, 2.5, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def synthetic_images(count, height, width, seed):
    """uint8 (count, height, width, 3): `synthetic_image` with seeds seed, seed + 1, …"""
    return np.stack([synthetic_image(height, width, seed + i) for i in range(count)])


# ------------------------------------------------------------------------------------------------------------
# Projection matrices per frame (spec §2.1, §3.2)
# ------------------------------------------------------------------------------------------------------------

def read_calib(path):
    """KITTI odometry calib.txt → (P2 (3, 4), Tr (4, 4)) float64; Tr (velodyne → rectified camera 0) promoted to 4×4
    (spec §2.1)."""
    rows = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            key, values = line.split(":", 1)
            rows[key.strip()] = np.array(values.split(), np.float64)
    tr = np.eye(4)
    tr[:3] = rows["Tr"].reshape(3, 4)
    return rows["P2"].reshape(3, 4), tr


def read_lidar_poses(path, tr):
    """poses.txt (one 3×4 camera-0 pose per line, camera 0 of frame i → camera 0 of frame 0) → lidar poses (n, 4, 4)
    float64, Pl = Tr⁻¹ · (Pcam · Tr) (spec §2.1; Tr⁻¹ by np.linalg.inv and this association, as in the original):
    lidar of frame i → camera i → camera 0 of frame 0 → lidar of frame 0."""
    cam = np.loadtxt(path, dtype=np.float64, ndmin=2)
    if cam.shape[1] != 12:
        raise ValueError(f"{path}: expected 12 values per line, got {cam.shape[1]}")
    poses = np.tile(np.eye(4), (cam.shape[0], 1, 1))
    poses[:, :3, :] = cam.reshape(-1, 3, 4)
    return np.linalg.inv(tr) @ (poses @ tr)


def temporal_frame_ids(frame, offsets, seq_len):
    """Frame used for each offset: frame + Δ, or `frame` itself when frame + Δ < 0 or > seq_len − 1 (spec §3.1
    step 1; the same rule picks the image and the matrix)."""
    ids = []
    for delta in offsets:
        target = int(frame) + int(delta)
        ids.append(target if 0 <= target <= seq_len - 1 else int(frame))
    return ids


def temporal_lidar2img(p2, tr, lidar_poses, frame, offsets=TEMPORAL_OFFSETS["T"]):
    """(lidar2img (K, 4, 4) float64, frame ids (K,)) for the cameras [frame + Δ for Δ in offsets] (spec §3.2).

    K4 = identity with P2[:, :3] in its top-left 3×3 (P2's fourth column, the camera-2 baseline term, dropped).
    Offset 0 is the original's current-frame camera: lidar2img = K4 · Tr, with no pose product.
    Offset Δ ≠ 0 (target t = the frame id chosen by `temporal_frame_ids`, r = `frame`):
      ref2target = Pl_t⁻¹ · Pl_r,   lidar2img = K4 · (Tr · ref2target),
    i.e. a point in the current (reference) lidar frame → world → lidar frame of t → camera t → image t. With
    Pl = Tr⁻¹·Pcam·Tr this is K4 · Pcam_t⁻¹ · Pcam_r · Tr (the KITTI camera poses; checked numerically in the test).
    This is the formula of spec §3.2 and of the original dataset (semantic_kitti_dataset_stage2.get_meta_info): its
    `target2cam @ ref2target` with `ref2target = inv(target) @ ref`; the inverse is taken with np.linalg.inv and
    matrices multiply left to right in that order, as there. A replaced target (t = r) therefore gets
    K4 · Tr · (Pl_r⁻¹ · Pl_r): K4·Tr up to rounding, not exactly (relative difference ≤ 4.8e-14 on sequence 08,
    measured over frames 0–11, 1000, 2000, 4070)."""
    k4 = np.eye(4)
    k4[:3, :3] = p2[:, :3]
    ids = temporal_frame_ids(frame, offsets, len(lidar_poses))
    mats = []
    for delta, target in zip(offsets, ids):
        if delta == 0:
            mats.append(k4 @ tr)
            continue
        ref2target = np.linalg.inv(lidar_poses[target]) @ lidar_poses[int(frame)]
        mats.append(k4 @ (tr @ ref2target))
    return np.stack(mats), np.array(ids, np.int64)


def file_sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()

