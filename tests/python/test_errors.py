"""Bad input from Python is an exception carrying the library's message — the op and the argument named — never a
crash, and the objects stay usable: shapes, element types, layouts, non-finite values, files (missing: FileNotFoundError,
an OSError; malformed: ValueError), the weights/seed choice, memory on a device a CPU pipeline cannot read, and the
numeric options. Arguments that are not arrays at all are TypeErrors (nanobind's argument conversion, or the bindings'
own for `features`)."""

import struct

import numpy as np
import pytest

import voxformer

RUN = r"voxformer::pipeline::run: "


# ---------------------------------------------------------------------------------------------------------------
# Pipeline.run: shapes, element types, layouts, values
# ---------------------------------------------------------------------------------------------------------------


def nan_at(a, index, value=np.nan):
    a = a.copy()
    a[index] = value
    return a


@pytest.mark.parametrize("change, error", [
    (lambda c: dict(features=[f.astype(np.float64) for f in c.features]),
     RUN + r"argument 'features\[0\]' has element type float64, expected float32"),
    (lambda c: dict(features=[c.features[0], c.features[1].astype(np.float16)]),
     RUN + r"argument 'features\[1\]' has element type float16, expected float32"),
    (lambda c: dict(features=[c.features[0][:, :, :, :5], c.features[1]]),
     RUN + r"argument 'features\[0\]' \[1, cameras, C, h, w\] expected shape \[1, 2, 32, 6, 10\], got \[1, 2, 32, 5, 10\]"),
    (lambda c: dict(features=[c.features[0][:, :1], c.features[1][:, :1]]),
     RUN + r"argument 'features\[0\]' .* expected shape \[1, 2, 32, 6, 10\], got \[1, 1, 32, 6, 10\]"),
    (lambda c: dict(features=[f[0, 0] for f in c.features]),
     RUN + r"argument 'features\[0\]' has rank 3, expected rank 5"),
    (lambda c: dict(features=c.features[:1]), RUN + r"1 feature levels given, the configuration has 2"),
    (lambda c: dict(features=[]), RUN + r"0 feature levels given, the configuration has 2"),
    (lambda c: dict(features=[nan_at(c.features[0], (0, 1, 3, 2, 4)), c.features[1]]),
     RUN + r"argument 'features\[0\]' holds nan at \[0, 1, 3, 2, 4\]; every value must be finite"),
    (lambda c: dict(features=[c.features[0], nan_at(c.features[1], (0, 0, 0, 0, 1), -np.inf)]),
     RUN + r"argument 'features\[1\]' holds -inf at \[0, 0, 0, 0, 1\]"),
    (lambda c: dict(lidar2img=nan_at(c.lidar2img, (1, 2, 3))),
     RUN + r"argument 'lidar2img' holds nan at \[1, 2, 3\]; every value must be finite"),
    (lambda c: dict(lidar2img=c.lidar2img[:1]),
     RUN + r"argument 'lidar2img' \[cameras, 4, 4\] expected shape \[2, 4, 4\], got \[1, 4, 4\]"),
    (lambda c: dict(lidar2img=c.lidar2img.astype(np.float64)),
     RUN + r"argument 'lidar2img' has element type float64, expected float32"),
    (lambda c: dict(proposal=c.proposal[:4]),
     RUN + r"argument 'proposal' \[X, Y, Z\] expected shape \[8, 6, 4\], got \[4, 6, 4\]"),
    (lambda c: dict(proposal=c.proposal.ravel()[:-1]),
     RUN + r"argument 'proposal' \[X\*Y\*Z\] expected shape \[192\], got \[191\]"),
    (lambda c: dict(proposal=c.proposal.astype(np.int16)),
     RUN + r"argument 'proposal' has element type int16, expected uint8, bool, int32, int64, float32 or float64"),
    (lambda c: dict(proposal=np.asfortranarray(c.proposal)),
     RUN + r"argument 'proposal' must be contiguous \(it is addressed by its C-order flat index\)"),
], ids=["float64 features", "float16 level", "feature width", "feature cameras", "feature rank", "one level",
        "no level", "nan feature", "-inf feature", "nan lidar2img", "lidar2img cameras", "float64 lidar2img",
        "proposal shape", "flat proposal length", "int16 proposal", "Fortran proposal"])
