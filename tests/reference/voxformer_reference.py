"""Independent PyTorch reference of VoxFormer stage 2 + head (VoxFormerHead.forward).

Written from the specification (shared/docs/voxformer-spec.md, "spec §x.y" below), not from the C++ of this
repository. It re-states the original's formulation op for op so that it is both the numerical reference of the
C++ pipeline and its speed/memory baseline:

- module structure and attribute names of the original, so `state_dict()` keys are the official ones (spec §1.5)
  without the `pts_bbox_head.` prefix;
- the positional encoding materialised as (1, C, Hv, Wv) from the learned tables, twice per forward (spec §1.4,
  §3.3 step 2; the cross copy is never consumed, §3.5 step 2);
- `get_ref_3d` rebuilt on the host in float64 every forward (spec §3.4);
- `point_sampling` with float64 reference points, the 4×4 matrices repeated per (anchor, camera, query) and the
  matmul in fp32 (spec §3.6); executed in the self stage too, result unused (spec §3.6 step 2);
- camera rebatching with zero-padded queries up to max_len and python loops for gather and scatter, scatter-mean
  with the count clamped to 1 (spec §3.8);
- mmcv's `multi_scale_deformable_attn_pytorch` grid_sample formulation for the bilinear MSDA (spec §4.4);
- DeformSelfAttention with num_bev_queue = 2 identical value copies (spec §3.11); the trilinear variant
  (DeformSelfAttention3DCustom, spec §3.12, a CUDA kernel in the original) through 5-D grid_sample;
- the header materialising the ×2 trilinear upsample (align_corners=True), LayerNorm + Linear on every output
  voxel, argmax over classes in numpy on the host (spec §3.13, §5.2).

Configuration: a dict with the keys listed in `CONFIG_KEYS` (see `official_config`, `small_config`).
Geometry generalised from the official 128×128×16 / 512×512:
  volume (X, Y, Z), flat voxel index k = (x·Y + y)·Z + z;
  planar view (Hv, Wv) with Hv·Wv = X·Y·Z, k = Wv·row + col, pos(k) = [col_embed[k mod Wv] ; row_embed[k div Wv]];
  volumetric value volume (h, w, z) = (X, Y, Z), ref(x,y,z) = ((y+.5)/Y, (x+.5)/X, (z+.5)/Z), normaliser (Y, X, Z).
"""
import copy
import json
import math
import time
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PREFIX = "pts_bbox_head."

CONFIG_KEYS = ("variant", "self_attention", "volume", "embed_dims", "heads", "points_cross", "points_self",
               "levels", "level_embed_rows", "layers_cross", "layers_self", "ffn_hidden", "cameras", "classes",
               "view_shape", "pc_range", "image_size", "feature_shapes")

OFFICIAL_PC_RANGE = [0.0, -25.6, -2.0, 51.2, 25.6, 4.4]
OFFICIAL_IMAGE_SIZE = [370, 1220]


def official_config(variant):
    """The shipped configurations (spec §1.1, §1.2)."""
    if variant not in ("T", "S", "T-3D", "S-3D"):
        raise ValueError(f"unknown variant {variant!r}")
    return {
        "variant": variant,
        "self_attention": "volumetric" if variant.endswith("3D") else "planar",
        "volume": [128, 128, 16],
        "embed_dims": 128, "heads": 8, "points_cross": 8, "points_self": 8, "levels": 1,
        "level_embed_rows": 4, "layers_cross": 3, "layers_self": 2, "ffn_hidden": 256,
        "cameras": 5 if variant.startswith("T") else 1, "classes": 20,
        "view_shape": [512, 512],
        "pc_range": list(OFFICIAL_PC_RANGE),
        "image_size": list(OFFICIAL_IMAGE_SIZE),
        "feature_shapes": [[24, 77]],
    }


def small_config(variant="T", **overrides):
    """The small fixture geometry (volume 8×6×4, view 12×16, C = 32); `overrides` replace keys."""
    cfg = {
        "variant": variant,
        "self_attention": "volumetric" if variant.endswith("3D") else "planar",
        "volume": [8, 6, 4],
        "embed_dims": 32, "heads": 4, "points_cross": 4, "points_self": 4, "levels": 2,
        "level_embed_rows": 4, "layers_cross": 2, "layers_self": 2, "ffn_hidden": 64,
        "cameras": 2, "classes": 20,
        "view_shape": [12, 16],
        "pc_range": list(OFFICIAL_PC_RANGE),
        "image_size": list(OFFICIAL_IMAGE_SIZE),
        "feature_shapes": [[6, 10], [3, 5]],
    }
    cfg.update(overrides)
    return validate_config(cfg)


def validate_config(cfg):
    missing = [k for k in CONFIG_KEYS if k not in cfg]
    extra = [k for k in cfg if k not in CONFIG_KEYS]
    if missing or extra:
        raise ValueError(f"config: missing keys {missing}, unknown keys {extra}")
    X, Y, Z = cfg["volume"]
    hv, wv = cfg["view_shape"]
    if hv * wv != X * Y * Z:
        raise ValueError(f"view_shape {cfg['view_shape']} does not hold {X}·{Y}·{Z} voxels")
    if cfg["embed_dims"] % cfg["heads"] or cfg["embed_dims"] % 2:
        raise ValueError("embed_dims must be divisible by heads and by 2")
    if len(cfg["feature_shapes"]) != cfg["levels"] or cfg["levels"] > cfg["level_embed_rows"]:
        raise ValueError("feature_shapes must have `levels` entries and levels <= level_embed_rows")
    if cfg["self_attention"] not in ("planar", "volumetric"):
        raise ValueError("self_attention must be 'planar' or 'volumetric'")
    return cfg


