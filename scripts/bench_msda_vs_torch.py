#!/usr/bin/env python3
"""MSDA forward: PyTorch's grid_sample formulation (mmcv multi_scale_deformable_attn_pytorch, the CPU path of
VoxFormer) against voxformer's benchmark binary, interleaved in one run (torch, ours, torch, ours, ...) so
that machine noise hits both alike. Reports medians in head-samples/s and the ratio.

Usage: /usr/bin/python3 scripts/bench_msda_vs_torch.py [build/bench/benchmarks/bench_ms_deform_attn] [rounds]
"""
import json
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

SIZES = {"voxformer_T_cross": (5, 20000), "voxformer_S_cross": (1, 20000)}
HEADS, DH, POINTS, H, W = 8, 16, 8, 24, 77


def msda_grid_sample(value, locations, weights):
    b, s, heads, dh = value.shape
    _, q, _, levels, points, _ = locations.shape
    v = value.flatten(2).transpose(1, 2).reshape(b * heads, dh, H, W)
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
    return value, locations, weights


def time_torch(args, threads):
    torch.set_num_threads(threads)
    with torch.no_grad():
        start = time.perf_counter()
        msda_grid_sample(*args)
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
    print(f"{'size/distribution':34} {'thr':>3} {'torch':>10} {'ours':>10} {'ratio':>7}")
    for name, (cameras, queries) in SIZES.items():
        samples = cameras * queries * HEADS * POINTS
        for realistic in (True, False):
            args = problem(cameras, queries, realistic)
            label = f"{name}/{'realistic' if realistic else 'uniform'}"
            for threads in (1, 2):
                torch_times, our_times = [], []
                time_torch(args, threads)  # warm-up
                for _ in range(rounds):
                    torch_times.append(time_torch(args, threads))
                    our_times.append(time_ours(binary, label, threads))
                t, o = statistics.median(torch_times), statistics.median(our_times)
                print(f"{label:34} {threads:>3} {samples / t / 1e6:>8.1f} M {samples / o / 1e6:>8.1f} M {t / o:>6.1f}x",
                      flush=True)


if __name__ == "__main__":
    main()
