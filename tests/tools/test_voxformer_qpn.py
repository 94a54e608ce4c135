#!/usr/bin/env python3
"""voxformer_qpn end to end: on committed PyTorch-reference fixtures (tests/reference/qpn_reference.py) it writes
logits equal to the reference's within 1e-4·max(1, |logit|) and the proposal equal wherever the reference's two
logits are more than 1e-4 apart — from the grid as a uint8 .npy, a flat int32 .npy, a bit-packed .bin and a float
.npy whose values are not 0/1; every bad argument is one clear line on stderr with a non-zero exit, and leaves no
--out behind. The outputs are all or nothing: a full disk (a 16 KiB tmpfs, root only) or a file that cannot be put in
place is an error that leaves --out as it was, absent or with its previous files.

Usage: /usr/bin/python3 tests/tools/test_voxformer_qpn.py PATH/TO/voxformer_qpn
"""
import json
import pathlib
import sys
import tempfile

import numpy as np

from cli_checks import check_full_disk_failure, check_rejected, run, run_on_small_disk, snapshot

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "qpn"
TOLERANCE = 1e-4



def pack_bits(grid):
    """SemanticKITTI's bit-packed layout: C order, most significant bit first."""
    return np.packbits(grid.reshape(-1).astype(np.uint8), bitorder="big").tobytes()


