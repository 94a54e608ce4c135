"""voxformer.ms_deform_attn / ms_deform_attn_3d against the PyTorch reference (tests/reference/voxformer_reference.py,
multi_scale_deformable_attn_pytorch / _3d_pytorch: grid_sample, evaluated here in float64 as the oracle) on small
random cases, and against the committed MSDA fixtures (tests/fixtures/msda*/, float64 outputs).

Tolerance, as the C++ MSDA tests (tests/ops/msda/): |ours - oracle| <= 1e-5 + 1e-5 |oracle| for values ~ N(0, 1).
The op runs in float32; the pixel coordinate x*W - 0.5 alone is off by up to W * 2^-24 px, which moves a sample
by about as much. Sampling locations reach a little outside [0, 1] to exercise the zero padding.

Input layouts (NumPy and PyTorch, contiguous and strided: the op takes any strides) must give the same bits.
"""

import numpy as np
import pytest

import voxformer

ABS_TOL = REL_TOL = 1e-5


def random_case(seed, dims, batch=2, queries=9, heads=2, head_dim=8, points=3,
                shapes=((5, 7), (3, 4)), depths=(3, 2)):
    rng = np.random.default_rng(seed)
    if dims == 3:
        shapes = tuple((h, w, z) for (h, w), z in zip(shapes, depths))
    spatial_shapes = np.array(shapes, dtype=np.int64)
    sizes = np.prod(spatial_shapes, axis=1)
    level_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    levels = len(shapes)
    return dict(
        value=rng.standard_normal((batch, int(sizes.sum()), heads, head_dim)).astype(np.float32),
        spatial_shapes=spatial_shapes,
        level_start_index=level_start,
        sampling_locations=rng.uniform(-0.1, 1.1, (batch, queries, heads, levels, points, dims)).astype(np.float32),
        attention_weights=rng.random((batch, queries, heads, levels, points)).astype(np.float32),
    )


def op_of(dims):
    return voxformer.ms_deform_attn if dims == 2 else voxformer.ms_deform_attn_3d


def call(dims, case, **kwargs):
    return op_of(dims)(case["value"], case["spatial_shapes"], case["level_start_index"],
                       case["sampling_locations"], case["attention_weights"], **kwargs)


def oracle(torch, reference, dims, case):
    f = reference.multi_scale_deformable_attn_pytorch if dims == 2 else reference.multi_scale_deformable_attn_3d_pytorch
    out = f(torch.from_numpy(case["value"]).double(), case["spatial_shapes"],
            torch.from_numpy(case["sampling_locations"]).double(), torch.from_numpy(case["attention_weights"]).double())
    return out.numpy()


def assert_close(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == np.float32
    bound = ABS_TOL + REL_TOL * np.abs(expected)
    excess = np.abs(actual.astype(np.float64) - expected) - bound
    assert excess.max() <= 0, f"worst element {np.unravel_index(excess.argmax(), excess.shape)} off by {excess.max()}"


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("seed, shape", [(0, {}), (1, dict(batch=1, queries=40, heads=4, head_dim=4, points=4,
                                                              shapes=((6, 10),), depths=(4,))),
                                         (2, dict(heads=1, head_dim=3, points=1, shapes=((1, 1), (2, 9), (4, 3)),
                                                  depths=(1, 3, 2)))])
def test_matches_the_pytorch_reference(torch, torch_reference, dims, seed, shape):
    case = random_case(seed, dims, **shape)
    out = call(dims, case)
    batch, queries = case["sampling_locations"].shape[:2]
    heads, head_dim = case["value"].shape[2:]
    assert out.shape == (batch, queries, heads * head_dim)
    assert_close(out, oracle(torch, torch_reference, dims, case))
    # A one-thread run computes every element the same way: the same bits.
    assert np.array_equal(call(dims, case, threads=1), out)


@pytest.mark.parametrize("name, dims", [("msda_multilevel", 2), ("msda_borders", 2), ("msda_voxformer_level", 2),
                                        ("msda3d_multilevel", 3)])
def test_matches_the_committed_fixtures(fixtures_dir, name, dims):
    folder = fixtures_dir / name
    case = dict(value=np.load(folder / "value.npy"), spatial_shapes=np.load(folder / "spatial_shapes.npy"),
                level_start_index=np.load(folder / "level_start.npy"),
                sampling_locations=np.load(folder / "sampling_locations.npy"),
                attention_weights=np.load(folder / "attention_weights.npy"))
    assert_close(call(dims, case), np.load(folder / "out.npy"))


@pytest.mark.parametrize("dims", [2, 3])
def test_int32_level_metadata(dims):
    case = random_case(4, dims)
    expected = call(dims, case)
    case["spatial_shapes"] = case["spatial_shapes"].astype(np.int32)
    case["level_start_index"] = case["level_start_index"].astype(np.int32)
    assert np.array_equal(call(dims, case), expected)


def strided_variants(case):
    """The case's values in other memory layouts: reversed, transposed back, step-2 slices, Fortran order."""
    value, loc, weights = case["value"], case["sampling_locations"], case["attention_weights"]
    yield "value heads-major", dict(case, value=np.ascontiguousarray(value.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3))
    yield "value reversed rows", dict(case, value=np.ascontiguousarray(value[:, ::-1])[:, ::-1])
    yield "value Fortran", dict(case, value=np.asfortranarray(value))
    yield "locations step 2", dict(case, sampling_locations=np.repeat(loc, 2, axis=4)[:, :, :, :, ::2])
    yield "locations components first", dict(
        case, sampling_locations=np.ascontiguousarray(np.moveaxis(loc, -1, 0)).transpose(1, 2, 3, 4, 5, 0))
    yield "weights Fortran", dict(case, attention_weights=np.asfortranarray(weights))
    yield "shapes Fortran", dict(case, spatial_shapes=np.asfortranarray(case["spatial_shapes"]))


@pytest.mark.parametrize("dims", [2, 3])
def test_any_strides_give_the_same_bits(dims):
    case = random_case(5, dims)
    expected = call(dims, case)
    for name, variant in strided_variants(case):
        changed = [k for k in case if variant[k] is not case[k]][0]
        assert np.array_equal(variant[changed], case[changed])
        if variant[changed].ndim > 1:
            assert not variant[changed].flags.c_contiguous, name
        assert np.array_equal(call(dims, variant), expected), name


@pytest.mark.parametrize("dims", [2, 3])
def test_pytorch_tensors_contiguous_and_strided(torch, dims):
    case = random_case(6, dims)
    expected = call(dims, case)
    tensors = {k: torch.from_numpy(v) for k, v in case.items()}
    out = call(dims, tensors)
    assert isinstance(out, np.ndarray) and np.array_equal(out, expected)
    strided = dict(tensors, value=torch.from_numpy(np.ascontiguousarray(case["value"].transpose(3, 2, 1, 0)))
                   .permute(3, 2, 1, 0),
                   attention_weights=torch.from_numpy(np.repeat(case["attention_weights"], 2, axis=1))[:, ::2])
    assert not strided["value"].is_contiguous() and not strided["attention_weights"].is_contiguous()
    assert np.array_equal(call(dims, strided), expected)


def test_the_inputs_are_not_written():
    case = random_case(7, 2)
    copies = {k: v.copy() for k, v in case.items()}
    call(2, case)
    for k in case:
        assert np.array_equal(case[k], copies[k]), k


def test_the_output_is_a_fresh_contiguous_array():
    case = random_case(8, 2)
    out = call(2, case)
    assert out.flags.c_contiguous and out.flags.writeable
    assert not any(np.shares_memory(out, v) for v in case.values())
