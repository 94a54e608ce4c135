"""voxformer.Config, PRESETS and load_config: the published variants' sizes, every field read and written back,
configuration files (absent keys keep the named variant's preset), and validation errors naming the field."""

import json

import pytest

import voxformer

OFFICIAL = dict(volume=(128, 128, 16), embed_dims=128, heads=8, points_cross=8, points_self=8, layers_cross=3,
                layers_self=2, ffn_hidden=256, classes=20, level_embed_rows=4, view_shape=(512, 512),
                image_size=(370, 1220), pc_range=(0.0, -25.6, -2.0, 51.2, 25.6, 4.4), feature_shapes=((24, 77),))
VARIANTS = {"T": ("planar", 5), "S": ("planar", 1), "T-3D": ("volumetric", 5), "S-3D": ("volumetric", 1)}


def test_presets():
    assert voxformer.PRESETS == ("T", "S", "T-3D", "S-3D")
    for variant in voxformer.PRESETS:
        config = voxformer.Config.preset(variant)
        assert config.variant == variant
        assert (config.self_attention, config.cameras) == VARIANTS[variant]
        for field, value in OFFICIAL.items():
            expected = pytest.approx(value) if field == "pc_range" else value
            assert getattr(config, field) == expected, (variant, field)
        assert config.voxels == 128 * 128 * 16
        assert config.output_volume == (256, 256, 32)
        config.validate()
        assert f"variant='{variant}'" in repr(config) and "volume=(128, 128, 16)" in repr(config)


def test_the_default_is_voxformer_t():
    default, t = voxformer.Config(), voxformer.Config.preset("T")
    assert repr(default) == repr(t)
    assert all(getattr(default, f) == getattr(t, f) for f in OFFICIAL)


def test_unknown_preset():
    with pytest.raises(ValueError, match=r"voxformer::model_config: unknown variant 'T-4D' \(expected T, S, T-3D or S-3D\)"):
        voxformer.Config.preset("T-4D")


SMALL = dict(variant="mine", self_attention="volumetric", volume=(8, 6, 4), embed_dims=32, heads=4, points_cross=4,
             points_self=2, layers_cross=2, layers_self=1, ffn_hidden=64, cameras=2, classes=7, level_embed_rows=3,
             view_shape=(12, 16), image_size=(96, 320), pc_range=(-1.0, -2.0, -3.0, 4.0, 5.0, 6.0),
             feature_shapes=((6, 20), (3, 10)))


def test_every_field_round_trips():
    config = voxformer.Config.preset("T")
    for field, value in SMALL.items():
        setattr(config, field, value)
    for field, value in SMALL.items():
        assert getattr(config, field) == value, field
    assert config.voxels == 8 * 6 * 4 and config.output_volume == (16, 12, 8)
    config.validate()
    # The sizes are tuples: assigning an item fails loudly instead of changing a copy.
    with pytest.raises(TypeError):
        config.volume[0] = 99
    assert config.volume == (8, 6, 4)


def test_a_config_builds_a_pipeline_of_its_sizes(t_small):
    config = voxformer.Config.preset("T")
    for field, value in t_small.json.items():
        if field != "levels":
            setattr(config, field, tuple(map(tuple, value)) if field == "feature_shapes" else value)
    pipeline = voxformer.Pipeline(config=config, weights=t_small.weights)
    result = t_small.run(pipeline)
    assert result["labels"].shape == tuple(config.output_volume)
    assert pipeline.config.volume == (8, 6, 4) and pipeline.config.feature_shapes == ((6, 10), (3, 5))


def test_load_config_reads_the_fixtures(t_small):
    for source in (t_small.config_path, str(t_small.config_path)):
        config = voxformer.load_config(source)
        for field, value in t_small.json.items():
            if field == "levels":
                assert len(config.feature_shapes) == value
            elif field == "feature_shapes":
                assert config.feature_shapes == tuple(tuple(v) for v in value)
            elif isinstance(value, list):
                assert getattr(config, field) == tuple(value), field
            else:
                assert getattr(config, field) == value, field


def test_absent_keys_keep_the_variants_preset(tmp_path):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"variant": "S-3D", "cameras": 3, "classes": 12}))
    config = voxformer.load_config(path)
    assert (config.variant, config.self_attention, config.cameras, config.classes) == ("S-3D", "volumetric", 3, 12)
    assert config.volume == OFFICIAL["volume"] and config.embed_dims == OFFICIAL["embed_dims"]


def test_validation_names_the_field():
    cases = [
        (dict(heads=3), r"voxformer::model_config: heads \(3\) must divide embed_dims \(128\)"),
        (dict(embed_dims=0), r"embed_dims \(0\) must be in \[2, 1024\]"),
        (dict(volume=[8, 6, 4]), r"the self-attention view 512x512 has 262144 cells, but the volume 8x6x4 has 192"),
        (dict(cameras=0), r"cameras \(0\) must be in \[1, 65536\]"),
        (dict(pc_range=[0, 0, 0, 0, 0, 0]), r"point-cloud range axis 0 is \[0, 0\]; it must have min < max"),
        (dict(image_size=(0, 5)), r"image.height \(0\) must be in \[1, 16777216\]"),
        (dict(feature_shapes=[]), r"feature levels \(0\) must be in \[1, 16\]"),
    ]
    for change, message in cases:
        config = voxformer.Config.preset("T")
        for field, value in change.items():
            setattr(config, field, value)
        with pytest.raises(ValueError, match=message):
            config.validate()
        with pytest.raises(ValueError, match=message):  # the pipeline validates what it is given
            voxformer.Pipeline(config=config, seed=1)


def test_bad_field_values():
    config = voxformer.Config.preset("T")
    with pytest.raises(ValueError, match=r"voxformer.Config: self_attention 'cubic' must be 'planar' or 'volumetric'"):
        config.self_attention = "cubic"
    with pytest.raises(TypeError):  # three extents (nanobind's conversion to std::array<index_t, 3>)
        config.volume = [8, 6]
    with pytest.raises(TypeError):
        config.pc_range = [0.0, 1.0]
    assert config.self_attention == "planar" and config.volume == OFFICIAL["volume"]


def test_bad_files(tmp_path):
    bad_json = tmp_path / "broken.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match=r"voxformer::read_config_json\('.*broken.json'\): not valid JSON"):
        voxformer.load_config(bad_json)
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"variant": "T", "heads": 3}))
    with pytest.raises(ValueError, match=r"read_config_json\('.*invalid.json'\): voxformer::model_config: heads \(3\)"):
        voxformer.load_config(invalid)
    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"variant": "T", "image": {"crop": [33, 57]}}))
    with pytest.raises(ValueError, match=r"read_config_json\('.*unknown.json'\): unknown configuration key 'image'"):
        voxformer.load_config(unknown)
    with pytest.raises(ValueError, match=r"read_config_json\('.*invalid.json'\)"):
        voxformer.Pipeline(config=invalid, seed=1)


def test_a_pipelines_config_is_a_copy(t_small):
    pipeline = t_small.pipeline()
    expected = t_small.run(pipeline, logits=True)
    config = pipeline.config
    config.classes = 5
    config.variant = "changed"
    assert pipeline.config.classes == 20 and pipeline.config.variant == "T"
    assert t_small.run(pipeline, logits=True)["logits"].shape == expected["logits"].shape
