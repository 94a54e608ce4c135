"""voxformer.Model (images to labels) against the PyTorch reference's fixtures (tests/fixtures/model/), built as
tests/pipeline/test_voxformer_model.cpp builds it: the head's configuration (config.json without its "image" object,
which the library's configuration reader does not know), the crop of the "image" object (the checkpoint gives the
image path's widths), VoxFormer-T's temporal offsets (0, -12, -9, -6, -3) for five cameras, else (0,).

Tolerances as the C++ test: logits within 1e-4 absolute, labels equal where the reference's top two logits are more
than 2e-4 apart. A stream's first frame equals the batch run of five copies of its image (cameras before frame 0 are
the current frame); stage 1 with random weights composes exactly with ProposalNetwork + a model without stage 1.
"""

import json

import numpy as np
import pytest

import voxformer

MODEL_CASES = ["s_images", "t_images", "t_images_3d"]
TOLERANCE = 1e-4


class ModelCase:
    def __init__(self, folder, tmp_dir):
        self.dir = folder
        config = json.loads((folder / "config.json").read_text())
        self.image = config.pop("image")
        self.head_config = tmp_dir / f"{folder.name}_head.json"
        self.head_config.write_text(json.dumps(config))
        self.cameras = config["cameras"]
        self.offsets = [0, -12, -9, -6, -3] if self.cameras == 5 else [0]
        self.images = np.load(folder / "images.npy")
        self.lidar2img = np.load(folder / "lidar2img.npy")
        self.proposal = np.load(folder / "proposal.npy")

    def expected(self, name):
        return np.load(self.dir / f"{name}.npy")

    def model(self, **kwargs):
        return voxformer.Model(config=self.head_config, weights=self.dir / "weights.safetensors",
                               crop=self.image["crop"], temporal_offsets=self.offsets, **kwargs)

    def normalised(self):
        """The images as the image path normalises them (float32, its order of operations), [K, 3, h, w]."""
        rows, cols = self.image["crop"]
        mean, std = np.float32(self.image["mean"]), np.float32(self.image["std"])
        crop = self.images[:, :rows, :cols, :].astype(np.float32)
        return ((crop / np.float32(255) - mean) / std).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def model_case(fixtures_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("model_configs")
    cases = {}

    def get(name):
        if name not in cases:
            cases[name] = ModelCase(fixtures_dir / "model" / name, tmp)
        return cases[name]

    return get


@pytest.fixture(scope="module")
def t_images(model_case):
    case = model_case("t_images")
    model = case.model()
    return case, model, model.run(case.images, case.lidar2img, proposal=case.proposal, logits=True)


@pytest.mark.parametrize("name", MODEL_CASES)
def test_images_to_labels_match_the_reference(model_case, check_labels, name):
    case = model_case(name)
    model = case.model()
    assert not model.has_stage1
    assert model.config.cameras == case.cameras
    result = model.run(case.images, case.lidar2img, proposal=case.proposal, logits=True)
    assert set(result) == {"labels", "logits"}
    error = np.abs(result["logits"].astype(np.float64) - case.expected("logits")).max()
    assert error <= TOLERANCE, f"{name}: logits max |error| {error}"
    check_labels(result["labels"], case.expected("labels"), case.expected("logits"))
    report = model.report
    assert report["stages"][0]["name"] == "image.preprocess"
    assert report["proposals"] == case.expected("unmasked").size


def test_features_are_those_of_the_reference(t_images):
    case, model, _ = t_images
    features = model.features
    assert features.shape == case.expected("features").shape
    scale = max(1.0, float(np.abs(case.expected("features")).max()))
    assert np.abs(features - case.expected("features")).max() <= TOLERANCE * scale


def test_normalised_float_images_give_the_same_result(t_images):
    case, model, expected = t_images
    images = case.normalised()
    assert not images.flags.c_contiguous  # a transposed view: any strides
    result = model.run(images, case.lidar2img, proposal=case.proposal, logits=True)
    assert np.array_equal(result["labels"], expected["labels"])
    assert np.array_equal(result["logits"], expected["logits"])


def test_pytorch_tensors(t_images, torch):
    case, model, expected = t_images
    result = model.run(torch.from_numpy(case.images), torch.from_numpy(case.lidar2img),
                       proposal=torch.from_numpy(case.proposal), logits=True)
    assert np.array_equal(result["logits"], expected["logits"])


def test_a_streams_first_frame_is_the_batch_of_its_image(t_images):
    case, model, _ = t_images
    stream = case.model()
    first = stream.run_stream(0, case.images[:1], case.lidar2img, proposal=case.proposal, logits=True)
    batch = model.run(np.repeat(case.images[:1], 5, axis=0), case.lidar2img, proposal=case.proposal, logits=True)
    assert np.array_equal(first["labels"], batch["labels"])
    assert np.array_equal(first["logits"], batch["logits"])
    # Frame 1: camera 0 is frame 1, the others (t-12, t-9, t-6, t-3 < 0) are the current frame too.
    second = stream.run_stream(1, case.images[1:2], case.lidar2img, proposal=case.proposal, logits=True)
    batch = model.run(np.repeat(case.images[1:2], 5, axis=0), case.lidar2img, proposal=case.proposal, logits=True)
    assert np.array_equal(second["logits"], batch["logits"])


def test_a_stream_needs_the_frames_its_cameras_see(t_images):
    case, _, _ = t_images
    stream = case.model()
    image = case.images[:1]
    with pytest.raises(ValueError, match=r"run_stream: frame -1 is negative"):
        stream.run_stream(-1, image, case.lidar2img, proposal=case.proposal)
    with pytest.raises(ValueError, match=r"run_stream: camera 1 is frame 8 \(offset -12\), which this stream has not"):
        stream.run_stream(20, image, case.lidar2img, proposal=case.proposal)
    for frame in range(8, 20):  # a stream that starts at frame 20: the frames its cameras look back to, kept
        stream.keep_frame(frame, image)
    stream.run_stream(20, image, case.lidar2img, proposal=case.proposal)
    stream.reset_stream()
    with pytest.raises(ValueError, match=r"camera 1 is frame 9 \(offset -12\)"):
        stream.run_stream(21, image, case.lidar2img, proposal=case.proposal)
    with pytest.raises(ValueError, match=r"keep_frame: frame -3 is negative"):
        stream.keep_frame(-3, image)


def test_scene_input_must_match_stage_1(t_images):
    case, model, _ = t_images
    with pytest.raises(ValueError, match=r"voxformer_model::run: this model has no stage 1: give proposal="):
        model.run(case.images, case.lidar2img, occupancy=case.proposal)
    with pytest.raises(ValueError, match=r"has no stage 1"):
        model.run(case.images, case.lidar2img)


def test_bad_images(t_images):
    case, model, _ = t_images
    with pytest.raises(ValueError, match=r"argument 'images' .* at least the crop, 33x57, got \[5, 20, 61, 3\]"):
        model.run(case.images[:, :20], case.lidar2img, proposal=case.proposal)
    with pytest.raises(ValueError, match=r"voxformer_model::run: argument 'images' has element type int16"):
        model.run(case.images.astype(np.int16), case.lidar2img, proposal=case.proposal)
    with pytest.raises(ValueError, match=r"image_pipeline::run: 4 image\(s\) given"):
        model.run(case.images[:4], case.lidar2img, proposal=case.proposal)


def test_bad_construction(model_case, tmp_path):
    case = model_case("t_images")
    with pytest.raises(ValueError, match=r"voxformer_model_config: 2 temporal offsets for the head's 5 cameras"):
        voxformer.Model(config=case.head_config, weights=case.dir / "weights.safetensors", crop=case.image["crop"],
                        temporal_offsets=[0, -1])
    with pytest.raises(ValueError, match=r"voxformer.Model: qpn_weights given with stage1=False"):
        voxformer.Model(config=case.head_config, weights=case.dir / "weights.safetensors", stage1=False,
                        qpn_weights=tmp_path / "qpn.safetensors")
    with pytest.raises(ValueError, match=r"voxformer.Model: qpn_weights and seed exclude each other"):
        voxformer.Model(config=case.head_config, seed=1, qpn_weights=tmp_path / "qpn.safetensors")
    with pytest.raises(ValueError, match=r"voxformer.Model: stage1=True needs qpn_weights=PATH"):
        voxformer.Model(config=case.head_config, weights=case.dir / "weights.safetensors", stage1=True)
    with pytest.raises(ValueError, match=r"voxformer.Model: give weights=PATH .* neither was given"):
        voxformer.Model(config=case.head_config)
    with pytest.raises(FileNotFoundError, match=r"voxformer: weights '.*missing.safetensors' does not exist"):
        voxformer.Model(config=case.head_config, weights=tmp_path / "missing.safetensors", crop=case.image["crop"])


def test_stage_1_with_random_weights_composes_with_the_proposal_network(fixtures_dir):
    # The seed's image path has the official widths (neck 128 channels), so the head is 128 wide; a small volume
    # that stage 1 can propose (twice it divides by 8) and a small crop keep it fast.
    config = voxformer.Config.preset("S")
    config.volume = [8, 8, 4]
    config.view_shape = [16, 16]
    config.image_size = (32, 64)
    with_stage1 = voxformer.Model(config=config, seed=5, stage1=True, crop=(32, 64))
    head_only = voxformer.Model(config=config, seed=5, crop=(32, 64))
    assert with_stage1.has_stage1 and not head_only.has_stage1
    rng = np.random.default_rng(3)
    occupancy = (rng.random((16, 16, 8)) < 0.2).astype(np.uint8)
    images = rng.integers(0, 256, (1, 32, 64, 3), dtype=np.uint8)
    lidar2img = np.load(fixtures_dir / "pipeline" / "s_small" / "lidar2img.npy")
    together = with_stage1.run(images, lidar2img, occupancy=occupancy, logits=True)
    proposal = voxformer.ProposalNetwork(seed=5, grid=(16, 16, 8)).run(occupancy)["proposal"]
    assert 0 < proposal.sum() < proposal.size
    apart = head_only.run(images, lidar2img, proposal=proposal, logits=True)
    assert np.array_equal(together["labels"], apart["labels"])
    assert np.array_equal(together["logits"], apart["logits"])
    names = [stage["name"] for stage in with_stage1.report["stages"]]
    assert any(name.startswith("stage1.") for name in names)
    with pytest.raises(ValueError, match=r"this model has stage 1: give occupancy=, not proposal="):
        with_stage1.run(images, lidar2img, proposal=proposal)


def test_a_crop_is_what_pixel_coordinates_are_normalised_by(model_case):
    case = model_case("t_images")
    model = voxformer.Model(config=case.head_config, weights=case.dir / "weights.safetensors", crop=(64, 96),
                            temporal_offsets=case.offsets)
    assert model.config.image_size == (64, 96)
    assert model.config.feature_shapes == ((4, 6),)  # the image path's: 64 x 96 halved four times


def test_stream_errors_name_the_image(model_case):
    case = model_case("t_images")
    model = case.model()
    with pytest.raises(ValueError, match=r"voxformer::voxformer_model::run_stream: argument 'image' has element type "
                                         r"int16, expected uint8"):
        model.run_stream(0, case.images[:1].astype(np.int16), case.lidar2img, proposal=case.proposal)
