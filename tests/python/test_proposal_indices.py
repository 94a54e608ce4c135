"""voxformer.proposal_indices against np.flatnonzero: (unmasked, masked) int64, ascending: mask > 0 and the rest,
NaN being masked; for every mask element type, [X, Y, Z] and flat masks, empty and full ones, NumPy and PyTorch.
The mask is addressed by its C-order flat index, so it must be contiguous: any other layout is a ValueError."""

import numpy as np
import pytest

import voxformer


def expected_lists(mask):
    proposed = np.asarray(mask).ravel() > 0  # NaN > 0 is False: masked
    return np.flatnonzero(proposed), np.flatnonzero(~proposed)


def assert_lists(result, mask):
    unmasked, masked = result
    want_unmasked, want_masked = expected_lists(mask)
    for got, want in ((unmasked, want_unmasked), (masked, want_masked)):
        assert isinstance(got, np.ndarray) and got.dtype == np.int64 and got.ndim == 1
        assert np.array_equal(got, want)


def random_mask(seed, shape=(6, 5, 4), density=0.3):
    return (np.random.default_rng(seed).random(shape) < density).astype(np.uint8)


@pytest.mark.parametrize("dtype", [np.uint8, np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_every_mask_element_type(dtype):
    mask = random_mask(0).astype(dtype)
    assert_lists(voxformer.proposal_indices(mask), mask)


def test_signed_and_float_values_only_above_zero_are_proposed():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((7, 3, 5)).astype(np.float32)
    values[0, 0, :3] = [np.nan, 0.0, -0.0]
    values[1, 1, 1] = np.inf
    values[2, 2, 2] = -np.inf
    assert_lists(voxformer.proposal_indices(values), values)
    assert_lists(voxformer.proposal_indices(values.astype(np.float64)), values)
    integers = rng.integers(-3, 3, (4, 4, 4)).astype(np.int32)
    assert_lists(voxformer.proposal_indices(integers), integers)


def test_all_nan_is_an_empty_proposal():
    mask = np.full((3, 3, 3), np.nan, dtype=np.float32)
    unmasked, masked = voxformer.proposal_indices(mask)
    assert unmasked.size == 0 and np.array_equal(masked, np.arange(27))


@pytest.mark.parametrize("shape", [(4, 3, 2), (24,)])
def test_empty_and_full_masks(shape):
    empty, full = np.zeros(shape, np.uint8), np.ones(shape, np.uint8)
    assert_lists(voxformer.proposal_indices(empty), empty)
    assert_lists(voxformer.proposal_indices(full), full)
    assert voxformer.proposal_indices(empty)[0].size == 0 and voxformer.proposal_indices(full)[1].size == 0


def test_zero_voxels():
    for mask in (np.zeros((0,), np.uint8), np.zeros((0, 3, 2), np.float32)):
        unmasked, masked = voxformer.proposal_indices(mask)
        assert unmasked.size == 0 and masked.size == 0


def test_flat_and_fixture_masks(fixtures_dir):
    proposal = np.load(fixtures_dir / "pipeline" / "t_small" / "proposal.npy")
    assert_lists(voxformer.proposal_indices(proposal), proposal)
    assert_lists(voxformer.proposal_indices(proposal.ravel()), proposal)
    unmasked, _ = voxformer.proposal_indices(proposal)
    assert np.array_equal(unmasked, np.load(fixtures_dir / "pipeline" / "t_small" / "unmasked.npy"))


def test_thread_counts_give_the_same_lists():
    mask = random_mask(2, shape=(32, 32, 16))
    one = voxformer.proposal_indices(mask, threads=1)
    two = voxformer.proposal_indices(mask, threads=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])
    assert_lists(two, mask)


def test_pytorch_tensors(torch):
    mask = random_mask(3)
    assert_lists(voxformer.proposal_indices(torch.from_numpy(mask)), mask)
    values = np.random.default_rng(4).standard_normal((5, 4, 3)).astype(np.float32)
    assert_lists(voxformer.proposal_indices(torch.from_numpy(values)), values)


@pytest.mark.parametrize("make", [np.asfortranarray, lambda m: m[:, :, ::2], lambda m: m.transpose(2, 1, 0),
                                  lambda m: m.ravel()[::2]],
                         ids=["Fortran", "step 2", "transposed", "flat step 2"])
def test_non_contiguous_masks_are_refused(make):
    mask = make(random_mask(5, shape=(6, 5, 4)))
    assert not mask.flags.c_contiguous
    with pytest.raises(ValueError, match=r"voxformer::proposal_indices: argument 'mask' must be contiguous"):
        voxformer.proposal_indices(mask)


def test_non_contiguous_tensors_are_refused(torch):
    mask = torch.from_numpy(random_mask(6, shape=(6, 5, 4))).permute(2, 1, 0)
    assert not mask.is_contiguous()
    with pytest.raises(ValueError, match=r"voxformer::proposal_indices: argument 'mask' must be contiguous"):
        voxformer.proposal_indices(mask)
