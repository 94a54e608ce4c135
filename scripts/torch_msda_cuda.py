#!/usr/bin/env python3
"""PyTorch's MSDA formulations (scripts/bench_msda_vs_torch.py: mmcv's and the lean one) on a CUDA device at the
VoxFormer cross-attention sizes, timed with CUDA events (median of 20 calls after 3 warm-ups), with the peak
memory PyTorch allocates for one call. The GPU counterpart of the CPU baseline script; compare with
bench_ms_deform_attn_cuda run on the same machine.

Usage: python3 scripts/torch_msda_cuda.py
"""
import statistics

import torch

from bench_msda_vs_torch import HEADS, POINTS, SIZES, lean_msda, mmcv_msda, problem


def time_ms(formulation, args):
    for _ in range(3):
        formulation(*args)
    times = []
    for _ in range(20):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        formulation(*args)
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times)


def main():
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}; medians of 20 calls")
    print(f"{'size/distribution':34} {'formulation':>11} {'time':>10} {'head-samples/s':>15} {'peak alloc':>11}")
    with torch.no_grad():
        for name, (cameras, queries) in SIZES.items():
            for realistic in (True, False):
                value, shapes, locations, weights = problem(cameras, queries, realistic)
                args = (value.cuda(), shapes, locations.cuda(), weights.cuda())
                label = f"{name}/{'realistic' if realistic else 'uniform'}"
                for baseline, formulation in (("mmcv", mmcv_msda), ("lean", lean_msda)):
                    ms = time_ms(formulation, args)
                    torch.cuda.reset_peak_memory_stats()
                    base = torch.cuda.memory_allocated()
                    formulation(*args)
                    peak = (torch.cuda.max_memory_allocated() - base) / 2**20
                    rate = cameras * queries * HEADS * POINTS / ms / 1e3
                    print(f"{label:34} {baseline:>11} {ms:>7.3f} ms {rate:>11.0f} M/s {peak:>7.0f} MiB")


if __name__ == "__main__":
    main()
