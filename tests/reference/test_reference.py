#!/usr/bin/env python3
"""Self-test of the PyTorch reference (tests/reference/voxformer_reference.py) and its helpers.

Run: /usr/bin/python3 tests/reference/test_reference.py   (exit code 0 = all pass)

Checks
- state_dict keys and shapes = the official inventory of spec §1.5 (generalised) for every variant;
- bilinear MSDA (mmcv's grid_sample formulation) = a brute-force float64 loop of spec §4.2/§4.3, borders included;
- trilinear MSDA = a brute-force loop of the deform_attn_3d kernel (spec §3.12) on a non-cubic volume, with the
  (h, w, z) = (x, y, z) volume and the (w, h, z) location axis swap;
- positional mapping of spec §8.1 at the official grid;
- point_sampling test vectors of spec §8.10 and the visible counts of §3.6 / §6.3 with the seq-08 calibration;
- the header's align_corners index mapping (127/255, 15/31) and a direct-index-math trilinear upsample;
- safetensors round trip (F32, F16, BF16, F64, I64, I32, U8, BOOL, scalars, empty tensors);
- scan voxelisation = 7,512 proposed voxels (spec header);
- the whole forward (planar and volumetric, blind camera, invisible queries, empty proposal) against an
  independent float64 numpy recomputation from the spec's simplified per-query formulas (§3.8 last paragraph,
  §3.11 "exact geometry" with the fused 16-point form, §3.12 voxel units, §3.13 index math).
"""
import math
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

import safetensors_io as st  # noqa: E402
import voxformer_reference as vr  # noqa: E402

DATA = ROOT / "examples" / "data" / "semantickitti_08_001000"
CALIB = DATA / "calib.txt"
SCAN = DATA / "scan.bin"


# ------------------------------------------------------------------------------------------------------------
# Expected official inventory (spec §1.5), written independently of the module tree
# ------------------------------------------------------------------------------------------------------------

