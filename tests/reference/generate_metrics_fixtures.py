#!/usr/bin/env python3
"""Writes tests/fixtures/metrics/<case>/: prediction.npy and ground_truth.npy (uint8 [frames, X, Y, Z]) and
expected.json (ssc_metrics_reference.SSCMetrics over the frames, in order). range_256 stores no volumes: its frames
are ssc_metrics_reference.hashed_volumes, rebuilt by the C++ test, with the expected results per evaluation range.

Usage: /usr/bin/python3 tests/reference/generate_metrics_fixtures.py [OUT_DIR]   (default tests/fixtures/metrics)
"""
import json
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ssc_metrics_reference as ref  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]


def expected_of(prediction, truth, classes):
    metrics = ref.SSCMetrics(classes)
    for p, t in zip(prediction, truth):
        metrics.add_batch(p, t)
    return metrics.as_expected()


def random_frames(rng, frames, shape, classes=20, ignored=0.1, copied=0.6):
    """Ground truth half empty, the rest spread over the classes, `ignored` of it 255; predictions copy the ground
    truth with probability `copied` and are uniform otherwise."""
    truth = np.where(rng.random((frames,) + shape) < 0.5, 0, rng.integers(1, classes, (frames,) + shape))
    truth[rng.random(truth.shape) < ignored] = ref.IGNORE
    prediction = np.where(rng.random(truth.shape) < copied, truth, rng.integers(0, classes, truth.shape))
    prediction[prediction == ref.IGNORE] = 0
    return prediction.astype(np.uint8), truth.astype(np.uint8)


def write_case(out, name, prediction, truth, classes, check=None):
    expected = expected_of(prediction, truth, classes)
    if check:
        check(expected)
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "prediction.npy", np.ascontiguousarray(prediction, dtype=np.uint8))
    np.save(folder / "ground_truth.npy", np.ascontiguousarray(truth, dtype=np.uint8))
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def close(a, b):
    return abs(a - b) <= 1e-12


def check_hand_built(e):
    # Worked by hand (voxel: truth → prediction): 0→0, 0→1, 1→1, 1→2, 2→2, 2→0, ignored→7, 3→3.
    assert e["completion"] == {"tp": 4, "fp": 1, "fn": 1}, e["completion"]
    assert (e["tp"], e["fp"], e["fn"]) == ([1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 1, 0])
    assert close(e["precision"], 0.8) and close(e["recall"], 0.8) and close(e["iou"], 4 / 6)
    third = 1 / (3 + 1e-5)
    assert all(close(a, b) for a, b in zip(e["class_iou"], [third, third, third, 1 / (1 + 1e-5)]))
    assert close(e["miou"], (2 * third + 1 / (1 + 1e-5)) / 3)


def check_no_true_positive(e):
    # 0→1, 0→2, 1→0, ignored→1: no occupied voxel predicted occupied, so precision, recall and IoU are 0.
    assert e["completion"] == {"tp": 0, "fp": 2, "fn": 1}, e["completion"]
    assert (e["tp"], e["fp"], e["fn"]) == ([0, 0, 0], [1, 1, 1], [2, 1, 0])
    assert e["precision"] == e["recall"] == e["iou"] == e["miou"] == 0.0


def main():
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "fixtures" / "metrics"
    rng = np.random.default_rng(20230601)

    write_case(out, "random_frames", *random_frames(rng, 3, (16, 16, 8)), 20)

    hand_truth = np.array([0, 0, 1, 1, 2, 2, 255, 3], dtype=np.uint8).reshape(1, 2, 2, 2)
    hand_prediction = np.array([0, 1, 1, 2, 2, 0, 7, 3], dtype=np.uint8).reshape(1, 2, 2, 2)
    write_case(out, "hand_built", hand_prediction, hand_truth, 4, check_hand_built)

    write_case(out, "no_true_positive", np.array([1, 2, 0, 1], np.uint8).reshape(1, 1, 2, 2),
               np.array([0, 0, 1, 255], np.uint8).reshape(1, 1, 2, 2), 3, check_no_true_positive)

    prediction, truth = random_frames(rng, 2, (8, 8, 4))
    prediction[prediction == 7] = 6
    truth[truth == 7] = 6

    def absent(e):
        assert e["tp"][7] == e["fp"][7] == e["fn"][7] == 0 and e["class_iou"][7] == 0.0

    write_case(out, "absent_class", prediction, truth, 20, absent)

    prediction, truth = random_frames(rng, 2, (8, 8, 4))
    truth[truth == 5] = 4
    prediction[0, 0, 0, :] = 5  # some of them at ignored voxels, where they are not counted

    def prediction_only(e):
        assert e["tp"][5] == e["fn"][5] == 0 and e["fp"][5] > 0 and e["class_iou"][5] == 0.0

    write_case(out, "prediction_only_class", prediction, truth, 20, prediction_only)

    prediction, truth = random_frames(rng, 3, (8, 8, 4))
    truth[1] = ref.IGNORE
    prediction[1] = rng.integers(0, 256, prediction[1].shape)  # anything goes where nothing is evaluated
    write_case(out, "all_ignored_frame", prediction, truth, 20)

    def nothing(e):
        assert e["completion"] == {"tp": 0, "fp": 0, "fn": 0} and e["miou"] == 0.0 and e["frames"] == 1

    write_case(out, "only_ignored", rng.integers(0, 256, (1, 4, 4, 2)).astype(np.uint8),
               np.full((1, 4, 4, 2), ref.IGNORE, np.uint8), 20, nothing)

    seeds = [7, 8]
    frames = [ref.hashed_volumes((256, 256, 32), seed) for seed in seeds]
    ranges = {}
    for metres in (51.2, 25.6, 12.8):
        metrics = ref.SSCMetrics(20)
        for prediction, truth in frames:
            metrics.add_batch(prediction, ref.crop_to_range(truth, metres))
        ranges[str(metres)] = metrics.as_expected()
    folder = out / "range_256"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "expected.json").write_text(json.dumps(
        {"extents": [256, 256, 32], "seeds": seeds, "ranges": ranges}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
