"""`out=`: the primitives write into the caller's arrays in place, without a copy — the returned object *is* the
array passed (or, for proposal_indices, views of it), and it holds the result. Outputs that cannot be written are
refused before anything is written: read-only arrays (TypeError from the argument conversion: nanobind does not
accept a read-only array for a writable parameter), other element types and shapes, layouts that address an element
twice, and outputs overlapping an input or each other (ValueError with the library's message, naming the op and the
argument)."""

import numpy as np
import pytest

import voxformer

SENTINEL = -7.0


def msda_case(dims, seed=0):
    rng = np.random.default_rng(seed)
    shapes = np.array([[4, 5], [2, 3]] if dims == 2 else [[3, 4, 2], [2, 2, 2]], np.int64)
    sizes = np.prod(shapes, axis=1)
    starts = np.array([0, sizes[0]], np.int64)
    value = rng.standard_normal((2, int(sizes.sum()), 2, 4)).astype(np.float32)
    loc = rng.random((2, 7, 2, 2, 3, dims)).astype(np.float32)
    weights = rng.random((2, 7, 2, 2, 3)).astype(np.float32)
    op = voxformer.ms_deform_attn if dims == 2 else voxformer.ms_deform_attn_3d
    return op, (value, shapes, starts, loc, weights)


@pytest.mark.parametrize("dims", [2, 3])
def test_ms_deform_attn_writes_into_out(dims):
    op, args = msda_case(dims)
    expected = op(*args)
    out = np.full((2, 7, 8), SENTINEL, np.float32)
    returned = op(*args, out=out)
    assert returned is out
    assert np.array_equal(out, expected)
    # A strided out (a transposed-back view) too: any strides.
    strided = np.full((2, 8, 7), SENTINEL, np.float32).transpose(0, 2, 1)
    assert op(*args, out=strided) is strided
    assert np.array_equal(strided, expected)


def test_ms_deform_attn_writes_into_a_pytorch_tensor(torch):
    op, args = msda_case(2)
    expected = op(*args)
    out = torch.full((2, 7, 8), SENTINEL)
    assert op(*args, out=out) is out
    assert np.array_equal(out.numpy(), expected)


def test_scatter_with_mask_token_writes_into_out():
    rng = np.random.default_rng(1)
    seed, token = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    unmasked = np.array([1, 4, 5, 8, 9], np.int64)
    expected = voxformer.scatter_with_mask_token(seed, unmasked, token, voxels=10)
    out = np.full((10, 3), SENTINEL, np.float32)
    assert voxformer.scatter_with_mask_token(seed, unmasked, token, out=out) is out  # N from out's rows
    assert np.array_equal(out, expected)


def test_project_to_cameras_writes_into_out(fixtures_dir):
    reference = np.load(fixtures_dir / "projection" / "reference.npy")
    lidar2img = np.load(fixtures_dir / "projection" / "lidar2img.npy")
    expected_cam, expected_visible = voxformer.project_to_cameras(reference, lidar2img)
    cam = np.full(expected_cam.shape, SENTINEL, np.float32)
    visible = np.full(expected_visible.shape, 9, np.uint8)
    returned = voxformer.project_to_cameras(reference, lidar2img, out=(cam, visible))
    assert returned[0] is cam and returned[1] is visible
    assert np.array_equal(cam, expected_cam) and np.array_equal(visible, expected_visible)


@pytest.mark.parametrize("index_type", [np.int32, np.int64])
def test_proposal_indices_writes_into_out_and_returns_views(index_type):
    mask = (np.random.default_rng(2).random((4, 5, 6)) < 0.3).astype(np.uint8)
    a = np.full(mask.size, -1, index_type)
    b = np.full(mask.size + 3, -1, index_type)  # room to spare: only the used part is returned
    unmasked, masked = voxformer.proposal_indices(mask, out=(a, b))
    assert np.shares_memory(unmasked, a) and np.shares_memory(masked, b)
    assert unmasked.ctypes.data == a.ctypes.data and masked.ctypes.data == b.ctypes.data
    assert np.array_equal(unmasked, np.flatnonzero(mask)) and np.array_equal(masked, np.flatnonzero(mask == 0))
    assert np.array_equal(a[: unmasked.size], np.flatnonzero(mask))
    assert (b[masked.size:] == -1).all()


# ---------------------------------------------------------------------------------------------------------------
# Outputs that cannot be written: refused, and nothing written.
# ---------------------------------------------------------------------------------------------------------------


def test_read_only_out_is_a_type_error():
    op, args = msda_case(2)
    out = np.full((2, 7, 8), SENTINEL, np.float32)
    out.setflags(write=False)
    with pytest.raises(TypeError, match=r"voxformer::ms_deform_attn: argument 'out' must be a writable array"):
        op(*args, out=out)
    assert (out == SENTINEL).all()
    visible = np.zeros((3, 64, 2), np.uint8)
    visible.setflags(write=False)
    with pytest.raises(TypeError, match=r"project_to_cameras: argument 'visible' must be a writable array"):
        voxformer.project_to_cameras(np.zeros((64, 2, 3)), np.zeros((3, 4, 4), np.float32),
                                     out=(np.zeros((3, 64, 2, 2), np.float32), visible))


