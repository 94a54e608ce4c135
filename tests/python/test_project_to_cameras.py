"""voxformer.project_to_cameras (VoxFormer's point_sampling) against the reference's fixtures and a float64 NumPy
restatement of its docstring: reference [Q, D, 3] normalised over pc_range, projected by lidar2img [K, 4, 4] to
reference_cam [K, Q, D, 2] = (u/W, v/H) and visible [K, Q, D] = depth > 1e-5 and 0 < u/W, v/H < 1.

Tolerances: against tests/fixtures/projection (the C++ test's), |error| <= 5e-7 |ref| + 1e-7: the same fp32 formula,
PyTorch's matmul summing the 4 products in another order (<= 4 ulp); visible exactly. Against the pipeline fixtures'
reference_cam (point_sampling inside the reference model, for the proposed voxels' centres) and the float64
restatement, 1e-5 relative + 1e-6: the library projects in fp32 (pc_range must be finite in fp32 for that reason),
so the float64 points are rounded once; points within 1e-4 of a visibility boundary may go either way and are left
out of the visibility comparison. Against the restatement, (u/W, v/H) is compared for points at least 1 m ahead of
the camera, within 1e-5 relative + 1e-5: the fp32 products of the matrix (entries ~700) and the points (~50 m) carry
~2e-3 px of rounding, /W. Behind the camera the depth is clamped to 1e-5, so (u/W, v/H) there is fp32 rounding
amplified 1e5 times: only finite and invisible.
"""

import json

import numpy as np
import pytest

import voxformer

VOXFORMER_RANGE = (0.0, -25.6, -2.0, 51.2, 25.6, 4.4)
KITTI_CROP = (370, 1220)


def numpy_projection(reference, lidar2img, pc_range=VOXFORMER_RANGE, image_size=KITTI_CROP, eps=1e-5):
    """The docstring in float64: (reference_cam [K, Q, D, 2], visible [K, Q, D], margin [K, Q, D], depth [K, Q, D])
    where margin is the distance of the point's (depth, u/W, v/H) to the nearest visibility boundary."""
    lo, hi = np.array(pc_range[:3]), np.array(pc_range[3:])
    points = np.asarray(reference, np.float64) * (hi - lo) + lo                        # [Q, D, 3]
    homogeneous = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], axis=-1)  # [Q, D, 4]
    cam = np.einsum("kij,qdj->kqdi", lidar2img.astype(np.float64), homogeneous)         # [K, Q, D, 4]
    depth = cam[..., 2]
    uv = cam[..., :2] / np.maximum(depth, eps)[..., None]
    uv = uv / np.array([image_size[1], image_size[0]], np.float64)
    visible = (depth > eps) & (uv[..., 0] > 0) & (uv[..., 0] < 1) & (uv[..., 1] > 0) & (uv[..., 1] < 1)
    margin = np.minimum.reduce([np.abs(depth - eps), np.abs(uv[..., 0]), np.abs(uv[..., 0] - 1),
                                np.abs(uv[..., 1]), np.abs(uv[..., 1] - 1)])
    return uv, visible.astype(np.uint8), margin, depth


def assert_cam_close(actual, expected, rel, abs_):
    assert actual.shape == expected.shape and actual.dtype == np.float32
    excess = np.abs(actual.astype(np.float64) - expected) - (rel * np.abs(expected) + abs_)
    assert excess.max() <= 0, f"element {np.unravel_index(excess.argmax(), excess.shape)} off by {excess.max()}"


@pytest.fixture(scope="module")
def projection_fixture(fixtures_dir):
    folder = fixtures_dir / "projection"
    return tuple(np.load(folder / f"{n}.npy") for n in ("reference", "lidar2img", "reference_cam", "visible"))


def test_matches_the_projection_fixture(projection_fixture):
    reference, lidar2img, expected_cam, expected_visible = projection_fixture
    assert reference.dtype == np.float64 and reference.shape == (64, 2, 3)
    for threads in (1, 2):
        cam, visible = voxformer.project_to_cameras(reference, lidar2img, threads=threads)
        assert visible.dtype == np.uint8 and np.array_equal(visible, expected_visible)
        assert_cam_close(cam, expected_cam, 5e-7, 1e-7)
    assert expected_visible[2].sum() == 0  # the fixture's third camera looks away