def load_config(path):
    with open(path) as f:
        return validate_config(json.load(f))


# ------------------------------------------------------------------------------------------------------------
# Sampling ops
# ------------------------------------------------------------------------------------------------------------

def multi_scale_deformable_attn_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """mmcv's CPU formulation, restated (spec §4.4).

    value (B, S, Hh, dh); shapes [(h, w)] per level; sampling_locations (B, Q, Hh, L, P, 2) = (x, y) in [0, 1];
    attention_weights (B, Q, Hh, L, P). Returns (B, Q, Hh·dh), channel h·dh + d.
    Per level: grid = 2·loc − 1, grid_sample(bilinear, zeros, align_corners=False) on the (B·Hh, dh, h, w) view,
    then the samples of all levels are stacked and weighted-summed.
    """
    bs, _, num_heads, embed_dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    shapes = [(int(h), int(w)) for h, w in value_spatial_shapes]
    value_list = value.split([h * w for h, w in shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for level, (h, w) in enumerate(shapes):
        value_l = value_list[level].flatten(2).transpose(1, 2).reshape(bs * num_heads, embed_dims, h, w)
        grid_l = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (B·Hh, Q, P, 2)
        sampling_value_list.append(
            F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False))
    attention_weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries,
                                                                  num_levels * num_points)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).view(
        bs, num_heads * embed_dims, num_queries)
    return output.transpose(1, 2).contiguous()


def multi_scale_deformable_attn_3d_pytorch(value, value_spatial_shapes, sampling_locations, attention_weights):
    """CPU restatement of the deform_attn_3d CUDA kernel (spec §3.12), same data flow as the 2-D function.

    value (B, S, Hh, dh) with level rows in (ih·W + iw)·Z + iz order; shapes [(h, w, z)];
    sampling_locations (B, Q, Hh, L, P, 3) with components (loc0, loc1, loc2) normalised over (w, h, z):
    the kernel samples h_im = loc1·h − 0.5, w_im = loc0·w − 0.5, z_im = loc2·z − 0.5 trilinearly, zero outside.
    Implemented with 5-D grid_sample on the volume (D, H, W) = (h, w, z): grid_sample's (x, y, z) grid components
    address (W, H, D) = (z, w, h), so the grid is (loc2, loc0, loc1); align_corners=False un-normalises each to
    loc·size − 0.5 exactly as the kernel does (and zero padding makes the kernel's range early-out immaterial,
    spec §4.5).
    """
    bs, _, num_heads, embed_dims = value.shape
    _, num_queries, _, num_levels, num_points, _ = sampling_locations.shape
    shapes = [(int(h), int(w), int(z)) for h, w, z in value_spatial_shapes]
    value_list = value.split([h * w * z for h, w, z in shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for level, (h, w, z) in enumerate(shapes):
        value_l = value_list[level].flatten(2).transpose(1, 2).reshape(bs * num_heads, embed_dims, h, w, z)
        grid_l = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)  # (B·Hh, Q, P, 3)
        grid_l = torch.stack([grid_l[..., 2], grid_l[..., 0], grid_l[..., 1]], dim=-1).unsqueeze(-2)
        sample = F.grid_sample(value_l, grid_l, mode="bilinear", padding_mode="zeros", align_corners=False)
        sampling_value_list.append(sample.squeeze(-1))  # (B·Hh, dh, Q, P)
    attention_weights = attention_weights.transpose(1, 2).reshape(bs * num_heads, 1, num_queries,
                                                                  num_levels * num_points)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights).sum(-1).view(
        bs, num_heads * embed_dims, num_queries)
    return output.transpose(1, 2).contiguous()


def get_ref_3d(volume):
    """spec §3.4: vox_coords (N, 4) int (x, y, z, k) and ref_3d (N, 3) float64 = ((x+.5)/X, (y+.5)/Y, (z+.5)/Z),
    k = (x·Y + y)·Z + z (meshgrid 'ij', C ravel); rebuilt on the host every forward in the original."""
    X, Y, Z = volume
    xv, yv, zv = np.meshgrid(np.arange(X), np.arange(Y), np.arange(Z), indexing="ij")
    vox_coords = np.concatenate([xv.reshape(-1, 1), yv.reshape(-1, 1), zv.reshape(-1, 1),
                                 np.arange(X * Y * Z).reshape(-1, 1)], axis=-1)
    ref_3d = np.concatenate([(xv.reshape(-1, 1) + 0.5) / X, (yv.reshape(-1, 1) + 0.5) / Y,
                             (zv.reshape(-1, 1) + 0.5) / Z], axis=-1)
    return vox_coords, ref_3d


# ------------------------------------------------------------------------------------------------------------
# Modules (official attribute names, spec §1.5)
# ------------------------------------------------------------------------------------------------------------

class LearnedPositionalEncoding(nn.Module):
    """mmdet LearnedPositionalEncoding (spec §1.4): pos[b][ch][i][j] = col_embed[j][ch] (ch < F),
    row_embed[i][ch − F] (ch ≥ F)."""

    def __init__(self, num_feats, row_num_embed, col_num_embed):
        super().__init__()
        self.row_embed = nn.Embedding(row_num_embed, num_feats)
        self.col_embed = nn.Embedding(col_num_embed, num_feats)

    def forward(self, mask):
        h, w = mask.shape[-2:]
        x_embed = self.col_embed(torch.arange(w, device=mask.device))
        y_embed = self.row_embed(torch.arange(h, device=mask.device))
        pos = torch.cat((x_embed.unsqueeze(0).repeat(h, 1, 1), y_embed.unsqueeze(1).repeat(1, w, 1)), dim=-1)
        return pos.permute(2, 0, 1).unsqueeze(0).repeat(mask.shape[0], 1, 1, 1)


