#!/usr/bin/env python3
"""Stage 1, the query proposal network, at the official size (256×256×32 → 128×128×16): voxformer-cpp against
the PyTorch reference of tests/reference/qpn_reference.py (the original's module structure and formulation),
both on the same grid and weights, in one script.

  /usr/bin/python3 benchmarks/bench_qpn_vs_torch.py BUILD/tools/voxformer_qpn [--threads 2] [--repeat 5]
      [--rounds 2] [--chunks 1024 4096]

The grid is the bundled frame's voxels.bin (a dense network: its cost does not depend on the occupancy), the
weights random in the official layout (qpn_reference.init_random_, BatchNorm statistics included). Each side runs
in a fresh process so that its peak RSS is its own, `--rounds` times alternately (the machines are noisy): ours
is voxformer_qpn --repeat N --json (the median per stage over N frames after construction), the reference the
median of N forwards after a warm-up (torch.set_num_threads(threads), no_grad). The two proposals are compared
(they must agree wherever the reference's logits are more than 1e-4 apart). Prints one JSON line per round and a
table with the medians over rounds.
"""
import argparse
import json
import pathlib
import statistics
import sys
import tempfile

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import qpn_reference as qr  # noqa: E402
import safetensors_io as st  # noqa: E402
from process_run import run  # noqa: E402

PYTHON = "/usr/bin/python3"
VOXELS = ROOT / "examples" / "data" / "semantickitti_08_001000" / "voxels.bin"


def torch_worker(grid, weights, threads, repeat, out):
    """The reference in this process: median seconds of `repeat` forwards, and its logits saved to `out`."""
    seconds = qr.time_forward(np.load(grid), str(weights), threads, repeat)
    model = qr.load_model(weights).eval()
    with torch.no_grad():
        np.save(out, model(torch.from_numpy(np.load(grid)).float()).numpy())
    print(json.dumps({"seconds": seconds}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("qpn", type=pathlib.Path, nargs="?", help="the voxformer_qpn binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--chunks", nargs="+", type=int, default=[1024], help="voxformer_qpn --chunk values to time")
    ap.add_argument("--torch-worker", nargs=4, metavar=("GRID", "WEIGHTS", "THREADS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        grid, weights, threads, out = args.torch_worker
        torch_worker(grid, weights, int(threads), args.repeat, out)
        return
    if args.qpn is None:
        ap.error("the voxformer_qpn binary is required")

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        grid = tmp / "grid.npy"
        np.save(grid, qr.read_packed_grid(VOXELS))
        weights = tmp / "weights.safetensors"
        st.write_safetensors(weights, qr.state_dict_for_file(qr.init_random_(qr.LMSCNet_SS(), seed=6)))
        for r in range(args.rounds):
            row = {"round": r, "threads": args.threads}
            for chunk in args.chunks:
                out, rss = run([args.qpn, "--weights", weights, "--grid", grid, "--out", tmp / f"ours{chunk}",
                                "--threads", args.threads, "--repeat", args.repeat, "--chunk", chunk, "--json"])
                report = json.loads(out)
                row[f"ours_{chunk}"] = {"ms": report["total_ms"], "stages_ms": report["stages_ms"], "peak_rss_mib": rss}
            out, rss = run([PYTHON, __file__, "--torch-worker", grid, weights, args.threads, tmp / "torch_logits.npy",
                            "--repeat", args.repeat])
            row["torch"] = {"ms": 1e3 * json.loads(out.strip().splitlines()[-1])["seconds"], "peak_rss_mib": rss}
            rows.append(row)
            print(json.dumps(row), flush=True)

        reference = np.load(tmp / "torch_logits.npy")
        clear = np.abs(reference[1] - reference[0]) > 1e-4
        for chunk in args.chunks:
            ours = np.load(tmp / f"ours{chunk}" / "proposal.npy")
            logits = np.load(tmp / f"ours{chunk}" / "logits.npy")
            error = float((np.abs(logits - reference) / np.maximum(1, np.abs(reference))).max())
            differing = int((ours[clear] != (reference[1] > reference[0])[clear]).sum())
            print(f"chunk {chunk}: logits within {error:.2g} of the reference; {differing} of {int(clear.sum())} clear "
                  f"proposal voxels differ; {int(ours.sum())} proposed")
            if differing:
                sys.exit("the proposals differ")

    torch_ms = statistics.median(r["torch"]["ms"] for r in rows)
    torch_rss = statistics.median(r["torch"]["peak_rss_mib"] for r in rows)
    print(f"\n{'':16} {'ms':>9} {'peak RSS MiB':>13} {'speedup':>8}")
    print(f"{'PyTorch':16} {torch_ms:9.1f} {torch_rss:13.0f}")
    for chunk in args.chunks:
        ms = statistics.median(r[f"ours_{chunk}"]["ms"] for r in rows)
        rss = statistics.median(r[f"ours_{chunk}"]["peak_rss_mib"] for r in rows)
        print(f"{'ours, chunk ' + str(chunk):16} {ms:9.1f} {rss:13.0f} {torch_ms / ms:7.1f}x")
    stages = rows[-1][f"ours_{args.chunks[0]}"]["stages_ms"]
    print("ours per stage (last round, ms): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))


if __name__ == "__main__":
    main()