def test_bad_pipeline_inputs(t_small, t_small_pipeline, t_small_result, change, error):
    inputs = dict(features=t_small.features, lidar2img=t_small.lidar2img, proposal=t_small.proposal)
    inputs.update(change(t_small))
    with pytest.raises(ValueError, match=error):
        t_small_pipeline.run(inputs["features"], inputs["lidar2img"], inputs["proposal"])
    # The pipeline is unharmed: the next frame is right.
    again = t_small.run(t_small_pipeline, logits=True)
    assert np.array_equal(again["logits"], t_small_result["logits"])


@pytest.mark.parametrize("features", ["features", 3.0, [np.zeros(3, np.float32), "level 2"]],
                         ids=["str", "float", "list with a str"])
def test_features_that_are_not_arrays(t_small, t_small_pipeline, features):
    with pytest.raises(TypeError, match=RUN + r"argument 'features' must be an array or tensor"):
        t_small_pipeline.run(features, t_small.lidar2img, t_small.proposal)


def test_none_features_are_refused_by_the_argument_conversion(t_small, t_small_pipeline):
    with pytest.raises(TypeError, match=r"run\(\): incompatible function arguments"):
        t_small_pipeline.run(None, t_small.lidar2img, t_small.proposal)


def test_lidar2img_that_is_not_an_array(t_small, t_small_pipeline):
    with pytest.raises(TypeError, match=r"incompatible function arguments"):
        t_small_pipeline.run(t_small.features, "lidar2img", t_small.proposal)


def test_more_proposals_than_the_pipeline_was_built_for(t_small):
    pipeline = t_small.pipeline(max_proposals=10)
    with pytest.raises(ValueError, match=RUN + r"the proposal has 62 voxels, more than the max_proposals \(10\)"):
        t_small.run(pipeline)


# ---------------------------------------------------------------------------------------------------------------
# Construction: files, weights or seed, options
# ---------------------------------------------------------------------------------------------------------------


def test_missing_files_are_file_not_found_errors(t_small, tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError, match=r"voxformer: weights '.*missing.safetensors' does not exist") as e:
        voxformer.Pipeline(config=t_small.config_path, weights=missing)
    assert isinstance(e.value, OSError)
    with pytest.raises(FileNotFoundError, match=r"voxformer: config '.*nowhere.json' does not exist"):
        voxformer.Pipeline(config=tmp_path / "nowhere.json", seed=1)
    with pytest.raises(FileNotFoundError, match=r"voxformer: config '.*nowhere.json' does not exist"):
        voxformer.load_config(tmp_path / "nowhere.json")
    with pytest.raises(IsADirectoryError, match=r"voxformer: weights '.*' is a directory, not a file"):
        voxformer.Pipeline(config=t_small.config_path, weights=tmp_path)
    with pytest.raises(FileNotFoundError, match=r"voxformer: weights '.*missing.safetensors' does not exist"):
        voxformer.ProposalNetwork(weights=str(missing), grid=(16, 16, 8))