def expected_keys(cfg):
    X, Y, Z = cfg["volume"]
    hv, wv = cfg["view_shape"]
    C, Hh, K, L = cfg["embed_dims"], cfg["heads"], cfg["cameras"], cfg["levels"]
    P, Ps, F_, cls = cfg["points_cross"], cfg["points_self"], cfg["ffn_hidden"], cfg["classes"]
    d = 3 if cfg["self_attention"] == "volumetric" else 2
    keys = {"bev_embed.weight": (X * Y * Z, C), "mask_embed.weight": (1, C),
            "positional_encoding.row_embed.weight": (hv, C // 2),
            "positional_encoding.col_embed.weight": (wv, C // 2)}

    def ffn_norms(p):
        keys.update({p + "ffns.0.layers.0.0.weight": (F_, C), p + "ffns.0.layers.0.0.bias": (F_,),
                     p + "ffns.0.layers.1.weight": (C, F_), p + "ffns.0.layers.1.bias": (C,)})
        for n in (0, 1):
            keys.update({p + f"norms.{n}.weight": (C,), p + f"norms.{n}.bias": (C,)})

    for stack in ("cross_transformer", "self_transformer"):
        keys[f"{stack}.level_embeds"] = (cfg["level_embed_rows"], C)
        keys[f"{stack}.cams_embeds"] = (K, C)
    for i in range(cfg["layers_cross"]):
        p = f"cross_transformer.encoder.layers.{i}."
        a = p + "attentions.0.deformable_attention."
        keys.update({a + "sampling_offsets.weight": (Hh * L * P * 2, C), a + "sampling_offsets.bias": (Hh * L * P * 2,),
                     a + "attention_weights.weight": (Hh * L * P, C), a + "attention_weights.bias": (Hh * L * P,),
                     a + "value_proj.weight": (C, C), a + "value_proj.bias": (C,),
                     p + "attentions.0.output_proj.weight": (C, C), p + "attentions.0.output_proj.bias": (C,)})
        ffn_norms(p)
    for i in range(cfg["layers_self"]):
        p = f"self_transformer.encoder.layers.{i}."
        a = p + "attentions.0."
        keys.update({a + "sampling_offsets.weight": (Hh * 2 * Ps * d, 2 * C), a + "sampling_offsets.bias": (Hh * 2 * Ps * d,),
                     a + "attention_weights.weight": (Hh * 2 * Ps, 2 * C), a + "attention_weights.bias": (Hh * 2 * Ps,),
                     a + "value_proj.weight": (C, C), a + "value_proj.bias": (C,),
                     a + "output_proj.weight": (C, C), a + "output_proj.bias": (C,)})
        ffn_norms(p)
    keys.update({"header.mlp_head.0.weight": (C,), "header.mlp_head.0.bias": (C,),
                 "header.mlp_head.1.weight": (cls, C), "header.mlp_head.1.bias": (cls,)})
    return keys


# ------------------------------------------------------------------------------------------------------------
# Brute-force samplers (spec §4.2/§4.3 and §3.12), float64, one tap at a time
# ------------------------------------------------------------------------------------------------------------

def brute_msda_2d(value, shapes, starts, loc, weights):
    B, S, Hh, dh = value.shape
    _, Q, _, L, P, _ = loc.shape
    out = np.zeros((B, Q, Hh * dh))
    for b in range(B):
        for q in range(Q):
            for h in range(Hh):
                acc = np.zeros(dh)
                for l in range(L):
                    H, W = shapes[l]
                    for p in range(P):
                        u = loc[b, q, h, l, p, 0] * W - 0.5
                        v = loc[b, q, h, l, p, 1] * H - 0.5
                        if not (v > -1 and u > -1 and v < H and u < W):  # kernel early-out (§4.3)
                            continue
                        u0, v0 = math.floor(u), math.floor(v)
                        fu, fv = u - u0, v - v0
                        for dv, du, wt in ((0, 0, (1 - fv) * (1 - fu)), (0, 1, (1 - fv) * fu),
                                           (1, 0, fv * (1 - fu)), (1, 1, fv * fu)):
                            r, c = v0 + dv, u0 + du
                            if 0 <= r < H and 0 <= c < W:
                                acc += weights[b, q, h, l, p] * wt * value[b, starts[l] + r * W + c, h]
                out[b, q, h * dh:(h + 1) * dh] = acc
    return out


def brute_msda_3d(value, shapes, starts, loc, weights):
    """deform_attn_3d kernel: h_im = loc1·H − 0.5, w_im = loc0·W − 0.5, z_im = loc2·Z − 0.5,
    value row (ih·W + iw)·Z + iz."""
    B, S, Hh, dh = value.shape
    _, Q, _, L, P, _ = loc.shape
    out = np.zeros((B, Q, Hh * dh))
    for b in range(B):
        for q in range(Q):
            for h in range(Hh):
                acc = np.zeros(dh)
                for l in range(L):
                    H, W, Zs = shapes[l]
                    for p in range(P):
                        w_im = loc[b, q, h, l, p, 0] * W - 0.5
                        h_im = loc[b, q, h, l, p, 1] * H - 0.5
                        z_im = loc[b, q, h, l, p, 2] * Zs - 0.5
                        if not (-1 < h_im < H and -1 < w_im < W and -1 < z_im < Zs):
                            continue
                        h0, w0, z0 = math.floor(h_im), math.floor(w_im), math.floor(z_im)
                        lh, lw, lz = h_im - h0, w_im - w0, z_im - z0
                        for dh_, dw_, dz_ in np.ndindex(2, 2, 2):
                            ih, iw, iz = h0 + dh_, w0 + dw_, z0 + dz_
                            if 0 <= ih < H and 0 <= iw < W and 0 <= iz < Zs:
                                wt = ((lh if dh_ else 1 - lh) * (lw if dw_ else 1 - lw) * (lz if dz_ else 1 - lz))
                                acc += weights[b, q, h, l, p] * wt * value[b, starts[l] + (ih * W + iw) * Zs + iz, h]
                out[b, q, h * dh:(h + 1) * dh] = acc
    return out


# ------------------------------------------------------------------------------------------------------------
# Independent float64 recomputation of the forward (spec's simplified formulas, vectorised numpy)
# ------------------------------------------------------------------------------------------------------------

def _ln(x, w, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * w + b


def _softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _bilinear(img, px, py):
    """img (H, W, Hh, dh); px, py (n, Hh, T) pixel coordinates → (n, Hh, T, dh), zero padding."""
    H, W, Hh, dh = img.shape
    x0, y0 = np.floor(px), np.floor(py)
    fx, fy = px - x0, py - y0
    heads = np.arange(Hh)[None, :, None]
    out = np.zeros(px.shape + (dh,))
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        xi, yi = (x0 + dx).astype(np.int64), (y0 + dy).astype(np.int64)
        ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        wt = (fx if dx else 1 - fx) * (fy if dy else 1 - fy) * ok
        out += wt[..., None] * img[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1), heads]
    return out


def _trilinear(vol, px, py, pz):
    """vol (X, Y, Z, Hh, dh); voxel coordinates (n, Hh, T) → (n, Hh, T, dh), zero padding."""
    X, Y, Z, Hh, dh = vol.shape
    c0 = [np.floor(a) for a in (px, py, pz)]
    f = [a - b for a, b in zip((px, py, pz), c0)]
    heads = np.arange(Hh)[None, :, None]
    out = np.zeros(px.shape + (dh,))
    for corner in np.ndindex(2, 2, 2):
        idx = [(c + d).astype(np.int64) for c, d in zip(c0, corner)]
        ok = np.ones(px.shape, bool)
        wt = np.ones(px.shape)
        for a, (i, n, d, fr) in enumerate(zip(idx, (X, Y, Z), corner, f)):
            ok &= (i >= 0) & (i < n)
            wt = wt * (fr if d else 1 - fr)
        out += (wt * ok)[..., None] * vol[np.clip(idx[0], 0, X - 1), np.clip(idx[1], 0, Y - 1),
                                          np.clip(idx[2], 0, Z - 1), heads]
    return out


def simple_forward(cfg, sd, feats, lidar2img, proposal):
    """Float64 re-derivation from the spec: per-query formulas, table-lookup positional encoding, fused 16-point
    self-attention with 0.5·softmax weights, separable align_corners upsample. Returns the same dict keys."""
    W = {k: v.double().numpy() for k, v in sd.items()}
    X, Y, Z = cfg["volume"]
    N = X * Y * Z
    C, Hh, K, L = cfg["embed_dims"], cfg["heads"], cfg["cameras"], cfg["levels"]
    P, Ps = cfg["points_cross"], cfg["points_self"]
    dh = C // Hh
    hv, wv = cfg["view_shape"]
    pc = cfg["pc_range"]
    Hi, Wi = cfg["image_size"]
    lin = lambda x, p: x @ W[p + ".weight"].T + W[p + ".bias"]  # noqa: E731
    res = {}
    unm = np.flatnonzero(np.asarray(proposal).reshape(-1) > 0)
    nq = len(unm)
    x, y, z = unm // (Y * Z), (unm // Z) % Y, unm % Z
    # projection (spec §3.6) in float64
    pts = np.stack([(x + 0.5) / X * (pc[3] - pc[0]) + pc[0], (y + 0.5) / Y * (pc[4] - pc[1]) + pc[1],
                    (z + 0.5) / Z * (pc[5] - pc[2]) + pc[2], np.ones(nq)], -1)
    cam = np.einsum("kij,nj->kni", np.asarray(lidar2img, np.float64), pts)
    wz = cam[..., 2]
    un = cam[..., 0] / np.maximum(wz, 1e-5) / Wi
    vn = cam[..., 1] / np.maximum(wz, 1e-5) / Hi
    vis = (wz > 1e-5) & (un > 0) & (un < 1) & (vn > 0) & (vn < 1)
    res["reference_cam"], res["visible"] = np.stack([un, vn], -1), vis
    # cross stage (spec §3.8 per-query form)
    q = W["bev_embed.weight"][unm]
    values = []  # per camera, per level: (h, w, C) features + cams + level embeddings
    for k in range(K):
        values.append([feats[l][0, k].transpose(1, 2, 0) + W["cross_transformer.cams_embeds"][k]
                       + W["cross_transformer.level_embeds"][l] for l in range(L)])
    res["cross_layers"] = []
    if nq:
        for i in range(cfg["layers_cross"]):
            p = f"cross_transformer.encoder.layers.{i}."
            a = p + "attentions.0.deformable_attention."
            off = lin(q, a + "sampling_offsets").reshape(nq, Hh, L, P, 2)
            wts = _softmax(lin(q, a + "attention_weights").reshape(nq, Hh, L * P)).reshape(nq, Hh, L, P)
            acc = np.zeros((nq, C))
            for k in range(K):
                m = np.zeros((nq, Hh, dh))
                for l, (h_l, w_l) in enumerate(cfg["feature_shapes"]):
                    img = lin(values[k][l], a + "value_proj").reshape(h_l, w_l, Hh, dh)
                    px = (un[k][:, None, None] + off[:, :, l, :, 0] / w_l) * w_l - 0.5
                    py = (vn[k][:, None, None] + off[:, :, l, :, 1] / h_l) * h_l - 0.5
                    m += (wts[:, :, l, :, None] * _bilinear(img, px, py)).sum(2)
                acc += vis[k][:, None] * m.reshape(nq, C)
            mean = acc / np.maximum(vis.sum(0), 1)[:, None]
            q = q + lin(mean, p + "attentions.0.output_proj")  # invisible query: q + b_o (spec §7 #21)
            q = _ln(q, W[p + "norms.0.weight"], W[p + "norms.0.bias"])
            q = q + lin(np.maximum(lin(q, p + "ffns.0.layers.0.0"), 0), p + "ffns.0.layers.1")
            q = _ln(q, W[p + "norms.1.weight"], W[p + "norms.1.bias"])
            res["cross_layers"].append(q)
    # mask-token scatter (spec §3.10)
    v = np.repeat(W["mask_embed.weight"], N, axis=0)
    v[unm] = q
    res["volume"] = v.copy()
    # self stage: positional encoding by table lookup, pos(k) = [col[k mod Wv] ; row[k div Wv]]
    kk = np.arange(N)
    pos = np.concatenate([W["positional_encoding.col_embed.weight"][kk % wv],
                          W["positional_encoding.row_embed.weight"][kk // wv]], -1)
    vol3d = cfg["self_attention"] == "volumetric"
    d = 3 if vol3d else 2
    res["self_layers"] = []
    for i in range(cfg["layers_self"]):
        p = f"self_transformer.encoder.layers.{i}."
        a = p + "attentions.0."
        zin = np.concatenate([v, v + pos], -1)
        off = lin(zin, a + "sampling_offsets").reshape(N, Hh, 2, Ps, d)  # [h][t][l=1][p][d]
        wts = 0.5 * _softmax(lin(zin, a + "attention_weights").reshape(N, Hh, 2, Ps))  # mean over t folded in
        off, wts = off.reshape(N, Hh, 2 * Ps, d), wts.reshape(N, Hh, 2 * Ps)  # one 16-point MSDA (spec §3.11)
        vp = lin(v, a + "value_proj")
        if vol3d:  # voxel units (x + Δ1, y + Δ0, z + Δ2) (spec §3.12)
            xs, ys, zs = kk // (Y * Z), (kk // Z) % Y, kk % Z
            smp = _trilinear(vp.reshape(X, Y, Z, Hh, dh), xs[:, None, None] + off[..., 1],
                             ys[:, None, None] + off[..., 0], zs[:, None, None] + off[..., 2])
        else:  # (row, col) = (k div Wv + Δy, k mod Wv + Δx) on the view (spec §3.11)
            smp = _bilinear(vp.reshape(hv, wv, Hh, dh), (kk % wv)[:, None, None] + off[..., 0],
                            (kk // wv)[:, None, None] + off[..., 1])
        o = (wts[..., None] * smp).sum(2).reshape(N, C)
        v = v + lin(o, a + "output_proj")
        v = _ln(v, W[p + "norms.0.weight"], W[p + "norms.0.bias"])
        v = v + lin(np.maximum(lin(v, p + "ffns.0.layers.0.0"), 0), p + "ffns.0.layers.1")
        v = _ln(v, W[p + "norms.1.weight"], W[p + "norms.1.bias"])
        res["self_layers"].append(v)
    # header: separable ×2 upsample, source o·(n−1)/(2n−1), lower ⌊s⌋, upper min(⌊s⌋+1, n−1) (spec §3.13)
    g = v.reshape(X, Y, Z, C)
    for axis, n in enumerate((X, Y, Z)):
        s = np.arange(2 * n) * (n - 1) / (2 * n - 1)
        lo = np.floor(s).astype(np.int64)
        hi = np.minimum(lo + 1, n - 1)
        f = (s - lo).reshape([-1 if a == axis else 1 for a in range(4)])
        g = np.take(g, lo, axis=axis) * (1 - f) + np.take(g, hi, axis=axis) * f
    g = _ln(g, W["header.mlp_head.0.weight"], W["header.mlp_head.0.bias"])
    res["logits"] = lin(g, "header.mlp_head.1").transpose(3, 0, 1, 2)
    return res


# ------------------------------------------------------------------------------------------------------------

class TestStateDict(unittest.TestCase):
    def test_official_keys(self):
        for variant in ("T", "S", "T-3D", "S-3D"):
            cfg = vr.official_config(variant)
            sd = vr.VoxFormerReference(cfg).state_dict()
            got = {k: tuple(v.shape) for k, v in sd.items()}
            self.assertEqual(got, expected_keys(cfg), variant)
            # literal shapes of spec §1.5
            self.assertEqual(got["bev_embed.weight"], (262144, 128))
            self.assertEqual(got["positional_encoding.row_embed.weight"], (512, 64))
            self.assertEqual(got["cross_transformer.level_embeds"], (4, 128))
            self.assertEqual(got["cross_transformer.cams_embeds"], (5 if variant[0] == "T" else 1, 128))
            a = "cross_transformer.encoder.layers.2.attentions.0.deformable_attention."
            self.assertEqual(got[a + "sampling_offsets.weight"], (128, 128))
            self.assertEqual(got[a + "attention_weights.weight"], (64, 128))
            s = "self_transformer.encoder.layers.1.attentions.0."
            self.assertEqual(got[s + "sampling_offsets.weight"], (384 if "3D" in variant else 256, 256))
            self.assertEqual(got[s + "attention_weights.weight"], (128, 256))
            self.assertEqual(got["cross_transformer.encoder.layers.0.ffns.0.layers.0.0.weight"], (256, 128))
            self.assertEqual(got["header.mlp_head.1.weight"], (20, 128))
            self.assertEqual(len(got), 6 + 3 * 16 + 2 + 2 * 16 + 4)

    def test_small_keys_and_random_init(self):
        cfg = vr.small_config("T")
        sd = vr.random_state_dict(cfg, 3)
        self.assertEqual({k: tuple(v.shape) for k, v in sd.items()}, expected_keys(cfg))
        sd2 = vr.random_state_dict(cfg, 3)
        self.assertTrue(all(torch.equal(sd[k], sd2[k]) for k in sd))
        bias = sd["cross_transformer.encoder.layers.0.attentions.0.deformable_attention.sampling_offsets.bias"]
        grid = bias.view(4, 2, 4, 2)  # [h][l][p][xy]; head 0 points along +x, (p+1) cells (+ noise 0.1)
        self.assertTrue(torch.allclose(grid[0, 0, :, 0], torch.arange(1.0, 5.0), atol=0.5))


class TestMSDA(unittest.TestCase):
    def test_bilinear_vs_brute_force(self):
        gen = torch.Generator().manual_seed(1)
        shapes = [(4, 5), (3, 2)]
        starts = [0, 20]
        value = torch.randn(2, 26, 2, 3, generator=gen, dtype=torch.float64)
        loc = torch.rand(2, 7, 2, 2, 3, 2, generator=gen, dtype=torch.float64) * 1.4 - 0.2
        # border taps of spec §8.3 on level 0: u, v ∈ {−1, −0.5, 0, W−1, W−0.5, W} (in pixel units)
        us, vs = [-1.0, -0.5, 0.0, 4.0, 4.5, 5.0], [-1.0, -0.5, 0.0, 3.0, 3.5, 4.0]  # level 0 is 4×5
        for i, (bu, bv) in enumerate(zip(us, vs[::-1])):
            loc[0, i, 0, 0, 0] = torch.tensor([(bu + 0.5) / 5, (bv + 0.5) / 4])
        w = torch.rand(2, 7, 2, 2, 3, generator=gen, dtype=torch.float64)
        got = vr.multi_scale_deformable_attn_pytorch(value, torch.tensor(shapes), loc, w).numpy()
        want = brute_msda_2d(value.numpy(), shapes, starts, loc.numpy(), w.numpy())
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)

    def test_bilinear_exact_borders(self):
        h, w_ = 4, 5
        us = [-1, -0.5, 0, w_ - 1, w_ - 0.5, w_]
        vs = [-1, -0.5, 0, h - 1, h - 0.5, h]
        xy = torch.tensor([[(u + 0.5) / w_, (v + 0.5) / h] for u in us for v in vs], dtype=torch.float64)
        value = torch.randn(1, h * w_, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        loc = xy.view(1, -1, 1, 1, 1, 2)
        wts = torch.ones(1, xy.shape[0], 1, 1, 1, dtype=torch.float64)
        got = vr.multi_scale_deformable_attn_pytorch(value, torch.tensor([[h, w_]]), loc, wts).numpy()
        want = brute_msda_2d(value.numpy(), [(h, w_)], [0], loc.numpy(), wts.numpy())
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        self.assertTrue(np.all(got[0, [0, 5, 30, 35]] == 0))  # u or v at −1 / size → nothing

    def test_trilinear_vs_brute_force(self):
        gen = torch.Generator().manual_seed(3)
        shapes = [(5, 4, 3), (2, 3, 2)]  # (h, w, z), non-cubic
        starts = [0, 60]
        value = torch.randn(2, 72, 2, 3, generator=gen, dtype=torch.float64)
        loc = torch.rand(2, 9, 2, 2, 4, 3, generator=gen, dtype=torch.float64) * 1.4 - 0.2
        w = torch.rand(2, 9, 2, 2, 4, generator=gen, dtype=torch.float64)
        got = vr.multi_scale_deformable_attn_3d_pytorch(value, torch.tensor(shapes), loc, w).numpy()
        want = brute_msda_3d(value.numpy(), shapes, starts, loc.numpy(), w.numpy())
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
        # the axis swap is real: a location on an h-only ramp volume reads loc1
        ramp = torch.arange(5, dtype=torch.float64).view(5, 1, 1).expand(5, 4, 3).reshape(1, 60, 1, 1)
        l = torch.tensor([0.5, (2.25 + 0.5) / 5, 0.5], dtype=torch.float64).view(1, 1, 1, 1, 1, 3)
        r = vr.multi_scale_deformable_attn_3d_pytorch(ramp, torch.tensor([shapes[0]]), l,
                                                      torch.ones(1, 1, 1, 1, 1, dtype=torch.float64))
        self.assertAlmostEqual(float(r), 2.25, places=12)


class TestGeometry(unittest.TestCase):
    def test_positional_mapping_official(self):
        enc = vr.LearnedPositionalEncoding(64, 512, 512)
        pos = enc(torch.zeros(1, 512, 512)).flatten(2)[0].T  # (N, 128), k = 512·i + j
        col, row = enc.col_embed.weight, enc.row_embed.weight
        for x, y, z in [(0, 0, 0), (64, 64, 5), (127, 127, 15), (3, 33, 7), (100, 31, 15), (1, 32, 0)]:
            k = 2048 * x + 16 * y + z
            want = torch.cat([col[16 * (y % 32) + z], row[4 * x + y // 32]])
            self.assertTrue(torch.equal(pos[k], want), (x, y, z))

    def test_point_sampling_vectors(self):
        l2i = vr.read_calibration(CALIB)
        np.testing.assert_allclose(l2i[:3], [[600.560052, -708.153849, -9.594978, -204.411181],
                                             [178.523258, 5.362788, -708.242970, -113.040607],
                                             [0.999977, -0.001806, -0.006496, -0.333997]], atol=2e-6)
        enc = vr.VoxFormerEncoder([], vr.OFFICIAL_PC_RANGE, vr.OFFICIAL_IMAGE_SIZE)
        _, ref_3d = vr.get_ref_3d((128, 128, 16))
        mats = torch.from_numpy(vr.synthetic_cameras(l2i, 5)).unsqueeze(0)
        cam, mask = enc.point_sampling(torch.from_numpy(ref_3d).view(1, 1, -1, 3), mats)
        counts = mask[:, 0, :, 0].sum(-1).tolist()
        self.assertEqual(counts, [177649, 192938, 207517, 220751, 232397])  # spec §3.6, §6.3 (0/3/6/9/12 m back)
        uv = cam[0, 0, :, 0]
        vis = mask[0, 0, :, 0]
        for k, want, visible in [(132101, (0.487562, 0.461948), True), (260111, (0.782274, 0.313595), True),
                                 (22083, None, False), (1032, None, False)]:
            self.assertEqual(bool(vis[k]), visible, k)
            if want:
                np.testing.assert_allclose(uv[k].numpy(), want, atol=2e-6)
        self.assertAlmostEqual(float(uv[22083, 0]), -1.709, places=3)
        self.assertTrue(torch.isfinite(uv[1032]).all())  # w' ≤ eps divides by eps: huge but finite
        np.testing.assert_allclose((uv[132101] * torch.tensor([77.0, 24.0]) - 0.5).numpy(), (37.042, 10.587),
                                   atol=1e-3)

    def test_header_align_corners(self):
        up = vr.Header(20, 1).up_scale_2
        ramp = torch.arange(128, dtype=torch.float64).view(1, 1, 128, 1, 1).expand(1, 1, 128, 2, 16)
        out = up(ramp.contiguous())
        np.testing.assert_allclose(out[0, 0, :, 0, 0].numpy(), np.arange(256) * 127 / 255, atol=1e-12)
        zr = torch.arange(16, dtype=torch.float64).view(1, 1, 1, 1, 16).expand(1, 1, 2, 2, 16)
        np.testing.assert_allclose(up(zr.contiguous())[0, 0, 0, 0].numpy(), np.arange(32) * 15 / 31, atol=1e-12)
        # direct index math on a random volume
        g = torch.randn(1, 2, 5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
        got = up(g)[0].numpy()
        want = g[0].numpy()
        for axis, n in enumerate((5, 4, 3)):
            s = np.arange(2 * n) * (n - 1) / (2 * n - 1)
            lo = np.floor(s).astype(int)
            hi = np.minimum(lo + 1, n - 1)
            f = (s - lo).reshape([-1 if a == axis + 1 else 1 for a in range(4)])
            want = np.take(want, lo, axis=axis + 1) * (1 - f) + np.take(want, hi, axis=axis + 1) * f
        np.testing.assert_allclose(got, want, atol=1e-12)

    def test_scan_voxelisation(self):
        grid = vr.voxelize_scan(SCAN)
        self.assertEqual(grid.shape, (128, 128, 16))
        self.assertEqual(int(grid.sum()), 7512)


class TestSafetensors(unittest.TestCase):
    def test_round_trip(self):
        tensors = {
            "f32": torch.randn(3, 4), "f16": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(),
            "f64": torch.randn(2, 2, dtype=torch.float64), "i64": torch.tensor(7, dtype=torch.int64),
            "i32": torch.arange(6, dtype=torch.int32).view(2, 3), "u8": torch.arange(5, dtype=torch.uint8),
            "bool": torch.tensor([True, False, True]), "empty": torch.zeros(0, 3),
            "np": np.arange(4, dtype=np.float32), "noncontig": torch.randn(4, 3).T,
        }
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "t.safetensors")
            st.write_safetensors(path, tensors, {"format": "pt", "n": 1})
            with open(path, "rb") as f:
                n = int.from_bytes(f.read(8), "little")
            self.assertEqual((8 + n) % 8, 0)
            back, meta = st.read_safetensors(path, with_metadata=True)
            self.assertEqual(meta, {"format": "pt", "n": "1"})
            self.assertEqual(list(back), list(tensors))
            for k, v in tensors.items():
                v = torch.as_tensor(v)
                self.assertEqual(back[k].dtype, v.dtype, k)
                self.assertEqual(back[k].shape, v.shape, k)
                self.assertTrue(torch.equal(back[k], v), k)
            header, _, _ = st.read_header(path)
            self.assertEqual(header["bf16"]["dtype"], "BF16")
            self.assertEqual(header["i64"]["shape"], [])


class TestForward(unittest.TestCase):
    """The faithful model (fp32) against the simplified float64 recomputation."""

    def run_case(self, cfg, proposal, lidar2img, seed=5):
        model = vr.init_random_(vr.VoxFormerReference(cfg), seed)
        gen = torch.Generator().manual_seed(seed)
        feats = [torch.randn(1, cfg["cameras"], cfg["embed_dims"], h, w, generator=gen)
                 for h, w in cfg["feature_shapes"]]
        got = model(feats, lidar2img, proposal)
        want = simple_forward(cfg, model.state_dict(), [f.double().numpy() for f in feats], lidar2img, proposal)
        np.testing.assert_array_equal(got["visible"].astype(bool), want["visible"])
        np.testing.assert_allclose(got["reference_cam"], want["reference_cam"], rtol=1e-5, atol=1e-5)
        self.assertEqual(len(got["cross_layers"]), cfg["layers_cross"])
        for a, b in zip(got["cross_layers"], want["cross_layers"]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(got["volume"], want["volume"], rtol=1e-4, atol=1e-4)
        for a, b in zip(got["self_layers"], want["self_layers"]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        logits = got["logits"].numpy()
        np.testing.assert_allclose(logits, want["logits"], rtol=1e-4, atol=1e-4)
        self.assertTrue(np.array_equal(got["labels"], np.argmax(logits, 0).astype(np.uint8)))
        return got, want

    def proposal(self, cfg, seed=0):
        X, Y, Z = cfg["volume"]
        return (np.random.default_rng(seed).random((X, Y, Z)) < 0.35).astype(np.uint8)

    def test_planar_and_volumetric(self):
        l2i = vr.read_calibration(CALIB)
        for variant, k, levels in (("T", 2, [[6, 10], [3, 5]]), ("S", 1, [[6, 10]]), ("T-3D", 2, [[6, 10]]),
                                   ("S-3D", 1, [[6, 10]])):
            cfg = vr.small_config(variant, cameras=k, levels=len(levels), feature_shapes=levels)
            got, _ = self.run_case(cfg, self.proposal(cfg), vr.synthetic_cameras(l2i, k))
            self.assertGreater(got["nq"], 0)
            self.assertTrue((got["visible"].sum(0) == 0).any(), "some proposal is seen by no camera")

    def test_blind_camera_and_empty(self):
        l2i = vr.read_calibration(CALIB)
        behind = l2i @ np.diag([-1.0, -1.0, 1.0, 1.0])
        cfg = vr.small_config("T")
        got, _ = self.run_case(cfg, self.proposal(cfg), np.stack([l2i, behind]))
        self.assertEqual(int(got["visible"][1].sum()), 0)
        # no camera sees anything: every proposed query is q + b_o before the norms
        self.run_case(cfg, self.proposal(cfg), np.stack([behind, behind]))
        got, _ = self.run_case(cfg, np.zeros(cfg["volume"], np.uint8), vr.synthetic_cameras(l2i, 2))
        self.assertEqual(got["nq"], 0)
        self.assertEqual(got["cross_layers"][0].shape, (0, 32))
        self.assertEqual(got["reference_cam"].shape, (2, 0, 2))


if __name__ == "__main__":
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
