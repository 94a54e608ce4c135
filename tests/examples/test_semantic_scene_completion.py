#!/usr/bin/env python3
"""The end-to-end example on the bundled frame: it runs (directly, on camera images it renders from the scan; through
the depth map with VoxFormer-T, whose past cameras come from the sequence's poses; with the query proposal network and
camera images given as PNG files), says what is random or rendered, prints the stage table and the scores,
and writes <frame>.label (4 MiB of uint16 raw ids of the 20 classes, [x][y][z]), a PNG of the expected size and a
binary PLY with one vertex per occupied predicted voxel; bad arguments are one clear line and a non-zero exit, and
leave no --out behind. The outputs are all or nothing: a full disk (a 16 KiB tmpfs, root only) or a file that cannot be
put in place is an error that leaves --out as it was.

Usage: /usr/bin/python3 tests/examples/test_semantic_scene_completion.py PATH/TO/semantic_scene_completion
"""
import pathlib
import struct
import sys
import tempfile

import numpy as np
import yaml
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "tools"))
from cli_checks import check_full_disk_failure, check_rejected, run, run_on_small_disk, snapshot  # noqa: E402

LABEL_MAP = yaml.safe_load((ROOT / "examples" / "data" / "semantic-kitti.yaml").read_text())
QPN_WEIGHTS = ROOT / "tests" / "fixtures" / "qpn" / "f32_64x64" / "weights.safetensors"



def png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # IHDR follows the signature and the chunk header
    return width, height


def ply_vertices(path):
    data = path.read_bytes()
    header, _, body = data.partition(b"end_header\n")
    lines = header.decode().splitlines()
    assert lines[:2] == ["ply", "format binary_little_endian 1.0"], lines[:2]
    count = int(next(line for line in lines if line.startswith("element vertex")).split()[-1])
    assert len(body) == count * 15, f"{len(body)} bytes for {count} vertices"
    return count


def main():
    example = pathlib.Path(sys.argv[1])
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    raw_of_class = set(LABEL_MAP["learning_map_inv"].values())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        rng = np.random.default_rng(1)
        camera = tmp / "camera.png"  # a camera image larger than the crop, 8-bit RGB
        Image.fromarray(rng.integers(0, 256, (376, 1241, 3), dtype=np.uint8)).save(camera)
        grey = tmp / "grey.png"
        Image.fromarray(rng.integers(0, 256, (376, 1241), dtype=np.uint8)).save(grey)
        small = tmp / "small.png"
        Image.fromarray(rng.integers(0, 256, (300, 1241, 3), dtype=np.uint8)).save(small)
        runs = {
            "default": ([], ["RANDOM weights", "RENDERED camera images", "downsampled"]),
            "depth, T": (["--via-depth", "--variant", "T", "--threads", 2],
                         ["depth map in camera 2", "placed by its poses", "RANDOM"]),
            "qpn, images": (["--qpn-weights", QPN_WEIGHTS, "--images", camera, "--scale", 1],
                            ["query proposal network", "camera images from"]),
        }
        for name, (args, says) in runs.items():
            out = tmp / name.replace(", ", "_")
            result = run(example, "--out", out, *args)
            check(result.returncode == 0, f"{name}: failed ({result.returncode}): {result.stderr}")
            if result.returncode != 0:
                continue
            for text in says + ["stage", "peak RSS", "total", "mIoU", "images → labels", "image.layer3", "voxelise"]:
                check(text in result.stdout, f"{name}: the output does not say {text!r}")
            label = out / "001000.label"
            raw = np.fromfile(label, dtype="<u2") if label.exists() else np.zeros(0)
            check(raw.size == 256 * 256 * 32, f"{name}: {label.name} holds {raw.size} labels")
            check(set(np.unique(raw)) <= raw_of_class, f"{name}: raw ids outside the learning map's classes")
            scale = 1 if "--scale" in args else 2
            check(png_size(out / "001000_bev.png") == (4 * 256 * scale + 3 * 8, 256 * scale), f"{name}: PNG size")
            check(ply_vertices(out / "001000.ply") == int((raw != 0).sum()), f"{name}: PLY vertices ≠ occupied voxels")

        bad = [
            (["--threads", 0], "--threads"),
            (["--threads", "two"], "--threads"),
            (["--frame", tmp / "missing"], "missing"),
            (["--variant", "X"], "--variant"),
            (["--weights", tmp / "missing.safetensors"], "missing.safetensors"),
            (["--weights", camera], "safetensors"),
            (["--images", QPN_WEIGHTS], "not a PNG file"),
            (["--images", grey], "8-bit grey PNG; a camera image must be 8-bit RGB"),
            (["--images", camera, "--variant", "T"], "VoxFormer-T has 5 camera(s), 1 image(s) given"),
            (["--images", small], "must be RGB images of at least the crop, 370x1220"),
            (["--scale", 0], "--scale"),
        ]
        for args, mentions in bad:
            check_rejected(check, run(example, "--out", tmp / "bad", *args), args, mentions)
            check(not (tmp / "bad").exists(), f"{args}: --out was created")

        # A file that cannot be put in place, found after the .label and the .ply were written (was: those left).
        later = tmp / "later"
        (later / "001000_bev.png").mkdir(parents=True)
        before = snapshot(later)
        result = run(example, "--out", later)
        check_rejected(check, result, "001000_bev.png a folder", str(later / "001000_bev.png"))
        check(snapshot(later) == before, "a failed run changed --out")

        # A full disk, with an earlier run's files in --out: they stay as they were (was: a truncated .label).
        (tmp / "previous" / "out").mkdir(parents=True)
        (tmp / "previous" / "out" / "001000.label").write_bytes(b"previous labels")
        outcome = run_on_small_disk(tmp / "disk", tmp / "previous", example, "--out", tmp / "disk" / "out")
        check_full_disk_failure(check, "full disk", outcome, tmp / "previous", "001000.label")
        result = run(example, "--help")
        check(result.returncode == 0 and "--via-depth" in result.stdout, "--help does not list --via-depth")

    for failure in failures:
        print("FAIL:", failure)
    print(f"test_semantic_scene_completion: {'ok' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
