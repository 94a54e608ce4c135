"""voxformer.scatter_with_mask_token against a NumPy loop and the committed fixture (tests/fixtures/mask_token_scatter/):
the dense volume [N, C] holds mask_token in every row, then seed [n, C] in rows unmasked [n]. Pure copies, so the
results must be exact, for every index type, input layout and array kind."""

import numpy as np
import pytest

import voxformer


def numpy_scatter(seed, unmasked, mask_token, voxels):
    volume = np.empty((voxels, mask_token.shape[0]), dtype=np.float32)
    for row in range(voxels):
        volume[row] = mask_token
    for i, row in enumerate(unmasked):
        volume[row] = seed[i]
    return volume


def random_case(seed, voxels=50, channels=6, proposed=17):
    rng = np.random.default_rng(seed)
    unmasked = np.sort(rng.choice(voxels, proposed, replace=False)).astype(np.int64)
    return (rng.standard_normal((proposed, channels)).astype(np.float32), unmasked,
            rng.standard_normal(channels).astype(np.float32), voxels)


def test_matches_the_committed_fixture(fixtures_dir):
    folder = fixtures_dir / "mask_token_scatter"
    seed, unmasked, token = (np.load(folder / f"{n}.npy") for n in ("seed", "unmasked", "mask_token"))
    expected = np.load(folder / "volume.npy")
    out = voxformer.scatter_with_mask_token(seed, unmasked, token, voxels=expected.shape[0])
    assert out.dtype == np.float32 and out.shape == expected.shape
    assert np.array_equal(out, expected)


@pytest.mark.parametrize("index_type", [np.int32, np.int64])
@pytest.mark.parametrize("case_seed, proposed", [(0, 17), (1, 0), (2, 50), (3, 1)])
def test_matches_a_numpy_loop(index_type, case_seed, proposed):
    seed, unmasked, token, voxels = random_case(case_seed, proposed=proposed)
    out = voxformer.scatter_with_mask_token(seed, unmasked.astype(index_type), token, voxels=voxels)
    assert np.array_equal(out, numpy_scatter(seed, unmasked, token, voxels))


def test_strided_inputs():
    seed, unmasked, token, voxels = random_case(4)
    expected = numpy_scatter(seed, unmasked, token, voxels)
    variants = {
        "Fortran seed": (np.asfortranarray(seed), unmasked, token),
        "step-2 indices": (seed, np.repeat(unmasked, 2)[::2], token),
        "step-2 token": (seed, unmasked, np.repeat(token, 2)[::2]),
        "transposed-back seed": (np.ascontiguousarray(seed.T).T, unmasked, token),
    }
    for name, (s, u, t) in variants.items():
        assert not (s.flags.c_contiguous and u.flags.c_contiguous and t.flags.c_contiguous), name
        assert np.array_equal(voxformer.scatter_with_mask_token(s, u, t, voxels=voxels), expected), name


def test_pytorch_tensors(torch):
    seed, unmasked, token, voxels = random_case(5)
    out = voxformer.scatter_with_mask_token(torch.from_numpy(seed), torch.from_numpy(unmasked),
                                            torch.from_numpy(token), voxels=voxels)
    assert isinstance(out, np.ndarray)
    assert np.array_equal(out, numpy_scatter(seed, unmasked, token, voxels))
    strided = torch.from_numpy(np.ascontiguousarray(seed.T)).t()
    assert not strided.is_contiguous()
    out = voxformer.scatter_with_mask_token(strided, torch.from_numpy(unmasked).int(), torch.from_numpy(token),
                                            voxels=voxels)
    assert np.array_equal(out, numpy_scatter(seed, unmasked, token, voxels))
