#!/usr/bin/env python3
"""Interleaved A/B of two builds of one Google Benchmark binary (e.g. before and after a change).

Runs A, B, A, B, … for --rounds rounds with the same --filter, each run in its own process, and prints per
benchmark the median items_per_second (or real time when a benchmark reports no items) of each side and the
median of the per-round ratios B / A. Interleaving is what makes the ratio meaningful on a noisy machine: both
sides see the same drift. Usage:

    scripts/ab_benchmark.py OLD_BINARY NEW_BINARY --filter 'msda_ours/.*realistic' --rounds 10

With --runner, the two binaries are builds of a command-line runner (voxformer_infer, voxformer_qpn) run with the
given arguments and --json; each stage's time and the total are compared (as 1/ms: higher is faster):

    scripts/ab_benchmark.py OLD/voxformer_infer NEW/voxformer_infer --rounds 8 \
        --runner "--variant S --random-weights 1 --features F.npy --lidar2img M.npy --proposal P.npy --out /tmp/ab --repeat 3"
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys


def run_runner(binary, args):
    """A runner's --json report: every stage and the total, as 1/ms."""
    result = subprocess.run([binary, *shlex.split(args.runner), "--json"], check=True, capture_output=True, text=True)
    report = json.loads(result.stdout)
    figures = {f"stage {name}": 1.0 / ms for name, ms in report["stages_ms"].items() if ms > 0}
    figures["total"] = 1.0 / report["total_ms"]
    return figures


def run(binary, args):
    if args.runner:
        return run_runner(binary, args)
    command = [binary, f"--benchmark_filter={args.filter}", "--benchmark_format=json",
               f"--benchmark_min_time={args.min_time}"]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    figures = {}
    for bench in json.loads(result.stdout)["benchmarks"]:
        if bench.get("run_type") == "aggregate" or bench.get("error_occurred"):
            continue
        # Higher is better on both: items per second, or iterations per second of real time.
        figures[bench["name"]] = bench.get("items_per_second") or 1.0 / bench["real_time"]
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="baseline binary")
    parser.add_argument("b", help="binary under test")
    parser.add_argument("--filter", default=".", help="--benchmark_filter regex for both")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--min-time", default="0.2", help="--benchmark_min_time per benchmark, seconds")
    parser.add_argument("--runner", metavar="ARGS", help="the binaries are voxformer runners: run them with ARGS and "
                        "--json, and compare each stage and the total (instead of Google Benchmark binaries)")
    args = parser.parse_args()

    samples = {}  # name → list of (a, b)
    for round_index in range(args.rounds):
        a, b = run(args.a, args), run(args.b, args)
        for name in a.keys() & b.keys():
            samples.setdefault(name, []).append((a[name], b[name]))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    width = max(map(len, samples), default=10)
    print(f"{'benchmark':<{width}}  {'A median':>12}  {'B median':>12}  {'B/A median':>10}  {'B/A range':>13}")
    for name in sorted(samples):
        pairs = samples[name]
        ratios = [b / a for a, b in pairs]
        a_median = statistics.median(a for a, _ in pairs)
        b_median = statistics.median(b for _, b in pairs)
        print(f"{name:<{width}}  {a_median:12.4g}  {b_median:12.4g}  {statistics.median(ratios):10.3f}  "
              f"{min(ratios):6.3f}–{max(ratios):.3f}")


if __name__ == "__main__":
    main()
