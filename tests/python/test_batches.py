"""Batches through Python: Pipeline.run_batch and ProposalNetwork.run_batch give, frame for frame, exactly what
run gives (the same frames through the same code, so bit for bit), and a bad frame anywhere is an error before
any frame runs."""

import json

import numpy as np
import pytest

import voxformer


def test_a_stage_2_batch_equals_its_frames_run_one_by_one(t_small, t_small_pipeline):
    # Three frames whose proposals differ: the fixture's, none, and every voxel; the features shifted per frame.
    # Every array a view of every other frame of a batch of six (a batch stride of two frames).
    proposals = np.stack([t_small.proposal, np.zeros_like(t_small.proposal), np.ones_like(t_small.proposal)] * 2)[::2]
    features = [np.stack([level[0] + 0.25 * (b % 3) for b in range(6)]).astype(np.float32)[::2]
                for level in t_small.features]
    lidar2img = np.stack([t_small.lidar2img] * 6)[::2]
    assert not proposals.flags.c_contiguous
    batch = t_small_pipeline.run_batch(features, lidar2img, proposals, logits=True)
    assert set(batch) == {"labels", "logits", "reports"}
    assert batch["labels"].shape[0] == 3 and batch["logits"].shape[0] == 3
    assert [r["proposals"] for r in batch["reports"]] == [int(np.count_nonzero(p)) for p in proposals]
    for b in range(3):
        one = t_small_pipeline.run([level[b] for level in features], lidar2img[b], proposals[b], logits=True)
        assert np.array_equal(one["labels"], batch["labels"][b]), b
        assert np.array_equal(one["logits"], batch["logits"][b]), b
    assert not np.array_equal(batch["logits"][0], batch["logits"][1])


def test_a_bad_frame_stops_the_batch_before_any_frame_runs(t_small, t_small_pipeline):
    features = [np.stack([level[0]] * 2) for level in t_small.features]
    features[1][1, 0, 0, 0, 0] = np.nan
    t_small_pipeline.run(t_small.features, t_small.lidar2img, t_small.proposal)
    before = t_small_pipeline.report
    with pytest.raises(ValueError, match=r"argument 'features\[1\]' holds nan at \[1, 0, 0, 0, 0\]"):
        t_small_pipeline.run_batch(features, np.stack([t_small.lidar2img] * 2), np.stack([t_small.proposal] * 2))
    with pytest.raises(ValueError, match=r"run_batch: argument 'proposal' \[B, X, Y, Z\] or \[B, X\*Y\*Z\] has a "
                                         r"leading batch axis; got rank 3"):
        t_small_pipeline.run_batch(features, np.stack([t_small.lidar2img] * 2), t_small.proposal)
    # No frame ran: the report is still the single run's (a frame would have replaced its timings).
    assert t_small_pipeline.report == before
    small = t_small.pipeline(max_proposals=int(np.count_nonzero(t_small.proposal)))
    with pytest.raises(ValueError, match="the proposal of frame 1 has 192 voxels, more than the max_proposals"):
        small.run_batch([level[0:1].repeat(2, axis=0) for level in t_small.features], np.stack([t_small.lidar2img] * 2),
                        np.stack([t_small.proposal, np.ones_like(t_small.proposal)]))


def test_a_stage_1_batch_equals_its_frames_run_one_by_one(fixtures_dir):
    folder = fixtures_dir / "qpn" / "f16_32x24"
    grid = json.loads((folder / "config.json").read_text())["grid"]
    occupancy = np.load(folder / "grid.npy")
    network = voxformer.ProposalNetwork(weights=folder / "weights.safetensors", grid=grid)
    grids = np.stack([occupancy, np.zeros_like(occupancy), np.ones_like(occupancy)])
    batch = network.run_batch(grids, logits=True)
    assert batch["proposal"].shape == (3,) + tuple(g // 2 for g in grid)
    for b in range(3):
        one = network.run(grids[b], logits=True)
        assert np.array_equal(one["proposal"], batch["proposal"][b]), b
        assert np.array_equal(one["logits"], batch["logits"][b]), b
        assert batch["reports"][b]["proposals"] == int(one["proposal"].sum())
    with pytest.raises(ValueError, match=r"run_batch: argument 'occupancy' \[B, X, Y, Z\] has a leading batch axis"):
        network.run_batch(occupancy)


def test_a_batch_of_no_frames_writes_nothing_and_reports_nothing(t_small, t_small_pipeline, fixtures_dir):
    features = [level[0:0] for level in t_small.features]
    result = t_small_pipeline.run_batch(features, t_small.lidar2img[None][0:0], t_small.proposal[None][0:0], logits=True)
    assert result["labels"].shape[0] == 0 and result["logits"].shape[0] == 0 and result["reports"] == []
    folder = fixtures_dir / "qpn" / "f16_32x24"
    grid = json.loads((folder / "config.json").read_text())["grid"]
    network = voxformer.ProposalNetwork(weights=folder / "weights.safetensors", grid=grid)
    empty = network.run_batch(np.zeros([0] + grid, dtype=np.uint8))
    assert empty["proposal"].shape == (0,) + tuple(g // 2 for g in grid) and empty["reports"] == []