@pytest.mark.parametrize("name", ["t_small", "s_small", "t3d_small", "t_blind_camera"])
def test_matches_the_pipeline_fixtures_point_sampling(fixtures_dir, name):
    folder = fixtures_dir / "pipeline" / name
    config = json.loads((folder / "config.json").read_text())
    shape = config["volume"]
    x, y, z = np.unravel_index(np.load(folder / "unmasked.npy"), shape)
    reference = np.stack([(x + 0.5) / shape[0], (y + 0.5) / shape[1], (z + 0.5) / shape[2]], axis=-1)[:, None, :]
    cam, visible = voxformer.project_to_cameras(reference, np.load(folder / "lidar2img.npy"),
                                                pc_range=config["pc_range"], image_size=config["image_size"])
    assert np.array_equal(visible[:, :, 0], np.load(folder / "visible.npy"))
    assert_cam_close(cam[:, :, 0], np.load(folder / "reference_cam.npy"), 1e-5, 1e-6)


def random_reference(seed, queries=300, anchors=3, dtype=np.float64):
    return np.random.default_rng(seed).uniform(-0.05, 1.05, (queries, anchors, 3)).astype(dtype)


@pytest.mark.parametrize("pc_range, image_size", [(VOXFORMER_RANGE, KITTI_CROP),
                                                  ((-10.0, -20.0, -3.0, 30.0, 20.0, 5.0), (200, 640))])
def test_matches_a_float64_restatement(projection_fixture, pc_range, image_size):
    _, lidar2img, _, _ = projection_fixture
    reference = random_reference(0)
    cam, visible = voxformer.project_to_cameras(reference, lidar2img, pc_range=pc_range, image_size=image_size)
    expected_cam, expected_visible, margin, depth = numpy_projection(reference, lidar2img, pc_range, image_size)
    assert cam.shape == (3, 300, 3, 2) and visible.shape == (3, 300, 3)
    ahead = depth >= 1.0
    assert ahead.mean() > 0.3
    assert_cam_close(cam[ahead], expected_cam[ahead], 1e-5, 1e-5)
    assert np.isfinite(cam).all() and not visible[depth <= 1e-5].any()
    decided = margin > 1e-4
    assert decided.mean() > 0.99
    assert np.array_equal(visible[decided], expected_visible[decided])
    assert 0 < expected_visible.sum() < expected_visible.size


def test_float32_references_project_as_float64_ones(projection_fixture):
    _, lidar2img, _, _ = projection_fixture
    reference = random_reference(1, dtype=np.float32)
    cam, visible = voxformer.project_to_cameras(reference, lidar2img)
    expected_cam, expected_visible, margin, depth = numpy_projection(reference, lidar2img)
    ahead = depth >= 1.0
    assert_cam_close(cam[ahead], expected_cam[ahead], 1e-5, 1e-5)
    decided = margin > 1e-4
    assert np.array_equal(visible[decided], expected_visible[decided])


def test_strided_inputs(projection_fixture):
    reference, lidar2img, _, _ = projection_fixture
    expected = voxformer.project_to_cameras(reference, lidar2img)
    variants = {
        "Fortran reference": (np.asfortranarray(reference), lidar2img),
        "transposed-back matrices": (reference, np.ascontiguousarray(lidar2img.transpose(0, 2, 1)).transpose(0, 2, 1)),
        "step-2 anchors": (np.repeat(reference, 2, axis=1)[:, ::2], lidar2img),
    }
    for name, (r, m) in variants.items():
        assert not (r.flags.c_contiguous and m.flags.c_contiguous), name
        cam, visible = voxformer.project_to_cameras(r, m)
        assert np.array_equal(cam, expected[0]) and np.array_equal(visible, expected[1]), name


def test_pytorch_tensors(projection_fixture, torch):
    reference, lidar2img, _, _ = projection_fixture
    expected = voxformer.project_to_cameras(reference, lidar2img)
    variants = {
        "torch": (torch.from_numpy(reference), torch.from_numpy(lidar2img)),
        "torch strided": (torch.from_numpy(np.asfortranarray(reference)),
                          torch.from_numpy(lidar2img).transpose(1, 2).contiguous().transpose(1, 2)),
    }
    for name, (r, m) in variants.items():
        cam, visible = voxformer.project_to_cameras(r, m)
        assert isinstance(cam, np.ndarray)
        assert np.array_equal(cam, expected[0]) and np.array_equal(visible, expected[1]), name
