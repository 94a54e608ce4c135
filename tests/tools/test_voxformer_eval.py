#!/usr/bin/env python3
"""voxformer_eval end to end: on random SemanticKITTI-format folders written here (raw uint16 .label volumes,
bit-packed .invalid masks) its scores equal the NumPy reference of SSCMetrics (tests/reference/
ssc_metrics_reference.py) with the labels mapped as SemanticKITTI's evaluate_completion maps them (PyYAML reads the
bundled semantic-kitti.yaml), for each evaluation range and thread count; --json prints exactly one object with the
documented keys; every bad argument is one clear line on stderr with a non-zero exit.

Usage: /usr/bin/python3 tests/tools/test_voxformer_eval.py PATH/TO/voxformer_eval
"""
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "reference"))
import ssc_metrics_reference as ref  # noqa: E402
from cli_checks import check_rejected, run  # noqa: E402

SHAPE = (256, 256, 32)
CONFIG = yaml.safe_load((ROOT / "examples" / "data" / "semantic-kitti.yaml").read_text())


def ground_truth_lut():
    """evaluate_completion's remap: learning_map, then every raw id that maps to 0 except 0 itself → 255."""
    lut = np.full(max(CONFIG["learning_map"]) + 1, -1, dtype=np.int64)
    for raw, c in CONFIG["learning_map"].items():
        lut[raw] = c
    lut[(lut == 0) & (np.arange(lut.size) != 0)] = 255
    return lut


def pack(bits):
    return np.packbits(bits.reshape(-1).astype(np.uint8))  # most significant bit first, as .invalid files


def write_dataset(folder, rng, frames):
    """Random raw ground truth (half empty, some raw ids that map to class 0 or to a shared class) with .invalid masks
    for some frames, and predictions in raw ids that are mostly right; returns the reference's class volumes."""
    pred_dir, gt_dir = folder / "pred", folder / "gt"
    pred_dir.mkdir()
    gt_dir.mkdir()
    raw_ids = np.array(sorted(CONFIG["learning_map"]))
    inverse = np.array([CONFIG["learning_map_inv"][c] for c in range(len(CONFIG["learning_map_inv"]))])
    lut = ground_truth_lut()
    learning = np.zeros(lut.size, dtype=np.int64)
    for raw, c in CONFIG["learning_map"].items():
        learning[raw] = c
    volumes = []
    for i, name in enumerate(frames):
        raw = np.where(rng.random(SHAPE) < 0.5, 0, rng.choice(raw_ids, SHAPE)).astype(np.uint16)
        truth = lut[raw]
        if i % 2 == 0:
            invalid = rng.random(SHAPE) < 0.1
            pack(invalid).tofile(gt_dir / f"{name}.invalid")
            truth[invalid] = 255
        raw.tofile(gt_dir / f"{name}.label")
        classes = np.where(rng.random(SHAPE) < 0.7, np.where(truth == 255, 0, truth), rng.integers(0, 20, SHAPE))
        prediction_raw = inverse[classes].astype(np.uint16)
        moving = (classes == 1) & (rng.random(SHAPE) < 0.3)
        prediction_raw[moving] = 252  # moving-car: also class 1
        prediction_raw.tofile(pred_dir / f"{name}.label")
        volumes.append((learning[prediction_raw], truth))
    return pred_dir, gt_dir, volumes


def expected(volumes, metres):
    metrics = ref.SSCMetrics(20)
    for prediction, truth in volumes:
        metrics.add_batch(prediction, ref.crop_to_range(truth, metres))
    return metrics.as_expected()