class FFN(nn.Module):
    """mmcv FFN with num_fcs = 2, ReLU, add_identity: x + Lin2(ReLU(Lin1(x))) (spec §3.7)."""

    def __init__(self, embed_dims, feedforward_channels, ffn_drop=0.1):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(embed_dims, feedforward_channels), nn.ReLU(inplace=True), nn.Dropout(ffn_drop)),
            nn.Linear(feedforward_channels, embed_dims), nn.Dropout(ffn_drop))
        self.dropout_layer = nn.Identity()

    def forward(self, x, identity=None):
        out = self.layers(x)
        if identity is None:
            identity = x
        return identity + self.dropout_layer(out)


class MSDeformableAttention3D(nn.Module):
    """Per-camera deformable attention of the cross stage (spec §3.9). No output_proj, no residual."""

    def __init__(self, embed_dims, num_heads, num_levels, num_points):
        super().__init__()
        self.embed_dims, self.num_heads = embed_dims, num_heads
        self.num_levels, self.num_points = num_levels, num_points
        self.sampling_offsets = nn.Linear(embed_dims, num_heads * num_levels * num_points * 2)
        self.attention_weights = nn.Linear(embed_dims, num_heads * num_levels * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, query, value, reference_points, spatial_shapes):
        # batch_first; query (bs, nq, C), value (bs, nv, C), reference_points (bs, nq, D, 2) fp32
        bs, num_query, _ = query.shape
        _, num_value, _ = value.shape
        value = self.value_proj(value).view(bs, num_value, self.num_heads, -1)
        sampling_offsets = self.sampling_offsets(query).view(
            bs, num_query, self.num_heads, self.num_levels, self.num_points, 2)  # [h][l][p][xy]
        attention_weights = self.attention_weights(query).view(
            bs, num_query, self.num_heads, self.num_levels * self.num_points).softmax(-1)
        attention_weights = attention_weights.view(bs, num_query, self.num_heads, self.num_levels, self.num_points)
        # offsets normalised by (w, h) of each level (spec §3.9 step 4)
        offset_normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        _, _, num_z_anchors, _ = reference_points.shape
        reference_points = reference_points[:, :, None, None, None, :, :]
        sampling_offsets = sampling_offsets / offset_normalizer[None, None, None, :, None, :]
        b, q, nh, nl, num_all_points, xy = sampling_offsets.shape
        # Z-anchor grouping (P/D, D), anchor index fastest (spec §3.9 step 5; no-op for D = 1)
        sampling_offsets = sampling_offsets.view(b, q, nh, nl, num_all_points // num_z_anchors, num_z_anchors, xy)
        sampling_locations = (reference_points + sampling_offsets).view(b, q, nh, nl, num_all_points, xy)
        return multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations, attention_weights)


class DeformCrossAttention(nn.Module):
    """SpatialCrossAttention-style camera rebatching (spec §3.8)."""

    def __init__(self, embed_dims, num_cams, num_heads, num_levels, num_points, dropout=0.1):
        super().__init__()
        self.embed_dims, self.num_cams = embed_dims, num_cams
        self.dropout = nn.Dropout(dropout)
        self.deformable_attention = MSDeformableAttention3D(embed_dims, num_heads, num_levels, num_points)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, query, value, reference_points_cam, bev_mask, spatial_shapes):
        # query (bs, nq, C); value (K, S, bs, C); reference_points_cam (K, bs, nq, D, 2); bev_mask (K, bs, nq, D)
        inp_residual = query
        slots = torch.zeros_like(query)
        bs, num_query, _ = query.size()
        D = reference_points_cam.size(3)
        # per-camera ascending index lists, from batch 0 only (spec §3.8 step 2, §7 #1)
        indexes = [mask_per_img[0].sum(-1).nonzero().squeeze(-1) for mask_per_img in bev_mask]
        max_len = max(len(each) for each in indexes)
        if max_len > 0:  # no camera sees any query: slots stay 0 (spec §7 #17, #21)
            # zero-padded rebatching; padding rows are zero queries at reference (0, 0), computed then discarded
            queries_rebatch = query.new_zeros([bs, self.num_cams, max_len, self.embed_dims])
            reference_points_rebatch = reference_points_cam.new_zeros([bs, self.num_cams, max_len, D, 2])
            for j in range(bs):
                for i, reference_points_per_img in enumerate(reference_points_cam):
                    index_query_per_img = indexes[i]
                    queries_rebatch[j, i, :len(index_query_per_img)] = query[j, index_query_per_img]
                    reference_points_rebatch[j, i, :len(index_query_per_img)] = \
                        reference_points_per_img[j, index_query_per_img]
            num_cams, l, bs, embed_dims = value.shape
            value = value.permute(2, 0, 1, 3).reshape(bs * self.num_cams, l, self.embed_dims)
            queries = self.deformable_attention(
                query=queries_rebatch.view(bs * self.num_cams, max_len, self.embed_dims), value=value,
                reference_points=reference_points_rebatch.view(bs * self.num_cams, max_len, D, 2),
                spatial_shapes=spatial_shapes).view(bs, self.num_cams, max_len, self.embed_dims)
            for j in range(bs):
                for i, index_query_per_img in enumerate(indexes):  # a camera with an empty list adds nothing
                    slots[j, index_query_per_img] += queries[j, i, :len(index_query_per_img)]
        # scatter-mean: count of cameras seeing the query, clamped to >= 1 (spec §3.8 step 7)
        count = bev_mask.sum(-1) > 0
        count = count.permute(1, 2, 0).sum(-1)
        count = torch.clamp(count, min=1.0)
        slots = slots / count[..., None]
        slots = self.output_proj(slots)
        return self.dropout(slots) + inp_residual


