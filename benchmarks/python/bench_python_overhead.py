#!/usr/bin/env python3
"""What calling the pipelines from Python costs on top of the C++ pipeline: VoxFormer-S and -T at the official size
on the bundled frame (its scan voxelised at 0.4 m: 7,512 proposals; the real camera, moved back 3 m per temporal
camera), random weights and features, through the installed `voxformer` module.

  PYTHON benchmarks/python/bench_python_overhead.py [--threads 2] [--repeat 7] [--variants S T]

Per run, the overhead is the wall time of `Pipeline.run` in Python minus the pipeline's own stage times
(`report["total_ms"]`, what the C++ runner reports): argument conversion, the output arrays, the GIL hand-over, and
the library's argument checks, which the stage clock does not count. Medians over the runs, after one warm-up run.
"""
import argparse
import pathlib
import statistics
import sys
import time

import numpy as np
import voxformer

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import voxformer_reference as vr  # noqa: E402

DATA = ROOT / "examples" / "data" / "semantickitti_08_001000"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--variants", nargs="+", default=["S", "T"], choices=voxformer.PRESETS)
    args = parser.parse_args()

    proposal = vr.voxelize_scan(DATA / "scan.bin")
    camera = vr.read_calibration(DATA / "calib.txt")
    rng = np.random.default_rng(0)
    print(f"{'variant':8} {'python ms':>10} {'C++ stages ms':>14} {'overhead ms':>12} {'overhead %':>11}")
    for variant in args.variants:
        pipeline = voxformer.Pipeline(variant, seed=1, threads=args.threads)
        cameras = pipeline.config.cameras
        features = rng.standard_normal((1, cameras, 128, 24, 77), dtype=np.float32)
        lidar2img = vr.synthetic_cameras(camera, cameras).astype(np.float32)
        pipeline.run(features, lidar2img, proposal)  # warm-up: first touches of the frame memory
        walls, stages = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            pipeline.run(features, lidar2img, proposal)
            walls.append((time.perf_counter() - start) * 1e3)
            stages.append(pipeline.report["total_ms"])
        overheads = [w - s for w, s in zip(walls, stages)]
        wall, stage, overhead = statistics.median(walls), statistics.median(stages), statistics.median(overheads)
        print(f"{variant:8} {wall:10.1f} {stage:14.1f} {overhead:12.2f} {100 * overhead / stage:10.2f}%")


if __name__ == "__main__":
    main()
