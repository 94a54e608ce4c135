#!/usr/bin/env python3
"""Regenerates the committed test fixtures under tests/fixtures/ with PyTorch (Debian's python3-torch).

Each fixture is computed the way the original PyTorch code computes it — grid_sample for multi-scale
deformable attention (mmcv's multi_scale_deformable_attn_pytorch), grid_sample in 5-D for the trilinear
variant, VoxFormer's point_sampling for the camera projection, nonzero/index_put for rebatching and the
mask-token scatter — so the C++ tests compare against an independent implementation.

Usage: /usr/bin/python3 scripts/generate_fixtures.py [output_dir]
"""
import pathlib
import sys

import numpy as np
import torch
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
OUT = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures"
CALIB = ROOT / "examples" / "data" / "semantickitti_08_001000" / "calib.txt"


def save(name, **arrays):
    folder = OUT / name
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in arrays.items():
        value = value.detach().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        np.save(folder / f"{key}.npy", np.ascontiguousarray(value))


def msda_grid_sample(value, shapes, locations, weights):
    """mmcv multi_scale_deformable_attn_pytorch, restated (spec §4.4); float64 here, float32 as the CPU baseline of
    bench_msda_vs_torch.py."""
    b, _, heads, dh = value.shape
    _, q, _, levels, points, _ = locations.shape
    splits = value.split([int(h * w) for h, w in shapes], dim=1)
    grids = 2 * locations - 1
    samples = []
    for level, (h, w) in enumerate(shapes):
        v = splits[level].flatten(2).transpose(1, 2).reshape(b * heads, dh, int(h), int(w))
        g = grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        samples.append(F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False))
    a = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    out = (torch.stack(samples, dim=-2).flatten(-2) * a).sum(-1).view(b, heads * dh, q)
    return out.transpose(1, 2).contiguous()