def malformed_files(t_small):
    raw = t_small.weights.read_bytes()
    header = b'{"a": 5}'
    return {
        "garbage": (b"\x13\x00garbage" * 10, r"header length \d+ exceeds the limit"),
        "empty": (b"", r"empty file \(a safetensors file has at least 8 bytes\)"),
        "truncated": (raw[: len(raw) // 2], r"tensor '.*': data_offsets \[\d+, \d+\] lie outside the data section"),
        "bad entry": (struct.pack("<Q", len(header)) + header, r"tensor 'a': entry must be a JSON object"),
    }


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated", "bad entry"])
def test_malformed_weights_are_value_errors(t_small, tmp_path, kind):
    content, message = malformed_files(t_small)[kind]
    path = tmp_path / f"{kind}.safetensors"
    path.write_bytes(content)
    pattern = r"voxformer::io::safetensors\('.*" + kind + r"\.safetensors'\): " + message
    with pytest.raises(ValueError, match=pattern):
        voxformer.Pipeline(config=t_small.config_path, weights=path)
    with pytest.raises(ValueError, match=pattern):
        voxformer.ProposalNetwork(weights=path, grid=(32, 24, 16))


def test_weights_of_another_configuration(t_small, fixtures_dir):
    with pytest.raises(ValueError, match=r"voxformer::parameter_store\('.*s3d_small.*'\): tensor "
                                         r"'pts_bbox_head.cross_transformer.cams_embeds' has shape \[1, 32\], "
                                         r"expected \[2, 32\]"):
        voxformer.Pipeline(config=t_small.config_path, weights=fixtures_dir / "pipeline" / "s3d_small" /
                           "weights.safetensors")
    with pytest.raises(ValueError, match=r"voxformer::parameter_store\('.*'\): missing tensor "
                                         r"'pts_bbox_head.bev_embed.weight'"):
        voxformer.Pipeline(config=t_small.config_path, weights=fixtures_dir / "qpn" / "f16_32x24" /
                           "weights.safetensors")
    with pytest.raises(ValueError, match=r"tensor 'Encoder_block1.0.weight' has shape \[16, 16, 3, 3\], expected "
                                         r"\[32, 32, 3, 3\]"):
        voxformer.ProposalNetwork(weights=fixtures_dir / "qpn" / "f16_32x24" / "weights.safetensors", grid=(64, 64, 32))


def test_weights_or_seed(t_small):
    for make in (lambda **kw: voxformer.Pipeline(config=t_small.config_path, **kw),
                 lambda **kw: voxformer.ProposalNetwork(grid=(16, 16, 8), **kw)):
        with pytest.raises(ValueError, match=r"give weights=PATH \(a .safetensors checkpoint\) or seed=N .*, neither "
                                             r"was given"):
            make()
        with pytest.raises(ValueError, match=r"give weights=PATH .*, not both"):
            make(weights=t_small.weights, seed=1)


def test_bad_options(t_small):
    config = t_small.config_path
    with pytest.raises(ValueError, match=r"voxformer.Pipeline: argument 'threads' must be in \[0, \d+\] .* got -1"):
        voxformer.Pipeline(config=config, seed=1, threads=-1)
    with pytest.raises(ValueError, match=r"voxformer.Pipeline: argument 'threads' must be in \[0, \d+\] .* got 100000"):
        voxformer.Pipeline(config=config, seed=1, threads=100000)
    with pytest.raises(ValueError, match=r"voxformer.ProposalNetwork: argument 'threads' must be in"):
        voxformer.ProposalNetwork(seed=1, grid=(16, 16, 8), threads=-3)
    with pytest.raises(ValueError, match=r"voxformer: layout 'rows' must be 'csr' or 'padded'"):
        voxformer.Pipeline(config=config, seed=1, layout="rows")
    with pytest.raises(ValueError, match=r"voxformer::pipeline: max_proposals must be in \[0, 192\] .* got -1"):
        voxformer.Pipeline(config=config, seed=1, max_proposals=-1)
    with pytest.raises(ValueError, match=r"voxformer::pipeline: chunk_rows must be positive, got 0"):
        voxformer.Pipeline(config=config, seed=1, chunk_rows=0)
    with pytest.raises(ValueError, match=r"voxformer::model_config: unknown variant 'X' \(expected T, S, T-3D or S-3D\)"):
        voxformer.Pipeline("X", seed=1)
    with pytest.raises(ValueError, match=r"voxformer::qpn_config: grid extent 0 must be a positive multiple of 8 .*"
                                         r"got 30"):
        voxformer.ProposalNetwork(seed=1, grid=(30, 24, 16))
    with pytest.raises(TypeError):  # a negative seed is not a uint64 (nanobind's conversion)
        voxformer.Pipeline(config=config, seed=-1)


# ---------------------------------------------------------------------------------------------------------------
# Memory a CPU pipeline cannot read: a DLPack producer that says kDLCUDA (this PyTorch may have no CUDA)
# ---------------------------------------------------------------------------------------------------------------

DEVICE = r"lives in device 0 memory, which the cpu_executor cannot access"
HOST_ONLY = r"lives in device 0 memory; it must be in host memory"  # what the bindings read on the host themselves


def test_device_memory_in_a_cpu_pipeline(t_small, t_small_pipeline, t_small_result, fake_cuda):
    lidar2img = fake_cuda(t_small.lidar2img)
    assert lidar2img.__dlpack_device__() == (2, 0)
    with pytest.raises(ValueError, match=RUN + r"argument 'lidar2img' " + DEVICE):
        t_small_pipeline.run(t_small.features, lidar2img, t_small.proposal)
    assert lidar2img.exports >= 1  # nanobind took the capsule; the library refused the device by name
    with pytest.raises(ValueError, match=RUN + r"argument 'features\[1\]' " + DEVICE):
        t_small_pipeline.run([t_small.features[0], fake_cuda(t_small.features[1])], t_small.lidar2img,
                             t_small.proposal)
    with pytest.raises(ValueError, match=RUN + r"argument 'proposal' " + DEVICE):
        t_small_pipeline.run(t_small.features, t_small.lidar2img, fake_cuda(t_small.proposal))
    with pytest.raises(ValueError, match=RUN + r"argument 'proposal' lives in device 1 memory, which the cpu_executor"):
        t_small_pipeline.run(t_small.features, t_small.lidar2img, fake_cuda(t_small.proposal, device_id=1))
    again = t_small.run(t_small_pipeline, logits=True)
    assert np.array_equal(again["logits"], t_small_result["logits"])


def test_device_memory_in_the_primitives(fake_cuda, fixtures_dir, tmp_path):
    with pytest.raises(ValueError, match=r"voxformer::proposal_indices: argument 'mask' " + DEVICE):
        voxformer.proposal_indices(fake_cuda(np.ones((2, 2, 2), np.uint8)))
    reference = np.load(fixtures_dir / "projection" / "reference.npy")
    lidar2img = np.load(fixtures_dir / "projection" / "lidar2img.npy")
    with pytest.raises(ValueError, match=r"voxformer::project_to_cameras: argument 'reference' " + DEVICE):
        voxformer.project_to_cameras(fake_cuda(reference), lidar2img)
    value = np.zeros((1, 4, 1, 4), np.float32)
    loc, weights = np.zeros((1, 3, 1, 1, 2, 2), np.float32), np.zeros((1, 3, 1, 1, 2), np.float32)
    with pytest.raises(ValueError, match=r"voxformer::ms_deform_attn: argument 'value' " + DEVICE):
        voxformer.ms_deform_attn(fake_cuda(value), np.array([[2, 2]]), np.array([0]), loc, weights)
    # The launch metadata is read on the host by the bindings themselves, before the library sees it.
    for arg, shapes, starts in [("spatial_shapes", fake_cuda(np.array([[2, 2]])), np.array([0])),
                                ("level_start_index", np.array([[2, 2]]), fake_cuda(np.array([0])))]:
        with pytest.raises(ValueError, match=rf"voxformer::ms_deform_attn: argument '{arg}' {HOST_ONLY}"):
            voxformer.ms_deform_attn(value, shapes, starts, loc, weights)
    with pytest.raises(ValueError, match=r"voxformer::scatter_with_mask_token: argument 'seed' " + DEVICE):
        voxformer.scatter_with_mask_token(fake_cuda(np.zeros((1, 2), np.float32)), np.array([0]),
                                          np.zeros(2, np.float32), voxels=4)
    with pytest.raises(ValueError, match=rf"voxformer::io::write_png: argument 'image' {HOST_ONLY}"):
        voxformer.write_png(tmp_path / "device.png", fake_cuda(np.zeros((2, 2, 3), np.uint8)))
    assert not (tmp_path / "device.png").exists()
    metrics = voxformer.SSCMetrics()
    with pytest.raises(ValueError, match=r"voxformer::ssc_metrics::add: argument 'prediction' lives in device 0 memory"):
        metrics.add(fake_cuda(np.zeros((2, 2, 2), np.uint8)), np.zeros((2, 2, 2), np.uint8))
    assert metrics.frames == 0


def test_device_memory_in_stage_1(fake_cuda):
    network = voxformer.ProposalNetwork(seed=1, grid=(16, 16, 8))
    with pytest.raises(ValueError, match=r"voxformer::proposal_pipeline::run: argument 'occupancy' " + DEVICE):
        network.run(fake_cuda(np.zeros((16, 16, 8), np.uint8)))


# ---------------------------------------------------------------------------------------------------------------
# ProposalNetwork.run
# ---------------------------------------------------------------------------------------------------------------


def test_bad_occupancy():
    network = voxformer.ProposalNetwork(seed=2, grid=(16, 16, 8))
    op = r"voxformer::proposal_pipeline::run: argument 'occupancy' "
    occupancy = np.zeros((16, 16, 8), np.float32)
    with pytest.raises(ValueError, match=op + r"holds nan at \[3, 4, 5\]; every value must be finite"):
        network.run(nan_at(occupancy, (3, 4, 5)))
    with pytest.raises(ValueError, match=op + r"\[X, Y, Z\] expected shape \[16, 16, 8\], got \[8, 16, 8\]"):
        network.run(occupancy[:8])
    with pytest.raises(ValueError, match=op + r"has element type uint16, expected uint8, bool"):
        network.run(occupancy.astype(np.uint16))
    assert network.run(occupancy)["proposal"].shape == (8, 8, 4)


# ---------------------------------------------------------------------------------------------------------------
# The primitives
# ---------------------------------------------------------------------------------------------------------------


def msda_args(dims=2):
    rng = np.random.default_rng(0)
    shapes = np.array([[4, 5], [2, 3]] if dims == 2 else [[3, 4, 2], [2, 2, 2]], np.int64)
    sizes = np.prod(shapes, axis=1)
    return dict(value=rng.standard_normal((2, int(sizes.sum()), 2, 4)).astype(np.float32), spatial_shapes=shapes,
                level_start_index=np.array([0, sizes[0]], np.int64),
                sampling_locations=rng.random((2, 7, 2, 2, 3, dims)).astype(np.float32),
                attention_weights=rng.random((2, 7, 2, 2, 3)).astype(np.float32))


MSDA = r"voxformer::ms_deform_attn: "


@pytest.mark.parametrize("change, error", [
    (dict(value=lambda a: a.astype(np.float64)), MSDA + r"argument 'value' has element type float64, expected float32"),
    (dict(value=lambda a: a[:, :25]), MSDA + r"the levels cover 26 value rows, but 'value' has S = 25"),
    (dict(value=lambda a: a[0]), MSDA + r"argument 'value' has rank 3, expected rank 4"),
    (dict(spatial_shapes=lambda a: a.astype(np.float32)),
     MSDA + r"argument 'spatial_shapes' has element type float32, expected int32 or int64"),
    (dict(spatial_shapes=lambda a: -a), MSDA + r"level 0 has extent -4; extents must be in \[1, 16777216\]"),
    (dict(spatial_shapes=lambda a: np.concatenate([a, a[:, :1]], axis=1)),
     MSDA + r"argument 'spatial_shapes' \[L, 2\] \(h, w\) expected shape \[\*, 2\], got \[2, 3\]"),
    (dict(level_start_index=lambda a: a - np.array([0, 1])),
     MSDA + r"level_start\[1\] is 19 but the levels before it cover 20 rows"),
    (dict(sampling_locations=lambda a: a[:, :, :1]),
     MSDA + r"argument 'sampling_locations' \[B, Q, heads, L, P, 2\] expected shape \[2, \*, 2, 2, \*, 2\], "
            r"got \[2, 7, 1, 2, 3, 2\]"),
    (dict(sampling_locations=lambda a: a.astype(np.float16)),
     MSDA + r"argument 'sampling_locations' has element type float16, expected float32"),
    (dict(attention_weights=lambda a: a[:, :3]),
     MSDA + r"argument 'attention_weights' \[B, Q, heads, L, P\] expected shape \[2, 7, 2, 2, 3\], got \[2, 3, 2, 2, 3\]"),
], ids=["float64 value", "value rows", "value rank", "float shapes", "negative shapes", "3-D shapes", "level start",
        "locations heads", "float16 locations", "weights queries"])
def test_bad_ms_deform_attn_arguments(change, error):
    args = msda_args()
    for name, f in change.items():
        args[name] = f(args[name])
    with pytest.raises(ValueError, match=error):
        voxformer.ms_deform_attn(**args)


def test_bad_ms_deform_attn_3d_arguments():
    args = msda_args(3)
    with pytest.raises(ValueError, match=r"voxformer::ms_deform_attn_3d: argument 'sampling_locations' "
                                         r"\[B, Q, heads, L, P, 3\] expected shape \[2, \*, 2, 2, \*, 3\]"):
        voxformer.ms_deform_attn_3d(**dict(args, sampling_locations=msda_args(2)["sampling_locations"]))
    with pytest.raises(ValueError, match=r"voxformer::ms_deform_attn_3d: argument 'spatial_shapes' \[L, 3\]"):
        voxformer.ms_deform_attn_3d(**dict(args, spatial_shapes=msda_args(2)["spatial_shapes"]))
    with pytest.raises(ValueError, match=r"voxformer::ms_deform_attn_3d: argument 'threads' must be in \[0, \d+\]"):
        voxformer.ms_deform_attn_3d(**args, threads=-2)


SCATTER = r"voxformer::scatter_with_mask_token: "


def test_bad_scatter_arguments():
    seed, token = np.ones((3, 2), np.float32), np.zeros(2, np.float32)
    unmasked = np.array([1, 4, 7], np.int64)
    with pytest.raises(ValueError, match=SCATTER + r"give voxels=N \(the volume's rows\) or out="):
        voxformer.scatter_with_mask_token(seed, unmasked, token)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'unmasked' has element type uint16, expected int32"):
        voxformer.scatter_with_mask_token(seed, unmasked.astype(np.uint16), token, voxels=8)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'unmasked' must be strictly ascending, but position 1 "
                                                   r"holds 4 after 7"):
        voxformer.scatter_with_mask_token(seed, np.array([7, 4, 1]), token, voxels=8)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'unmasked' holds index 7 at position 2, outside \[0, 5\)"):
        voxformer.scatter_with_mask_token(seed, unmasked, token, voxels=5)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'mask_token' \[C\] expected shape \[2\], got \[3\]"):
        voxformer.scatter_with_mask_token(seed, unmasked, np.zeros(3, np.float32), voxels=8)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'seed' \[n_unmasked, C\] expected shape \[2, 2\]"):
        voxformer.scatter_with_mask_token(seed, unmasked[:2], token, voxels=8)
    with pytest.raises(ValueError, match=SCATTER + r"argument 'seed' has element type float64, expected float32"):
        voxformer.scatter_with_mask_token(seed.astype(np.float64), unmasked, token, voxels=8)
    with pytest.raises(ValueError, match=SCATTER + r"3 unmasked rows do not fit a volume of 0 rows"):
        voxformer.scatter_with_mask_token(seed, unmasked, token, voxels=0)


def test_negative_voxels_is_a_value_error():
    with pytest.raises(ValueError, match=SCATTER + r".*voxels"):
        voxformer.scatter_with_mask_token(np.ones((1, 2), np.float32), np.array([0]), np.zeros(2, np.float32),
                                          voxels=-1)


def test_bad_proposal_indices_arguments():
    op = r"voxformer::proposal_indices: argument 'mask' "
    with pytest.raises(ValueError, match=op + r"has element type int16, expected uint8, bool, int32, int64, float32"):
        voxformer.proposal_indices(np.ones((2, 2, 2), np.int16))
    with pytest.raises(ValueError, match=op + r"has rank 2, expected rank 3"):
        voxformer.proposal_indices(np.ones((2, 4), np.uint8))
    with pytest.raises(ValueError, match=op + r"has rank 0, expected rank 3"):
        voxformer.proposal_indices(np.array(1, np.uint8))
    with pytest.raises(ValueError, match=r"voxformer::proposal_indices: argument 'threads' must be in \[0, \d+\]"):
        voxformer.proposal_indices(np.ones((2, 2, 2), np.uint8), threads=-1)


def test_bad_projection_arguments(fixtures_dir):
    op = r"voxformer::project_to_cameras: "
    reference = np.load(fixtures_dir / "projection" / "reference.npy")
    lidar2img = np.load(fixtures_dir / "projection" / "lidar2img.npy")
    with pytest.raises(ValueError, match=op + r"argument 'reference' has element type float16, expected float32 or float64"):
        voxformer.project_to_cameras(reference.astype(np.float16), lidar2img)
    with pytest.raises(ValueError, match=op + r"argument 'reference' has rank 2, expected rank 3"):
        voxformer.project_to_cameras(reference[:, 0], lidar2img)
    with pytest.raises(ValueError, match=op + r"argument 'reference' \[Q, D, 3\] expected shape \[\*, \*, 3\], got "
                                              r"\[64, 2, 2\]"):
        voxformer.project_to_cameras(reference[..., :2], lidar2img)
    with pytest.raises(ValueError, match=op + r"argument 'lidar2img' \[K, 4, 4\] expected shape \[\*, 4, 4\], got "
                                              r"\[3, 3, 4\]"):
        voxformer.project_to_cameras(reference, lidar2img[:, :3])
    with pytest.raises(ValueError, match=op + r"argument 'lidar2img' has element type float64, expected float32"):
        voxformer.project_to_cameras(reference, lidar2img.astype(np.float64))
    with pytest.raises(ValueError, match=op + r"image size must be positive, got 0x5"):
        voxformer.project_to_cameras(reference, lidar2img, image_size=(0, 5))
    with pytest.raises(TypeError):  # pc_range of 5 numbers: nanobind's conversion to std::array<double, 6>
        voxformer.project_to_cameras(reference, lidar2img, pc_range=(0, 0, 0, 1, 1))