class DeformSelfAttention(nn.Module):
    """DeformSelfAttention (planar, spec §3.11) / DeformSelfAttention3DCustom (volumetric, spec §3.12)."""

    def __init__(self, embed_dims, num_heads, num_points, num_levels=1, num_bev_queue=2, volumetric=False,
                 dropout=0.1):
        super().__init__()
        self.embed_dims, self.num_heads, self.num_points = embed_dims, num_heads, num_points
        self.num_levels, self.num_bev_queue, self.volumetric = num_levels, num_bev_queue, volumetric
        self.dims = 3 if volumetric else 2
        self.dropout = nn.Dropout(dropout)
        self.sampling_offsets = nn.Linear(embed_dims * num_bev_queue,
                                          num_bev_queue * num_levels * num_heads * num_points * self.dims)
        self.attention_weights = nn.Linear(embed_dims * num_bev_queue,
                                           num_bev_queue * num_levels * num_heads * num_points)
        self.value_proj = nn.Linear(embed_dims, embed_dims)
        self.output_proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, query, query_pos, reference_points, spatial_shapes):
        # query (bs, N, C) batch_first; key = value = None → value is two identical copies of the query
        bs, len_bev, c = query.shape
        value = torch.stack([query, query], 1).reshape(bs * 2, len_bev, c)  # num_bev_queue = 2 (spec §3.11 s.1)
        identity = query
        query = query + query_pos
        bs, num_query, embed_dims = query.shape
        _, num_value, _ = value.shape
        assert int(spatial_shapes.prod(-1).sum()) == num_value
        query = torch.cat([value[:bs], query], -1)  # z = [q ; q + pos] (spec §3.11 step 3)
        value = self.value_proj(value)  # both identical copies projected
        value = value.reshape(bs * self.num_bev_queue, num_value, self.num_heads, -1)
        sampling_offsets = self.sampling_offsets(query).view(
            bs, num_query, self.num_heads, self.num_bev_queue, self.num_levels, self.num_points, self.dims)
        attention_weights = self.attention_weights(query).view(
            bs, num_query, self.num_heads, self.num_bev_queue, self.num_levels * self.num_points).softmax(-1)
        attention_weights = attention_weights.view(
            bs, num_query, self.num_heads, self.num_bev_queue, self.num_levels, self.num_points)
        # queue-major batch (index 2b + t) (spec §3.11 step 7)
        attention_weights = attention_weights.permute(0, 3, 1, 2, 4, 5).reshape(
            bs * self.num_bev_queue, num_query, self.num_heads, self.num_levels, self.num_points).contiguous()
        sampling_offsets = sampling_offsets.permute(0, 3, 1, 2, 4, 5, 6).reshape(
            bs * self.num_bev_queue, num_query, self.num_heads, self.num_levels, self.num_points, self.dims)
        if self.volumetric:
            # normaliser (w, h, z) (spec §3.12)
            offset_normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0], spatial_shapes[..., 2]],
                                            -1)
        else:
            offset_normalizer = torch.stack([spatial_shapes[..., 1], spatial_shapes[..., 0]], -1)
        sampling_locations = reference_points[:, :, None, :, None, :] \
            + sampling_offsets / offset_normalizer[None, None, None, :, None, :]
        if self.volumetric:
            output = multi_scale_deformable_attn_3d_pytorch(value, spatial_shapes, sampling_locations,
                                                            attention_weights)
        else:
            output = multi_scale_deformable_attn_pytorch(value, spatial_shapes, sampling_locations, attention_weights)
        # (bs·2, N, C) → mean over the queue slot
        output = output.permute(1, 2, 0).view(num_query, embed_dims, bs, self.num_bev_queue).mean(-1)
        output = output.permute(2, 0, 1)
        output = self.output_proj(output)
        return self.dropout(output) + identity


class VoxFormerLayer(nn.Module):
    """MyCustomBaseTransformerLayer with operation_order (attn, norm, ffn, norm), post-norm (spec §3.7)."""

    def __init__(self, attention, embed_dims, ffn_hidden):
        super().__init__()
        self.attentions = nn.ModuleList([attention])
        self.ffns = nn.ModuleList([FFN(embed_dims, ffn_hidden)])
        self.norms = nn.ModuleList([nn.LayerNorm(embed_dims), nn.LayerNorm(embed_dims)])

    def forward(self, query, attn_fn):
        query = attn_fn(self.attentions[0], query)
        query = self.norms[0](query)
        query = self.ffns[0](query)
        return self.norms[1](query)


