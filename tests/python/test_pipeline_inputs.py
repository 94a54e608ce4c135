"""voxformer.Pipeline reads its inputs in place, whatever their kind and layout: NumPy arrays and PyTorch tensors,
contiguous or strided (features take any strides), one feature level or a list / tuple of them, [1, K, C, h, w] or
[K, C, h, w], and a proposal of any mask element type, [X, Y, Z] or flat. Each variant must give the very bits of
the contiguous NumPy run (t_small_result): the same kernels read the same values."""

import numpy as np
import pytest

import voxformer


def assert_same_run(result, expected, what=""):
    assert np.array_equal(result["labels"], expected["labels"]), what
    assert np.array_equal(result["logits"], expected["logits"]), what


def channels_last_view(a: np.ndarray) -> np.ndarray:
    """`a` [1, K, C, h, w] with the same values, its memory [1, K, h, w, C]: a non-contiguous view."""
    view = np.ascontiguousarray(a.transpose(0, 1, 3, 4, 2)).transpose(0, 1, 4, 2, 3)
    assert not view.flags.c_contiguous and np.array_equal(view, a)
    return view


def every_other_view(a: np.ndarray, axis: int) -> np.ndarray:
    """`a`'s values in every other element of a twice-as-long buffer along `axis` (a slice with step 2)."""
    view = np.repeat(a, 2, axis=axis)[(slice(None),) * axis + (slice(None, None, 2),)]
    assert not view.flags.c_contiguous and np.array_equal(view, a)
    return view


def test_features_with_any_strides(t_small, t_small_pipeline, t_small_result):
    variants = {
        "channels last": [channels_last_view(f) for f in t_small.features],
        "step 2 along w": [every_other_view(f, 4) for f in t_small.features],
        "reversed cameras": [np.ascontiguousarray(f[:, ::-1])[:, ::-1] for f in t_small.features],
        "Fortran order": [np.asfortranarray(f) for f in t_small.features],
    }
    for name, features in variants.items():
        result = t_small_pipeline.run(features, t_small.lidar2img, t_small.proposal, logits=True)
        assert_same_run(result, t_small_result, name)


def test_strided_lidar2img(t_small, t_small_pipeline, t_small_result):
    transposed = np.ascontiguousarray(t_small.lidar2img.transpose(0, 2, 1)).transpose(0, 2, 1)
    assert not transposed.flags.c_contiguous
    result = t_small_pipeline.run(t_small.features, transposed, t_small.proposal, logits=True)
    assert_same_run(result, t_small_result)


def test_features_without_the_batch_axis_and_as_a_tuple(t_small, t_small_pipeline, t_small_result):
    four_d = tuple(f[0] for f in t_small.features)  # [K, C, h, w]
    assert_same_run(t_small_pipeline.run(four_d, t_small.lidar2img, t_small.proposal, logits=True), t_small_result)


def test_one_level_as_a_bare_array(load_pipeline_case, check_labels):
    case = load_pipeline_case("s_small")
    assert case.levels == 1
    pipeline = case.pipeline()
    as_list = pipeline.run(case.features, case.lidar2img, case.proposal, logits=True)
    bare = pipeline.run(case.features[0], case.lidar2img, case.proposal, logits=True)
    assert_same_run(bare, as_list)
    check_labels(bare["labels"], case.expected("labels"), case.expected("logits"))


@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int32, np.int64, np.float32, np.float64])
def test_proposal_element_types(t_small, t_small_pipeline, t_small_result, dtype):
    proposal = t_small.proposal.astype(dtype)
    assert_same_run(t_small_pipeline.run(t_small.features, t_small.lidar2img, proposal, logits=True), t_small_result)


def test_proposal_values_above_zero_are_proposed_and_nan_is_not(t_small, t_small_pipeline, t_small_result):
    proposal = np.where(t_small.proposal > 0, 0.25, -3.0).astype(np.float32)
    proposal[(t_small.proposal == 0) & (np.arange(proposal.size).reshape(proposal.shape) % 2 == 0)] = np.nan
    assert np.isnan(proposal).any()
    assert_same_run(t_small_pipeline.run(t_small.features, t_small.lidar2img, proposal, logits=True), t_small_result)


def test_flat_proposal(t_small, t_small_pipeline, t_small_result):
    flat = t_small.proposal.ravel()
    assert_same_run(t_small_pipeline.run(t_small.features, t_small.lidar2img, flat, logits=True), t_small_result)


def test_read_only_inputs(t_small, t_small_pipeline, t_small_result):
    features = [f.copy() for f in t_small.features]
    lidar2img, proposal = t_small.lidar2img.copy(), t_small.proposal.copy()
    for a in (*features, lidar2img, proposal):
        a.setflags(write=False)
    assert_same_run(t_small_pipeline.run(features, lidar2img, proposal, logits=True), t_small_result)


def test_inputs_are_not_written(t_small, t_small_pipeline):
    features = [f.copy() for f in t_small.features]
    lidar2img, proposal = t_small.lidar2img.copy(), t_small.proposal.copy()
    t_small_pipeline.run(features, lidar2img, proposal, logits=True, stages=True)
    for given, original in zip((*features, lidar2img, proposal), (*t_small.features, t_small.lidar2img,
                                                                   t_small.proposal)):
        assert np.array_equal(given, original)


def test_pytorch_tensors(torch, t_small, t_small_pipeline, t_small_result):
    features = [torch.from_numpy(f) for f in t_small.features]
    result = t_small_pipeline.run(features, torch.from_numpy(t_small.lidar2img), torch.from_numpy(t_small.proposal),
                                  logits=True)
    assert isinstance(result["labels"], np.ndarray)
    assert_same_run(result, t_small_result)


def test_strided_pytorch_tensors(torch, t_small, t_small_pipeline, t_small_result):
    # Channels-last memory permuted back, and a step-2 slice of a tensor twice as wide.
    features = [torch.from_numpy(np.ascontiguousarray(f.transpose(0, 1, 3, 4, 2))).permute(0, 1, 4, 2, 3)
                for f in t_small.features]
    assert not any(f.is_contiguous() for f in features)
    lidar2img = torch.from_numpy(np.repeat(t_small.lidar2img, 2, axis=2))[:, :, ::2]
    assert not lidar2img.is_contiguous()
    # (not torch.bool: PyTorch 1.13's DLPack export refuses bool tensors; NumPy bool is tested above)
    proposal = torch.from_numpy(t_small.proposal).to(torch.int32)
    result = t_small_pipeline.run(features, lidar2img, proposal, logits=True)
    assert_same_run(result, t_small_result)


def test_random_weights_from_a_seed_are_reproducible(t_small):
    config = voxformer.load_config(t_small.config_path)
    first = t_small.run(voxformer.Pipeline(config=config, seed=11), logits=True)
    again = t_small.run(voxformer.Pipeline(config=config, seed=11), logits=True)
    other = t_small.run(voxformer.Pipeline(config=config, seed=12), logits=True)
    assert_same_run(again, first)
    assert not np.array_equal(other["logits"], first["logits"])
    assert np.isfinite(first["logits"]).all()
