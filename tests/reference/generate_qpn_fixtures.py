#!/usr/bin/env python3
"""Writes the stage-1 (query proposal network) fixtures computed by the PyTorch reference (qpn_reference.py).

Usage:
  /usr/bin/python3 tests/reference/generate_qpn_fixtures.py                  # small cases → tests/fixtures/qpn/
  /usr/bin/python3 tests/reference/generate_qpn_fixtures.py --out DIR        # small cases → DIR/<case>/
  /usr/bin/python3 tests/reference/generate_qpn_fixtures.py --official-grid DIR [--threads 2]
      # only the bundled frame at the official size, its files directly in DIR (add --out for the small cases)

Small cases (committed):
  f16_32x24   f = 16, grid 32×24×16, structured occupancy (ground plane with holes, boxes, noise)
  f32_64x64   f = 32 (the official channel counts), grid 64×64×32, structured occupancy
  f32_values  f = 32, grid 32×40×32, float values that are not 0/1 (values are used as given, never binarised)
Each case folder holds
  config.json            {"height": f, "grid": [X, Y, Z], "classes": 2, "seed": s}
  grid.npy               uint8 (X, Y, Z) = [x][y][z] (float32 for f32_values)
  weights.safetensors    the full state dict, official keys without prefix: F32, num_batches_tracked I64 shape []
  logits.npy             float32 (2, X/2, Y/2, Z/2) = [class][x][y][z]
  proposal.npy           uint8 (X/2, Y/2, Z/2), 1 where logit1 > logit0
  skip_1_1.npy … seg_h.npy   float32 intermediates, channels last: skip_1_1 (X, Y, f), skip_1_2 (X/2, Y/2, 1.5f),
                         skip_1_4 (X/4, Y/4, 2f), skip_1_8 (X/8, Y/8, 2.5f), out_1_8 (X/8, Y/8, f/8),
                         out_1_4 (X/4, Y/4, f/4), out_1_2 (X/2, Y/2, f/2), seg_a / seg_h (X/2, Y/2, f/2, 8)
                         = [x][y][z][channel] (f32_64x64 without skip_1_1, seg_a and seg_h)
The official-grid mode writes config.json, grid.npy (uint8 256×256×32, the bundled voxels.bin), weights.safetensors,
logits.npy (2, 128, 128, 16) and proposal.npy, and prints the proposed count and the reference's forward time.
Deterministic: one seed per case drives both the grid (numpy) and the weights (torch); same bytes on every run
with the same thread count.
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

import qpn_reference as qr  # noqa: E402
import safetensors_io as st  # noqa: E402

VOXELS = ROOT / "examples" / "data" / "semantickitti_08_001000" / "voxels.bin"
DEFAULT_OUT = ROOT / "tests" / "fixtures" / "qpn"
OFFICIAL_SEED = 6  # proposes 22.9 % of the bundled frame; smallest |logit1 − logit0| 8e-5
OFFICIAL_OCCUPIED = 16150


def structured_grid(shape, seed):
    """uint8 (X, Y, Z): a ground layer at z = Z/8 with 40 % holes, about X·Y/128 boxes standing on it (half
    filled, heights up to Z/2) and 0.5 % uniform noise — a mix of large empty regions, flat and tall structures."""
    X, Y, Z = shape
    rng = np.random.default_rng(seed)
    grid = np.zeros(shape, np.uint8)
    ground = Z // 8
    grid[:, :, ground] = rng.random((X, Y)) < 0.6
    for _ in range(max(1, X * Y // 128)):
        x0, y0 = rng.integers(0, X - 2), rng.integers(0, Y - 2)
        dx, dy = rng.integers(2, max(3, X // 6)), rng.integers(2, max(3, Y // 6))
        dz = rng.integers(2, Z // 2)
        box = grid[x0:x0 + dx, y0:y0 + dy, ground + 1:ground + 1 + dz]
        box |= (rng.random(box.shape) < 0.5).astype(np.uint8)
    grid |= (rng.random(shape) < 0.005).astype(np.uint8)
    return grid


def valued_grid(shape, seed):
    """float32 (X, Y, Z): the structured occupancy with every occupied voxel U(0.05, 1.5) instead of 1, and 2 %
    of the empty voxels U(0, 0.3) — values a binarising implementation would change."""
    rng = np.random.default_rng(seed)
    occupied = structured_grid(shape, seed).astype(bool)
    values = np.where(occupied, rng.uniform(0.05, 1.5, shape), 0.0)
    faint = ~occupied & (rng.random(shape) < 0.02)
    values[faint] = rng.uniform(0.0, 0.3, int(faint.sum()))
    return values.astype(np.float32)


SMALL_CASES = {
    # name: (f, grid shape, seed, grid maker, intermediates left out). Seeds picked for a proposed fraction of
    # 10–30 % and no logit pair closer than 1e-4 (a float32 implementation then reproduces every proposal bit). The
    # two f = 32 cases share seed 1, hence one weights file (byte-identical: git stores it once). f32_64x64 leaves
    # out its three largest intermediates (1.5 MB), which the other two cases cover.
    "f16_32x24": (16, (32, 24, 16), 8, structured_grid, ()),
    "f32_64x64": (32, (64, 64, 32), 1, structured_grid, ("skip_1_1", "seg_a", "seg_h")),
    "f32_values": (32, (32, 40, 32), 1, valued_grid, ()),
}


def write_config(folder, f, shape, seed):
    with open(folder / "config.json", "w") as out:
        json.dump({"height": f, "grid": list(shape), "classes": qr.CLASSES, "seed": seed}, out, indent=1)
        out.write("\n")


def run_case(folder, f, grid, seed, intermediates, left_out=()):
    """Random weights (seed), one forward; writes the case files (the intermediates but `left_out`). Returns
    (logits, seconds of the forward)."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = qr.init_random_(qr.LMSCNet_SS(f), seed)
    state = qr.state_dict_for_file(model)
    st.write_safetensors(folder / "weights.safetensors", state,
                         {"format": "pt", "source": "qpn_reference.init_random_", "seed": str(seed)})
    write_config(folder, f, grid.shape, seed)
    np.save(folder / "grid.npy", grid)
    with torch.no_grad():
        t0 = time.perf_counter()
        result = model(torch.from_numpy(grid), return_intermediates=intermediates)
        seconds = time.perf_counter() - t0
    logits = result[0] if intermediates else result
    np.save(folder / "logits.npy", np.ascontiguousarray(logits.numpy().astype(np.float32)))
    np.save(folder / "proposal.npy", qr.proposal_from_logits(logits))
    if intermediates:
        for name, array in qr.channels_last(result[1]).items():
            if name not in left_out:
                np.save(folder / f"{name}.npy", array)
    return logits.numpy(), seconds


