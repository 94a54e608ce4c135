"""voxformer.ProposalNetwork (stage 1, LMSCNet_SS) against the PyTorch reference's fixtures (tests/fixtures/qpn/).

Tolerances are those of the C++ parity test (tests/model/test_qpn_parity.cpp): logits within 1e-4 relative to
max(1, |reference|) (observed about 2e-5: the same sums in another order through eleven layers), and the proposal
equal wherever the reference's two logits are more than 1e-4 apart (nearer ties may go either way), which must be
at least 90 % of the voxels.
"""

import json

import numpy as np
import pytest

import voxformer

QPN_CASES = ["f16_32x24", "f32_64x64", "f32_values"]
TOLERANCE = 1e-4


def load_case(fixtures_dir, name):
    folder = fixtures_dir / "qpn" / name
    grid = json.loads((folder / "config.json").read_text())["grid"]
    return folder, grid, np.load(folder / "grid.npy")


@pytest.mark.parametrize("name", QPN_CASES)
def test_logits_and_proposal_match_the_reference(fixtures_dir, name):
    folder, grid, occupancy = load_case(fixtures_dir, name)
    network = voxformer.ProposalNetwork(weights=folder / "weights.safetensors", grid=grid)
    result = network.run(occupancy, logits=True)
    assert set(result) == {"proposal", "logits"}

    half = tuple(g // 2 for g in grid)
    reference_logits, reference_proposal = np.load(folder / "logits.npy"), np.load(folder / "proposal.npy")
    assert result["logits"].shape == (2,) + half and result["logits"].dtype == np.float32
    relative = np.abs(result["logits"].astype(np.float64) - reference_logits) / np.maximum(1.0, np.abs(reference_logits))
    assert relative.max() <= TOLERANCE, f"{name}: worst relative logit error {relative.max()}"

    proposal = result["proposal"]
    assert proposal.shape == half and proposal.dtype == np.uint8
    assert set(np.unique(proposal)) <= {0, 1}
    clear = np.abs(reference_logits[1] - reference_logits[0]) > TOLERANCE
    assert clear.mean() >= 0.9
    assert np.array_equal(proposal[clear], reference_proposal[clear])
    assert network.report["proposals"] == int(proposal.sum())


@pytest.fixture(scope="module")
def small_case(fixtures_dir):
    folder, grid, occupancy = load_case(fixtures_dir, "f16_32x24")
    network = voxformer.ProposalNetwork(weights=folder / "weights.safetensors", grid=grid)
    return network, occupancy, network.run(occupancy, logits=True)


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.int64, np.float32, np.float64])
def test_occupancy_element_types(small_case, dtype):
    network, occupancy, expected = small_case
    result = network.run(occupancy.astype(dtype), logits=True)
    assert np.array_equal(result["proposal"], expected["proposal"])
    assert np.array_equal(result["logits"], expected["logits"])


def test_strided_occupancy(small_case):
    network, occupancy, expected = small_case
    variants = {
        "Fortran order": np.asfortranarray(occupancy),
        "step 2": np.repeat(occupancy, 2, axis=2)[:, :, ::2],
        "transposed back": np.ascontiguousarray(occupancy.transpose(2, 0, 1)).transpose(1, 2, 0),
    }
    for name, grid in variants.items():
        assert not grid.flags.c_contiguous and np.array_equal(grid, occupancy), name
        result = network.run(grid, logits=True)
        assert np.array_equal(result["logits"], expected["logits"]), name


def test_pytorch_tensors(small_case, torch):
    network, occupancy, expected = small_case
    variants = {
        "torch": torch.from_numpy(occupancy),
        "torch strided": torch.from_numpy(np.repeat(occupancy, 2, axis=2))[:, :, ::2],
        "torch float": torch.from_numpy(occupancy).float(),
    }
    for name, grid in variants.items():
        result = network.run(grid, logits=True)
        assert np.array_equal(result["logits"], expected["logits"]), name


def test_logits_only_when_asked(small_case):
    network, occupancy, expected = small_case
    result = network.run(occupancy)
    assert set(result) == {"proposal"}
    assert np.array_equal(result["proposal"], expected["proposal"])


def test_random_weights_at_a_small_grid():
    network = voxformer.ProposalNetwork(seed=3, grid=(16, 16, 8), threads=1)
    occupancy = (np.random.default_rng(0).random((16, 16, 8)) < 0.3).astype(np.uint8)
    first = network.run(occupancy, logits=True)
    again = voxformer.ProposalNetwork(seed=3, grid=(16, 16, 8), threads=2).run(occupancy, logits=True)
    assert first["proposal"].shape == (8, 8, 4)
    assert np.array_equal(first["logits"], again["logits"])  # thread counts give the same bits
    assert np.array_equal(first["proposal"], (first["logits"][1] > first["logits"][0]).astype(np.uint8))
