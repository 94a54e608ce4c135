"""voxformer.SSCMetrics against the NumPy reference of the spec (tests/reference/ssc_metrics_reference.py) and its
committed fixtures (tests/fixtures/metrics/): dataset-level sums, the scores computed from them in float64 (compared
within 1e-12, the sums themselves exactly), the evaluation ranges on the 256x256x32 grid, merging, and bad frames
(refused whole: nothing counted)."""

import json

import numpy as np
import pytest

import voxformer

CASES = ["random_frames", "hand_built", "no_true_positive", "absent_class", "prediction_only_class",
         "all_ignored_frame", "only_ignored"]


def accumulate(prediction, truth, classes, range_=51.2):
    metrics = voxformer.SSCMetrics(classes=classes, range=range_)
    for p, t in zip(prediction, truth):
        metrics.add(p, t)
    return metrics


def assert_scores(metrics, expected):
    assert metrics.classes == expected["classes"]
    assert metrics.frames == expected["frames"]
    for name in ("precision", "recall", "iou", "miou"):
        assert getattr(metrics, name) == pytest.approx(expected[name], abs=1e-12), name
    assert metrics.class_ious == pytest.approx(expected["class_iou"], abs=1e-12)


def case_data(fixtures_dir, name):
    folder = fixtures_dir / "metrics" / name
    return (np.load(folder / "prediction.npy"), np.load(folder / "ground_truth.npy"),
            json.loads((folder / "expected.json").read_text()))


@pytest.mark.parametrize("name", CASES)
def test_matches_the_fixtures(fixtures_dir, name):
    prediction, truth, expected = case_data(fixtures_dir, name)
    metrics = accumulate(prediction, truth, expected["classes"])
    assert_scores(metrics, expected)
    assert metrics.voxels == int(np.count_nonzero(truth != 255))
    assert metrics.range == pytest.approx(51.2)


@pytest.mark.parametrize("name", ["random_frames", "hand_built"])
def test_the_confusion_matrix_holds_the_reference_sums(fixtures_dir, name):
    prediction, truth, expected = case_data(fixtures_dir, name)
    confusion = accumulate(prediction, truth, expected["classes"]).confusion
    assert confusion.dtype == np.int64 and confusion.shape == (expected["classes"],) * 2
    diagonal = np.diag(confusion)
    assert diagonal.tolist() == expected["tp"]
    assert (confusion.sum(axis=0) - diagonal).tolist() == expected["fp"]
    assert (confusion.sum(axis=1) - diagonal).tolist() == expected["fn"]


@pytest.mark.parametrize("seed, classes, shape", [(0, 5, (6, 7, 3)), (1, 20, (16, 8, 4)), (2, 2, (3, 3, 3))])
def test_matches_the_numpy_reference(metrics_reference, seed, classes, shape):
    rng = np.random.default_rng(seed)
    reference = metrics_reference.SSCMetrics(classes)
    metrics = voxformer.SSCMetrics(classes=classes)
    for _ in range(3):
        truth = rng.integers(0, classes, shape).astype(np.uint8)
        truth[rng.random(shape) < 0.15] = 255
        prediction = np.where(rng.random(shape) < 0.5, truth, rng.integers(0, classes, shape)).astype(np.uint8)
        prediction[truth == 255] = rng.integers(0, 256, int((truth == 255).sum()))  # anything where not evaluated
        reference.add_batch(prediction, truth)
        metrics.add(prediction, truth)
    assert_scores(metrics, reference.as_expected())


def test_evaluation_ranges_on_the_official_grid(fixtures_dir, metrics_reference):
    expected = json.loads((fixtures_dir / "metrics" / "range_256" / "expected.json").read_text())
    frames = [metrics_reference.hashed_volumes(tuple(expected["extents"]), seed) for seed in expected["seeds"]]
    for metres, scores in expected["ranges"].items():
        metrics = voxformer.SSCMetrics(classes=20, range=float(metres))
        for prediction, truth in frames:
            metrics.add(prediction, truth)  # the range crops inside: no 255 written into the ground truth
        assert metrics.range == pytest.approx(float(metres))
        assert_scores(metrics, scores)


def test_strided_frames(fixtures_dir):
    prediction, truth, expected = case_data(fixtures_dir, "random_frames")
    metrics = voxformer.SSCMetrics()
    for p, t in zip(prediction, truth):
        metrics.add(np.asfortranarray(p), np.ascontiguousarray(t.transpose(2, 1, 0)).transpose(2, 1, 0))
    assert_scores(metrics, expected)


def test_pytorch_tensors(fixtures_dir, torch):
    prediction, truth, expected = case_data(fixtures_dir, "random_frames")
    metrics = voxformer.SSCMetrics()
    for p, t in zip(prediction, truth):
        metrics.add(torch.from_numpy(p), torch.from_numpy(np.ascontiguousarray(t.transpose(2, 1, 0))).permute(2, 1, 0))
    assert_scores(metrics, expected)


def test_merge_equals_adding_every_frame(fixtures_dir):
    prediction, truth, expected = case_data(fixtures_dir, "random_frames")
    first, second = voxformer.SSCMetrics(), voxformer.SSCMetrics()
    first.add(prediction[0], truth[0])
    for p, t in zip(prediction[1:], truth[1:]):
        second.add(p, t)
    first.merge(second)
    assert_scores(first, expected)
    assert second.frames == len(prediction) - 1


def test_merge_needs_the_same_classes_and_range():
    metrics = voxformer.SSCMetrics(classes=4)
    with pytest.raises(ValueError, match=r"voxformer::ssc_metrics::merge: 5 classes at 51.2 m into 4 classes at 51.2 m"):
        metrics.merge(voxformer.SSCMetrics(classes=5))
    with pytest.raises(ValueError, match=r"voxformer::ssc_metrics::merge: 4 classes at 25.6 m into 4 classes"):
        metrics.merge(voxformer.SSCMetrics(classes=4, range=25.6))


def test_bad_frames_count_nothing():
    metrics = voxformer.SSCMetrics(classes=4)
    good = np.zeros((2, 2, 2), np.uint8)
    metrics.add(good, good)
    op = r"voxformer::ssc_metrics::add: "
    bad = [
        ((good, np.zeros((2, 2, 3), np.uint8)), op + r"argument 'prediction' \[X, Y, Z\] expected shape \[2, 2, 3\]"),
        ((np.full((2, 2, 2), 9, np.uint8), good), op + r"prediction 9 at voxel \(0, 0, 0\) is not a class \(0..3\)"),
        ((good, np.full((2, 2, 2), 9, np.uint8)), op + r"ground truth 9 at voxel \(0, 0, 0\) is neither a class"),
        ((good.astype(np.int32), good), op + r"argument 'prediction' has element type int32, expected uint8"),
        ((good[0], good[0]), op + r"argument 'prediction' has rank 2, expected rank 3"),
    ]
    for (prediction, truth), message in bad:
        with pytest.raises(ValueError, match=message):
            metrics.add(prediction, truth)
    assert metrics.frames == 1 and metrics.voxels == 8


def test_bad_construction():
    with pytest.raises(ValueError, match=r"voxformer::eval_range_from_metres: 10 m is not an evaluation range "
                                         r"\(51.2, 25.6 or 12.8\)"):
        voxformer.SSCMetrics(range=10)
    with pytest.raises(ValueError, match=r"voxformer::ssc_metrics: 1 classes, expected 2..255"):
        voxformer.SSCMetrics(classes=1)
    with pytest.raises(ValueError, match=r"voxformer::ssc_metrics: 256 classes, expected 2..255"):
        voxformer.SSCMetrics(classes=256)