def describe(folder, logits):
    """One line: proposed count and fraction, smallest |logit1 − logit0| (how close a proposal is to a tie), size."""
    margin = np.abs(logits[1] - logits[0])
    proposal = qr.proposal_from_logits(logits)
    size = sum(p.stat().st_size for p in pathlib.Path(folder).iterdir())
    return (f"{folder}: proposed {int(proposal.sum())} of {proposal.size} ({100 * proposal.mean():.1f} %), "
            f"smallest |logit1 - logit0| = {margin.min():.2e}, {size / 1e6:.3f} MB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=pathlib.Path, default=None, help=f"small cases root (default {DEFAULT_OUT})")
    ap.add_argument("--official-grid", type=pathlib.Path, default=None, metavar="DIR",
                    help="write the bundled frame at 256×256×32 (f = 32) into DIR")
    ap.add_argument("--cases", nargs="*", default=None, help="only these small cases")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.official_grid is None or args.out is not None:
        root = args.out or DEFAULT_OUT
        for name, (f, shape, seed, maker, left_out) in SMALL_CASES.items():
            if args.cases and name not in args.cases:
                continue
            logits, _ = run_case(root / name, f, maker(shape, seed), seed, intermediates=True, left_out=left_out)
            print(describe(root / name, logits))
    if args.official_grid is not None:
        t0 = time.perf_counter()
        grid = qr.read_packed_grid(VOXELS)
        if int(grid.sum()) != OFFICIAL_OCCUPIED:
            raise SystemExit(f"{VOXELS}: {int(grid.sum())} occupied voxels, expected {OFFICIAL_OCCUPIED}")
        logits, seconds = run_case(args.official_grid, qr.OFFICIAL_GRID[2], grid, OFFICIAL_SEED, intermediates=False)
        print(describe(args.official_grid, logits))
        print(f"official grid: reference forward {seconds:.2f} s (first call) on {args.threads} threads, "
              f"{time.perf_counter() - t0:.1f} s in all")


if __name__ == "__main__":
    main()
