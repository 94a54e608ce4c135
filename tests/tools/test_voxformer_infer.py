#!/usr/bin/env python3
"""voxformer_infer end to end: on a committed PyTorch-reference fixture it writes labels, logits and every
stage's output equal to the reference (logits and stages within 1e-4, labels where the top-2 logits are
more than 2e-4 apart); a proposal counts its positive values (VoxFormer's `p > 0`: negative ones are not proposed);
every bad argument is one clear line on stderr with a non-zero exit, and leaves no --out behind. The outputs are all or
nothing: a full disk (a 16 KiB tmpfs, root only) or a file that cannot be put in place is an error that leaves --out
as it was, absent or with its previous files, however many stage files and logits were written before.

Usage: /usr/bin/python3 tests/tools/test_voxformer_infer.py PATH/TO/voxformer_infer
"""
import os
import pathlib
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "pipeline" / "t3d_small"
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import voxformer_reference as vr  # noqa: E402
from cli_checks import check_full_disk_failure, check_rejected, run, run_on_small_disk, snapshot  # noqa: E402



def main():
    infer = pathlib.Path(sys.argv[1])
    cfg = vr.load_config(FIXTURE / "config.json")
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        # The fixture's lidar2img in float64, its proposal as float32: other dtypes the runner accepts.
        np.save(tmp / "lidar2img64.npy", np.load(FIXTURE / "lidar2img.npy").astype(np.float64))
        np.save(tmp / "proposal_f32.npy", np.load(FIXTURE / "proposal.npy").astype(np.float32).reshape(-1))
        base = ["--config", FIXTURE / "config.json", "--weights", FIXTURE / "weights.safetensors", "--features",
                FIXTURE / "features0.npy", "--lidar2img", tmp / "lidar2img64.npy", "--proposal", tmp / "proposal_f32.npy"]
        out = tmp / "out"
        result = run(infer, *base, "--out", out, "--threads", 2, "--logits", "--stages")
        check(result.returncode == 0, f"runner failed: {result.stderr}")
        if result.returncode == 0:
            check("proposals" in result.stdout and "head" in result.stdout, "no stage table printed")
            for name in [f"cross_layer{i}" for i in range(cfg["layers_cross"])] + ["volume"] + \
                        [f"self_layer{i}" for i in range(cfg["layers_self"])] + ["logits"]:
                ours, ref = np.load(out / f"{name}.npy"), np.load(FIXTURE / f"{name}.npy")
                check(ours.shape == ref.shape and ours.dtype == np.float32, f"{name}: shape {ours.shape} vs {ref.shape}")
                check(ours.shape == ref.shape and np.abs(ours - ref).max() <= 1e-4, f"{name}: differs from the reference")
            labels, ref_labels = np.load(out / "labels.npy"), np.load(FIXTURE / "labels.npy")
            logits = np.sort(np.load(FIXTURE / "logits.npy"), axis=0)
            clear = (logits[-1] - logits[-2]) > 2e-4
            check(labels.dtype == np.uint8 and labels.shape == ref_labels.shape, "labels: wrong dtype or shape")
            check(labels.shape == ref_labels.shape and (labels[clear] == ref_labels[clear]).all(), "labels differ")

            # The same proposal with -1 where nothing is proposed, and 2.5 where something is (was: -1 proposed too).
            proposal = np.load(FIXTURE / "proposal.npy").reshape(-1)
            np.save(tmp / "proposal_signed.npy", np.where(proposal > 0, 2.5, -1.0).astype(np.float32))
            signed = list(base)
            signed[signed.index("--proposal") + 1] = tmp / "proposal_signed.npy"
            result = run(infer, *signed, "--out", tmp / "signed", "--threads", 2)
            check(result.returncode == 0, f"signed proposal: failed: {result.stderr}")
            if result.returncode == 0:
                check((np.load(tmp / "signed" / "labels.npy") == labels).all(), "negative values were proposed")

        bad = [
            (["--threads", "0"], "--threads"),
            (["--threads", "two"], "--threads"),
            (["--features", tmp / "missing.npy"], "missing.npy"),
            (["--dims", "30"], "embed_dims"),
            (["--layers-cross", "4"], "missing tensor"),
            (["--proposal", FIXTURE / "features0.npy"], "proposal"),
            (["--lidar2img", FIXTURE / "proposal.npy"], "lidar2img"),
            (["--weights", FIXTURE / "config.json"], "safetensors"),
            (["--weights", tmp / "missing.safetensors"], "missing.safetensors"),
        ]
        if 4 * (os.cpu_count() or 1) < 1000:  # beyond cpu_executor::max_threads(), found when the pipeline is made
            bad.append((["--threads", "1000"], "'threads'"))
        for extra, mentions in bad:
            args = list(base)
            for i in range(0, len(extra), 2):
                flag = extra[i]
                if flag in args:
                    args[args.index(flag) + 1] = extra[i + 1]
                else:
                    args += extra[i:i + 2]
            check_rejected(check, run(infer, *args, "--out", tmp / "bad"), extra, mentions)
            check(not (tmp / "bad").exists(), f"{extra}: --out was created")  # was: before the pipeline was made

        # A file that cannot be put in place, found after the stage files and the logits were written (was: those
        # left behind).
        later = tmp / "later"
        (later / "labels.npy").mkdir(parents=True)
        before = snapshot(later)
        result = run(infer, *base, "--out", later, "--logits", "--stages")
        check_rejected(check, result, "labels.npy a folder", str(later / "labels.npy"))
        check(snapshot(later) == before, "a failed run changed --out")

        # A full disk: was exit 0 beside a 0-byte labels.npy (a small write on a full disk), or a truncated file.
        (tmp / "full").mkdir()
        (tmp / "full" / "filler").write_bytes(b"f" * 16384)
        outcome = run_on_small_disk(tmp / "disk_full", tmp / "full", infer, *base, "--out", tmp / "disk_full" / "out")
        check_full_disk_failure(check, "full disk, new --out", outcome, tmp / "full", "labels.npy")
        (tmp / "previous" / "out").mkdir(parents=True)
        (tmp / "previous" / "out" / "labels.npy").write_bytes(b"previous labels")
        (tmp / "previous" / "out" / "notes.txt").write_text("kept")
        outcome = run_on_small_disk(tmp / "disk_old", tmp / "previous", infer, *base, "--out",
                                    tmp / "disk_old" / "out", "--logits", "--stages")
        check_full_disk_failure(check, "full disk, existing --out", outcome, tmp / "previous",
                                str(tmp / "disk_old" / "out"))

        result = run(infer, "--help")
        check(result.returncode == 0 and "--points-cross" in result.stdout and "--image-size" in result.stdout,
              "--help does not list the configuration flags")

    for failure in failures:
        print("FAIL:", failure)
    print(f"test_voxformer_infer: {'ok' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