class VoxFormerEncoder(nn.Module):
    """VoxFormerEncoder / VoxFormerEncoder3D: reference grids, point_sampling, sequential layers (spec §3.6)."""

    def __init__(self, layers, pc_range, image_size):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.pc_range = list(pc_range)
        self.image_size = list(image_size)
        self.timings = {}

    @staticmethod
    def get_reference_points_2d(H, W, bs=1, dtype=torch.float32):
        """ref_2d[k] = ((k mod W + 0.5)/W, (k div W + 0.5)/H), shape (bs, H·W, 1, 2)."""
        ref_y, ref_x = torch.meshgrid(torch.linspace(0.5, H - 0.5, H, dtype=dtype),
                                      torch.linspace(0.5, W - 0.5, W, dtype=dtype), indexing="ij")
        ref_y = ref_y.reshape(-1)[None] / H
        ref_x = ref_x.reshape(-1)[None] / W
        ref_2d = torch.stack((ref_x, ref_y), -1)
        return ref_2d.repeat(bs, 1, 1).unsqueeze(2)

    @staticmethod
    def get_reference_points_3d_custom(X, Y, Z, bs=1, dtype=torch.float32):
        """'3dCustom' grid (spec §3.12): ref[k = (x·Y + y)·Z + z] = ((y+.5)/Y, (x+.5)/X, (z+.5)/Z), (bs, N, 1, 3)."""
        xs, ys, zs = torch.meshgrid(torch.linspace(0.5, X - 0.5, X, dtype=dtype),
                                    torch.linspace(0.5, Y - 0.5, Y, dtype=dtype),
                                    torch.linspace(0.5, Z - 0.5, Z, dtype=dtype), indexing="ij")
        ref = torch.stack((ys.reshape(-1) / Y, xs.reshape(-1) / X, zs.reshape(-1) / Z), -1)[None]
        return ref.repeat(bs, 1, 1).unsqueeze(2)

    def point_sampling(self, reference_points, lidar2img):
        """spec §3.6. reference_points (D, B, nq, 3) float64 in [0, 1]; lidar2img (B, K, 4, 4) float64.
        Returns reference_points_cam (K, B, nq, D, 2) fp32 and bev_mask (K, B, nq, D) bool."""
        pc = self.pc_range
        reference_points = reference_points.clone()
        reference_points[..., 0:1] = reference_points[..., 0:1] * (pc[3] - pc[0]) + pc[0]
        reference_points[..., 1:2] = reference_points[..., 1:2] * (pc[4] - pc[1]) + pc[1]
        reference_points[..., 2:3] = reference_points[..., 2:3] * (pc[5] - pc[2]) + pc[2]
        reference_points = torch.cat((reference_points, torch.ones_like(reference_points[..., :1])), -1)
        D, B, num_query = reference_points.size()[:3]
        num_cam = lidar2img.size(1)
        reference_points = reference_points.view(D, B, 1, num_query, 4).repeat(1, 1, num_cam, 1, 1).unsqueeze(-1)
        # the 4×4 matrix repeated for every (anchor, camera, query), float64 then fp32 (spec §7 #3)
        lidar2img = lidar2img.view(1, B, num_cam, 1, 4, 4).repeat(D, 1, 1, num_query, 1, 1)
        reference_points_cam = torch.matmul(lidar2img.to(torch.float32),
                                            reference_points.to(torch.float32)).squeeze(-1)
        eps = 1e-5
        bev_mask = reference_points_cam[..., 2:3] > eps
        reference_points_cam = reference_points_cam[..., 0:2] / torch.maximum(
            reference_points_cam[..., 2:3], torch.ones_like(reference_points_cam[..., 2:3]) * eps)
        reference_points_cam[..., 0] /= self.image_size[1]  # width
        reference_points_cam[..., 1] /= self.image_size[0]  # height
        bev_mask = (bev_mask & (reference_points_cam[..., 1:2] > 0.0) & (reference_points_cam[..., 1:2] < 1.0)
                    & (reference_points_cam[..., 0:1] < 1.0) & (reference_points_cam[..., 0:1] > 0.0))
        bev_mask = torch.nan_to_num(bev_mask)  # no-op on a bool mask (spec §3.6 step 5)
        reference_points_cam = reference_points_cam.permute(2, 1, 3, 0, 4)
        bev_mask = bev_mask.permute(2, 1, 3, 0, 4).squeeze(-1)
        return reference_points_cam, bev_mask


class PerceptionTransformer(nn.Module):
    """PerceptionTransformer / PerceptionTransformer3D: level/cams embeddings and one encoder."""

    def __init__(self, embed_dims, num_cams, level_embed_rows, encoder):
        super().__init__()
        self.embed_dims = embed_dims
        self.level_embeds = nn.Parameter(torch.empty(level_embed_rows, embed_dims))
        self.cams_embeds = nn.Parameter(torch.empty(num_cams, embed_dims))
        self.encoder = encoder
        nn.init.normal_(self.level_embeds)
        nn.init.normal_(self.cams_embeds)


class Header(nn.Module):
    """utils/header.py (spec §3.13)."""

    def __init__(self, class_num, feature):
        super().__init__()
        self.class_num, self.feature = class_num, feature
        self.up_scale_2 = nn.Upsample(scale_factor=2, mode="trilinear", align_corners=True)
        self.mlp_head = nn.Sequential(nn.LayerNorm(feature), nn.Linear(feature, class_num))

    def forward(self, x3d):
        x3d_up = self.up_scale_2(x3d)  # (1, C, 2X, 2Y, 2Z) materialised
        _, feat_dim, w, l, h = x3d_up.shape
        x3d_up = x3d_up.squeeze(0).permute(1, 2, 3, 0).reshape(-1, feat_dim)  # contiguous copy
        ssc_logit_full = self.mlp_head(x3d_up)
        return ssc_logit_full.reshape(w, l, h, self.class_num).permute(3, 0, 1, 2).unsqueeze(0)


