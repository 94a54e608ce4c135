#!/usr/bin/env python3
"""Writes the end-to-end pipeline fixtures (stage 2 + head) computed by the PyTorch reference.

Usage:
  /usr/bin/python3 tests/reference/generate_pipeline_fixtures.py                 # small cases → tests/fixtures/pipeline/
  /usr/bin/python3 tests/reference/generate_pipeline_fixtures.py --out DIR       # small cases → DIR/<case>/
  /usr/bin/python3 tests/reference/generate_pipeline_fixtures.py --official-grid DIR [--threads 2]
      # only the official-grid case, its files directly in DIR (add --out to write the small cases as well)

Each case folder holds
  config.json                  the reference config (keys of voxformer_reference.CONFIG_KEYS)
  weights.safetensors          F32, keys with the `pts_bbox_head.` prefix (s_small: without)
  features<l>.npy              float32 (1, K, C, h_l, w_l), one per level
  lidar2img.npy                float32 (K, 4, 4)  (the reference ran on exactly these float32 values)
  proposal.npy                 uint8 (X, Y, Z), 1 = proposed
  unmasked.npy                 int32 (Nq,), ascending flat indices k = (x·Y + y)·Z + z
  reference_cam.npy            float32 (K, Nq, 2) = (un, vn) of point_sampling
  visible.npy                  uint8 (K, Nq)
  cross_layer<i>.npy           float32 (Nq, C), output of cross layer i
  volume.npy                   float32 (N, C), the volume after the mask-token scatter
  self_layer<i>.npy            float32 (N, C), output of self layer i
  logits.npy                   float32 (classes, 2X, 2Y, 2Z)
  labels.npy                   uint8 (2X, 2Y, 2Z), argmax over classes (first max wins)
Deterministic: fixed seeds per case.
"""
import argparse
import json
import pathlib
import sys
import time

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import safetensors_io as st  # noqa: E402
import voxformer_reference as vr  # noqa: E402

DATA = ROOT / "examples" / "data" / "semantickitti_08_001000"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "pipeline"


def visibility(cfg, lidar2img):
    """(K, N) bool: which voxel centres each camera sees (the reference's point_sampling on all voxels)."""
    enc = vr.VoxFormerEncoder([], cfg["pc_range"], cfg["image_size"])
    _, ref_3d = vr.get_ref_3d(cfg["volume"])
    mats = torch.from_numpy(np.asarray(lidar2img, np.float64)).unsqueeze(0)
    _, mask = enc.point_sampling(torch.from_numpy(ref_3d).view(1, 1, -1, 3), mats)
    return mask[:, 0, :, 0].numpy()


def random_proposal(cfg, lidar2img, seed, fraction=0.35, min_unseen=4):
    """~fraction of the voxels, with at least `min_unseen` proposed voxels that no camera sees."""
    X, Y, Z = cfg["volume"]
    rng = np.random.default_rng(seed)
    prop = (rng.random(X * Y * Z) < fraction).astype(np.uint8)
    unseen = np.flatnonzero(~visibility(cfg, lidar2img).any(0))
    missing = min_unseen - int(prop[unseen].sum())
    if missing > 0:
        candidates = unseen[prop[unseen] == 0]
        prop[rng.choice(candidates, size=missing, replace=False)] = 1
    return prop.reshape(X, Y, Z)