def main():
    tool = pathlib.Path(sys.argv[1]).resolve()
    failures = []

    def check(condition, message):
        if not condition:
            failures.append(message)

    rng = np.random.default_rng(5)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        pred_dir, gt_dir, volumes = write_dataset(tmp, rng, ["000000", "000005", "000010"])
        (gt_dir / "notes.txt").write_text("not a frame")  # other files are skipped

        for metres, threads in [(51.2, 1), (25.6, 2), (12.8, 3)]:
            result = run(tool, pred_dir, gt_dir, "--range", metres, "--threads", threads, "--json")
            check(result.returncode == 0, f"--range {metres}: failed: {result.stderr}")
            if result.returncode != 0:
                continue
            lines = result.stdout.strip().splitlines()
            check(len(lines) == 1, f"--json printed {len(lines)} lines")
            ours, ref_result = json.loads(lines[0]), expected(volumes, metres)
            for key in ["precision", "recall", "iou", "miou", "class_iou", "frames", "completion", "class_tp",
                        "class_fp", "class_fn", "class_names", "range", "voxels"]:
                check(key in ours, f"--json has no '{key}'")
            if failures:
                break
            check(ours["frames"] == 3 and ours["range"] == metres, f"{metres}: frames / range {ours['frames']}")
            check(ours["completion"] == ref_result["completion"], f"{metres}: completion counts differ")
            check([ours["class_tp"], ours["class_fp"], ours["class_fn"]] ==
                  [ref_result["tp"], ref_result["fp"], ref_result["fn"]], f"{metres}: class counts differ")
            check(len(ours["class_iou"]) == 20, "class_iou does not have 20 values")
            for key in ["precision", "recall", "iou", "miou"]:
                check(abs(ours[key] - ref_result[key]) <= 1e-9, f"{metres}: {key} {ours[key]} vs {ref_result[key]}")
            check(np.allclose(ours["class_iou"], ref_result["class_iou"], rtol=0, atol=1e-9), f"{metres}: class_iou")
            check(ours["class_names"][1] == "car" and ours["class_names"][19] == "traffic-sign", "class names")
            check(ours["voxels"] == sum(ref_result["tp"]) + sum(ref_result["fn"]), f"{metres}: voxels")

        result = run(tool, pred_dir, gt_dir)
        check(result.returncode == 0, f"table: failed: {result.stderr}")
        check("3 frame(s)" in result.stdout and "traffic-sign" in result.stdout and "mIoU" in result.stdout,
              f"table lacks frames, names or mIoU: {result.stdout!r}")
        check("--label-map" in run(tool, "--help").stdout, "--help does not list --label-map")

        # Bad arguments: one line, naming the problem.
        empty = tmp / "empty"
        empty.mkdir()
        bad_yaml = tmp / "bad.yaml"
        bad_yaml.write_text((ROOT / "examples" / "data" / "semantic-kitti.yaml").read_text()
                            .replace("  10: 1     # \"car\"", "  10: one"))
        cases = [
            ([tmp / "missing", gt_dir], "PRED_DIR"),
            ([pred_dir, tmp / "missing"], "GT_DIR"),
            ([pred_dir, empty], "holds no .label files"),
            ([pred_dir, gt_dir, "--range", "30"], "--range"),
            ([pred_dir, gt_dir, "--threads", "0"], "--threads"),
            ([pred_dir, gt_dir, "--label-map", tmp / "missing.yaml"], "--label-map"),
            ([pred_dir, gt_dir, "--label-map", bad_yaml], "'learning_map' (line"),
        ]
        for args, mentions in cases:
            check_rejected(check, run(tool, *args), args, mentions)

        def broken(name, change, mentions):
            """Copies the dataset, applies `change(pred_dir, gt_dir)`, and expects one error line naming `mentions`."""
            folder = tmp / name
            folder.mkdir()
            p, g = folder / "pred", folder / "gt"
            subprocess.run(["cp", "-r", str(pred_dir), str(p)], check=True)
            subprocess.run(["cp", "-r", str(gt_dir), str(g)], check=True)
            change(p, g)
            result = run(tool, p, g, "--threads", 2)
            lines = [line for line in result.stderr.strip().splitlines() if line]
            check(result.returncode != 0, f"{name}: accepted")
            check(len(lines) == 1 and mentions(p, g) in lines[0], f"{name}: unclear error {result.stderr!r}")

        broken("missing_prediction", lambda p, g: (p / "000005.label").unlink(),
               lambda p, g: f"no prediction '{p / '000005.label'}' for ground truth '{g / '000005.label'}'")
        broken("short_prediction", lambda p, g: (p / "000010.label").write_bytes(b"\0" * 1000),
               lambda p, g: f"read_label_volume('{p / '000010.label'}'): 1000 bytes, a 256x256x32 volume of uint16 "
                            "labels is 4194304")
        broken("short_invalid", lambda p, g: (g / "000000.invalid").write_bytes(b"\0" * 10),
               lambda p, g: f"read_packed_grid('{g / '000000.invalid'}'): 10 bytes")
        broken("unknown_raw_id", lambda p, g: np.full(SHAPE, 2, np.uint16).tofile(g / "000005.label"),
               lambda p, g: "ground_truth_classes: raw label 2 at voxel 0 is not in the learning_map")
        broken("unknown_prediction_id", lambda p, g: np.full(SHAPE, 300, np.uint16).tofile(p / "000000.label"),
               lambda p, g: "to_classes: raw label 300 at voxel 0 is not in the learning_map")

    for failure in failures:
        print("FAIL:", failure)
    print(f"test_voxformer_eval: {'ok' if not failures else f'{len(failures)} failure(s)'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