class VoxFormerReference(nn.Module):
    """VoxFormerHead (stage 2 + header), `state_dict()` keys = official keys without the `pts_bbox_head.` prefix."""

    def __init__(self, config):
        super().__init__()
        cfg = validate_config(copy.deepcopy(config))
        self.cfg = cfg
        X, Y, Z = cfg["volume"]
        C, Hh, K, L = cfg["embed_dims"], cfg["heads"], cfg["cameras"], cfg["levels"]
        hv, wv = cfg["view_shape"]
        self.volumetric = cfg["self_attention"] == "volumetric"
        self.bev_embed = nn.Embedding(X * Y * Z, C)
        self.mask_embed = nn.Embedding(1, C)
        self.positional_encoding = LearnedPositionalEncoding(C // 2, hv, wv)
        cross_layers = [VoxFormerLayer(DeformCrossAttention(C, K, Hh, L, cfg["points_cross"]), C, cfg["ffn_hidden"])
                        for _ in range(cfg["layers_cross"])]
        self_layers = [VoxFormerLayer(DeformSelfAttention(C, Hh, cfg["points_self"], volumetric=self.volumetric),
                                      C, cfg["ffn_hidden"]) for _ in range(cfg["layers_self"])]
        self.cross_transformer = PerceptionTransformer(
            C, K, cfg["level_embed_rows"], VoxFormerEncoder(cross_layers, cfg["pc_range"], cfg["image_size"]))
        self.self_transformer = PerceptionTransformer(
            C, K, cfg["level_embed_rows"], VoxFormerEncoder(self_layers, cfg["pc_range"], cfg["image_size"]))
        self.header = Header(cfg["classes"], C)
        self.eval()

    # -- host-side helpers ---------------------------------------------------------------------------------

    def get_ref_3d(self):
        return get_ref_3d(self.cfg["volume"])

    def _feature_value(self, mlvl_feats):
        """spec §3.5 step 4: (K, S, B, C) value with cams_embeds and level_embeds added, and spatial shapes."""
        tr = self.cross_transformer
        feat_flatten, spatial_shapes = [], []
        for lvl, feat in enumerate(mlvl_feats):
            bs, num_cam, c, h, w = feat.shape
            spatial_shapes.append((h, w))
            feat = feat.flatten(3).permute(1, 0, 3, 2)  # (K, B, h·w, C), s = row·w + col
            feat = feat + tr.cams_embeds[:, None, None, :].to(feat.dtype)
            feat = feat + tr.level_embeds[None, None, lvl:lvl + 1, :].to(feat.dtype)
            feat_flatten.append(feat)
        feat_flatten = torch.cat(feat_flatten, 2).permute(0, 2, 1, 3)  # (K, S, B, C)
        return feat_flatten, torch.as_tensor(spatial_shapes, dtype=torch.long)

    # -- forward -------------------------------------------------------------------------------------------

    @torch.no_grad()
    def forward(self, mlvl_feats, lidar2img, proposal, collect=True):
        """mlvl_feats: list of L tensors (1, K, C, h_l, w_l); lidar2img (K, 4, 4) (numpy or tensor, any float);
        proposal: X·Y·Z values (> 0 = proposed). Returns a dict of stage outputs and `timings` (seconds).

        collect=False keeps only logits/labels (and Nq) so the memory profile stays that of the original."""
        cfg = self.cfg
        X, Y, Z = cfg["volume"]
        C = cfg["embed_dims"]
        hv, wv = cfg["view_shape"]
        timings = OrderedDict()
        out = {}
        t0 = t = time.perf_counter()

        def lap(name):
            nonlocal t
            now = time.perf_counter()
            timings[name] = timings.get(name, 0.0) + now - t
            t = now

        if isinstance(mlvl_feats, torch.Tensor):
            mlvl_feats = [mlvl_feats]
        bs, num_cam = mlvl_feats[0].shape[:2]
        assert bs == 1 and num_cam == cfg["cameras"], "batch 1 and `cameras` feature maps expected"
        dtype = mlvl_feats[0].dtype
        lidar2img = np.asarray(lidar2img.cpu().numpy() if isinstance(lidar2img, torch.Tensor) else lidar2img)
        lidar2img = lidar2img.reshape(1, num_cam, 4, 4)

        # spec §3.3 steps 1–4
        bev_queries = self.bev_embed.weight.to(dtype)
        pos_cross = self.positional_encoding(torch.zeros((bs, hv, wv), dtype=dtype)).to(dtype)  # never consumed
        pos_self = self.positional_encoding(torch.zeros((bs, hv, wv), dtype=dtype)).to(dtype)
        proposal = np.asarray(proposal).reshape(X, Y, Z)
        unmasked_idx = np.asarray(np.where(proposal.reshape(-1) > 0)).astype(np.int32)  # (1, Nq) ascending
        masked_idx = np.asarray(np.where(proposal.reshape(-1) == 0)).astype(np.int32)
        vox_coords, ref_3d = self.get_ref_3d()
        nq = unmasked_idx.shape[1]
        out["unmasked"] = unmasked_idx[0]
        out["nq"] = nq
        lap("positional")

        # spec §3.5–§3.9: cross stage (skipped for an empty proposal, spec §7 #17)
        cross_outputs = []
        if nq > 0:
            seed_feats = self._get_vox_features(mlvl_feats, bev_queries, pos_cross, ref_3d, vox_coords,
                                                unmasked_idx, lidar2img, out, cross_outputs, timings, collect)
        else:
            seed_feats = bev_queries.new_zeros((1, 0, C))
            out["reference_cam"] = np.zeros((num_cam, 0, 2), np.float32)
            out["visible"] = np.zeros((num_cam, 0), np.uint8)
            cross_outputs = [np.zeros((0, C), np.float32) for _ in range(cfg["layers_cross"])]
        del pos_cross
        lap("cross")
        timings["projection"] = timings.pop("projection", 0.0)  # part of "cross", reported separately

        # spec §3.10: dense volume, uninitialised then fully overwritten
        vox_feats = torch.empty((X, Y, Z, C), dtype=dtype)
        vox_feats_flatten = vox_feats.reshape(-1, C)
        vox_feats_flatten[vox_coords[unmasked_idx[0], 3], :] = seed_feats[0]
        vox_feats_flatten[vox_coords[masked_idx[0], 3], :] = self.mask_embed.weight.view(1, C).expand(
            masked_idx.shape[1], C).to(dtype)
        del seed_feats
        if collect:
            out["volume"] = vox_feats_flatten.numpy().copy()  # (copy time counted in "scatter")
        lap("scatter")

        # spec §3.11 / §3.12: dense self stage
        self_outputs = []
        vox_feats_diff = self._diffuse_vox_features(vox_feats_flatten, pos_self, ref_3d, lidar2img, self_outputs,
                                                    collect)
        del vox_feats, vox_feats_flatten, pos_self
        lap("self")

        # spec §3.3 steps 8–9, §3.13
        x3d = vox_feats_diff.reshape(X, Y, Z, C).permute(3, 0, 1, 2).unsqueeze(0)
        del vox_feats_diff
        ssc_logit = self.header(x3d)
        del x3d
        y_pred = ssc_logit.detach().cpu().numpy()  # host argmax, first max wins (spec §5.2)
        out["labels"] = np.argmax(y_pred, axis=1)[0].astype(np.uint8)
        out["logits"] = ssc_logit[0]
        lap("head")
        timings["total"] = time.perf_counter() - t0
        if collect:
            out["cross_layers"] = cross_outputs
            out["self_layers"] = self_outputs
        out["timings"] = timings
        return out

    def _get_vox_features(self, mlvl_feats, bev_queries, bev_pos, ref_3d, vox_coords, unmasked_idx, lidar2img, out,
                          cross_outputs, timings, collect):
        """PerceptionTransformer.get_vox_features + VoxFormerEncoder.forward for the cross stage (spec §3.5, §3.6)."""
        cfg = self.cfg
        hv, wv = cfg["view_shape"]
        bs = mlvl_feats[0].size(0)
        bev_queries = bev_queries.unsqueeze(1).repeat(1, bs, 1)  # (N, 1, C)
        bev_pos = bev_pos.flatten(2).permute(2, 0, 1)  # (N, 1, C)
        sel = vox_coords[unmasked_idx[0], 3]
        unmasked_bev_queries = bev_queries[sel, :]
        unmasked_bev_pos = bev_pos[sel, :]  # gathered, passed along, never added (spec §3.5 step 2)
        unmasked_ref_3d = torch.from_numpy(ref_3d[sel, :]).unsqueeze(0).unsqueeze(0)  # (D=1, B=1, Nq, 3) float64
        feat_flatten, spatial_shapes = self._feature_value(mlvl_feats)

        encoder = self.cross_transformer.encoder
        # encoder: 2-D reference grid built and ignored in the cross stage (spec §3.6 step 1, §7 #9)
        ref_2d = encoder.get_reference_points_2d(hv, wv, bs=bs, dtype=unmasked_bev_queries.dtype)
        del ref_2d
        tp = time.perf_counter()
        lidar = torch.from_numpy(lidar2img).to(unmasked_ref_3d.dtype)  # new_tensor → float64
        reference_points_cam, bev_mask = encoder.point_sampling(unmasked_ref_3d, lidar)
        timings["projection"] = time.perf_counter() - tp
        out["reference_cam"] = reference_points_cam[:, 0, :, 0, :].numpy().copy()  # (K, Nq, 2)
        out["visible"] = bev_mask[:, 0, :, 0].numpy().astype(np.uint8)  # (K, Nq)
        query = unmasked_bev_queries.permute(1, 0, 2)  # (B, Nq, C)
        del unmasked_bev_pos

        def cross_attn(attn, q):
            return attn(q, feat_flatten, reference_points_cam, bev_mask, spatial_shapes)

        for layer in encoder.layers:
            query = layer(query, cross_attn)
            cross_outputs.append(query[0].numpy().copy())
        return query

    def _diffuse_vox_features(self, vox_feats_flatten, bev_pos, ref_3d, lidar2img, self_outputs, collect):
        """PerceptionTransformer(3D).diffuse_vox_features + encoder forward for the self stage (spec §3.11)."""
        cfg = self.cfg
        X, Y, Z = cfg["volume"]
        hv, wv = cfg["view_shape"]
        bs = 1
        bev_queries = vox_feats_flatten.unsqueeze(1).repeat(1, bs, 1)  # (N, 1, C)
        bev_pos = bev_pos.flatten(2).permute(2, 0, 1)  # (N, 1, C), k = Wv·row + col
        encoder = self.self_transformer.encoder
        if self.volumetric:
            ref = encoder.get_reference_points_3d_custom(X, Y, Z, bs=bs, dtype=bev_queries.dtype)
            spatial_shapes = torch.as_tensor([[X, Y, Z]], dtype=torch.long)  # forced (h, w, z) (spec §3.12)
        else:
            ref = encoder.get_reference_points_2d(hv, wv, bs=bs, dtype=bev_queries.dtype)
            spatial_shapes = torch.as_tensor([[hv, wv]], dtype=torch.long)
        # point_sampling of all voxels: executed, result unused (spec §3.6 step 2, §7 #9)
        full_ref_3d = torch.from_numpy(ref_3d).unsqueeze(0).unsqueeze(0)
        _unused = encoder.point_sampling(full_ref_3d, torch.from_numpy(lidar2img).to(full_ref_3d.dtype))
        del _unused, full_ref_3d
        query = bev_queries.permute(1, 0, 2)  # (1, N, C)
        bev_pos = bev_pos.permute(1, 0, 2)
        hybrid_ref = torch.stack([ref.clone(), ref], 1).reshape(bs * 2, ref.shape[1], 1, ref.shape[-1])

        def self_attn(attn, q):
            return attn(q, bev_pos, hybrid_ref, spatial_shapes)

        for layer in encoder.layers:
            query = layer(query, self_attn)
            if collect:
                self_outputs.append(query[0].numpy().copy())
        return query[0]


# ------------------------------------------------------------------------------------------------------------
# Weights
# ------------------------------------------------------------------------------------------------------------

def _grid_init_bias(num_heads, groups, num_points, dims):
    """Original sampling-offset bias init: direction (cos θ_h, sin θ_h[, 0]) / max(|cos|, |sin|), scaled by
    (p + 1); `groups` = levels (cross) or queue·levels (self). Flattened [h][group][p][dims]."""
    thetas = torch.arange(num_heads, dtype=torch.float32) * (2.0 * math.pi / num_heads)
    grid = torch.stack([thetas.cos(), thetas.sin()], -1)
    grid = grid / grid.abs().max(-1, keepdim=True)[0]
    if dims == 3:
        grid = torch.cat([grid, torch.zeros(num_heads, 1)], -1)
    grid = grid.view(num_heads, 1, 1, dims).repeat(1, groups, num_points, 1)
    for p in range(num_points):
        grid[:, :, p, :] *= p + 1
    return grid.reshape(-1)


def init_random_(model, seed, offset_noise=0.5):
    """Fills `model` with realistic random weights (deterministic for a seed):
    unit-normal bev_embed / mask_embed / positional tables / level and camera embeddings; LayerNorm weight
    U(0.9, 1.1), bias U(−0.1, 0.1); Linear weights N(0, 1/fan_in), biases N(0, 0.1²); sampling-offset biases the
    original grid init plus a weight part N(0, (offset_noise²)/fan_in) so that offsets are a few cells (taps
    leave the map); attention-weight logits O(1)."""
    gen = torch.Generator().manual_seed(int(seed))
    cfg = model.cfg
    Hh = cfg["heads"]
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Embedding):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen))
            elif isinstance(module, nn.LayerNorm):
                module.weight.copy_(0.9 + 0.2 * torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(-0.1 + 0.2 * torch.rand(module.bias.shape, generator=gen))
            elif isinstance(module, nn.Linear):
                fan_in = module.weight.shape[1]
                leaf = name.rsplit(".", 1)[-1]
                scale = offset_noise if leaf == "sampling_offsets" else 1.0
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * (scale / math.sqrt(fan_in)))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
        for module in model.modules():
            if isinstance(module, MSDeformableAttention3D):
                module.sampling_offsets.bias.add_(_grid_init_bias(Hh, module.num_levels, module.num_points, 2))
            elif isinstance(module, DeformSelfAttention):
                module.sampling_offsets.bias.add_(_grid_init_bias(
                    Hh, module.num_bev_queue * module.num_levels, module.num_points, module.dims))
        for tr in (model.cross_transformer, model.self_transformer):
            tr.level_embeds.copy_(torch.randn(tr.level_embeds.shape, generator=gen))
            tr.cams_embeds.copy_(torch.randn(tr.cams_embeds.shape, generator=gen))
    return model


