#!/usr/bin/env python3
"""MSDA forward: PyTorch's grid_sample formulation against voxformer's benchmark binary, interleaved in one
run (mmcv, lean, ours, mmcv, lean, ours, ...) so that machine noise hits all alike. Reports medians in
head-samples/s and the ratios.

Two PyTorch baselines:
- "mmcv": the steps of mmcv's `multi_scale_deformable_attn_pytorch` (mmcv/ops/multi_scale_deform_attn.py), the
  CPU path of VoxFormer and the issue's baseline, as generate_fixtures.py restates it for the test fixtures:
  split the value per level, grid = 2·loc − 1 for all levels, one grid_sample per level, `torch.stack` of the
  per-level samples, weighted sum.
- "lean": the same for one level without the split and the stack, which copies the (B·heads, dh, Q, L·P)
  samples once more (410 MB at the T size); a stricter baseline than the original.

Usage: /usr/bin/python3 scripts/bench_msda_vs_torch.py [build/bench/benchmarks/bench_ms_deform_attn] [rounds]
"""
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from generate_fixtures import msda_grid_sample as mmcv_msda  # the fixtures' oracle: mmcv's steps, restated

SIZES = {"voxformer_T_cross": (5, 20000), "voxformer_S_cross": (1, 20000)}
HEADS, DH, POINTS, H, W = 8, 16, 8, 24, 77


def lean_msda(value, spatial_shapes, locations, weights):
    b, _, heads, dh = value.shape
    _, q, _, levels, points, _ = locations.shape
    (h, w), = spatial_shapes.tolist()
    v = value.flatten(2).transpose(1, 2).reshape(b * heads, dh, h, w)
    g = (2 * locations[:, :, :, 0] - 1).transpose(1, 2).flatten(0, 1)
    sampled = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
    a = weights.transpose(1, 2).reshape(b * heads, 1, q, levels * points)
    return (sampled * a).sum(-1).view(b, heads * dh, q).transpose(1, 2).contiguous()


def problem(cameras, queries, realistic):
    gen = torch.Generator().manual_seed(42)
    value = torch.randn(cameras, H * W, HEADS, DH, generator=gen)
    if realistic:
        centre = torch.rand(cameras, queries, 1, 1, 1, 2, generator=gen)
        cells = torch.tensor([W, H], dtype=torch.float32)
        offsets = (torch.rand(cameras, queries, HEADS, 1, POINTS, 2, generator=gen) - 0.5) * 8 / cells
        locations = centre + offsets
    else:
        locations = torch.rand(cameras, queries, HEADS, 1, POINTS, 2, generator=gen) * 1.2 - 0.1
    weights = torch.full((cameras, queries, HEADS, 1, POINTS), 1.0 / POINTS)
    return value, torch.tensor([[H, W]]), locations, weights


def time_torch(formulation, args, threads):
    torch.set_num_threads(threads)
    with torch.no_grad():
        start = time.perf_counter()
        formulation(*args)
        return time.perf_counter() - start


def time_ours(binary, name, threads):
    out = subprocess.run([binary, f"--benchmark_filter=^msda_ours/{name}/threads:{threads}/real_time$",
                          "--benchmark_format=json", "--benchmark_min_time=0.3"],
                         check=True, capture_output=True, text=True).stdout
    run = json.loads(out)["benchmarks"][0]
    return run["real_time"] / 1e3  # ms → s


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "build/bench/benchmarks/bench_ms_deform_attn"
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    print(f"torch {torch.__version__}; {rounds} interleaved rounds; medians; unit: head-samples/s")
    print(f"{'size/distribution':34} {'thr':>3} {'mmcv':>10} {'lean':>10} {'ours':>10} {'/mmcv':>7} {'/lean':>7}")
    for name, (cameras, queries) in SIZES.items():
        samples = cameras * queries * HEADS * POINTS
        for realistic in (True, False):
            args = problem(cameras, queries, realistic)
            with torch.no_grad():  # both baselines compute the same thing (they also warm up here)
                torch.testing.assert_close(lean_msda(*args), mmcv_msda(*args), rtol=0, atol=1e-6)
            label = f"{name}/{'realistic' if realistic else 'uniform'}"
            for threads in (1, 2):
                mmcv_times, lean_times, our_times = [], [], []
                for _ in range(rounds):
                    mmcv_times.append(time_torch(mmcv_msda, args, threads))
                    lean_times.append(time_torch(lean_msda, args, threads))
                    our_times.append(time_ours(binary, label, threads))
                m, l, o = (statistics.median(t) for t in (mmcv_times, lean_times, our_times))
                print(f"{label:34} {threads:>3} {samples / m / 1e6:>8.1f} M {samples / l / 1e6:>8.1f} M "
                      f"{samples / o / 1e6:>8.1f} M {m / o:>6.1f}x {l / o:>6.1f}x", flush=True)


if __name__ == "__main__":
    main()