def main():
    tool = pathlib.Path(sys.argv[1])
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    def compare(case, out, label):
        logits, ref = np.load(out / "logits.npy"), np.load(FIXTURES / case / "logits.npy")
        proposal, ref_proposal = np.load(out / "proposal.npy"), np.load(FIXTURES / case / "proposal.npy")
        check(logits.dtype == np.float32 and logits.shape == ref.shape, f"{label}: logits {logits.dtype} {logits.shape}")
        check(proposal.dtype == np.uint8 and proposal.shape == ref_proposal.shape, f"{label}: proposal {proposal.shape}")
        if logits.shape == ref.shape:
            error = (np.abs(logits - ref) / np.maximum(1, np.abs(ref))).max()
            check(error <= TOLERANCE, f"{label}: logits differ from the reference by {error:.3g}")
        if proposal.shape == ref_proposal.shape:
            clear = np.abs(ref[1] - ref[0]) > TOLERANCE
            check((proposal[clear] == ref_proposal[clear]).all(), f"{label}: proposal differs")
            check(set(np.unique(proposal)) <= {0, 1}, f"{label}: proposal is not 0/1")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        for case in ("f32_64x64", "f32_values"):
            cfg = json.loads((FIXTURES / case / "config.json").read_text())
            size = [str(e) for e in cfg["grid"]]
            base = ["--weights", FIXTURES / case / "weights.safetensors", "--grid-size", *size, "--threads", 2]
            grid = np.load(FIXTURES / case / "grid.npy")
            inputs = {"npy": FIXTURES / case / "grid.npy"}
            if grid.dtype == np.uint8:
                np.save(tmp / f"{case}_flat_i32.npy", grid.reshape(-1).astype(np.int32))
                (tmp / f"{case}.bin").write_bytes(pack_bits(grid))
                inputs.update({"flat int32 npy": tmp / f"{case}_flat_i32.npy", "packed": tmp / f"{case}.bin"})
            for label, path in inputs.items():
                out = tmp / f"{case}_{label.replace(' ', '_')}"
                result = run(tool, *base, "--grid", path, "--out", out)
                check(result.returncode == 0, f"{case} {label}: failed: {result.stderr}")
                if result.returncode == 0:
                    check("proposed" in result.stdout and "seg_h" in result.stdout, f"{case} {label}: no stage table")
                    compare(case, out, f"{case} {label}")
            result = run(tool, *base, "--grid", inputs["npy"], "--out", tmp / "json", "--json", "--repeat", 2)
            check(result.returncode == 0, f"{case} --json failed: {result.stderr}")
            if result.returncode == 0:
                report = json.loads(result.stdout)
                check(report["proposals"] == int(np.load(tmp / "json" / "proposal.npy").sum()), "--json: proposal count")
                check({"skip_1_1", "seg_h", "logits", "proposal"} <= set(report["stages_ms"]), "--json: stages")

        case = FIXTURES / "f32_64x64"
        base = ["--weights", case / "weights.safetensors", "--grid-size", 64, 64, 32, "--grid", case / "grid.npy"]
        (tmp / "short.bin").write_bytes(b"\x00" * 100)
        bad = [
            (["--threads", "0"], "--threads"),
            (["--threads", "two"], "--threads"),
            (["--grid-size", 64, 60, 32], "multiple of 8"),
            (["--grid-size", 64, 64, 16], "has shape"),
            (["--grid", tmp / "missing.npy"], "missing.npy"),
            (["--grid", case / "logits.npy"], "elements"),
            (["--grid", tmp / "short.bin"], "packs into"),
            (["--weights", case / "config.json"], "safetensors"),
            (["--chunk", "0"], "--chunk"),
        ]
        for extra, mentions in bad:
            args = list(base)
            i = 0
            while i < len(extra):
                flag, values = extra[i], []
                i += 1
                while i < len(extra) and not str(extra[i]).startswith("--"):
                    values.append(extra[i])
                    i += 1
                if flag in args:
                    at = args.index(flag)
                    args[at + 1:at + 1 + len(values)] = values
                else:
                    args += [flag, *values]
            check_rejected(check, run(tool, *args, "--out", tmp / "bad"), extra, mentions)
            check(not (tmp / "bad").exists(), f"{extra}: --out was created")  # was: before the grid was read
        result = run(tool, "--grid", case / "grid.npy", "--out", tmp / "none")
        check(result.returncode != 0 and "--weights or --random-weights" in result.stderr, "no weights accepted")

        # A file that cannot be put in place, found after logits.npy was written (was: left behind).
        later = tmp / "later"
        (later / "proposal.npy").mkdir(parents=True)
        before = snapshot(later)
        result = run(tool, *base, "--out", later)
        check_rejected(check, result, "proposal.npy a folder", str(later / "proposal.npy"))
        check(snapshot(later) == before, "a failed run changed --out")

        # A full disk: was exit 0 beside 0-byte files (outputs small enough to stay in a stream's buffer), or a
        # truncated file left; an --out made for nothing.
        (tmp / "full").mkdir()
        (tmp / "full" / "filler").write_bytes(b"f" * 16384)
        np.save(tmp / "grid_8.npy", np.ones((8, 8, 8), np.uint8))
        small = ["--random-weights", 1, "--grid-size", 8, 8, 8, "--grid", tmp / "grid_8.npy"]
        outcome = run_on_small_disk(tmp / "disk_full", tmp / "full", tool, *small, "--out", tmp / "disk_full" / "out")
        check_full_disk_failure(check, "full disk, small outputs", outcome, tmp / "full", "logits.npy")
        (tmp / "empty").mkdir()
        outcome = run_on_small_disk(tmp / "disk_new", tmp / "empty", tool, *base, "--out", tmp / "disk_new" / "out")
        check_full_disk_failure(check, "full disk, new --out", outcome, tmp / "empty", "logits.npy")
        (tmp / "previous" / "out").mkdir(parents=True)
        (tmp / "previous" / "out" / "logits.npy").write_bytes(b"previous logits")
        (tmp / "previous" / "out" / "notes.txt").write_text("kept")
        outcome = run_on_small_disk(tmp / "disk_old", tmp / "previous", tool, *base, "--out", tmp / "disk_old" / "out")
        check_full_disk_failure(check, "full disk, existing --out", outcome, tmp / "previous", "logits.npy")

        result = run(tool, "--help")
        check(result.returncode == 0 and "--grid-size" in result.stdout, "--help does not list --grid-size")

    for failure in failures:
        print("FAIL:", failure)
    print(f"test_voxformer_qpn: {'ok' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
