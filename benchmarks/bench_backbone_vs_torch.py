#!/usr/bin/env python3
"""The image path — ResNet-50 to layer3 + the FPN at 370 × 1220 (spec §3.1) — voxformer-cpp against PyTorch on the same
machine, in one script: 1 and 5 images (VoxFormer-S and -T), 2 threads by default.

  /usr/bin/python3 benchmarks/bench_backbone_vs_torch.py BUILD/benchmarks/bench_image_backbone [--threads 2]
      [--rounds 2]

Ours is bench_image_backbone (Google Benchmark; its counters give ms per image, GFLOP/s and the fraction of this
machine's FMA peak measured in the same process), one benchmark per process. PyTorch is torchvision's resnet50 (the
original's module layout) run to layer3 — layer4, which the original computes and discards, left out, as ours
does — then the FPN's 1×1 lateral and 3×3 output convolutions, in eval mode under torch.no_grad, the median of 3
forwards of the batch after a warm-up. Each side runs in a fresh process, so its peak RSS is its own, `--rounds`
times alternately (the machines are noisy). Prints one JSON line per round and a table of medians over rounds.
"""
import argparse
import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from process_run import run  # noqa: E402

PYTHON = "/usr/bin/python3"


def torch_worker(images, threads, repeat):
    """PyTorch in this process: median seconds per batch of `images` crops."""
    import torch
    import torchvision

    torch.set_num_threads(threads)
    net = torchvision.models.resnet50().eval()
    lateral, output = torch.nn.Conv2d(1024, 128, 1), torch.nn.Conv2d(128, 128, 3, padding=1)
    x = torch.rand(images, 3, 370, 1220)

    def forward(x):
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        return output(lateral(net.layer3(net.layer2(net.layer1(x)))))

    with torch.no_grad():
        forward(x)
        seconds = []
        for _ in range(repeat):
            start = time.perf_counter()
            forward(x)
            seconds.append(time.perf_counter() - start)
    print(json.dumps({"seconds": statistics.median(seconds)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", type=pathlib.Path, nargs="?", help="the bench_image_backbone binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--torch-worker", nargs=2, type=int, metavar=("IMAGES", "THREADS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        torch_worker(*args.torch_worker, repeat=3)
        return
    if args.bench is None:
        ap.error("the bench_image_backbone binary is required")

    rows = []
    for r in range(args.rounds):
        for images in (1, 5):
            row = {"round": r, "images": images, "threads": args.threads}
            out, rss = run([args.bench, f"--benchmark_filter=image_backbone/images:{images}/threads:{args.threads}/",
                            "--benchmark_format=json"])
            bench = json.loads(out)["benchmarks"][0]
            row["ours"] = {"ms_per_image": bench["ms_per_image"], "of_peak": bench["of_peak"],
                           "gflops": bench["GFLOP/s"],
                           "peak_rss_mib": rss,
                           "stages_ms": {k[:-3]: v for k, v in bench.items() if k.endswith("_ms")}}
            out, rss = run([PYTHON, __file__, "--torch-worker", images, args.threads])
            seconds = json.loads(out.strip().splitlines()[-1])["seconds"]
            row["torch"] = {"ms_per_image": 1e3 * seconds / images, "peak_rss_mib": rss}
            rows.append(row)
            print(json.dumps(row), flush=True)

    print(f"\nimage path (ResNet-50 to layer3 + FPN, 370x1220), {args.threads} thread(s), medians of {args.rounds} "
          "round(s)")
    print(f"{'images':>6} {'ours ms/img':>12} {'of peak':>8} {'torch ms/img':>13} {'speed-up':>9} "
          f"{'ours MiB':>9} {'torch MiB':>10} {'memory':>7}")
    for images in (1, 5):
        mine = [r for r in rows if r["images"] == images]
        med = lambda f: statistics.median(f(r) for r in mine)  # noqa: E731
        ours, torch_ms = med(lambda r: r["ours"]["ms_per_image"]), med(lambda r: r["torch"]["ms_per_image"])
        ours_rss, torch_rss = med(lambda r: r["ours"]["peak_rss_mib"]), med(lambda r: r["torch"]["peak_rss_mib"])
        print(f"{images:>6} {ours:>12.1f} {med(lambda r: r['ours']['of_peak']):>8.1%} {torch_ms:>13.1f} "
              f"{torch_ms / ours:>8.2f}x {ours_rss:>9.0f} {torch_rss:>10.0f} {torch_rss / ours_rss:>6.1f}x")


if __name__ == "__main__":
    main()