def save_case(folder, cfg, feats, lidar2img, proposal, res, state_dict=None, prefix=True, metadata=None):
    """Writes config.json, the inputs, the stage outputs of `res` (a VoxFormerReference.forward result with
    collect=True) and, when `state_dict` is given, weights.safetensors. Returns the folder size in bytes."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    C = cfg["embed_dims"]

    def save(name, arr, dtype):
        np.save(folder / f"{name}.npy", np.ascontiguousarray(np.asarray(arr).astype(dtype)))

    with open(folder / "config.json", "w") as f:
        json.dump(cfg, f, indent=1)
        f.write("\n")
    if state_dict is not None:
        st.write_safetensors(folder / "weights.safetensors",
                             {(vr.PREFIX if prefix else "") + k: v.float().contiguous() for k, v in state_dict.items()},
                             metadata)
    for l, feat in enumerate(feats):
        save(f"features{l}", feat.numpy() if isinstance(feat, torch.Tensor) else feat, np.float32)
    save("lidar2img", lidar2img, np.float32)
    save("proposal", np.asarray(proposal).reshape(cfg["volume"]), np.uint8)
    save("unmasked", res["unmasked"], np.int32)
    save("reference_cam", res["reference_cam"], np.float32)
    save("visible", res["visible"], np.uint8)
    for i, a in enumerate(res["cross_layers"]):
        save(f"cross_layer{i}", np.asarray(a).reshape(-1, C), np.float32)
    save("volume", res["volume"], np.float32)
    for i, a in enumerate(res["self_layers"]):
        save(f"self_layer{i}", a, np.float32)
    save("logits", res["logits"].numpy(), np.float32)
    save("labels", res["labels"], np.uint8)
    return sum(p.stat().st_size for p in folder.iterdir())


def write_case(folder, cfg, lidar2img, proposal, seed, prefix=True, log=print):
    """Runs the reference on random weights/features (seeded) and writes the case folder."""
    t0 = time.perf_counter()
    model = vr.init_random_(vr.VoxFormerReference(cfg), seed)
    gen = torch.Generator().manual_seed(seed + 1)
    K, C = cfg["cameras"], cfg["embed_dims"]
    feats = [torch.randn(1, K, C, h, w, generator=gen) for h, w in cfg["feature_shapes"]]
    l2i = np.asarray(lidar2img, np.float64).astype(np.float32)  # stored float32; the reference runs on it
    proposal = np.asarray(proposal, np.uint8).reshape(cfg["volume"])
    res = model(feats, l2i, proposal)
    size = save_case(folder, cfg, feats, l2i, proposal, res, model.state_dict(), prefix,
                     {"format": "pt", "source": "voxformer_reference.init_random_", "seed": str(seed)})
    vis = res["visible"]
    logits = res["logits"].numpy()
    top2 = np.sort(logits, axis=0)[-2:]
    log(f"{folder}: Nq = {res['nq']}, visible per camera = {vis.sum(1).tolist()}, "
        f"seen by no camera = {int((vis.sum(0) == 0).sum()) if vis.size else 0}, "
        f"smallest top-2 logit margin = {float((top2[1] - top2[0]).min()):.2e}, "
        f"{size / 1e6:.3f} MB, {time.perf_counter() - t0:.1f} s")
    return res


def small_cases():
    """(name, config, lidar2img (K, 4, 4) float64, proposal, seed, prefix)."""
    l2i0 = vr.read_calibration(DATA / "calib.txt")
    behind = l2i0 @ np.diag([-1.0, -1.0, 1.0, 1.0])  # lidar frame turned 180° about z: looks backwards
    cases = []
    one_level = {"levels": 1, "feature_shapes": [[6, 10]]}

    def add(name, cfg, cams, seed, prefix=True, proposal=None):
        if proposal is None:
            proposal = random_proposal(cfg, cams, seed)
        cases.append((name, cfg, cams, proposal, seed, prefix))

    add("t_small", vr.small_config("T", cameras=2), vr.synthetic_cameras(l2i0, 2), 101)
    add("s_small", vr.small_config("S", cameras=1, **one_level), vr.synthetic_cameras(l2i0, 1), 102, prefix=False)
    add("t3d_small", vr.small_config("T-3D", self_attention="volumetric", cameras=2, **one_level),
        vr.synthetic_cameras(l2i0, 2), 103)
    add("s3d_small", vr.small_config("S-3D", self_attention="volumetric", cameras=1, **one_level),
        vr.synthetic_cameras(l2i0, 1), 104)
    add("t_blind_camera", vr.small_config("T", cameras=2), np.stack([l2i0, behind]), 105)
    cfg = vr.small_config("T", cameras=2)
    add("t_empty_proposal", cfg, vr.synthetic_cameras(l2i0, 2), 106,
        proposal=np.zeros(cfg["volume"], np.uint8))
    return cases


def official_grid_case():
    cfg = vr.official_config("T")
    cfg.update({"embed_dims": 32, "heads": 4, "points_cross": 4, "points_self": 4, "cameras": 2,
                "layers_cross": 2, "layers_self": 2, "ffn_hidden": 64})
    l2i0 = vr.read_calibration(DATA / "calib.txt")
    return vr.validate_config(cfg), vr.synthetic_cameras(l2i0, 2), vr.voxelize_scan(DATA / "scan.bin"), 201


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=None, help=f"small cases root (default {DEFAULT_OUT})")
    ap.add_argument("--official-grid", type=pathlib.Path, default=None, metavar="DIR",
                    help="write the official-grid case (128×128×16, view 512×512, C = 32) into DIR")
    ap.add_argument("--cases", nargs="*", default=None, help="only these small cases")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.official_grid is None or args.out is not None:
        out = args.out or DEFAULT_OUT
        for name, cfg, cams, proposal, seed, prefix in small_cases():
            if args.cases and name not in args.cases:
                continue
            write_case(out / name, cfg, cams, proposal, seed, prefix)
    if args.official_grid is not None:
        t0 = time.perf_counter()
        cfg, cams, proposal, seed = official_grid_case()
        write_case(args.official_grid, cfg, cams, proposal, seed)
        print(f"official-grid case: {time.perf_counter() - t0:.1f} s on {args.threads} threads")


if __name__ == "__main__":
    main()