def random_state_dict(config, seed, prefix=""):
    """OrderedDict of realistic random weights in the official layout (see `init_random_`)."""
    model = init_random_(VoxFormerReference(config), seed)
    return OrderedDict((prefix + k, v.detach().clone()) for k, v in model.state_dict().items())


def strip_prefix(state_dict, prefix=PREFIX):
    """Keys of the head: `pts_bbox_head.`-prefixed keys are stripped, other prefixed model parts
    (img_backbone., img_neck.) dropped; a prefix-less dict is returned as is."""
    if any(k.startswith(prefix) for k in state_dict):
        return OrderedDict((k[len(prefix):], v) for k, v in state_dict.items() if k.startswith(prefix))
    return OrderedDict(state_dict)


def load_weights(model, state_dict):
    model.load_state_dict({k: torch.as_tensor(v).float() for k, v in strip_prefix(state_dict).items()}, strict=True)
    return model


# ------------------------------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------------------------------

def read_calibration(path):
    """lidar2img_0 = K4·Tr in float64 (spec §3.2): K4 = identity with P2[:, :3] in the top-left 3×3 (P2's fourth
    column dropped), Tr promoted to 4×4."""
    rows = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            key, *values = line.split()
            rows[key.rstrip(":")] = np.array(values, np.float64).reshape(3, 4)
    tr = np.eye(4)
    tr[:3] = rows["Tr"]
    k4 = np.eye(4)
    k4[:3, :3] = rows["P2"][:, :3]
    return k4 @ tr