def msda_3d_grid_sample(value, shapes, locations, weights):
    """Trilinear variant (spec §3.12) through 5-D grid_sample: a level (h, w, z) is the volume
    (D, H, W) = (h, w, z); location (x→w, y→h, z→z) becomes the grid (z, x, y) in grid_sample's (W, H, D) order."""
    b, _, heads, dh = value.shape
    _, q, _, levels, points, _ = locations.shape
    splits = value.split([int(h * w * z) for h, w, z in shapes], dim=1)
    samples = []
    for level, (h, w, z) in enumerate(shapes):
        v = splits[level].permute(0, 2, 3, 1).reshape(b * heads, dh, int(h), int(w), int(z))
        loc = locations[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (b·heads, q, points, 3)
        g = torch.stack([loc[..., 2], loc[..., 0], loc[..., 1]], dim=-1) * 2 - 1
        s = F.grid_sample(v, g.unsqueeze(-2), mode="bilinear", padding_mode="zeros", align_corners=False)
        samples.append(s.squeeze(-1))  # (b·heads, dh, q, points)
    a = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    out = (torch.stack(samples, dim=-2).flatten(-2) * a).sum(-1).view(b, heads * dh, q)
    return out.transpose(1, 2).contiguous()


def random_msda(gen, batch, heads, dh, shapes, queries, points, dims):
    rows = int(sum(np.prod(s) for s in shapes))
    value = torch.randn(batch, rows, heads, dh, generator=gen)
    locations = torch.rand(batch, queries, heads, len(shapes), points, dims, generator=gen) * 1.2 - 0.1
    weights = torch.rand(batch, queries, heads, len(shapes), points, generator=gen)
    weights = weights / weights.sum(dim=(-1, -2), keepdim=True)
    starts = np.concatenate([[0], np.cumsum([np.prod(s) for s in shapes])[:-1]]).astype(np.int64)
    return value, locations, weights, starts


def msda_fixtures(gen):
    # Multi-level, narrow heads (generic channel chunk), random locations incl. ~20 % out of range.
    shapes = [(5, 7), (3, 4)]
    value, loc, w, starts = random_msda(gen, 2, 2, 6, shapes, 9, 3, 2)
    out = msda_grid_sample(value.double(), shapes, loc.double(), w.double())
    save("msda_multilevel", value=value, spatial_shapes=np.array(shapes, np.int64), level_start=starts,
         sampling_locations=loc, attention_weights=w, out=out)

    # VoxFormer cross-attention geometry: one 24×77 level, 16 channels per head, 8 points.
    shapes = [(24, 77)]
    value, loc, w, starts = random_msda(gen, 2, 2, 16, shapes, 40, 8, 2)
    out = msda_grid_sample(value.double(), shapes, loc.double(), w.double())
    save("msda_voxformer_level", value=value, spatial_shapes=np.array(shapes, np.int64), level_start=starts,
         sampling_locations=loc, attention_weights=w, out=out)

    # Border taps: pixel coordinates u, v ∈ {−1, −0.5, 0, W−1, W−0.5, W} (spec §8.3), every combination.
    h, w_ = 4, 5
    us = np.array([-1, -0.5, 0, w_ - 1, w_ - 0.5, w_], np.float64)
    vs = np.array([-1, -0.5, 0, h - 1, h - 0.5, h], np.float64)
    uu, vv = np.meshgrid(us, vs, indexing="ij")
    xy = np.stack([(uu.ravel() + 0.5) / w_, (vv.ravel() + 0.5) / h], axis=-1).astype(np.float32)
    q = xy.shape[0]
    value = torch.randn(1, h * w_, 1, 4, generator=gen)
    loc = torch.from_numpy(xy).view(1, q, 1, 1, 1, 2)
    weights = torch.ones(1, q, 1, 1, 1)
    out = msda_grid_sample(value.double(), [(h, w_)], loc.double(), weights.double())
    save("msda_borders", value=value, spatial_shapes=np.array([[h, w_]], np.int64), level_start=np.array([0]),
         sampling_locations=loc, attention_weights=weights, out=out)

    # Trilinear, two levels, locations in [−0.1, 1.1].
    shapes = [(4, 5, 3), (2, 3, 2)]
    value, loc, w, starts = random_msda(gen, 2, 2, 8, shapes, 7, 3, 3)
    out = msda_3d_grid_sample(value.double(), shapes, loc.double(), w.double())
    save("msda3d_multilevel", value=value, spatial_shapes=np.array(shapes, np.int64), level_start=starts,
         sampling_locations=loc, attention_weights=w, out=out)


def read_calibration():
    rows = {}
    for line in CALIB.read_text().splitlines():
        key, *values = line.split()
        rows[key.rstrip(":")] = np.array(values, np.float64).reshape(3, 4)
    tr = np.eye(4)
    tr[:3] = rows["Tr"]
    k4 = np.eye(4)
    k4[:3, :3] = rows["P2"][:, :3]
    return k4 @ tr


def point_sampling(ref, lidar2img, pc_range, img_shape):
    """VoxFormer's point_sampling (spec §3.6), for reference points (Q, D, 3) and matrices (K, 4, 4)."""
    ref = ref.clone()
    for a in range(3):
        ref[..., a] = ref[..., a] * (pc_range[a + 3] - pc_range[a]) + pc_range[a]
    ref = torch.cat((ref, torch.ones_like(ref[..., :1])), -1)  # (Q, D, 4) float64
    k = lidar2img.shape[0]
    q, d = ref.shape[:2]
    ref = ref.permute(1, 0, 2).view(d, 1, 1, q, 4, 1).repeat(1, 1, k, 1, 1, 1)
    mats = lidar2img.view(1, 1, k, 1, 4, 4).repeat(d, 1, 1, q, 1, 1)
    cam = torch.matmul(mats.to(torch.float32), ref.to(torch.float32)).squeeze(-1)
    eps = 1e-5
    mask = cam[..., 2:3] > eps
    cam = cam[..., 0:2] / torch.maximum(cam[..., 2:3], torch.ones_like(cam[..., 2:3]) * eps)
    cam[..., 0] /= img_shape[1]
    cam[..., 1] /= img_shape[0]
    mask = mask & (cam[..., 1:2] > 0.0) & (cam[..., 1:2] < 1.0) & (cam[..., 0:1] < 1.0) & (cam[..., 0:1] > 0.0)
    # (D, B, K, Q, ·) → (K, Q, D, ·)
    return cam.permute(2, 1, 3, 0, 4)[:, 0], mask.permute(2, 1, 3, 0, 4)[:, 0, ..., 0]


def projection_fixtures(gen):
    lidar2img0 = read_calibration()
    moved = np.eye(4)
    moved[0, 3] = 6.0  # the same camera 6 m further back (a temporal frame of VoxFormer-T)
    behind = np.diag([-1.0, -1.0, 1.0, 1.0])  # turned 180° about z: looks backwards, sees no voxel
    lidar2img = torch.from_numpy(np.stack([lidar2img0, lidar2img0 @ moved, lidar2img0 @ behind]))
    coords = [(64, 64, 5), (127, 0, 15), (10, 100, 3), (0, 64, 8)]  # spec §8.10 test vectors first
    rng = np.random.default_rng(7)
    coords += [tuple(c) for c in rng.integers([0, 0, 0], [128, 128, 16], size=(60, 3))]
    xyz = np.array(coords, np.float64)
    ref = (xyz + 0.5) / np.array([128.0, 128.0, 16.0])
    # Two anchors per query: the centre, and a point 1.5 voxels higher (D > 1, spec §3.9).
    ref2 = ref + np.array([0.0, 0.0, 1.5 / 16])
    reference = torch.from_numpy(np.stack([ref, ref2], axis=1))
    pc_range = [0.0, -25.6, -2.0, 51.2, 25.6, 4.4]
    cam, mask = point_sampling(reference, lidar2img, pc_range, (370, 1220))
    save("projection", voxels=np.array(coords, np.int64), reference=reference, lidar2img=lidar2img.float(),
         reference_cam=cam, visible=mask.to(torch.uint8))

    # Rebatching on that visibility, the original's way (spec §3.8).
    visible = mask  # (K, Q, D)
    k_count, q_count, _ = visible.shape
    channels = 6
    queries = torch.randn(q_count, channels, generator=gen)
    index_lists = [torch.nonzero(visible[i].sum(-1) > 0).squeeze(-1) for i in range(k_count)]
    max_len = max(len(i) for i in index_lists)
    padded = torch.full((k_count, max_len), -1, dtype=torch.int32)
    rebatched = torch.zeros(k_count, max_len, channels)
    for i, idx in enumerate(index_lists):
        padded[i, : len(idx)] = idx.to(torch.int32)
        rebatched[i, : len(idx)] = queries[idx]
    outputs = torch.randn(k_count, max_len, channels, generator=gen)  # stands in for the per-camera MSDA
    slots = torch.zeros(q_count, channels)
    for i, idx in enumerate(index_lists):
        slots[idx] += outputs[i, : len(idx)]
    count = (visible.sum(-1) > 0).sum(0).clamp(min=1)
    slots = slots / count[..., None]
    offsets = np.concatenate([[0], np.cumsum([len(i) for i in index_lists])]).astype(np.int32)
    save("rebatch", visible=visible.to(torch.uint8), offsets=offsets,
         indices=torch.cat(index_lists).to(torch.int32), padded_indices=padded, queries=queries,
         rebatched_queries=rebatched, camera_outputs=outputs, scatter_mean=slots)


def scatter_fixtures(gen):
    n, channels = 96, 5
    proposal = torch.rand(n, generator=gen) < 0.3
    unmasked = torch.nonzero(proposal).squeeze(-1)
    masked = torch.nonzero(~proposal).squeeze(-1)
    seed = torch.randn(len(unmasked), channels, generator=gen)
    token = torch.randn(channels, generator=gen)
    volume = torch.empty(n, channels)
    volume.index_put_((unmasked,), seed)
    volume.index_put_((masked,), token.expand(len(masked), channels))
    save("mask_token_scatter", proposal=proposal.to(torch.uint8), unmasked=unmasked.to(torch.int32),
         masked=masked.to(torch.int32), seed=seed, mask_token=token, volume=volume)


def main():
    gen = torch.Generator().manual_seed(20230601)
    msda_fixtures(gen)
    projection_fixtures(gen)
    scatter_fixtures(gen)
    print(f"fixtures written to {OUT}")


if __name__ == "__main__":
    main()