def test_out_that_is_not_an_array_is_a_type_error():
    op, args = msda_case(2)
    with pytest.raises(TypeError, match=r"voxformer::ms_deform_attn: argument 'out' must be a writable array"):
        op(*args, out=[0.0] * 112)
    with pytest.raises(TypeError, match=r"scatter_with_mask_token: argument 'out' must be a writable array"):
        voxformer.scatter_with_mask_token(np.zeros((1, 2), np.float32), np.zeros(1, np.int64),
                                          np.zeros(2, np.float32), out="volume")


def test_out_pairs_must_be_tuples():
    mask = np.ones((2, 2, 2), np.uint8)
    with pytest.raises(ValueError, match=r"voxformer::proposal_indices: 'out' must be a tuple \(unmasked, masked\)"):
        voxformer.proposal_indices(mask, out=[np.zeros(8, np.int64), np.zeros(8, np.int64)])
    with pytest.raises(ValueError, match=r"project_to_cameras: 'out' must be a tuple \(reference_cam, visible\)"):
        voxformer.project_to_cameras(np.zeros((1, 1, 3)), np.zeros((1, 4, 4), np.float32),
                                     out=(np.zeros((1, 1, 1, 2), np.float32),))


def test_out_of_another_element_type():
    op, args = msda_case(2)
    out = np.full((2, 7, 8), SENTINEL, np.float64)
    with pytest.raises(ValueError, match=r"ms_deform_attn: argument 'out' has element type float64, expected float32"):
        op(*args, out=out)
    assert (out == SENTINEL).all()


def test_out_of_another_shape():
    op, args = msda_case(2)
    out = np.full((2, 7, 9), SENTINEL, np.float32)
    with pytest.raises(ValueError, match=r"ms_deform_attn: argument 'out' \[B, Q, heads\*head_dim\] expected shape "
                                         r"\[2, 7, 8\], got \[2, 7, 9\]"):
        op(*args, out=out)
    assert (out == SENTINEL).all()


def test_out_addressing_an_element_twice():
    op, args = msda_case(2)
    memory = np.full(8, SENTINEL, np.float32)
    zero_strides = np.lib.stride_tricks.as_strided(memory, shape=(2, 7, 8), strides=(0, 0, 4), writeable=True)
    with pytest.raises(ValueError, match=r"ms_deform_attn: output 'out' addresses some elements more than once"):
        op(*args, out=zero_strides)
    assert (memory == SENTINEL).all()


def test_out_overlapping_an_input():
    # ms_deform_attn: out in the value's memory.
    op, (value, shapes, starts, loc, weights) = msda_case(2)
    memory = np.zeros(value.size + 16, np.float32)
    aliased_value = memory[: value.size].reshape(value.shape)
    aliased_value[...] = value
    with pytest.raises(ValueError, match=r"voxformer::ms_deform_attn: output 'out' overlaps input 'value'"):
        op(aliased_value, shapes, starts, loc, weights, out=memory[: 2 * 7 * 8].reshape(2, 7, 8))
    assert np.array_equal(aliased_value, value)
    # scatter_with_mask_token: the volume over the seed.
    volume = np.zeros((6, 2), np.float32)
    with pytest.raises(ValueError, match=r"scatter_with_mask_token: output 'volume' overlaps input 'seed'"):
        voxformer.scatter_with_mask_token(volume[:2], np.array([0, 3]), np.ones(2, np.float32), out=volume)
    # project_to_cameras: reference_cam over a float32 reference.
    memory = np.zeros(64, np.float32)
    with pytest.raises(ValueError, match=r"project_to_cameras: output 'reference_cam' overlaps input 'reference'"):
        voxformer.project_to_cameras(memory[:6].reshape(2, 1, 3), np.eye(4, dtype=np.float32)[None],
                                     out=(memory[:4].reshape(1, 2, 1, 2), np.zeros((1, 2, 1), np.uint8)))
    # proposal_indices: one list passed twice.
    lists = np.zeros(8, np.int64)
    with pytest.raises(ValueError, match=r"proposal_indices: outputs 'unmasked' and 'masked' overlap"):
        voxformer.proposal_indices(np.ones((2, 2, 2), np.uint8), out=(lists, lists))


def test_index_lists_without_room():
    mask = np.ones((2, 2, 2), np.uint8)
    a, b = np.full(7, -1, np.int64), np.full(8, -1, np.int64)
    with pytest.raises(ValueError, match=r"proposal_indices: argument 'unmasked' \[n\] has room for 7 indices, but "
                                         r"the mask needs 8"):
        voxformer.proposal_indices(mask, out=(a, b))
    assert (a == -1).all() and (b == -1).all()