def synthetic_cameras(lidar2img0, count, step=3.0):
    """Camera i = the current camera moved i·step metres backwards along lidar x (float64, (count, 4, 4))."""
    mats = []
    for i in range(count):
        moved = np.eye(4)
        moved[0, 3] = step * i  # a lidar point p is at p + (i·step, 0, 0) in the moved frame
        mats.append(lidar2img0 @ moved)
    return np.stack(mats)


def voxelize_scan(path, volume=(128, 128, 16), pc_range=OFFICIAL_PC_RANGE, voxel=0.4):
    """Direct voxelisation of a KITTI scan (float32 x, y, z, r): points strictly inside the box,
    index ⌊(p − min)/voxel⌋ (no z shift, spec §2.3). Returns uint8 (X, Y, Z)."""
    pts = np.fromfile(path, dtype=np.float32).reshape(-1, 4)[:, :3].astype(np.float64)
    lo = np.array(pc_range[:3], np.float64)
    hi = np.array(pc_range[3:], np.float64)
    inside = np.all((pts > lo) & (pts < hi), axis=1)
    idx = np.floor((pts[inside] - lo) / voxel).astype(np.int64)
    dims = np.array(volume)
    idx = idx[np.all((idx >= 0) & (idx < dims), axis=1)]
    grid = np.zeros(volume, np.uint8)
    grid[idx[:, 0], idx[:, 1], idx[:, 2]] = 1
    return grid
