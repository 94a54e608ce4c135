#!/usr/bin/env python3
"""VoxFormer stage 2 + head at the official size: voxformer-cpp against the PyTorch reference of
tests/reference/ (the original's module structure and formulation), both on the same inputs, in one script.

  /usr/bin/python3 benchmarks/bench_pipeline_vs_torch.py BUILD/tools/voxformer_infer [--threads 2] [--repeat 5]
      [--variants T S] [--proposals frame 20000 60000 dense] [--no-torch] [--torch-cases frame]

For every (variant, proposal) case it writes one set of inputs into a temporary folder — random weights in the
official layout (scripts/random_weights.py, one seed for all cases), random image features [1, K, 128, 24, 77],
the bundled frame's camera moved 0, 3, 6, … m back (synthetic_cameras), and the proposal — then runs, each in a
fresh process so that its peak RSS is its own: voxformer_infer --repeat N --json (median per stage over N runs
after construction) and run_reference.py (one pass; it takes 1–2 minutes). Proposals: "frame" = the bundled
scan voxelised at 0.4 m (7,512 voxels); a number = that proposal grown by dilation to so many voxels (a thicker
surface, as a denser stereo proposal is); "dense" = every voxel. Prints a table and one JSON line per case.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import voxformer_reference as vr  # noqa: E402
from process_run import run  # noqa: E402

DATA = ROOT / "examples" / "data" / "semantickitti_08_001000"
PYTHON = "/usr/bin/python3"


def grown_proposal(base, count, seed=5):
    """`base` (X, Y, Z) 0/1 grown by random dilation steps until `count` voxels are proposed."""
    prop = base.astype(bool).copy()
    rng = np.random.default_rng(seed)
    while prop.sum() < count:
        frontier = np.zeros_like(prop)
        for axis in range(3):
            for shift in (-1, 1):
                frontier |= np.roll(prop, shift, axis)
        frontier &= ~prop
        candidates = np.flatnonzero(frontier)
        need = count - int(prop.sum())
        chosen = rng.choice(candidates, size=min(need, candidates.size), replace=False)
        prop.reshape(-1)[chosen] = True
    return prop.astype(np.uint8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("infer", type=pathlib.Path, help="the voxformer_infer binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--variants", nargs="+", default=["T", "S"], choices=["T", "S", "T-3D", "S-3D"])
    ap.add_argument("--proposals", nargs="+", default=["frame", "20000", "60000"])
    ap.add_argument("--no-torch", action="store_true", help="ours only")
    ap.add_argument("--torch-cases", nargs="*", default=None,
                    help="proposal cases to run the PyTorch reference on (default: all)")
    args = ap.parse_args()

    scan_proposal = vr.voxelize_scan(DATA / "scan.bin").reshape(128, 128, 16)
    calib = vr.read_calibration(DATA / "calib.txt")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for variant in args.variants:
            cfg = vr.official_config(variant)
            weights = tmp / f"weights_{variant}.safetensors"
            subprocess.run([PYTHON, ROOT / "scripts" / "random_weights.py", "--variant", variant, "--seed", "1",
                            "--out", weights], check=True, stdout=subprocess.DEVNULL)
            K = cfg["cameras"]
            features = tmp / f"features_{variant}.npy"
            np.save(features, np.random.default_rng(2).standard_normal((1, K, 128, 24, 77), dtype=np.float32))
            lidar2img = tmp / f"lidar2img_{variant}.npy"
            np.save(lidar2img, vr.synthetic_cameras(calib, K).astype(np.float32))
            for case in args.proposals:
                if case == "frame":
                    prop = scan_proposal
                elif case == "dense":
                    prop = np.ones((128, 128, 16), np.uint8)
                else:
                    prop = grown_proposal(scan_proposal, int(case))
                proposal = tmp / f"proposal_{case}.npy"
                np.save(proposal, prop.astype(np.uint8))
                ours_out, ours_rss = run([args.infer, "--variant", variant, "--weights", weights, "--features", features,
                                          "--lidar2img", lidar2img, "--proposal", proposal, "--out", tmp / "out",
                                          "--threads", args.threads, "--repeat", args.repeat, "--json",
                                          "--max-proposals", int(prop.sum())])
                ours = json.loads(ours_out)
                row = {"variant": variant, "case": case, "proposals": ours["proposals"], "threads": args.threads,
                       "ours_total_s": ours["total_ms"] / 1e3, "ours_stages_ms": ours["stages_ms"],
                       "ours_peak_rss_mib": ours_rss}
                if not args.no_torch and (args.torch_cases is None or case in args.torch_cases):
                    torch_out, torch_rss = run([PYTHON, ROOT / "tests" / "reference" / "run_reference.py", "--variant",
                                                variant, "--weights", weights, "--features", features, "--lidar2img",
                                                lidar2img, "--proposal", proposal, "--threads", args.threads])
                    ref = json.loads(torch_out.strip().splitlines()[-1])
                    row.update({"torch_total_s": ref["total"], "torch_stages_s": {k: ref[k] for k in
                                ("positional", "cross", "scatter", "self", "head") if k in ref},
                                "torch_peak_rss_mib": torch_rss, "speedup": ref["total"] / row["ours_total_s"],
                                "memory_ratio": torch_rss / ours_rss})
                rows.append(row)
                print(json.dumps(row), flush=True)

    print(f"\n{'variant':8} {'case':>7} {'Nq':>7} | {'ours s':>7} {'RSS MiB':>8} | {'torch s':>8} {'RSS MiB':>8} |"
          f" {'speedup':>8} {'memory':>7}")
    for r in rows:
        torch_cols = (f"{r['torch_total_s']:8.1f} {r['torch_peak_rss_mib']:8.0f} | {r['speedup']:7.1f}x "
                      f"{r['memory_ratio']:6.1f}x") if "torch_total_s" in r else f"{'-':>8} {'-':>8} | {'-':>8} {'-':>7}"
        print(f"{r['variant']:8} {r['case']:>7} {r['proposals']:7d} | {r['ours_total_s']:7.2f} "
              f"{r['ours_peak_rss_mib']:8.0f} | {torch_cols}")


if __name__ == "__main__":
    main()
