#!/usr/bin/env python3
"""One forward pass of the PyTorch reference (the speed/memory baseline of the benchmarks).

  /usr/bin/python3 tests/reference/run_reference.py (--config CONFIG.json | --variant T|S|T-3D|S-3D)
      [--weights W.safetensors | --seed S]          random official-layout weights (seed S, default 0) when omitted;
                                                    the same as scripts/random_weights.py --seed S
      [--features F0.npy [F1.npy ...] | --random-features]   (1, K, C, h, w) or (K, C, h, w) per level
      [--lidar2img M.npy | --synthetic-cameras]     (K, 4, 4); synthetic = the bundled seq-08 camera moved
                                                    0, 3, 6, … m backwards along lidar x
      [--proposal P.npy | --proposal-scan [SCAN.bin]]   P: any numeric dtype, X·Y·Z elements (> 0 = proposed);
                                                    scan: direct 0.4 m voxelisation (default: the bundled scan)
      [--threads N] [--out DIR]

Defaults when an input is not given: random features, synthetic cameras, the bundled scan voxelised.
Runs under torch.no_grad() with torch.set_num_threads(N) and prints one JSON line:
  {"variant", "nq", "threads", "positional", "projection", "cross", "scatter", "self", "head", "total",
   "setup"} — seconds; "projection" (the cross stage's point_sampling) is part of "cross"; "setup" (building
   the model, weights, inputs) is not part of "total".
With --out DIR it also writes config.json, the inputs and the stage outputs in the fixture layout
(see generate_pipeline_fixtures.py); without it only logits/labels are kept, as in the original.
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


def main():
    ap = argparse.ArgumentParser(description="one forward pass of the VoxFormer PyTorch reference")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", type=pathlib.Path)
    g.add_argument("--variant", choices=["T", "S", "T-3D", "S-3D"])
    ap.add_argument("--weights", type=pathlib.Path)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights and features")
    f = ap.add_mutually_exclusive_group()
    f.add_argument("--features", type=pathlib.Path, nargs="+")
    f.add_argument("--random-features", action="store_true")
    c = ap.add_mutually_exclusive_group()
    c.add_argument("--lidar2img", type=pathlib.Path)
    c.add_argument("--synthetic-cameras", action="store_true")
    p = ap.add_mutually_exclusive_group()
    p.add_argument("--proposal", type=pathlib.Path)
    p.add_argument("--proposal-scan", type=pathlib.Path, nargs="?", const=DATA / "scan.bin")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=pathlib.Path)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    t_setup = time.perf_counter()
    cfg = vr.load_config(args.config) if args.config else vr.official_config(args.variant)
    K, C = cfg["cameras"], cfg["embed_dims"]
    X, Y, Z = cfg["volume"]

    model = vr.VoxFormerReference(cfg)
    if args.weights:
        vr.load_weights(model, st.read_safetensors(args.weights))
    else:
        vr.init_random_(model, args.seed)
    model.eval()

    if args.features:
        feats = []
        for path in args.features:
            a = np.load(path).astype(np.float32)
            if a.ndim == 4:
                a = a[None]
            feats.append(torch.from_numpy(a))
    else:
        gen = torch.Generator().manual_seed(args.seed + 1)
        feats = [torch.randn(1, K, C, h, w, generator=gen) for h, w in cfg["feature_shapes"]]
    for feat, (h, w) in zip(feats, cfg["feature_shapes"]):
        if tuple(feat.shape) != (1, K, C, h, w):
            sys.exit(f"features: expected {(1, K, C, h, w)}, got {tuple(feat.shape)}")
    if len(feats) != cfg["levels"]:
        sys.exit(f"features: {cfg['levels']} levels expected, got {len(feats)}")

    if args.lidar2img:
        l2i = np.load(args.lidar2img).reshape(K, 4, 4)
    else:
        l2i = vr.synthetic_cameras(vr.read_calibration(DATA / "calib.txt"), K).astype(np.float32)

    if args.proposal:
        proposal = np.load(args.proposal).reshape(-1)
        if proposal.size != X * Y * Z:
            sys.exit(f"proposal: {X * Y * Z} elements expected, got {proposal.size}")
        proposal = proposal.reshape(X, Y, Z)
    else:
        scan = args.proposal_scan or DATA / "scan.bin"
        proposal = vr.voxelize_scan(scan, (X, Y, Z), cfg["pc_range"], (cfg["pc_range"][3] - cfg["pc_range"][0]) / X)
    setup = time.perf_counter() - t_setup

    collect = args.out is not None
    with torch.no_grad():
        res = model(feats, l2i, proposal, collect=collect)
    timing = res["timings"]
    line = {"variant": cfg["variant"], "nq": int(res["nq"]), "threads": args.threads}
    line.update({k: round(v, 4) for k, v in timing.items()})
    line["setup"] = round(setup, 3)
    print(json.dumps(line), flush=True)

    if args.out:
        sys.path.insert(0, str(HERE))
        from generate_pipeline_fixtures import save_case
        save_case(args.out, cfg, feats, np.asarray(l2i, np.float32), (np.asarray(proposal) > 0).astype(np.uint8),
                  res)


if __name__ == "__main__":
    main()
